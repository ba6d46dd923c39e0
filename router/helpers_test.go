package router

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
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

// newTestRouter starts a router serving components on a loopback port, closed
// at cleanup. Domains a.localhost … with secret testSecret.
func newTestRouter(t testing.TB, cfg Config) (*Router, string) {
	t.Helper()
	checkGoroutines(t)
	if cfg.Secrets == nil {
		cfg.Secrets = map[string]string{}
		for _, d := range []string{"a", "b", "c", "d", "slow", "py"} {
			cfg.Secrets[d+".localhost"] = testSecret
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	r, err := New(cfg)
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

// rawComp is a hand-driven XEP-0114 component connection.
type rawComp struct {
	t  testing.TB
	nc net.Conn
	rd *stream.Reader
	w  *stream.Writer
	id string
}

// dialRaw connects and sends a component stream header for domain, returning
// the server's header (or the error read in its place).
func dialRaw(t testing.TB, addr, domain string) (*rawComp, stream.Header, error) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	c := &rawComp{t: t, nc: nc, rd: stream.NewReader(nc, stream.ReaderOptions{NS: stream.NSComponent})}
	c.w = stream.NewWriter(nc, nil)
	c.w.WriteHeader(stream.Header{NS: stream.NSComponent, To: domain})
	h, err := c.rd.ReadHeader()
	c.id = h.ID
	return c, h, err
}

// handshake sends the handshake for secret and returns the server's answer:
// nil for <handshake/>, the stream error otherwise.
func (c *rawComp) handshake(secret string) error {
	c.w.WriteRaw([]byte("<handshake>" + handshakeDigest(c.id, secret) + "</handshake>"))
	el, err := c.rd.Next()
	if err != nil {
		return err
	}
	if !el.Is(stream.NSComponent, "handshake") {
		return errors.New("unexpected " + string(el.Raw()))
	}
	return nil
}

// connectRaw dials and authenticates as domain.
func connectRaw(t testing.TB, addr, domain string) *rawComp {
	t.Helper()
	c, _, err := dialRaw(t, addr, domain)
	if err != nil {
		t.Fatalf("header for %s: %v", domain, err)
	}
	if err := c.handshake(testSecret); err != nil {
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
	st, err := c.recvErr()
	if err != nil {
		c.t.Fatalf("recv: %v", err)
	}
	return st
}

func (c *rawComp) recvErr() (*stanza.Stanza, error) {
	st, err := c.rd.ReadStanza()
	if st == nil && err != nil {
		return nil, err
	}
	return st, nil
}

// streamErr reads until the stream ends and returns the stream error the
// server sent, or nil for a plain close.
func (c *rawComp) streamErr() error {
	for {
		_, err := c.rd.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func condOf(err error) string {
	var se *stream.Error
	if errors.As(err, &se) {
		return string(se.Condition)
	}
	var ste *stanza.Error
	if errors.As(err, &ste) {
		return string(ste.Condition)
	}
	if err == nil {
		return ""
	}
	return "other: " + err.Error()
}

// errCond returns the condition of an error stanza, "" if st is not one.
func errCond(st *stanza.Stanza) string {
	if e := st.Err(); e != nil {
		return string(e.Condition)
	}
	return ""
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustJID(s string) jid.JID { return jid.MustParse(s) }

// countHandler counts the stanzas it handles.
func countHandler(n *int) mux.Handler {
	var mu sync.Mutex
	return mux.HandlerFunc(func(context.Context, mux.Sender, *stanza.Stanza) error {
		mu.Lock()
		*n++
		mu.Unlock()
		return nil
	})
}
