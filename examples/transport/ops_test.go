package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"xmppkit.dev/client"
	"xmppkit.dev/disco"
	"xmppkit.dev/jid"
)

// TestConfigErrors (issue 19): -server without a secret was accepted (and
// retried forever), -server kept the embedded router's irc.localhost, and
// positional arguments were ignored.
func TestConfigErrors(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secretFile, []byte("  s3cret \n"), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-server", "127.0.0.1:5347", "-domain", "irc.example.org"}, "needs the component secret"},
		{[]string{"-server", "127.0.0.1:5347", "-secret", "s"}, "-server needs -domain"},
		{[]string{"-irc", "127.0.0.1:6667", "irc.libera.chat"}, `unexpected argument "irc.libera.chat"`},
		{[]string{"-server", "x:1", "-domain", "irc.example.org", "-secret-file", secretFile}, ""},
	} {
		cfg, err := parseConfig(tc.args, io.Discard)
		switch {
		case tc.want == "" && (err != nil || cfg.secret != "s3cret"):
			t.Errorf("%q: %v (secret %q)", tc.args, err, cfg.secret)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
	// From the environment too.
	t.Setenv("TRANSPORT_SERVER", "127.0.0.1:5347")
	t.Setenv("TRANSPORT_DOMAIN", "irc.example.org")
	if _, err := parseConfig(nil, io.Discard); err == nil || !strings.Contains(err.Error(), "TRANSPORT_SECRET_FILE") {
		t.Errorf("TRANSPORT_SERVER without a secret: %v", err)
	}
}

// TestDataDirectory (issue 19): registrations (IRC passwords) were kept
// under os.UserCacheDir(), which cache cleaners empty.
func TestDataDirectory(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("STATE_DIRECTORY", "")
	cfg, err := parseConfig(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(home, ".local", "state", "xmppkit-transport"); cfg.data != want {
		t.Fatalf("default -data %s, want %s", cfg.data, want)
	}
	t.Setenv("STATE_DIRECTORY", "/var/lib/xmppkit-transport")
	if cfg, _ := parseConfig(nil, io.Discard); cfg.data != "/var/lib/xmppkit-transport" {
		t.Fatalf("under systemd's StateDirectory: -data %s", cfg.data)
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestVerboseAndCertificate (issue 19): -v logs every request; the client
// listener's certificate is kept in -data and printed with its fingerprint.
func TestVerboseAndCertificate(t *testing.T) {
	data := t.TempDir()
	cfg, err := parseConfig([]string{"-v", "-data", data, "-listen", "127.0.0.1:0", "-metrics", ""}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var logs, out syncBuf
	cfg.stderr = &logs
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, &out) }()
	defer func() { cancel(); <-done }()
	re := regexp.MustCompile(`connect to (\S+) as dev@localhost`)
	deadline := time.Now().Add(20 * time.Second)
	var addr string
	for addr == "" {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no address printed:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "certificate: "+filepath.Join(data, "c2s-cert.pem")) || !regexp.MustCompile(`certificate SHA-256: ([0-9A-F]{2}:){31}[0-9A-F]{2}`).MatchString(out.String()) {
		t.Fatalf("certificate not printed:\n%s", out.String())
	}
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	c, err := client.Dial(cctx, addr, client.Config{JID: jid.MustParse("dev@localhost"), Password: "devpass"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if _, err := disco.GetInfo(cctx, c, jid.MustParse("irc.localhost"), ""); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(logs.String(), "msg=stanza kind=iq type=get") || !strings.Contains(logs.String(), "{http://jabber.org/protocol/disco#info}query") {
		if time.Now().After(deadline) {
			t.Fatalf("the disco#info request is not logged with -v:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHelp: -h lists the environment variables and says flags win.
func TestHelp(t *testing.T) {
	out, err := exec.Command("go", "run", ".", "-h").CombinedOutput()
	if err != nil {
		t.Fatalf("-h: %v\n%s", err, out)
	}
	for _, want := range []string{"flags win over the environment", "(TRANSPORT_SECRET_FILE)", "-config"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("-h lacks %q:\n%s", want, out)
		}
	}
}

// TestMetricsEndpoint: /metrics is the Prometheus text format, with the
// router's and the gateway session's metrics; /readyz answers ready.
func TestMetricsEndpoint(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ops := ln.Addr().String()
	ln.Close()
	cfg, err := parseConfig([]string{"-data", "", "-listen", "127.0.0.1:0", "-metrics", ops}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuf
	cfg.stderr = io.Discard
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, &out) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), "connect to ") {
		if time.Now().After(deadline) {
			t.Fatalf("not started:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, err := http.Get("http://" + ops + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/readyz: %s", resp.Status)
	}
	resp, err = http.Get("http://" + ops + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range fams["xmppkit_router_sessions"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "kind" && l.GetValue() == "service" && m.GetGauge().GetValue() == 1 {
				found = true
			}
		}
	}
	if !found || fams["xmppkit_inbound_queue_stanzas"] == nil || fams["go_goroutines"] == nil {
		t.Fatalf("metrics lack the gateway's service session, its queue or the runtime: %v", fams["xmppkit_router_sessions"])
	}
}
