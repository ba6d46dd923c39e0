package c2s

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"runtime"
	"testing"
	"time"

	"xmppkit.dev/component"
	"xmppkit.dev/mux"
	"xmppkit.dev/router"
	"xmppkit.dev/servertest"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

const testSecret = "s3cret"

// checkGoroutines fails t if goroutines started during the test are still
// running at cleanup (after the router closed).
func checkGoroutines(t testing.TB) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("%d goroutines left (had %d):\n%s", n, before, buf)
		}
	})
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newTestRouter starts a router serving components on a loopback port,
// closed at cleanup; component domains py.localhost and gw.localhost have
// the secret testSecret.
func newTestRouter(t testing.TB, cfg router.Config) (*router.Router, string) {
	t.Helper()
	checkGoroutines(t)
	if cfg.Secrets == nil {
		cfg.Secrets = map[string]string{"py.localhost": testSecret, "gw.localhost": testSecret}
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	r, err := router.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := r.ListenComponents("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r, addr.String()
}

// waitConnected waits until the component's link is up, or Run ended.
func waitConnected(t testing.TB, c *component.Component, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for c.Stats().State != component.StateConnected {
		select {
		case err := <-done:
			t.Fatalf("%s ended before connecting: %v", c.Domain, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never connected: %v", c.Domain, c.Stats().LastError)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rawComp is a hand-driven XEP-0114 component connection.
type rawComp struct {
	t  testing.TB
	nc net.Conn
	rd *stream.Reader
	w  *stream.Writer
}

// connectRaw dials the XEP-0114 listener at addr and authenticates as
// domain with testSecret.
func connectRaw(t testing.TB, addr, domain string) *rawComp {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	c := &rawComp{t: t, nc: nc, rd: stream.NewReader(nc, stream.ReaderOptions{NS: stream.NSComponent}), w: stream.NewWriter(nc, nil)}
	c.w.WriteHeader(stream.Header{NS: stream.NSComponent, To: domain})
	h, err := c.rd.ReadHeader()
	if err != nil {
		t.Fatalf("header for %s: %v", domain, err)
	}
	sum := sha1.Sum([]byte(h.ID + testSecret))
	c.w.WriteRaw([]byte("<handshake>" + hex.EncodeToString(sum[:]) + "</handshake>"))
	if el, err := c.rd.Next(); err != nil || !el.Is(stream.NSComponent, "handshake") {
		t.Fatalf("handshake for %s: %v", domain, err)
	}
	return c
}

func (c *rawComp) send(raw string) {
	c.t.Helper()
	if err := c.w.WriteRaw([]byte(raw)); err != nil {
		c.t.Fatal(err)
	}
}

// recv reads the next stanza.
func (c *rawComp) recv() *stanza.Stanza {
	c.t.Helper()
	st, err := c.rd.ReadStanza()
	if st == nil {
		c.t.Fatalf("recv: %v", err)
	}
	return st
}

func errCond(st *stanza.Stanza) string {
	if e := st.Err(); e != nil {
		return string(e.Condition)
	}
	return ""
}

// runComponent runs an xmppkit component for domain on the XEP-0114
// listener at addr until the test ends, and waits until it is connected.
func runComponent(t testing.TB, addr, domain string, h mux.Handler) *component.Component {
	t.Helper()
	comp := &component.Component{Addr: addr, Domain: domain, Secret: testSecret, Handler: h, Logger: quietLogger(), KeepAlive: -1}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- comp.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitConnected(t, comp, done)
	return comp
}

// slixmppWorld is a router with the test users, its XEP-0114 listener and
// a c2s listener, for slixmpp scripts: host and port of the listener and
// its certificate as a PEM file.
type slixmppWorld struct {
	r                    *router.Router
	compAddr, host, port string
	ca                   string
}

func newSlixmppWorld(t testing.TB, cfg Config) *slixmppWorld {
	t.Helper()
	servertest.Python(t)
	r, compAddr := newTestRouter(t, router.Config{Users: testUsers})
	l, addr, err := Listen(r, "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := &slixmppWorld{r: r, compAddr: compAddr}
	w.host, w.port, _ = net.SplitHostPort(addr.String())
	cert := l.Certificate()
	if cert == nil {
		cert = cfg.TLS.Certificates[0].Leaf
	}
	w.ca = servertest.WriteCertPEM(t, cert)
	return w
}

// run runs a slixmpp script with host and port, then args; it fails the
// test when the script fails, and logs and returns its output.
func (w *slixmppWorld) run(t testing.TB, script string, args ...string) string {
	t.Helper()
	ctx, stop := context.WithTimeout(context.Background(), 45*time.Second)
	defer stop()
	out, err := servertest.RunPython(t, ctx, script, append([]string{w.host, w.port}, args...)...)
	if err != nil {
		t.Fatalf("%v\n--- stdout ---\n%s", err, out)
	}
	t.Logf("slixmpp:\n%s", out)
	return out
}
