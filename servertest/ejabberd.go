package servertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// EjabberdOptions configures an ejabberd server. The zero value gives the
// defaults of a shared server.
type EjabberdOptions struct {
	// Components the server accepts (XEP-0114). Nil means
	// DefaultComponents(); an empty non-nil slice means none.
	Components []Component
	// Users to register. Nil means DefaultUsers().
	Users []User
	// Privileges grant XEP-0356 permissions to components (mod_privilege;
	// ejabberd 23.01 has no iq permission, so IQ must be empty).
	Privileges []Privileges
	// Delegations delegate XEP-0355 namespaces to components
	// (mod_delegation). Do not delegate a namespace that a loaded module
	// serves.
	Delegations []Delegation
	// Modules are more modules to load with their default options, by
	// name ("mod_carboncopy" for XEP-0280 carbons).
	Modules []string
}

// Ejabberd starts a private ejabberd server for the test on free loopback
// ports (c2s, component, HTTP API, Erlang distribution) and stops it,
// removing its data, when the test ends. The test skips (or fails under
// CI=true) when ejabberd is not installed.
func Ejabberd(t testing.TB, opts EjabberdOptions) *Server {
	t.Helper()
	return private(t, KindEjabberd, func() (*Server, error) { return newEjabberd(opts) })
}

// ejabberdLibDir returns the directory holding ejabberd-VERSION/ebin (the
// ERL_LIBS for erl), or "".
func ejabberdLibDir() string {
	matches, _ := filepath.Glob("/usr/lib/*/ejabberd-*/ebin/ejabberd.app")
	if len(matches) == 0 {
		matches, _ = filepath.Glob("/usr/lib/ejabberd-*/ebin/ejabberd.app")
	}
	if len(matches) == 0 {
		return ""
	}
	return filepath.Dir(filepath.Dir(filepath.Dir(matches[0])))
}

func newEjabberd(opts EjabberdOptions) (*Server, error) {
	s, err := newXMPPServer("ejabberd", opts.Components, opts.Users, "spool", "home")
	if err != nil {
		return nil, err
	}
	if err := setupEjabberd(s, opts); err != nil {
		os.RemoveAll(s.Dir)
		return nil, err
	}
	return s, nil
}

func setupEjabberd(s *Server, opts EjabberdOptions) error {
	dir := s.Dir
	privTop, privModules, err := ejabberdPrivilegeConfig(opts)
	if err != nil {
		return err
	}
	for _, m := range opts.Modules {
		privModules += "  " + yamlQuote(m) + ": {}\n"
	}
	pemFile := filepath.Join(dir, "certs", "localhost.pem")
	// A private cookie in a private HOME: no ~/.erlang.cookie is created.
	cookie := make([]byte, 16)
	if _, err := rand.Read(cookie); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "home", ".erlang.cookie"), []byte(strings.ToUpper(hex.EncodeToString(cookie))), 0o400); err != nil {
		return err
	}
	// A node name of its own, so that two ejabberd servers of one machine
	// never share one.
	nodeName := "servertest_" + hex.EncodeToString(cookie[:4]) + "@localhost"
	// ejabberd keeps accounts and rosters in dets tables (disc_only_copies),
	// which reach the disk only every few minutes or on a clean stop, so
	// users would vanish when a fault test kills the server. As
	// disc_copies, every write goes to mnesia's transaction log, on disk
	// within about a second (see waitDurable).
	if err := writeEjabberdSchema(filepath.Join(dir, "spool")); err != nil {
		return err
	}
	cfg := filepath.Join(dir, "ejabberd.yml")
	var distPort int
	pick := func() (err error) {
		distPort, err = pickEjabberdPorts(s, cfg, pemFile, privModules+privTop)
		return err
	}
	if err := pick(); err != nil {
		return err
	}
	probeDomain := s.probeDomain()
	env := append(baseEnv(filepath.Join(dir, "home")),
		"ERL_LIBS="+ejabberdLibDir(),
		"EJABBERD_CONFIG_PATH="+cfg,
		"EJABBERD_LOG_PATH="+s.LogFile,
		"EJABBERD_PID_PATH="+filepath.Join(dir, "run", "ejabberd.pid"),
		"ERL_CRASH_DUMP="+filepath.Join(dir, "log", "erl_crash.dump"),
		"ERL_CRASH_DUMP_BYTES=0",
	)
	s.spec = launchSpec{
		path:         findBin("erl"),
		env:          env,
		outLog:       filepath.Join(dir, "log", "stdout.log"),
		termWait:     15 * time.Second,
		readyTimeout: 60 * time.Second,
		beforeStart: func() error {
			// The distribution port may have been picked again after a
			// failed first start; the node name stays (mnesia's data
			// belong to it).
			s.spec.args = []string{
				"-sname", nodeName,
				"-noinput", "-start_epmd", "false", "-erl_epmd_port", strconv.Itoa(distPort),
				"-kernel", "inet_dist_use_interface", "{127,0,0,1}",
				"-mnesia", "dir", strconv.Quote(filepath.Join(dir, "spool")),
				"-s", "ejabberd",
			}
			return nil
		},
		ready: func(ctx context.Context) error {
			return probeStream(ctx, s.ComponentAddr, "jabber:component:accept", probeDomain)
		},
		afterReady: func(first bool) error {
			if !first {
				return nil // users live in the mnesia spool
			}
			for _, u := range s.Users {
				if err := ejabberdRegister(s.HTTPAddr, u, s.Domain); err != nil {
					return err
				}
			}
			waitDurable(filepath.Join(dir, "spool", "LATEST.LOG"), s.Users, s.Domain, 5*time.Second)
			return nil
		},
	}
	return startWithRetry(s, pick)
}

// writeEjabberdSchema makes ejabberd keep accounts and rosters in
// disc_copies tables (see setupEjabberd).
func writeEjabberdSchema(spool string) error {
	schema := "passwd:\n  storage_type: disc_copies\nroster:\n  storage_type: disc_copies\n"
	return os.WriteFile(filepath.Join(spool, "ejabberd.schema"), []byte(schema), 0o600)
}

// pickEjabberdPorts picks free c2s, component and HTTP ports for s, writes
// its configuration to cfg, and returns a fourth free port for the Erlang
// distribution.
func pickEjabberdPorts(s *Server, cfg, pemFile, extra string) (distPort int, err error) {
	ports, err := freePorts(4)
	if err != nil {
		return 0, err
	}
	s.C2SAddr, s.ComponentAddr, s.HTTPAddr = loopback(ports[0]), loopback(ports[1]), loopback(ports[2])
	return ports[3], os.WriteFile(cfg, []byte(ejabberdConfig(s, ports[0], ports[1], ports[2], pemFile)+extra), 0o600)
}

// ejabberdRegister registers a user through mod_http_api's register command
// on the loopback HTTP listener.
func ejabberdRegister(httpAddr string, u User, host string) error {
	body, _ := json.Marshal(map[string]string{"user": u.Name, "host": host, "password": u.Password})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+httpAddr+"/api/register", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			// The HTTP listener opens with the component port; retry
			// briefly in case it lags.
			if ctx.Err() != nil {
				return fmt.Errorf("register %s via HTTP API: %w", u.Name, err)
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("register %s via HTTP API: %s: %s", u.Name, resp.Status, msg)
		}
		return nil
	}
}

// yamlQuote quotes s as a YAML double-quoted scalar (JSON string syntax is
// valid YAML).
func yamlQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func ejabberdConfig(s *Server, c2sPort, compPort, httpPort int, pemFile string) string {
	q := yamlQuote
	var b strings.Builder
	fmt.Fprintf(&b, `# generated by xmppkit servertest
hosts:
  - %s
loglevel: info
log_rotate_count: 0
certfiles:
  - %s
auth_method: internal
auth_password_format: scram
s2s_access: none
listen:
  - port: %d
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls: true
    starttls_required: false
    max_stanza_size: 262144
  - port: %d
    ip: "127.0.0.1"
    module: ejabberd_service
    global_routes: false
    hosts:
`, q(s.Domain), q(pemFile), c2sPort, compPort)
	if len(s.Components) == 0 {
		b.WriteString("      {}\n")
	}
	for _, c := range s.Components {
		fmt.Fprintf(&b, "      %s:\n        password: %s\n", q(c.Domain), q(c.Secret))
	}
	fmt.Fprintf(&b, `  - port: %d
    ip: "127.0.0.1"
    module: ejabberd_http
    request_handlers:
      /api: mod_http_api
api_permissions:
  "console commands":
    from: [ejabberd_ctl]
    who: all
    what: "*"
  "loopback http api":
    from: [mod_http_api]
    who:
      ip: 127.0.0.1/8
    what: "*"
modules:
  mod_admin_extra: {}
  mod_disco: {}
  mod_ping: {}
  mod_roster: {}
`, httpPort)
	return b.String()
}

// waitDurable waits until mnesia's transaction log on disk holds the
// account key {User, Host} of every user, so that the accounts survive a
// SIGKILL right after the start: mnesia's disk_log writes with a delay of
// about a second. The key is a 2-tuple of two binaries in Erlang's external
// term format. After the timeout it gives up quietly; the accounts are then
// merely at risk in a fault test that kills the server at once.
func waitDurable(logFile string, users []User, host string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		data, _ := os.ReadFile(logFile)
		all := true
		for _, u := range users {
			if !bytes.Contains(data, termKey(u.Name, host)) {
				all = false
				break
			}
		}
		if all {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// termKey encodes {<<a>>, <<b>>} in Erlang's external term format (without
// the version byte): SMALL_TUPLE_EXT 2, then two BINARY_EXT.
func termKey(a, b string) []byte {
	out := []byte{104, 2}
	for _, s := range []string{a, b} {
		n := len(s)
		out = append(out, 109, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
		out = append(out, s...)
	}
	return out
}
