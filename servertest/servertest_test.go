package servertest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// readUntil reads from c until one of the markers appears, the peer closes,
// or the deadline passes; it returns everything read.
func readUntil(c net.Conn, buf []byte, markers ...string) ([]byte, error) {
	return readUntilFunc(c, buf, func(b []byte) bool {
		for _, m := range markers {
			if bytes.Contains(b, []byte(m)) {
				return true
			}
		}
		return false
	})
}

func readUntilFunc(c net.Conn, buf []byte, done func([]byte) bool) ([]byte, error) {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	tmp := make([]byte, 4096)
	for !done(buf) {
		n, err := c.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

var streamID = regexp.MustCompile(`<stream:stream[^>]*\sid=['"]([^'"]*)['"][^>]*>`)

// handshake does the XEP-0114 §3 exchange by hand and returns what the
// server sent after its stream header.
func handshake(t *testing.T, addr, domain, secret string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Write([]byte("<stream:stream xmlns='jabber:component:accept' " +
		"xmlns:stream='http://etherx.jabber.org/streams' to='" + domain + "'>"))
	if err != nil {
		t.Fatal(err)
	}
	buf, err := readUntilFunc(c, nil, func(b []byte) bool {
		return streamID.Match(b) || bytes.Contains(b, []byte("</stream:stream>"))
	})
	m := streamID.FindSubmatchIndex(buf)
	if m == nil {
		t.Fatalf("no stream header with an id from %s: %q (%v)", addr, buf, err)
	}
	id := string(buf[m[2]:m[3]])
	rest := buf[m[1]:]
	sum := sha1.Sum([]byte(id + secret))
	if _, err := c.Write([]byte("<handshake>" + hex.EncodeToString(sum[:]) + "</handshake>")); err != nil {
		t.Fatal(err)
	}
	rest, err = readUntil(c, rest, "<handshake/>", "</stream:stream>")
	if err != nil && len(rest) == 0 {
		t.Fatalf("no answer to the handshake: %v", err)
	}
	_, _ = c.Write([]byte("</stream:stream>"))
	return string(rest)
}

// mustHandshake fails the test unless the component handshake succeeds.
func mustHandshake(t *testing.T, addr string, c Component) {
	t.Helper()
	if got := handshake(t, addr, c.Domain, c.Secret); !strings.Contains(got, "<handshake/>") {
		t.Fatalf("%s: handshake reply %q, want <handshake/>", c.Domain, got)
	}
}

// c2sAuth opens a client stream (RFC 6120 §4), checks the features and
// tries SASL PLAIN (RFC 6120 §6, RFC 4616); it returns the features and the
// SASL outcome element.
func c2sAuth(t *testing.T, s *Server, user, password string) (features, outcome string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.C2SAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Write([]byte("<?xml version='1.0'?><stream:stream xmlns='jabber:client' " +
		"xmlns:stream='http://etherx.jabber.org/streams' to='" + s.Domain + "' version='1.0'>"))
	if err != nil {
		t.Fatal(err)
	}
	buf, err := readUntil(c, nil, "</stream:features>")
	if err != nil {
		t.Fatalf("no stream features: %q (%v)", buf, err)
	}
	features = string(buf)
	creds := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
	_, err = c.Write([]byte("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + creds + "</auth>"))
	if err != nil {
		t.Fatal(err)
	}
	buf, err = readUntil(c, nil, "</failure>", "<success", "</stream:stream>")
	if err != nil {
		t.Fatalf("no SASL outcome: %q (%v)", buf, err)
	}
	_, _ = c.Write([]byte("</stream:stream>"))
	return features, string(buf)
}

const slixmppClient = `
import sys, logging
import slixmpp

jid, password, host, port, ca = sys.argv[1:6]
logging.basicConfig(level=logging.ERROR)

class Client(slixmpp.ClientXMPP):
    def __init__(self):
        super().__init__(jid, password)
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("failed_auth", self.failed)
        self.add_event_handler("ssl_cert", lambda pem: print("tls ok", flush=True))
        self.add_event_handler("ssl_invalid_chain", self.failed)
        self.add_event_handler("connection_failed", self.failed)

    async def start(self, event):
        self.send_presence()
        await self.get_roster()
        print("session", self.boundjid.bare, flush=True)
        self.disconnect()

    def failed(self, event):
        print("failed", event, flush=True)
        self.disconnect()
        sys.exit(3)

c = Client()
c.ca_certs = ca
c.connect(address=(host, int(port)))
c.process(forever=False)
`

// serverTests runs every check on one private server of the given kind,
// restarting it along the way.
func serverTests(t *testing.T, s *Server) {
	comp := s.Components[0]
	t.Run("handshake", func(t *testing.T) { mustHandshake(t, s.ComponentAddr, comp) })
	t.Run("wrong secret", func(t *testing.T) {
		got := handshake(t, s.ComponentAddr, comp.Domain, "wrong")
		if !strings.Contains(got, "<not-authorized") || strings.Contains(got, "<handshake/>") {
			t.Fatalf("handshake reply %q, want not-authorized", got)
		}
	})
	t.Run("c2s", func(t *testing.T) {
		u := s.Users[0]
		features, outcome := c2sAuth(t, s, u.Name, u.Password)
		for _, want := range []string{"<stream:features", "urn:ietf:params:xml:ns:xmpp-tls", "<mechanism>PLAIN</mechanism>"} {
			if !strings.Contains(features, want) {
				t.Errorf("features %q lack %q", features, want)
			}
		}
		if !strings.Contains(outcome, "<success") {
			t.Errorf("SASL PLAIN as %s: %q, want success", u.Name, outcome)
		}
		if _, outcome := c2sAuth(t, s, u.Name, "bad"+u.Password); !strings.Contains(outcome, "<not-authorized") {
			t.Errorf("SASL PLAIN with a bad password: %q, want not-authorized", outcome)
		}
	})
	t.Run("slixmpp", func(t *testing.T) {
		u := s.Users[1]
		host, port, _ := net.SplitHostPort(s.C2SAddr)
		ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
		defer cancel()
		out, err := RunPython(t, ctx, slixmppClient, u.JID(s.Domain), u.Password, host, port, s.CertFile)
		if err != nil {
			t.Fatalf("%v\nstdout: %s", err, out)
		}
		if !strings.Contains(out, "tls ok") || !strings.Contains(out, "session "+u.JID(s.Domain)) {
			t.Fatalf("slixmpp output %q, want STARTTLS and a session as %s", out, u.JID(s.Domain))
		}
	})
	t.Run("kill and start", func(t *testing.T) {
		pid := s.Pid()
		if pid == 0 {
			t.Fatal("server not running before Kill")
		}
		if err := s.Kill(); err != nil {
			t.Fatal(err)
		}
		if processAlive(pid) || len(groupMembers(pid)) != 0 {
			t.Fatalf("pid %d or its group still alive after Kill", pid)
		}
		if c, err := net.DialTimeout("tcp", s.ComponentAddr, time.Second); err == nil {
			c.Close()
			t.Fatal("component port still answers after Kill")
		}
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		mustHandshake(t, s.ComponentAddr, comp)
		u := s.Users[2]
		if _, outcome := c2sAuth(t, s, u.Name, u.Password); !strings.Contains(outcome, "<success") {
			t.Fatalf("after restart: SASL as %s: %q (users lost?)", u.Name, outcome)
		}
	})
	t.Run("restart", func(t *testing.T) {
		if s.Name == "ejabberd" {
			// The same code as for Prosody; spare the suite a slow
			// ejabberd stop and start (Stop is tested below).
			t.Skip("Restart is covered on Prosody")
		}
		if err := s.Restart(); err != nil {
			t.Fatal(err)
		}
		mustHandshake(t, s.ComponentAddr, comp)
		start, stop := s.Timings()
		t.Logf("%s: startup %v, graceful stop %v", s.Name, start, stop)
	})
	t.Run("stop", func(t *testing.T) {
		pid := s.Pid()
		if pid == 0 {
			t.Fatal("server not running before Stop")
		}
		if err := s.Stop(); err != nil {
			t.Fatal(err)
		}
		_, stop := s.Timings()
		t.Logf("%s: graceful stop %v", s.Name, stop)
		if s.Running() || processAlive(pid) || len(groupMembers(pid)) != 0 {
			t.Fatalf("%s pid %d still alive after Stop", s.Name, pid)
		}
		if err := s.Stop(); err != nil {
			t.Fatalf("second Stop: %v", err)
		}
	})
}

func TestProsody(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	s := Prosody(t, ProsodyOptions{})
	start, _ := s.Timings()
	t.Logf("prosody: created in %v (startup %v)", time.Since(t0), start)
	if s.Name != "prosody" || s.Domain != "localhost" || len(s.Components) != 10 || len(s.Users) != 3 {
		t.Fatalf("unexpected server description %+v", s)
	}
	serverTests(t, s)
}

func TestEjabberd(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	s := Ejabberd(t, EjabberdOptions{})
	start, _ := s.Timings()
	t.Logf("ejabberd: created in %v (startup %v)", time.Since(t0), start)
	serverTests(t, s)
}

// TestProsodyOptions checks that custom components and users are honoured
// and that an unconfigured domain is refused.
func TestProsodyOptions(t *testing.T) {
	t.Parallel()
	s := Prosody(t, ProsodyOptions{
		Components: []Component{{Domain: "svc.localhost", Secret: "other \"quoted\" secret"}},
		Users:      []User{{Name: "dave", Password: "d4ve pw"}},
	})
	mustHandshake(t, s.ComponentAddr, s.Components[0])
	if got := handshake(t, s.ComponentAddr, "c1.localhost", Secret); !strings.Contains(got, "host-unknown") {
		t.Fatalf("unconfigured component: %q, want host-unknown", got)
	}
	if _, outcome := c2sAuth(t, s, "dave", "d4ve pw"); !strings.Contains(outcome, "<success") {
		t.Fatalf("custom user: %q", outcome)
	}

	// A port taken while the server is down: Start fails fast, and the
	// error carries the log.
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", s.C2SAddr)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	err = s.Start()
	l.Close()
	if err == nil || !strings.Contains(err.Error(), "port was taken") || !strings.Contains(err.Error(), "prosody.log (tail)") {
		t.Fatalf("Start with a busy port: %v", err)
	}
	if d := time.Since(t0); d > 10*time.Second {
		t.Errorf("failing Start took %v", d)
	}
	t.Logf("busy port: failed after %v: %.160s", time.Since(t0), err)
	if s.Running() {
		t.Fatal("server left running after a failed start")
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start once the port is free: %v", err)
	}
	mustHandshake(t, s.ComponentAddr, s.Components[0])
}

func TestSharedProsody(t *testing.T) {
	t.Parallel()
	s := Shared(t, KindProsody)
	if s2 := Shared(t, KindProsody); s2 != s {
		t.Fatal("Shared returned two different servers")
	}
	for name, op := range map[string]func() error{"Stop": s.Stop, "Kill": s.Kill, "Restart": s.Restart} {
		if err := op(); err == nil || !strings.Contains(err.Error(), "servertest.Prosody") {
			t.Errorf("%s on a shared server: %v, want a refusal", name, err)
		}
	}
	if !s.Running() {
		t.Fatal("shared server stopped")
	}
	// Leases hand out distinct numbered components.
	seen := map[string]bool{}
	for i := 0; i < 8; i++ {
		c := s.Component(t)
		if seen[c.Domain] || !strings.HasPrefix(c.Domain, "c") {
			t.Fatalf("lease %d: %q (seen %v)", i, c.Domain, seen)
		}
		seen[c.Domain] = true
		mustHandshake(t, s.ComponentAddr, c)
	}
	// The certificate verifies the server's STARTTLS (RFC 6120 §5).
	pem, err := os.ReadFile(s.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("bad certificate PEM")
	}
	c, err := net.DialTimeout("tcp", s.C2SAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"))
	if buf, err := readUntil(c, nil, "</stream:features>"); err != nil {
		t.Fatalf("%q %v", buf, err)
	}
	_, _ = c.Write([]byte("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"))
	if buf, err := readUntil(c, nil, "<proceed"); err != nil {
		t.Fatalf("%q %v", buf, err)
	}
	tc := tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS with the generated certificate: %v", err)
	}
}

func TestNgircd(t *testing.T) {
	t.Parallel()
	s := Shared(t, KindNgircd)
	c, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	nick := "averyveryverylongnick_2345" // longer than ngircd's default limit of 9
	if _, err := c.Write([]byte("NICK " + nick + "\r\nUSER u 0 * :servertest\r\n")); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("no 001: %v", err)
		}
		if strings.HasPrefix(line, ":"+s.Domain+" 001 "+nick+" ") {
			break
		}
		if strings.HasPrefix(line, "ERROR") {
			t.Fatalf("server said %q", line)
		}
	}
	_, _ = c.Write([]byte("QUIT\r\n"))
}

func TestRunPythonTimeout(t *testing.T) {
	t.Parallel()
	// Generous, for a loaded machine: the script must get to print.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	t0 := time.Now()
	out, err := RunPython(t, ctx, "import subprocess, time\np = subprocess.Popen(['sleep', '60'])\nprint(p.pid, flush=True)\ntime.sleep(60)\n")
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline error", err)
	}
	if d := time.Since(t0); d > 15*time.Second {
		t.Errorf("timeout took %v", d)
	}
	child, convErr := strconv.Atoi(strings.TrimSpace(out))
	if convErr != nil {
		t.Fatalf("stdout %q lost on timeout", out)
	}
	if processAlive(child) {
		t.Fatalf("the script's child %d outlived the timeout", child)
	}
}

func TestRunPythonOutput(t *testing.T) {
	t.Parallel()
	out, err := RunPython(t, context.Background(), "import sys, slixmpp\nprint(slixmpp.__version__, sys.argv[1])\n", "arg1")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\d+\.\d+(\.\d+)? arg1\n$`).MatchString(out) {
		t.Fatalf("stdout %q", out)
	}
	_, err = RunPython(t, context.Background(), "import sys\nsys.stderr.write('boom\\n')\nsys.exit(2)\n")
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("err = %v, want exit status with stderr", err)
	}
}
