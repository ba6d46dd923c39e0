package component

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

// fakeServer is an in-memory (loopback) XEP-0114 server whose behaviour each
// test scripts per connection.
type fakeServer struct {
	t      testing.TB
	ln     net.Listener
	script func(n int, fc *fakeConn) // n counts connections from 1
	n      atomic.Int32
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
}

func newFakeServer(t testing.TB, script func(n int, fc *fakeConn)) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fs := &fakeServer{t: t, ln: ln, script: script}
	fs.wg.Add(1)
	go fs.serve()
	t.Cleanup(fs.close)
	return fs
}

func (fs *fakeServer) addr() string {
	if fs.ln == nil {
		return "pipe"
	}
	return fs.ln.Addr().String()
}

// newPipeServer is a fakeServer on net.Pipe: a write returns only once the
// server has read it, so what the component reports as written is exactly
// what the server received. Set the component's dialHook to fs.dial.
func newPipeServer(t testing.TB, script func(n int, fc *fakeConn)) *fakeServer {
	fs := &fakeServer{t: t, script: script}
	t.Cleanup(fs.close)
	return fs
}

func (fs *fakeServer) dial(ctx context.Context) (net.Conn, error) {
	client, server := net.Pipe()
	fs.mu.Lock()
	fs.conns = append(fs.conns, server, client)
	fs.mu.Unlock()
	n := int(fs.n.Add(1))
	fs.wg.Add(1)
	go func() {
		defer fs.wg.Done()
		defer server.Close()
		fs.script(n, &fakeConn{Conn: server, t: fs.t})
	}()
	return client, nil
}

func (fs *fakeServer) serve() {
	defer fs.wg.Done()
	for {
		c, err := fs.ln.Accept()
		if err != nil {
			return
		}
		fs.mu.Lock()
		fs.conns = append(fs.conns, c)
		fs.mu.Unlock()
		n := int(fs.n.Add(1))
		fs.wg.Add(1)
		go func() {
			defer fs.wg.Done()
			defer c.Close()
			fs.script(n, &fakeConn{Conn: c, t: fs.t})
		}()
	}
}

func (fs *fakeServer) close() {
	if fs.ln != nil {
		fs.ln.Close()
	}
	fs.mu.Lock()
	for _, c := range fs.conns {
		c.Close()
	}
	fs.mu.Unlock()
	fs.wg.Wait()
}

// fakeConn is the server's side of one connection.
type fakeConn struct {
	net.Conn
	t   testing.TB
	rd  *stream.Reader
	hdr stream.Header
	id  string
	// keepalives makes the reader report whitespace (set before accept).
	keepalives bool
}

const testSecret = "s3cret"
const testDomain = "svc.example.test"

// readHeader reads the component's stream header.
func (fc *fakeConn) readHeader() (stream.Header, error) {
	fc.rd = stream.NewReader(fc.Conn, stream.ReaderOptions{Keepalives: fc.keepalives})
	h, err := fc.rd.ReadHeader()
	fc.hdr = h
	return h, err
}

func (fc *fakeConn) send(s string) error {
	_, err := io.WriteString(fc.Conn, s)
	return err
}

// sendHeader answers with a component stream header carrying id.
func (fc *fakeConn) sendHeader(id string) error {
	fc.id = id
	return fc.send("<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' " +
		"xmlns='jabber:component:accept' from='" + fc.hdr.To + "' id='" + id + "'>")
}

// readHandshake reads the <handshake/> element and returns its text.
func (fc *fakeConn) readHandshake() (string, error) {
	el, err := fc.rd.Next()
	if err != nil {
		return "", err
	}
	if !el.Is(stream.NSComponent, "handshake") {
		return "", io.ErrUnexpectedEOF
	}
	return el.Text()
}

// accept runs the whole server side of a successful handshake.
func (fc *fakeConn) accept() bool {
	if _, err := fc.readHeader(); err != nil {
		return false
	}
	if fc.sendHeader("sid-1234") != nil {
		return false
	}
	got, err := fc.readHandshake()
	if err != nil || got != handshakeDigest("sid-1234", testSecret) {
		fc.send("<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>")
		return false
	}
	return fc.send("<handshake/>") == nil
}

// readStanza reads the next stanza the component sent (io.EOF at its
// </stream:stream>).
func (fc *fakeConn) readStanza() (*stanza.Stanza, error) {
	for {
		st, err := fc.rd.ReadStanza()
		if err != nil || st != nil {
			return st, err
		}
	}
}

// quietLogger discards everything.
func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// checkGoroutines fails the test if, at cleanup, more goroutines run than
// at the start (after giving them a moment to end).
func checkGoroutines(t *testing.T) {
	t.Helper()
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= base {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				var ours bytes.Buffer
				for _, g := range bytes.Split(buf, []byte("\n\n")) {
					if bytes.Contains(g, []byte("xmppkit.dev/component")) && !bytes.Contains(g, []byte("checkGoroutines")) {
						ours.Write(g)
						ours.WriteString("\n\n")
					}
				}
				t.Errorf("goroutine leak: %d running, %d at start\n%s", n, base, ours.String())
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// runComponent starts c.Run in a goroutine and returns a function that
// waits for it to return, with a timeout.
func runComponent(t *testing.T, ctx context.Context, c *Component) (wait func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	return func() error {
		t.Helper()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return")
			return nil
		}
	}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			var ours bytes.Buffer
			for _, g := range bytes.Split(buf, []byte("\n\n")) {
				if bytes.Contains(g, []byte("xmppkit.dev/")) {
					ours.Write(g)
					ours.WriteString("\n\n")
				}
			}
			t.Fatalf("timed out waiting for %s\n%s", what, ours.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
}
