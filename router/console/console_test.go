package console

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/router"
	"xmppkit.dev/session"
	"xmppkit.dev/stanza"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// setup starts a router with a service at svc.localhost, a console on a
// loopback port, and an in-memory client alice.
func setup(t *testing.T, cfg Config) (*session.Session, *Console, string, *router.Client) {
	t.Helper()
	r, err := router.New(router.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	svc, err := r.Attach("svc.localhost", mux.New())
	if err != nil {
		t.Fatal(err)
	}
	c := New(r, cfg)
	addr, err := c.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	alice, err := r.Connect(jid.MustParse("alice@localhost/a"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alice.Close() })
	return svc, c, addr.String(), alice
}

// sse is a reader of a server-sent event stream.
type sse struct {
	resp *http.Response
	rd   *bufio.Reader
}

type event struct{ id, name, data string }

func openEvents(t *testing.T, addr, lastID string) *sse {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctxT(t), "GET", "http://"+addr+"/events", nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /events: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	return &sse{resp: resp, rd: bufio.NewReader(resp.Body)}
}

func (s *sse) next(t *testing.T) event {
	t.Helper()
	var ev event
	for {
		line, err := s.rd.ReadString('\n')
		if err != nil {
			t.Fatalf("event stream: %v", err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if ev.name != "" {
				return ev
			}
		case strings.HasPrefix(line, "id: "):
			ev.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.name = line[7:]
		case strings.HasPrefix(line, "data: "):
			ev.data = line[6:]
		}
	}
}

// nextStanza skips other events.
func (s *sse) nextStanza(t *testing.T) (Event, string) {
	t.Helper()
	for {
		ev := s.next(t)
		if ev.name != "stanza" {
			continue
		}
		var e Event
		if err := json.Unmarshal([]byte(ev.data), &e); err != nil {
			t.Fatal(err)
		}
		return e, ev.id
	}
}

func TestEvents(t *testing.T) {
	_, _, addr, alice := setup(t, Config{})
	s := openEvents(t, addr, "")
	// The sessions come first, and again when they change.
	ev := s.next(t)
	if ev.name != "peers" || !strings.Contains(ev.data, `{"kind":"service","addr":"svc.localhost"}`) {
		t.Fatalf("first event %+v", ev)
	}
	for ; !strings.Contains(ev.data, `{"kind":"client","addr":"alice@localhost/a"}`); ev = s.next(t) {
		if ev.name != "peers" {
			t.Fatalf("event %+v before the peers with alice", ev)
		}
	}
	m := stanza.NewMessage(stanza.TypeChat, jid.MustParse("svc.localhost"), "<script>alert(1)</script> & more")
	m.ID = "m1"
	if err := alice.Send(ctxT(t), m); err != nil {
		t.Fatal(err)
	}
	e, id := s.nextStanza(t)
	if e.Kind != "message" || e.Type != "chat" || e.ID != "m1" || e.From != "alice@localhost/a" || e.To != "svc.localhost" || id == "" {
		t.Fatalf("stanza event %+v (id %q)", e, id)
	}
	if !strings.Contains(e.XML, "\n  <body>&lt;script&gt;alert(1)&lt;/script&gt; &amp; more</body>\n") || e.Raw {
		t.Fatalf("XML not pretty-printed and escaped:\n%s", e.XML)
	}
	// A page that reconnects gets only what it missed.
	m2 := stanza.NewMessage(stanza.TypeChat, jid.MustParse("svc.localhost"), "second")
	m2.ID = "m2"
	alice.Send(ctxT(t), m2)
	s2 := openEvents(t, addr, id)
	if e, _ := s2.nextStanza(t); e.ID != "m2" {
		t.Fatalf("after Last-Event-ID %s: %+v", id, e)
	}
	// A new page gets the backlog.
	s3 := openEvents(t, addr, "")
	if e, _ := s3.nextStanza(t); e.ID != "m1" {
		t.Fatalf("backlog starts with %+v", e)
	}
}

// TestBacklogGap: a page reconnecting after more than the backlog passed is
// told how many stanzas it missed.
func TestBacklogGap(t *testing.T) {
	_, _, addr, alice := setup(t, Config{Backlog: 3})
	s := openEvents(t, addr, "")
	alice.Send(ctxT(t), stanza.NewMessage(stanza.TypeChat, jid.MustParse("svc.localhost"), "0"))
	_, id := s.nextStanza(t)
	for i := range 5 {
		alice.Send(ctxT(t), stanza.NewMessage(stanza.TypeChat, jid.MustParse("svc.localhost"), string(rune('a'+i))))
	}
	for range 5 {
		s.nextStanza(t)
	}
	s2 := openEvents(t, addr, id)
	for {
		ev := s2.next(t)
		if ev.name == "gap" {
			if ev.data != "2" {
				t.Fatalf("gap of %s, want 2 (5 sent, 3 kept)", ev.data)
			}
			return
		}
		if ev.name == "stanza" {
			t.Fatalf("stanza before the gap: %+v", ev)
		}
	}
}

func TestLoopbackOnly(t *testing.T) {
	_, c, addr, _ := setup(t, Config{})
	for _, host := range []string{"evil.example", "192.168.1.10", "localhost.evil.example"} {
		req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("Host %s: %s, want 403 (DNS rebinding)", host, resp.Status)
		}
	}
	for _, host := range []string{addr, "localhost", "LOCALHOST:8080", "[::1]:1", "console.localhost"} {
		req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), "xmppkit router console") {
			t.Errorf("Host %s: %s", host, resp.Status)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("CSP %q", csp)
		}
	}
	for _, a := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0", "example.org:80"} {
		if _, err := c.Listen(a); !errors.Is(err, ErrNotLoopback) {
			t.Errorf("Listen(%q) = %v, want ErrNotLoopback", a, err)
		}
	}
	resp, err := http.Post("http://"+addr+"/events", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %s", resp.Status)
	}
}

// TestSlowPage: a page that stops reading never slows the router; its
// stream is closed (it reconnects from Last-Event-ID).
func TestSlowPage(t *testing.T) {
	svc, c, addr, alice := setup(t, Config{MaxXML: 64 << 10})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.(*net.TCPConn).SetReadBuffer(4096)
	io.WriteString(nc, "GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n")
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.mu.Lock()
		n := len(c.subs)
		c.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the page never subscribed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	sender := svc
	big := strings.Repeat("x", 32<<10)
	start := time.Now()
	const n = 1000
	for i := range n {
		m := stanza.NewMessage(stanza.TypeChat, alice.JID(), big)
		if err := sender.Send(ctxT(t), m); err != nil {
			t.Fatal(err)
		}
		if _, err := alice.Recv(ctxT(t)); err != nil {
			t.Fatal(i, err)
		}
	}
	took := time.Since(start)
	for {
		c.mu.Lock()
		n := len(c.subs)
		c.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline.Add(10 * time.Second)) {
			t.Fatal("the page that does not read is still subscribed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("%d stanzas of 32 KiB routed in %v with a page that does not read", n, took)
}

func TestClose(t *testing.T) {
	_, c, addr, _ := setup(t, Config{})
	s := openEvents(t, addr, "")
	s.next(t) // peers
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, s.resp.Body)
		done <- err
	}()
	if err := c.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("event stream not ended by Close")
	}
}
