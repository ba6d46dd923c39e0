package servertest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ProsodyOptions configures a Prosody server. The zero value gives the
// defaults of a shared server.
type ProsodyOptions struct {
	// Components the server accepts (XEP-0114). Nil means
	// DefaultComponents(); an empty non-nil slice means none.
	Components []Component
	// Users to register. Nil means DefaultUsers().
	Users []User
	// Global is extra Lua configuration inserted before the VirtualHost,
	// for example `component_conflict_resolve = "kick_old"`.
	Global string
	// Modules are enabled besides the default ones (for example "private"
	// for XEP-0049 private storage).
	Modules []string
	// Privileges grant XEP-0356 permissions to components (mod_privilege
	// of prosody-modules, enabled globally and in each component's
	// section).
	Privileges []Privileges
	// Delegations delegate XEP-0355 namespaces to components
	// (mod_delegation of prosody-modules, enabled the same way).
	Delegations []Delegation
}

// Prosody starts a private Prosody server for the test on free loopback
// ports and stops it, removing its data, when the test ends. The test skips
// (or fails under CI=true) when Prosody is not installed.
func Prosody(t testing.TB, opts ProsodyOptions) *Server {
	t.Helper()
	if missing := missingProsodyModules(opts); missing != "" {
		skipOrFail(t, missing+" not installed; as root: apt-get install -y prosody-modules")
	}
	return private(t, KindProsody, func() (*Server, error) { return newProsody(opts) })
}

func newProsody(opts ProsodyOptions) (*Server, error) {
	s, err := newXMPPServer("prosody", opts.Components, opts.Users, "data")
	if err != nil {
		return nil, err
	}
	if err := setupProsody(s, opts); err != nil {
		os.RemoveAll(s.Dir)
		return nil, err
	}
	return s, nil
}

func setupProsody(s *Server, opts ProsodyOptions) error {
	dir := s.Dir
	cfg := filepath.Join(dir, "prosody.cfg.lua")
	pidFile := filepath.Join(dir, "run", "prosody.pid")
	pick := func() error {
		ports, err := freePorts(2)
		if err != nil {
			return err
		}
		s.C2SAddr, s.ComponentAddr = loopback(ports[0]), loopback(ports[1])
		return os.WriteFile(cfg, []byte(prosodyConfig(s, ports[0], ports[1], pidFile, opts)), 0o644)
	}
	if err := pick(); err != nil {
		return err
	}
	// prosodyctl writes accounts straight into data_path, offline; one
	// process per user, in parallel (each writes its own file).
	ctl := findBin("prosodyctl")
	errs := make(chan error, len(s.Users))
	for _, u := range s.Users {
		go func() {
			cmd := exec.Command(ctl, "--config", cfg, "register", u.Name, s.Domain, u.Password)
			cmd.Dir = dir
			cmd.Env = baseEnv(dir)
			out, err := cmd.CombinedOutput()
			if err != nil {
				err = fmt.Errorf("servertest: prosodyctl register %s: %v: %s", u.Name, err, out)
			}
			errs <- err
		}()
	}
	var regErr error
	for range s.Users {
		if err := <-errs; err != nil && regErr == nil {
			regErr = err
		}
	}
	if regErr != nil {
		return regErr
	}
	probeDomain := s.probeDomain()
	var logStart int64 // size of the log when the current start began
	s.spec = launchSpec{
		path:         findBin("prosody"),
		args:         []string{"--config", cfg, "-F"},
		env:          baseEnv(dir),
		outLog:       filepath.Join(dir, "log", "stdout.log"),
		termWait:     10 * time.Second,
		readyTimeout: 30 * time.Second,
		beforeStart: func() error {
			logStart = 0
			if fi, err := os.Stat(s.LogFile); err == nil {
				logStart = fi.Size()
			}
			// A pidfile left by a SIGKILL is harmless, but keep it clean.
			if err := os.Remove(pidFile); err != nil && !os.IsNotExist(err) {
				return err
			}
			return nil
		},
		ready: func(ctx context.Context) error {
			if err := probeStream(ctx, s.ComponentAddr, "jabber:component:accept", probeDomain); err != nil {
				return err
			}
			return probeStream(ctx, s.C2SAddr, "jabber:client", s.Domain)
		},
		// Prosody keeps running when a port bind fails; it only logs it.
		failed: func() error {
			data, _ := os.ReadFile(s.LogFile)
			if int64(len(data)) < logStart {
				return nil
			}
			if i := bytes.Index(data[logStart:], []byte("Failed to open server port")); i >= 0 {
				line, _, _ := bytes.Cut(data[logStart+int64(i):], []byte("\n"))
				return fmt.Errorf("a port was taken by another process: %s", line)
			}
			return nil
		},
	}
	return startWithRetry(s, pick)
}

// luaQuote quotes s as a Lua string literal.
func luaQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\%03d", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func prosodyConfig(s *Server, c2sPort, compPort int, pidFile string, opts ProsodyOptions) string {
	q := luaQuote
	privModules, vhost, compModules := prosodyPrivilegeConfig(opts)
	modules := `"disco", "roster", "saslauth", "tls", "ping", "posix"`
	for _, m := range append(opts.Modules, privModules...) {
		modules += ", " + q(m)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `-- generated by xmppkit servertest
run_as_root = true
pidfile = %s
data_path = %s
log = { { levels = { min = "info" }, to = "file", filename = %s } }
network_settings = { shutdown_deadline = 0.1 }
interfaces = { "127.0.0.1" }
c2s_ports = { %d }
c2s_interfaces = { "127.0.0.1" }
component_ports = { %d }
component_interfaces = { "127.0.0.1" }
modules_enabled = { %s }
modules_disabled = { "s2s", "s2s_auth_certs", "offline" }
authentication = "internal_hashed"
storage = "internal"
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
ssl = { certificate = %s, key = %s }
%s
VirtualHost %s
`, q(pidFile), q(filepath.Join(s.Dir, "data")), q(s.LogFile), c2sPort, compPort, modules,
		q(s.CertFile), q(s.KeyFile), opts.Global, q(s.Domain))
	b.WriteString(vhost)
	for _, c := range s.Components {
		fmt.Fprintf(&b, "Component %s\n    component_secret = %s\n", q(c.Domain), q(c.Secret))
		if mods := compModules[c.Domain]; len(mods) > 0 {
			// Without this the component gets no advertisement at all.
			fmt.Fprintf(&b, "    modules_enabled = { %s }\n", strings.Join(quoteAll(mods, q), ", "))
		}
	}
	return b.String()
}
