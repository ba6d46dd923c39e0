package c2s

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
	"xmppkit.dev/router"

	"mellium.im/sasl"

	xclient "xmppkit.dev/client"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/ping"
	xsession "xmppkit.dev/session"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

var testUsers = map[string]string{"alice@localhost": "alicepw", "bob@localhost": "bobpw"}

// newC2S starts a router with the test users and a c2s listener on a
// loopback port.
func newC2S(t testing.TB, cfg router.Config, ccfg Config) (*router.Router, *Server, string) {
	t.Helper()
	if cfg.Users == nil {
		cfg.Users = testUsers
	}
	r, _ := newTestRouter(t, cfg)
	l, addr, err := Listen(r, "127.0.0.1:0", ccfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, l, addr.String()
}

// login connects a client; mech "" means the client's default choice.
func login(t testing.TB, addr string, l *Server, user, pw, mech string, useTLS bool) (*xclient.Client, error) {
	t.Helper()
	cfg := xclient.Config{JID: jid.MustParse(user), Password: pw}
	if mech != "" {
		cfg.Mechanisms = []string{mech}
	}
	if useTLS {
		cfg.TLS = &tls.Config{RootCAs: l.CertPool()}
	}
	c, err := xclient.Dial(ctxT(t), addr, cfg)
	if err == nil {
		t.Cleanup(func() { c.Close(context.Background()) })
	}
	return c, err
}

func mustLogin(t testing.TB, addr string, l *Server, user, pw string) *xclient.Client {
	t.Helper()
	c, err := login(t, addr, l, user, pw, "", true)
	if err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return c
}

func TestC2SLogin(t *testing.T) {
	_, l, addr := newC2S(t, router.Config{}, Config{})
	tests := []struct {
		mech string
		tls  bool
	}{
		{xclient.ScramSHA256, false},
		{xclient.ScramSHA1, false},
		{xclient.ScramSHA256, true},
		{xclient.ScramSHA1, true},
		{xclient.Plain, true},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/tls=%v", tc.mech, tc.tls), func(t *testing.T) {
			c, err := login(t, addr, l, "alice@localhost", "alicepw", tc.mech, tc.tls)
			if err != nil {
				t.Fatal(err)
			}
			if c.Mechanism() != tc.mech {
				t.Errorf("mechanism %s", c.Mechanism())
			}
			if st, on := c.TLSState(); on != tc.tls || on && st.Version < tls.VersionTLS12 {
				t.Errorf("TLS %v version %x", on, st.Version)
			}
			if c.JID().Bare().String() != "alice@localhost" || !strings.HasPrefix(c.JID().Resource(), "xk-") {
				t.Errorf("bound %s, want a server-generated resource", c.JID())
			}
			if err := ping.Send(ctxT(t), c, jid.MustParse("localhost")); err != nil {
				t.Errorf("ping router: %v", err)
			}
			if err := c.Close(ctxT(t)); err != nil {
				t.Errorf("close: %v", err)
			}
		})
	}
}

func TestC2SRefusals(t *testing.T) {
	_, l, addr := newC2S(t, router.Config{}, Config{LoginLimits: LoginLimits{Disabled: true}})
	tests := []struct {
		name, user, pw, mech string
		tls                  bool
		want                 error
	}{
		{"SCRAM-SHA-256 wrong password", "alice@localhost", "nope", xclient.ScramSHA256, false, xclient.ErrNotAuthorized},
		{"SCRAM-SHA-1 wrong password", "alice@localhost", "nope", xclient.ScramSHA1, true, xclient.ErrNotAuthorized},
		{"PLAIN wrong password", "alice@localhost", "nope", xclient.Plain, true, xclient.ErrNotAuthorized},
		{"unknown user", "mallory@localhost", "alicepw", xclient.ScramSHA256, false, xclient.ErrNotAuthorized},
		{"another user's password", "bob@localhost", "alicepw", xclient.Plain, true, xclient.ErrNotAuthorized},
		{"PLAIN not offered without TLS", "alice@localhost", "alicepw", xclient.Plain, false, xclient.ErrNoMechanism},
		{"unknown domain", "alice@elsewhere.example", "alicepw", "", false, stream.ErrHostUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := login(t, addr, l, tc.user, tc.pw, tc.mech, tc.tls)
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("PLAIN forced without TLS", func(t *testing.T) {
		rc := dialC2SRaw(t, addr)
		rc.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + b64("\x00alice\x00alicepw") + "</auth>")
		rc.expect(t, "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><encryption-required/></failure>")
	})
}

// c2sRaw is a hand-driven client stream for what the client package will not do.
type c2sRaw struct {
	nc net.Conn
	rd *stream.Reader
}

func dialC2SRaw(t testing.TB, addr string) *c2sRaw {
	t.Helper()
	return dialC2SRawHeader(t, addr, "")
}

// dialC2SRawNoHeader connects, sending nothing yet.
func dialC2SRawNoHeader(t testing.TB, addr string) *c2sRaw {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &c2sRaw{nc: nc, rd: stream.NewReader(nc, stream.ReaderOptions{})}
}

func (rc *c2sRaw) send(s string) { rc.nc.Write([]byte(s)) }

func (rc *c2sRaw) expectName(t testing.TB, local string) string {
	t.Helper()
	el, err := rc.rd.Next()
	if err != nil {
		t.Fatalf("want <%s/>: %v", local, err)
	}
	if _, l := el.Name(); l != local {
		t.Fatalf("got %s, want <%s/>", el.Raw(), local)
	}
	return string(el.Raw())
}

func (rc *c2sRaw) expect(t testing.TB, raw string) {
	t.Helper()
	el, err := rc.rd.Next()
	if err != nil {
		t.Fatalf("want %s: %v", raw, err)
	}
	if string(el.Raw()) != raw {
		t.Fatalf("got %s, want %s", el.Raw(), raw)
	}
}

func b64(s string) string {
	return strings.TrimSpace(string(saslElement("x", []byte(s))[len("<x xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>") : len(saslElement("x", []byte(s)))-len("</x>")]))
}

// echo is an in-process component: messages come back with "echo: "
// prepended, IQ gets of urn:x:test answer with the sender's address.
func c2sEcho(t testing.TB, r *router.Router, domain string, seen chan<- jid.JID) {
	t.Helper()
	m := mux.New()
	m.HandleMessageFunc(mux.AnyType, "", func(ctx context.Context, s mux.Sender, msg *stanza.Stanza) error {
		if seen != nil {
			seen <- msg.From
		}
		reply := stanza.NewMessage(msg.Type, msg.From, "echo: "+msg.Body())
		reply.From = msg.To
		return s.Send(ctx, reply)
	})
	m.HandleIQFunc(stanza.TypeGet, "urn:x:test", "q", func(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
		return s.Send(ctx, iq.Result(stanza.MustElement("<q xmlns='urn:x:test'>"+iq.From.String()+"</q>")))
	})
	svc, err := r.Attach(domain, m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(context.Background()) })
}

func c2sRecv(t testing.TB, c *xclient.Client, kind stanza.Kind) *stanza.Stanza {
	t.Helper()
	for {
		st, err := c.Recv(ctxT(t))
		if err != nil {
			t.Fatalf("recv %v: %v", kind, err)
		}
		if st.Kind == kind {
			return st
		}
	}
}

func TestC2SComponent(t *testing.T) {
	r, l, addr := newC2S(t, router.Config{}, Config{})
	seen := make(chan jid.JID, 1)
	c2sEcho(t, r, "echo.localhost", seen)
	c := mustLogin(t, addr, l, "alice@localhost", "alicepw")
	if err := c.SendPresence(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	// from is stamped by the router, whatever the client put there.
	msg := stanza.NewMessage(stanza.TypeChat, jid.MustParse("echo.localhost"), "hi")
	msg.From = c.JID().Bare()
	if err := c.Send(ctxT(t), msg); err != nil {
		t.Fatal(err)
	}
	if from := <-seen; from != c.JID() {
		t.Errorf("component saw from %s, want %s", from, c.JID())
	}
	got := c2sRecv(t, c, stanza.Message)
	if got.Body() != "echo: hi" || got.From.String() != "echo.localhost" || got.To != c.JID() {
		t.Errorf("reply %s", got)
	}
	res, err := c.SendIQ(ctxT(t), stanza.NewIQ(stanza.TypeGet, jid.MustParse("echo.localhost"), stanza.MustElement("<q xmlns='urn:x:test'/>")))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Text string `xml:",chardata"`
	}
	if err := res.Unmarshal(&v); err != nil || v.Text != c.JID().String() {
		t.Errorf("iq result %s (%v)", res, err)
	}
	_, err = c.SendIQ(ctxT(t), stanza.NewIQ(stanza.TypeGet, jid.MustParse("echo.localhost"), stanza.MustElement("<other xmlns='urn:x:none'/>")))
	if !errors.Is(err, stanza.ErrServiceUnavailable) {
		t.Errorf("unhandled iq: %v", err)
	}
	_, err = c.SendIQ(ctxT(t), stanza.NewIQ(stanza.TypeGet, jid.MustParse("nowhere.example"), stanza.MustElement("<q xmlns='urn:x:test'/>")))
	if !errors.Is(err, stanza.ErrRemoteServerNotFound) {
		t.Errorf("iq to a remote domain: %v", err)
	}
}

func TestC2SClientToClient(t *testing.T) {
	_, l, addr := newC2S(t, router.Config{}, Config{})
	a := mustLogin(t, addr, l, "alice@localhost", "alicepw")
	b := mustLogin(t, addr, l, "bob@localhost/desk", "bobpw")
	if b.JID().String() != "bob@localhost/desk" {
		t.Fatalf("bob bound %s", b.JID())
	}
	// To the full JID: delivered before any presence.
	a.Send(ctxT(t), stanza.NewMessage(stanza.TypeChat, b.JID(), "to full"))
	if got := c2sRecv(t, b, stanza.Message); got.Body() != "to full" || got.From != a.JID() {
		t.Errorf("bob got %s", got)
	}
	// To the bare JID: only once bob is available (RFC 6121 §8.5.2).
	b.SendPresence(ctxT(t))
	time.Sleep(50 * time.Millisecond)
	b.Send(ctxT(t), stanza.NewMessage(stanza.TypeChat, a.JID().Bare(), "hello alice"))
	a.Send(ctxT(t), stanza.NewMessage(stanza.TypeChat, b.JID().Bare(), "hello bob"))
	// alice is not available: her bare JID bounces with service-unavailable
	// (no offline storage). The two messages come from different senders,
	// in either order.
	var gotHello, gotBounce bool
	for range 2 {
		got := c2sRecv(t, b, stanza.Message)
		switch {
		case got.Body() == "hello bob" && got.From == a.JID():
			gotHello = true
		case got.Type == stanza.TypeError && errors.Is(got.Err(), stanza.ErrServiceUnavailable):
			gotBounce = true
		default:
			t.Errorf("bob got %s", got)
		}
	}
	if !gotHello || !gotBounce {
		t.Errorf("hello %v, bounce %v", gotHello, gotBounce)
	}
	// Once alice is available, her bare JID reaches her.
	a.SendPresence(ctxT(t))
	time.Sleep(50 * time.Millisecond)
	b.Send(ctxT(t), stanza.NewMessage(stanza.TypeChat, a.JID().Bare(), "now?"))
	if got := c2sRecv(t, a, stanza.Message); got.Body() != "now?" || got.From != b.JID() {
		t.Errorf("alice got %s", got)
	}
}

func TestC2SRecvIQFromClient(t *testing.T) {
	_, l, addr := newC2S(t, router.Config{}, Config{})
	a := mustLogin(t, addr, l, "alice@localhost", "alicepw")
	m := mux.New()
	ping.Handler{}.Register(m)
	cfg := xclient.Config{JID: jid.MustParse("bob@localhost"), Password: "bobpw", Handler: m, TLS: &tls.Config{RootCAs: l.CertPool()}}
	b, err := xclient.Dial(ctxT(t), addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctxT(t))
	res, err := a.SendIQ(ctxT(t), stanza.NewIQ(stanza.TypeGet, b.JID(), stanza.Element{Space: "urn:xmpp:ping", Local: "ping"}))
	if err != nil || res.From != b.JID() {
		t.Errorf("ping bob = %v, %v", res, err)
	}
}

func TestC2SSpoofedFrom(t *testing.T) {
	_, l, addr := newC2S(t, router.Config{}, Config{})
	// The client package refuses to send it (xsession.ErrBadFrom)...
	a := mustLogin(t, addr, l, "alice@localhost", "alicepw")
	msg := stanza.NewMessage(stanza.TypeChat, jid.MustParse("alice@localhost"), "x")
	msg.From = jid.MustParse("bob@localhost/desk")
	if err := a.Send(ctxT(t), msg); !errors.Is(err, xsession.ErrBadFrom) {
		t.Errorf("client Send = %v, want ErrBadFrom", err)
	}
	// ...so a raw stream sends it, and the server ends that stream.
	rc := dialC2SRaw(t, addr)
	rc.rawSCRAMLogin(t)
	rc.send("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
	if st, err := rc.rd.ReadStanza(); err != nil || st.Type != stanza.TypeResult {
		t.Fatalf("bind: %v %v", st, err)
	}
	rc.send("<message to='alice@localhost' from='bob@localhost/desk' type='chat'><body>x</body></message>")
	for {
		_, err := rc.rd.Next()
		if err == nil {
			continue
		}
		if !errors.Is(err, stream.ErrInvalidFrom) {
			t.Errorf("stream ended with %v, want invalid-from", err)
		}
		break
	}
}

func TestC2SConflict(t *testing.T) {
	t.Run("refuse new", func(t *testing.T) {
		_, l, addr := newC2S(t, router.Config{}, Config{})
		mustLogin(t, addr, l, "alice@localhost/phone", "alicepw")
		_, err := login(t, addr, l, "alice@localhost/phone", "alicepw", "", true)
		if !errors.Is(err, stanza.ErrConflict) {
			t.Errorf("second bind: %v", err)
		}
	})
	t.Run("kick old", func(t *testing.T) {
		_, l, addr := newC2S(t, router.Config{Conflict: router.KickOld}, Config{})
		old := mustLogin(t, addr, l, "alice@localhost/phone", "alicepw")
		nw := mustLogin(t, addr, l, "alice@localhost/phone", "alicepw")
		select {
		case <-old.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("old session not closed")
		}
		if !errors.Is(old.Err(), stream.ErrConflict) {
			t.Errorf("old session: %v", old.Err())
		}
		if err := ping.Send(ctxT(t), nw, jid.MustParse("localhost")); err != nil {
			t.Errorf("new session: %v", err)
		}
	})
}

func TestC2SRequireTLS(t *testing.T) {
	_, l, addr := newC2S(t, router.Config{}, Config{TLSPolicy: TLSRequired})
	if _, err := login(t, addr, l, "alice@localhost", "alicepw", "", false); !errors.Is(err, xclient.ErrTLSUnavailable) {
		t.Errorf("without TLS: %v", err)
	}
	if _, err := login(t, addr, l, "alice@localhost", "alicepw", "", true); err != nil {
		t.Errorf("with TLS: %v", err)
	}
}

func TestC2SUnauthLimits(t *testing.T) {
	_, _, addr := newC2S(t, router.Config{MaxUnauthPerIP: 2, HandshakeTimeout: 300 * time.Millisecond}, Config{})
	var conns []net.Conn
	for range 2 {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		conns = append(conns, nc)
	}
	time.Sleep(50 * time.Millisecond)
	third, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	third.SetDeadline(time.Now().Add(5 * time.Second))
	out, _ := io.ReadAll(third)
	if !strings.Contains(string(out), "<policy-violation") {
		t.Errorf("third connection got %q", out)
	}
	// The first two time out in the negotiation.
	conns[0].SetDeadline(time.Now().Add(5 * time.Second))
	out, _ = io.ReadAll(conns[0])
	if !strings.Contains(string(out), "<connection-timeout") {
		t.Errorf("idle connection got %q", out)
	}
}

func TestC2SBadInput(t *testing.T) {
	_, _, addr := newC2S(t, router.Config{}, Config{})
	tests := []struct {
		name, send, cond string
	}{
		{"stanza before auth", "<message to='bob@localhost'><body>x</body></message>", "not-authorized"},
		{"malformed xml", "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'></wrong>", "not-well-formed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialC2SRaw(t, addr)
			rc.send(tc.send)
			_, err := rc.rd.Next()
			var se *stream.Error
			if !errors.As(err, &se) || string(se.Condition) != tc.cond {
				t.Errorf("got %v, want %s", err, tc.cond)
			}
		})
	}
	t.Run("bad base64", func(t *testing.T) {
		rc := dialC2SRaw(t, addr)
		rc.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>!!</auth>")
		rc.expect(t, "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><incorrect-encoding/></failure>")
		rc.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='DIGEST-MD5'/>")
		rc.expect(t, "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><invalid-mechanism/></failure>")
		rc.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>" + b64("garbage") + "</auth>")
		rc.expect(t, "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><malformed-request/></failure>")
		// Failed exchanges that are no password guesses: maxSASLAttempts.
		for range maxSASLAttempts - 4 {
			rc.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>" + b64("n,,n=x") + "</auth>")
			rc.expect(t, "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><malformed-request/></failure>")
		}
		rc.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='X'/>")
		rc.expect(t, "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><invalid-mechanism/></failure>")
		_, err := rc.rd.Next()
		if !errors.Is(err, stream.ErrPolicyViolation) {
			t.Errorf("after %d failed exchanges: %v", maxSASLAttempts, err)
		}
	})
	t.Run("SCRAM without initial response, then abort", func(t *testing.T) {
		rc := dialC2SRaw(t, addr)
		rc.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'/>")
		rc.expect(t, "<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>=</challenge>")
		rc.send("<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
		rc.expect(t, "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><aborted/></failure>")
	})
}

func TestC2SInMemory(t *testing.T) {
	r, _ := newTestRouter(t, router.Config{Users: testUsers})
	l, err := New(r, Config{})
	if err != nil {
		t.Fatal(err)
	}
	c2sEcho(t, r, "echo.localhost", nil)
	cc, sc := net.Pipe()
	done := make(chan struct{})
	go func() { defer close(done); l.ServeConn(sc) }()
	c, err := xclient.New(ctxT(t), cc, xclient.Config{
		JID: jid.MustParse("alice@localhost"), Password: "alicepw",
		TLS: &tls.Config{RootCAs: l.CertPool(), ServerName: "localhost"},
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Send(ctxT(t), stanza.NewMessage(stanza.TypeChat, jid.MustParse("echo.localhost"), "pipe"))
	if got := c2sRecv(t, c, stanza.Message); got.Body() != "echo: pipe" {
		t.Errorf("got %s", got)
	}
	if err := c.Close(ctxT(t)); err != nil {
		t.Error(err)
	}
	<-done
}

func TestC2SRouterClose(t *testing.T) {
	r, l, addr := newC2S(t, router.Config{}, Config{})
	c := mustLogin(t, addr, l, "alice@localhost", "alicepw")
	if err := r.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	<-c.Done()
	if !errors.Is(c.Err(), stream.ErrSystemShutdown) {
		t.Errorf("Err = %v", c.Err())
	}
	if a, err := l.Listen("127.0.0.1:0"); err != router.ErrClosed {
		t.Errorf("C2S.Listen after Close = %v, %v; want ErrClosed", a, err)
	}
	if a, err := r.ListenComponents("127.0.0.1:0"); err != router.ErrClosed {
		t.Errorf("ListenComponents after Close = %v, %v; want ErrClosed", a, err)
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestC2SPasswordsNotLogged runs logins that succeed and fail with every
// mechanism under a debug logger and checks that no password (nor its
// base64 form) reaches the log.
func TestC2SPasswordsNotLogged(t *testing.T) {
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_, l, addr := newC2S(t, router.Config{Users: map[string]string{"alice@localhost": "S3cretPassw0rd"}, Logger: logger}, Config{LoginLimits: LoginLimits{Disabled: true}})
	for _, mech := range []string{xclient.ScramSHA256, xclient.ScramSHA1, xclient.Plain} {
		for _, pw := range []string{"S3cretPassw0rd", "Wr0ngPassw0rd"} {
			c, err := login(t, addr, l, "alice@localhost", pw, mech, true)
			if err == nil {
				c.Send(ctxT(t), stanza.NewMessage("", jid.MustParse("nowhere.example"), "x"))
				c.Close(ctxT(t))
			}
		}
	}
	out := logs.String()
	if out == "" {
		t.Fatal("nothing logged: the test checks nothing")
	}
	for _, secret := range []string{"S3cretPassw0rd", "Wr0ngPassw0rd", b64("\x00alice\x00S3cretPassw0rd")} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains %q", secret)
		}
	}
}

// BenchmarkC2SLogin measures a whole login over loopback TCP: STARTTLS,
// SCRAM-SHA-256 (4096 PBKDF2 iterations on each side) and bind.
func BenchmarkC2SLogin(b *testing.B) {
	_, l, addr := newC2S(b, router.Config{}, Config{})
	cfg := xclient.Config{JID: jid.MustParse("alice@localhost"), Password: "alicepw", TLS: &tls.Config{RootCAs: l.CertPool()}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c, err := xclient.Dial(ctx, addr, cfg)
		if err != nil {
			b.Fatal(err)
		}
		c.Close(ctx)
	}
}

// BenchmarkC2SEcho measures a message round trip client → router →
// in-process component → router → client over loopback TCP with TLS.
func BenchmarkC2SEcho(b *testing.B) {
	r, l, addr := newC2S(b, router.Config{}, Config{})
	c2sEcho(b, r, "echo.localhost", nil)
	c := mustLogin(b, addr, l, "alice@localhost", "alicepw")
	ctx := context.Background()
	to := jid.MustParse("echo.localhost")
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Send(ctx, stanza.NewMessage(stanza.TypeChat, to, "ping")); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Recv(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// TestC2SConfiguredCertificate: a certificate given in Config.TLS is
// used as is, and TLS below 1.2 is refused.
func TestC2SConfiguredCertificate(t *testing.T) {
	cert, leaf, err := selfSignedCert([]string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	_, l, addr := newC2S(t, router.Config{}, Config{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	if l.Certificate() != nil || l.CertPool() != nil {
		t.Error("a configured certificate is reported as generated")
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	c, err := xclient.Dial(ctxT(t), addr, xclient.Config{JID: jid.MustParse("alice@localhost"), Password: "alicepw", TLS: &tls.Config{RootCAs: pool}})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := c.TLSState()
	if !st.PeerCertificates[0].Equal(leaf) {
		t.Error("the server presented another certificate")
	}
	c.Close(ctxT(t))
	// An untrusted certificate fails the client's verification.
	if _, err := login(t, addr, l, "alice@localhost", "alicepw", "", true); err == nil {
		t.Error("login with an untrusted certificate succeeded")
	}
	// TLS 1.1 is below the listener's minimum.
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	nc.Write([]byte("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"))
	rd := stream.NewReader(nc, stream.ReaderOptions{})
	rd.ReadHeader()
	rd.Next() // features
	if el, err := rd.Next(); err != nil || !el.Is(stream.NSTLS, "proceed") {
		t.Fatalf("want <proceed/>: %v", err)
	}
	tc := tls.Client(nc, &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	if err := tc.Handshake(); err == nil {
		t.Error("TLS 1.1 handshake succeeded")
	}
}

// rawSCRAMLogin authenticates rc as alice with SCRAM-SHA-1 (mellium's
// client) and restarts the stream, up to the bind feature.
func (rc *c2sRaw) rawSCRAMLogin(t testing.TB) {
	t.Helper()
	if f := rc.scramLogin(t, sasl.ScramSha1, "alice", "alicepw", ""); !strings.Contains(f, "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>") {
		t.Fatalf("features after SASL: %s", f)
	}
}

// scramLogin authenticates rc as user with the SCRAM mechanism m
// (mellium's client), restarts the stream (with the extra header
// attributes attrs) and returns the features that follow.
func (rc *c2sRaw) scramLogin(t testing.TB, m sasl.Mechanism, user, pw, attrs string) string {
	t.Helper()
	neg := sasl.NewClient(m, sasl.Credentials(func() ([]byte, []byte, []byte) {
		return []byte(user), []byte(pw), nil
	}))
	_, resp, _ := neg.Step(nil)
	rc.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='" + m.Name + "'>" + b64(string(resp)) + "</auth>")
	el, err := rc.rd.Next()
	if err != nil {
		t.Fatal(err)
	}
	text, _ := el.Text()
	data, _ := base64.StdEncoding.DecodeString(text)
	if _, resp, err = neg.Step(data); err != nil {
		t.Fatal(err)
	}
	rc.send("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>" + b64(string(resp)) + "</response>")
	rc.expectName(t, "success")
	rc.rd.Reset(rc.nc)
	rc.send("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'" + attrs + ">")
	if _, err := rc.rd.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	return rc.expectName(t, "features")
}

func TestC2SBind(t *testing.T) {
	_, l, addr := newC2S(t, router.Config{}, Config{})
	mustLogin(t, addr, l, "alice@localhost/taken", "alicepw")
	rc := dialC2SRaw(t, addr)
	rc.rawSCRAMLogin(t)
	bind := func(id, inner string) *stanza.Stanza {
		rc.send("<iq type='set' id='" + id + "'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>" + inner + "</bind></iq>")
		st, err := rc.rd.ReadStanza()
		if err != nil || st.ID != id {
			t.Fatalf("bind %s: %v %v", id, st, err)
		}
		return st
	}
	if st := bind("b1", "<resource>zero\u200bwidth</resource>"); !errors.Is(st.Err(), stanza.ErrBadRequest) {
		t.Errorf("resource with a zero-width space: %s", st)
	}
	if st := bind("b2", "<resource>taken</resource>"); !errors.Is(st.Err(), stanza.ErrConflict) {
		t.Errorf("taken resource: %s", st)
	}
	st := bind("b3", "<resource>free</resource>")
	var v struct {
		JID string `xml:"jid"`
	}
	if err := st.UnmarshalChild("urn:ietf:params:xml:ns:xmpp-bind", "bind", &v); err != nil || v.JID != "alice@localhost/free" {
		t.Errorf("bind result %s (%v)", st, err)
	}

	t.Run("stanza before bind", func(t *testing.T) {
		rc := dialC2SRaw(t, addr)
		rc.rawSCRAMLogin(t)
		rc.send("<presence/>")
		if _, err := rc.rd.Next(); !errors.Is(err, stream.ErrNotAuthorized) {
			t.Errorf("got %v, want not-authorized", err)
		}
	})
}

// TestC2SPresenceToComponent: directed presence reaches a component, and
// when the client's stream ends the component gets unavailable presence
// (RFC 6121 §4.6.3).
func TestC2SPresenceToComponent(t *testing.T) {
	r, l, addr := newC2S(t, router.Config{}, Config{})
	got := make(chan *stanza.Stanza, 4)
	m := mux.New()
	m.HandlePresenceFunc(mux.AnyType, func(ctx context.Context, s mux.Sender, p *stanza.Stanza) error {
		got <- p
		return nil
	})
	svc, err := r.Attach("presence.localhost", m)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close(context.Background())
	c := mustLogin(t, addr, l, "alice@localhost/here", "alicepw")
	c.SendPresence(ctxT(t))
	if err := c.Send(ctxT(t), stanza.NewPresence("", jid.MustParse("presence.localhost"))); err != nil {
		t.Fatal(err)
	}
	wait := func() *stanza.Stanza {
		select {
		case p := <-got:
			return p
		case <-time.After(5 * time.Second):
			t.Fatal("no presence reached the component")
			return nil
		}
	}
	if p := wait(); p.Type != "" || p.From.String() != "alice@localhost/here" {
		t.Errorf("component got %s", p)
	}
	c.Close(ctxT(t))
	if p := wait(); p.Type != stanza.TypeUnavailable || p.From.String() != "alice@localhost/here" {
		t.Errorf("component got %s, want unavailable", p)
	}
}

// TestC2SNegotiationTimeout checks that a client that sends no complete
// stream header before HandshakeTimeout (on the first stream or after the
// STARTTLS restart) gets a stream header of ours, then connection-timeout
// (RFC 6120 §4.9.1.3, §4.9.3.4), as from the XEP-0114 listener.
func TestC2SNegotiationTimeout(t *testing.T) {
	_, l, addr := newC2S(t, router.Config{HandshakeTimeout: 300 * time.Millisecond}, Config{})
	const hdr = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"
	for _, tc := range []struct {
		name, send string
		tls        bool
	}{
		{"silence", "", false},
		{"half a header", hdr[:60], false},
		{"silence after STARTTLS", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(5 * time.Second))
			var conn net.Conn = nc
			if tc.tls {
				rc := &c2sRaw{nc: nc, rd: stream.NewReader(nc, stream.ReaderOptions{})}
				rc.send(hdr)
				if _, err := rc.rd.ReadHeader(); err != nil {
					t.Fatal(err)
				}
				rc.expectName(t, "features")
				rc.send("<starttls xmlns='" + stream.NSTLS + "'/>")
				rc.expectName(t, "proceed")
				tc := tls.Client(nc, &tls.Config{RootCAs: l.CertPool(), ServerName: "localhost"})
				if err := tc.Handshake(); err != nil {
					t.Fatal(err)
				}
				conn = tc
			}
			io.WriteString(conn, tc.send)
			rd := stream.NewReader(conn, stream.ReaderOptions{})
			h, err := rd.ReadHeader()
			if err != nil {
				t.Fatalf("no stream header before the error: %v", err)
			}
			if h.NS != stream.NSClient || h.ID == "" {
				t.Errorf("header %+v", h)
			}
			if _, err := rd.Next(); !errors.Is(err, stream.ErrConnectionTimeout) {
				t.Errorf("got %v, want connection-timeout", err)
			}
		})
	}
}
