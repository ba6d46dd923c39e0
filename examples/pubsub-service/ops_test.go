package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"xmppkit.dev/client"
	"xmppkit.dev/examples/pubsub-service/pubsub"
	"xmppkit.dev/jid"
	"xmppkit.dev/ping"
	"xmppkit.dev/router"
	"xmppkit.dev/stanza"
	"xmppkit.dev/version"
)

var (
	fingerprintLine = regexp.MustCompile(`certificate SHA-256: ([0-9A-F:]{95})`)
	certLine        = regexp.MustCompile(`(?m)^certificate: (\S+)$`)
)

// certOf returns the certificate path and fingerprint a started service
// printed.
func certOf(t *testing.T, p *proc) (path, fp string) {
	t.Helper()
	out := p.output()
	m, c := fingerprintLine.FindStringSubmatch(out), certLine.FindStringSubmatch(out)
	if m == nil || c == nil {
		t.Fatalf("no certificate path and fingerprint printed:\n%s", out)
	}
	return c[1], m[1]
}

// pinned logs in over STARTTLS trusting only the certificate in the PEM
// file path, as a client that pinned it does.
func pinned(t *testing.T, addr, path string) error {
	t.Helper()
	pem, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no certificate", path)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, addr, client.Config{JID: jid.MustParse("dev@localhost/pin"), Password: "devpass", TLS: &tls.Config{RootCAs: pool}})
	if err != nil {
		return err
	}
	c.Close(ctx)
	return nil
}

// TestCertificateKept (issue 19): the client listener's certificate was
// generated anew at each start, so a client that pinned it was refused
// after a restart. It is kept in the data directory, its path and
// fingerprint printed, and a client pinning it logs in after a restart.
func TestCertificateKept(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	data := t.TempDir()
	p := start(t, data)
	path, fp := certOf(t, p)
	if path != filepath.Join(data, "c2s-cert.pem") {
		t.Errorf("certificate at %s, want in the data directory", path)
	}
	if err := pinned(t, p.addr, path); err != nil {
		t.Fatalf("pinned login: %v", err)
	}
	saved, _ := os.ReadFile(path)
	p.kill()
	p2 := start(t, data)
	if _, fp2 := certOf(t, p2); fp2 != fp {
		t.Fatalf("fingerprint after restart %s, was %s", fp2, fp)
	}
	pinnedCopy := filepath.Join(t.TempDir(), "pinned.pem")
	os.WriteFile(pinnedCopy, saved, 0o644)
	if err := pinned(t, p2.addr, pinnedCopy); err != nil {
		t.Fatalf("a client that pinned the first certificate is refused after a restart: %v", err)
	}
}

// TestCertificateFlags: -cert and -key serve the operator's certificate.
func TestCertificateFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	// An operator's certificate (made here as the first run makes one).
	first := start(t, t.TempDir())
	certPath, fp := certOf(t, first)
	keyPath := filepath.Join(filepath.Dir(certPath), "c2s-key.pem")
	dir := t.TempDir()
	for _, f := range [][2]string{{certPath, "op-cert.pem"}, {keyPath, "op-key.pem"}} {
		b, err := os.ReadFile(f[0])
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f[1]), b, 0o600)
	}
	first.kill()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	p := startCmd(t, exec.Command(bin, "-listen", "127.0.0.1:0", "-metrics", "", "-memory",
		"-cert", filepath.Join(dir, "op-cert.pem"), "-key", filepath.Join(dir, "op-key.pem")))
	if path, got := certOf(t, p); got != fp || path != filepath.Join(dir, "op-cert.pem") {
		t.Fatalf("serving %s %s, want the given %s", path, got, fp)
	}
	if err := pinned(t, p.addr, filepath.Join(dir, "op-cert.pem")); err != nil {
		t.Fatal(err)
	}
	if out, err := runToExit(t, "-memory", "-cert", filepath.Join(dir, "op-cert.pem")); err == nil || !strings.Contains(out, "-cert and -key go together") {
		t.Fatalf("-cert without -key: %v %s", err, out)
	}
}

// TestDataDirectory (issue 19): data went to os.UserCacheDir(), which cache
// cleaners empty. The default is the XDG state directory (systemd's
// StateDirectory when set), and data left in the cache by earlier versions
// is moved there.
func TestDataDirectory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CACHE_HOME", filepath.Join(home, "cache"))
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("STATE_DIRECTORY", "")
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	// Data of an earlier version.
	legacy := filepath.Join(home, "cache", "xmppkit-pubsub")
	os.MkdirAll(legacy, 0o700)
	os.WriteFile(filepath.Join(legacy, "marker"), []byte("mine"), 0o600)
	p := startCmd(t, exec.Command(bin, "-listen", "127.0.0.1:0", "-metrics", ""))
	want := filepath.Join(home, ".local", "state", "xmppkit-pubsub")
	if !strings.Contains(p.output(), "(data: "+want+")") {
		t.Fatalf("data not in %s:\n%s", want, p.output())
	}
	if b, err := os.ReadFile(filepath.Join(want, "marker")); err != nil || string(b) != "mine" {
		t.Fatalf("earlier data not moved: %v", err)
	}
	if !strings.Contains(p.output(), "moved the data of xmppkit-pubsub from "+legacy) {
		t.Errorf("the move is not reported:\n%s", p.output())
	}
	p.kill()

	// $XDG_STATE_HOME, and systemd's $STATE_DIRECTORY before it.
	for env, dir := range map[string]string{"XDG_STATE_HOME": filepath.Join(home, "xdg"), "STATE_DIRECTORY": filepath.Join(home, "unit")} {
		cmd := exec.Command(bin, "-listen", "127.0.0.1:0", "-metrics", "")
		cmd.Env = append(os.Environ(), env+"="+dir)
		wantDir := dir
		if env == "XDG_STATE_HOME" {
			wantDir = filepath.Join(dir, "xmppkit-pubsub")
		}
		p := startCmd(t, cmd)
		if !strings.Contains(p.output(), "(data: "+wantDir+")") {
			t.Errorf("%s=%s: %s", env, dir, p.output())
		}
		p.kill()
	}
}

// TestVerboseLogsRequests (issue 19): -v said "log every request" and
// logged none. Every request is logged at debug level with -v.
func TestVerboseLogsRequests(t *testing.T) {
	cfg, err := parseConfig([]string{"-v", "-memory", "-listen", "127.0.0.1:0", "-metrics", ""}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	cfg.stderr = &logs
	addr, stop := runInProcess(t, cfg)
	defer stop()
	c := login(t, addr, "v")
	if err := ping.Send(ctxT(t), c, jid.MustParse("pubsub.localhost")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "msg=stanza kind=iq type=get") || !strings.Contains(logs.String(), "payload={urn:xmpp:ping}ping") {
		if time.Now().After(deadline) {
			t.Fatalf("the ping is not logged with -v:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPingAndVersion (issue 19): the service answered neither XEP-0199
// ping nor XEP-0092 version (service-unavailable).
func TestPingAndVersion(t *testing.T) {
	cfg, err := parseConfig([]string{"-memory", "-listen", "127.0.0.1:0", "-metrics", ""}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg.stderr = io.Discard
	addr, stop := runInProcess(t, cfg)
	defer stop()
	c := login(t, addr, "pv")
	svc := jid.MustParse("pubsub.localhost")
	if err := ping.Send(ctxT(t), c, svc); err != nil {
		t.Fatalf("ping: %v", err)
	}
	info, err := version.Get(ctxT(t), c, svc)
	if err != nil || info.Name != "xmppkit pubsub-service" || info.Version == "" {
		t.Fatalf("version: %+v, %v", info, err)
	}
}

// TestConfigErrors (issue 19): -server without a secret, -server with the
// embedded router's *.localhost domain, and positional arguments were
// taken silently.
func TestConfigErrors(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secretFile, []byte("s3cret\n"), 0o600)
	for _, tc := range []struct {
		args []string
		want string // in the error; "" for none
	}{
		{[]string{"-server", "127.0.0.1:5347", "-domain", "pubsub.example.org"}, "needs the component secret"},
		{[]string{"-server", "127.0.0.1:5347", "-secret", "s"}, "-server needs -domain"},
		{[]string{"-memory", "extra"}, `unexpected argument "extra"`},
		{[]string{"-memory", "-listen", "127.0.0.1:0", "5222"}, `unexpected argument "5222"`},
		{[]string{"-server", "x:1", "-domain", "p.example.org", "-secret", "a", "-secret-file", secretFile}, "not both"},
		{[]string{"-server", "x:1", "-domain", "p.example.org", "-secret-file", filepath.Join(t.TempDir(), "none")}, "no such file"},
		{[]string{"-server", "x:1", "-domain", "p.example.org", "-console", "127.0.0.1:0", "-secret", "a"}, "-console is the embedded router's"},
		{[]string{"-server", "x:1", "-domain", "p.example.org", "-secret-file", secretFile}, ""},
		{[]string{"-server", "x:1", "-domain", "pubsub.localhost", "-secret", "s"}, ""}, // a local Prosody may name it so
	} {
		cfg, err := parseConfig(tc.args, io.Discard)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.args, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: %v, want an error with %q", tc.args, err, tc.want)
		case tc.want == "" && slicesContains(tc.args, "-secret-file") && cfg.secret != "s3cret":
			t.Errorf("%q: secret %q from the file", tc.args, cfg.secret)
		}
	}
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestPrecedence: flags win over the environment, which wins over the
// -config file, which wins over the defaults.
func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pubsub.conf")
	os.WriteFile(file, []byte("# a comment\nserver = file:1\ndomain = file.example.org\npassword = \"  spaced  \"\nsecret = fromfile\nv = true\n"), 0o600)
	t.Setenv("PUBSUB_DOMAIN", "env.example.org")
	t.Setenv("PUBSUB_SECRET", "fromenv")
	cfg, err := parseConfig([]string{"-config", file, "-secret", "fromflag"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.server != "file:1" || cfg.domain != "env.example.org" || cfg.secret != "fromflag" || cfg.password != "  spaced  " || !cfg.verbose {
		t.Fatalf("server %q domain %q secret %q password %q v %v", cfg.server, cfg.domain, cfg.secret, cfg.password, cfg.verbose)
	}
	os.WriteFile(file, []byte("nonsense = 1\n"), 0o600)
	if _, err := parseConfig([]string{"-config", file}, io.Discard); err == nil || !strings.Contains(err.Error(), `pubsub.conf:1: no setting "nonsense"`) {
		t.Fatalf("unknown setting: %v", err)
	}
	t.Setenv("PUBSUB_MEMORY", "maybe")
	if _, err := parseConfig(nil, io.Discard); err == nil || !strings.Contains(err.Error(), "PUBSUB_MEMORY") {
		t.Fatalf("bad environment value: %v", err)
	}
}

// TestHelpSaysPrecedence: -h names the environment variables and the rule.
func TestHelpSaysPrecedence(t *testing.T) {
	out, err := runToExit(t, "-h")
	if err != nil {
		t.Fatalf("-h: %v", err)
	}
	for _, want := range []string{"flags win over the environment, which wins over", "-secret-file", "(PUBSUB_SECRET_FILE)", "-config"} {
		if !strings.Contains(out, want) {
			t.Errorf("-h lacks %q:\n%s", want, out)
		}
	}
}

// TestRecoveryLogged (issue 19): after a reconnection the last log line was
// the failure. The recovery is logged, and the service is ready again.
func TestRecoveryLogged(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	host := func() *router.Router {
		r, err := router.New(router.Config{Secrets: map[string]string{"pubsub.localhost": "s3cret"}, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			if _, err := r.ListenComponents(addr); err == nil {
				return r
			} else if time.Now().After(deadline) {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	r := host()
	ops := freeAddr(t)
	cfg, err := parseConfig([]string{"-server", addr, "-domain", "pubsub.localhost", "-secret", "s3cret", "-memory", "-metrics", ops}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	cfg.stderr = &logs
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, io.Discard) }()
	defer func() {
		cancel()
		<-done
	}()
	waitReady(t, ops, true)
	r.Close(context.Background()) // the server goes away
	waitReady(t, ops, false)
	time.Sleep(300 * time.Millisecond) // failures are logged meanwhile
	r2 := host()
	defer r2.Close(context.Background())
	waitReady(t, ops, true)
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	last := lines[len(lines)-1]
	if !strings.Contains(last, "component: link restored") || !strings.Contains(last, "down_for=") {
		t.Fatalf("last log line %q, want the recovery; all:\n%s", last, logs.String())
	}
	// What an operator charts of it.
	fams := scrape(t, ops)
	for name, want := range map[string]float64{
		"xmppkit_component_link_up":                1,
		"xmppkit_component_reconnects_total":       1,
		"xmppkit_component_handshake_seconds":      2, // two links
		"xmppkit_component_connect_failures_total": 1, // at least
	} {
		got := sample(fams, name, "domain", "pubsub.localhost")
		if got < want || (name != "xmppkit_component_connect_failures_total" && got != want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// waitReady polls /readyz until it answers ready (200) or not (503).
func waitReady(t *testing.T, addr string, ready bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if (resp.StatusCode == 200) == ready {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz still %s %s", resp.Status, body)
			}
		} else if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// runInProcess runs the service (run) until stop, returning the client
// listener's address once it is printed.
func runInProcess(t *testing.T, cfg config) (addr string, stop func()) {
	t.Helper()
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, &out) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := regexp.MustCompile(`c2s listening on (\S+)`).FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("run: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("service did not start:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return addr, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}
}

// TestSystemdNotify: under systemd's Type=notify the service says READY=1
// once it serves, its readiness as STATUS=, and STOPPING=1 on SIGTERM.
func TestSystemdNotify(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	sock := filepath.Join(t.TempDir(), "notify")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0", "-metrics", "", "-data", t.TempDir())
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	p := startCmd(t, cmd)
	var got []string
	read := func(want string) {
		t.Helper()
		buf := make([]byte, 4096)
		for !slicesContains(got, want) {
			ln.SetReadDeadline(time.Now().Add(10 * time.Second))
			n, err := ln.Read(buf)
			if err != nil {
				t.Fatalf("waiting for %s (got %q): %v", want, got, err)
			}
			got = append(got, strings.Split(string(buf[:n]), "\n")...)
		}
	}
	read("READY=1")
	if !slicesContains(got, "STATUS=ready") {
		t.Errorf("no STATUS=ready before READY=1: %q", got)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	read("STOPPING=1")
	<-p.done
}

// TestCheck: -check reports the settings, with their sources and the
// secret masked, instead of running; a bad configuration is still an error.
func TestCheck(t *testing.T) {
	cfg, err := parseConfig([]string{"-check", "-server", "x:1", "-domain", "p.example.org", "-secret", "hush",
		"-store", "postgres://pubsub:pgsecret@db.example.org/pubsub"}, io.Discard)
	if err != nil || cfg.check == nil {
		t.Fatalf("-check: %v", err)
	}
	var out strings.Builder
	cfg.check.Report(&out)
	for _, want := range []string{`server = "x:1" (flag)`, `secret = (set, not shown) (flag)`, `listen = "127.0.0.1:5222" (default)`, "configuration ok"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "hush") {
		t.Error("the secret is shown")
	}
	if strings.Contains(out.String(), "pgsecret") || !strings.Contains(out.String(), `store = "postgres://pubsub:xxxxx@db.example.org/pubsub" (flag)`) {
		t.Errorf("the database password is shown, or the store not reported:\n%s", out.String())
	}
	if _, err := parseConfig([]string{"-check", "-server", "x:1"}, io.Discard); err == nil {
		t.Error("-check passed a configuration without -domain")
	}
}

// scrape fetches /metrics from addr and parses it with Prometheus's own
// text-format parser.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("/metrics: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics is not the Prometheus text format: %v", err)
	}
	return fams
}

// sample returns the value of the counter or gauge name with the labels,
// or the sample count of a histogram; -1 when there is no such series.
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.Metric {
		for i := 0; i < len(labels); i += 2 {
			found := false
			for _, lp := range m.Label {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// TestMetricsEndpoint: /metrics serves the SDK's metrics (router, journal)
// and the Go runtime's in the Prometheus text format, as a Prometheus
// server would read them; /healthz and /readyz answer.
func TestMetricsEndpoint(t *testing.T) {
	ops := freeAddr(t)
	cfg, err := parseConfig([]string{"-data", t.TempDir(), "-listen", "127.0.0.1:0", "-metrics", ops}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg.stderr = io.Discard
	addr, stop := runInProcess(t, cfg)
	defer stop()
	waitReady(t, ops, true)
	c := login(t, addr, "m")
	if _, err := do(ctxT(t), c, stanza.TypeSet, pubsub.CreateRequest("n", nil)); err != nil {
		t.Fatal(err)
	}
	if err := ping.Send(ctxT(t), c, jid.MustParse("pubsub.localhost")); err != nil {
		t.Fatal(err)
	}
	fams := scrape(t, ops)
	for _, tc := range []struct {
		name   string
		labels []string
		min    float64
	}{
		{"xmppkit_router_stanzas_total", []string{"kind", "iq"}, 4}, // two requests, two answers
		{"xmppkit_router_sessions", []string{"kind", "service"}, 1},
		{"xmppkit_router_sessions", []string{"kind", "client"}, 1},
		{"xmppkit_router_handshake_seconds", []string{"kind", "client"}, 1},
		{"xmppkit_journal_commit_seconds", []string{"store", "pubsub"}, 1},
		{"xmppkit_journal_records_total", []string{"store", "pubsub"}, 1},
		{"go_goroutines", nil, 1},
		{"process_open_fds", nil, 1},
	} {
		if got := sample(fams, tc.name, tc.labels...); got < tc.min {
			t.Errorf("%s%v = %v, want at least %v", tc.name, tc.labels, got, tc.min)
		}
	}
	if got := sample(fams, "xmppkit_router_sessions", "kind", "component"); got != 0 {
		t.Errorf("sessions{kind=component} = %v, want 0", got)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + ops + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %s", path, resp.Status)
		}
	}
}

// TestQuotaFlags: the service's quotas are flags (and so environment
// variables and config lines); a quota of 0 or an item larger than a
// stanza carries is refused at start, not taken silently.
func TestQuotaFlags(t *testing.T) {
	cfg, err := parseConfig([]string{"-memory", "-listen", "127.0.0.1:0", "-metrics", "",
		"-max-nodes-per-user", "1", "-max-item-bytes", "64"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg.stderr = io.Discard
	addr, stop := runInProcess(t, cfg)
	defer stop()
	c := login(t, addr, "quota")
	if _, err := do(ctxT(t), c, "set", createMax("first")); err != nil {
		t.Fatal(err)
	}
	if _, err := do(ctxT(t), c, "set", createMax("second")); !errors.Is(err, stanza.ErrPolicyViolation) {
		t.Fatalf("second node with -max-nodes-per-user 1: %v, want policy-violation", err)
	}
	if _, err := do(ctxT(t), c, "set", pubsub.PublishRequest("first", "small", v("urn:t", "ok"), nil)); err != nil {
		t.Fatalf("small item: %v", err)
	}
	if _, err := do(ctxT(t), c, "set", pubsub.PublishRequest("first", "big", v("urn:t", strings.Repeat("x", 100)), nil)); !errors.Is(err, stanza.ErrNotAcceptable) {
		t.Fatalf("100-byte item with -max-item-bytes 64: %v, want not-acceptable", err)
	}
	for _, args := range [][]string{{"-max-items-per-node", "0"}, {"-max-store-bytes", "-1"}, {"-max-item-bytes", "10000000"}} {
		if _, err := parseConfig(append([]string{"-memory"}, args...), io.Discard); err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("%v: %v, want an error naming the flag", args, err)
		}
	}
}
