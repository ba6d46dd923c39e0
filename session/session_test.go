package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

var quiet = slog.New(slog.DiscardHandler)

func TestReplyError(t *testing.T) {
	msg := stanza.NewMessage(stanza.TypeChat, jid.MustParse("a@x"), "hi")
	get := stanza.NewIQ(stanza.TypeGet, jid.MustParse("a@x"), stanza.Element{Space: "urn:x", Local: "q"})
	res := get.Result()
	errMsg := msg.ErrorReply(stanza.ErrItemNotFound)
	pres := stanza.NewPresence("", jid.MustParse("a@x"))
	plain := errors.New("boom")
	wrapped := fmt.Errorf("ctx: %w", stanza.ErrForbidden)
	for _, tt := range []struct {
		name string
		st   *stanza.Stanza
		err  error
		want *stanza.Error
	}{
		{"nil", get, nil, nil},
		{"iq stanza error", get, stanza.ErrItemNotFound, stanza.ErrItemNotFound},
		{"iq wrapped stanza error", get, wrapped, stanza.ErrForbidden},
		{"iq plain error", get, plain, stanza.ErrInternalServerError},
		{"iq panic", get, &panicError{v: 1}, stanza.ErrInternalServerError},
		{"iq deadline", get, context.DeadlineExceeded, stanza.ErrInternalServerError},
		{"iq unrouted", get, stanza.ErrServiceUnavailable, stanza.ErrServiceUnavailable},
		{"iq result never", res, stanza.ErrItemNotFound, nil},
		{"message stanza error", msg, stanza.ErrNotAcceptable, stanza.ErrNotAcceptable},
		{"message plain error", msg, plain, nil},
		{"message unhandled", msg, mux.ErrUnhandled, nil},
		{"presence stanza error", pres, stanza.ErrForbidden, stanza.ErrForbidden},
		{"presence panic", pres, &panicError{v: 1}, nil},
		{"error never", errMsg, stanza.ErrForbidden, nil},
	} {
		if got := ReplyError(tt.st, tt.err); got != tt.want {
			t.Errorf("%s: ReplyError = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestAnswerFrom(t *testing.T) {
	self := jid.MustParse("alice@example.org/phone")
	svc := jid.MustParse("svc.example.org")
	j := jid.MustParse
	for _, tt := range []struct {
		to, from string
		client   bool
		want     bool
	}{
		{"bob@example.org/pc", "bob@example.org/pc", false, true},
		{"bob@example.org/pc", "bob@example.org/other", false, false},
		{"bob@example.org/pc", "bob@example.org", false, false},
		{"bob@example.org", "bob@example.org", false, true},
		{"example.org", "example.org", false, true},
		{"example.org", "", false, false},
		{"BOB@Example.org/pc", "bob@example.org/pc", false, true}, // compared as JIDs
		// A client's request to itself is answered by its server.
		{"", "", true, true},
		{"", "alice@example.org", true, true},
		{"", "alice@example.org/phone", true, true},
		{"", "example.org", true, true},
		{"", "mallory@example.org", true, false},
		{"alice@example.org", "example.org", true, true},
		{"alice@example.org", "", true, true},
		{"alice@example.org", "alice@example.org/other", true, false},
		// Not for a service.
		{"alice@example.org", "example.org", false, false},
	} {
		var to, from jid.JID
		if tt.to != "" {
			to = j(tt.to)
		}
		if tt.from != "" {
			from = j(tt.from)
		}
		me := svc
		if tt.client {
			me = self
		}
		if got := answerFrom(to, from, me, tt.client); got != tt.want {
			t.Errorf("to %q from %q (client %v): %v, want %v", tt.to, tt.from, tt.client, got, tt.want)
		}
	}
}

// pipeTransport is a byte-stream transport over one end of a net.Pipe or a
// TCP connection, with a Writer, for the Writer's tests.
type pipeTransport struct {
	w *Writer
}

func (p *pipeTransport) Deliver(ctx context.Context, out Outgoing, sync bool) (uint64, error) {
	return p.w.Deliver(ctx, out, sync)
}
func (p *pipeTransport) Confirm(context.Context, uint64) error { return nil }
func (p *pipeTransport) Shutdown(ctx context.Context) error {
	return p.w.Drain(ctx, []byte(stream.CloseTag))
}
func (p *pipeTransport) Drop(*stanza.Stanza, error) {}

// newWriterSession returns a service session on conn with a Writer.
func newWriterSession(t *testing.T, conn net.Conn, cfg Config, wcfg WriterConfig) (*Session, *Writer) {
	t.Helper()
	pt := &pipeTransport{}
	cfg.Addr = jid.MustParse("svc.example.org")
	cfg.Logger = quiet
	s := New(cfg, pt)
	pt.w = NewWriter(s, wcfg)
	pt.w.Attach(conn, 1)
	s.LinkUp(1)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		pt.w.Terminate(ErrClosed)
		s.Terminate(ErrClosed)
		conn.Close()
		pt.w.Detach()
		_ = ctx
	})
	return s, pt.w
}

// countWrites wraps a conn, counting Write calls.
type countWrites struct {
	net.Conn
	mu     sync.Mutex
	writes int
	gate   chan struct{} // when not nil, each Write waits for a value
}

func (c *countWrites) Write(b []byte) (int, error) {
	if c.gate != nil {
		<-c.gate
	}
	c.mu.Lock()
	c.writes++
	c.mu.Unlock()
	return c.Conn.Write(b)
}

// While a write is in progress, Sends queue and return at once; the next
// write carries all of them (write combining), in order.
func TestWriterCombines(t *testing.T) {
	client, server := net.Pipe()
	cw := &countWrites{Conn: client, gate: make(chan struct{})}
	s, _ := newWriterSession(t, cw, Config{Handler: mux.New()}, WriterConfig{})
	got := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(server)
		got <- string(b)
	}()
	ctx := context.Background()
	to := jid.MustParse("a@x")
	first := make(chan error, 1)
	go func() { first <- s.Send(ctx, stanza.NewMessage("", to, "m0")) }()
	// m0's Send writes itself and waits at the gate; these queue.
	time.Sleep(20 * time.Millisecond)
	for i := 1; i <= 50; i++ {
		if err := s.Send(ctx, stanza.NewMessage("", to, fmt.Sprint("m", i))); err != nil {
			t.Fatal(err)
		}
	}
	cw.gate <- struct{}{} // m0
	cw.gate <- struct{}{} // the rest, in one write
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return s.Stats().StanzasOut == 51 })
	cw.mu.Lock()
	writes := cw.writes
	cw.mu.Unlock()
	if writes != 2 {
		t.Fatalf("%d writes for 51 stanzas, want 2", writes)
	}
	close(cw.gate)
	client.Close()
	out := <-got
	last := -1
	for i := 0; i <= 50; i++ {
		p := strings.Index(out, fmt.Sprintf("<body>m%d</body>", i))
		if p < last {
			t.Fatalf("m%d out of order in %q", i, out)
		}
		last = p
	}
}

// A stanza of the largest size a stream allows (512 KiB) is admitted into
// a small queue, and a queued stanza that cannot be written reaches the
// SendFailed hook and the counter.
func TestWriterLargeAndFailed(t *testing.T) {
	client, server := net.Pipe()
	var mu sync.Mutex
	var failed []*stanza.Stanza
	s, w := newWriterSession(t, client, Config{Handler: mux.New(), SendFailed: func(st *stanza.Stanza, err error) {
		mu.Lock()
		failed = append(failed, st)
		mu.Unlock()
	}}, WriterConfig{MaxQueue: 1024})
	ctx := context.Background()
	to := jid.MustParse("a@x")
	big := stanza.NewMessage("", to, strings.Repeat("x", 512<<10-200))
	read := make(chan int, 1)
	go func() {
		n, _ := io.ReadFull(server, make([]byte, len(big.String())+len(" from='svc.example.org'")))
		read <- n
	}()
	if err := s.Send(ctx, big); err != nil {
		t.Fatalf("large Send: %v", err)
	}
	if n := <-read; n < 512<<10-100 {
		t.Fatalf("server read %d bytes", n)
	}
	// Now the server stops reading: the next Send blocks in its own write,
	// the ones behind it queue; the link then dies.
	blocked := make(chan error, 1)
	go func() { blocked <- s.Send(ctx, stanza.NewMessage("", to, "stuck")) }()
	time.Sleep(20 * time.Millisecond)
	var ids []string
	for i := range 3 {
		m := stanza.NewMessage("", to, fmt.Sprint("q", i))
		ids = append(ids, m.ID)
		if err := s.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	client.Close()
	if err := <-blocked; !errors.Is(err, ErrNotSent) {
		t.Fatalf("blocked Send = %v, want ErrNotSent", err)
	}
	w.Terminate(ErrClosed)
	mu.Lock()
	defer mu.Unlock()
	if len(failed) != 3 || s.Stats().SendFailed != 4 {
		t.Fatalf("hook saw %d, counter %d; want 3 and 4", len(failed), s.Stats().SendFailed)
	}
	for i, st := range failed {
		if st.ID != ids[i] || st.Body() != fmt.Sprint("q", i) {
			t.Fatalf("failed[%d] = %s", i, st)
		}
	}
}

// A sync send (SendIQ) whose context ends while it is still queued is
// taken out of the queue: it is reported not sent and never written.
func TestWriterUnqueue(t *testing.T) {
	client, server := net.Pipe()
	s, w := newWriterSession(t, client, Config{Handler: mux.New()}, WriterConfig{})
	to := jid.MustParse("a@x")
	go s.Send(context.Background(), stanza.NewMessage("", to, "blocks")) // nobody reads yet
	time.Sleep(20 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := s.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, to, stanza.Element{Space: "urn:x", Local: "q"}))
	if !errors.Is(err, ErrNotSent) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SendIQ = %v", err)
	}
	if err := s.Send(context.Background(), stanza.NewMessage("", to, "after")); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(server)
		got <- string(b)
	}()
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	client.Close()
	out := <-got
	if strings.Contains(out, "<iq") || !strings.Contains(out, ">blocks<") || !strings.Contains(out, ">after<") {
		t.Fatalf("wrote %q", out)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestOverflowChurn: worker queues that fill and drain all the time (one
// slot each, two workers, so the overflow lists are in use at every step)
// lose no stanza and stall nowhere. A worker that found its channel empty
// used to check the overflow without the lock and could miss a stanza put
// there in the meantime, then sleep on its empty channel for good.
func TestOverflowChurn(t *testing.T) {
	const n = 100000
	var handled atomic.Int64
	done := make(chan struct{})
	h := mux.HandlerFunc(func(context.Context, mux.Sender, *stanza.Stanza) error {
		if handled.Add(1) == n {
			close(done)
		}
		if handled.Load()%7 == 0 {
			runtime.Gosched()
		}
		return nil
	})
	s := New(Config{Addr: jid.MustParse("svc.example.org"), Handler: h, Logger: quiet, Workers: 2, WorkerQueue: 1}, nopTransport{})
	s.LinkUp(1)
	defer s.Terminate(ErrClosed)
	froms := []jid.JID{jid.MustParse("a@x/r"), jid.MustParse("b@x/r"), jid.MustParse("c@x/r")}
	ctx := context.Background()
	for i := range n {
		m := stanza.NewMessage(stanza.TypeChat, jid.MustParse("svc.example.org"), "x")
		m.From = froms[i%len(froms)]
		if err := s.Receive(ctx, m, nil); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("stalled: %d of %d handled", handled.Load(), n)
	}
}

// recordSender records what is sent through it.
type recordSender struct {
	mux.Sender
	mu   sync.Mutex
	sent []*stanza.Stanza
}

func (r *recordSender) Send(_ context.Context, st *stanza.Stanza) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, st)
	return nil
}

func (r *recordSender) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sent)
}

// TestDispatch: stanzas a handler dispatches run on their inner sender's
// worker, in order per sender, with FromContext giving the session; a
// panic is recovered and answered through the Sender given; after
// Terminate, Dispatch fails with ErrClosed.
func TestDispatch(t *testing.T) {
	const n = 200
	var mu sync.Mutex
	order := map[string][]int{}
	via := &recordSender{}
	inner := mux.HandlerFunc(func(ctx context.Context, s mux.Sender, st *stanza.Stanza) error {
		if s != via || FromContext(ctx) == nil {
			t.Errorf("inner handler: sender %T, session %v", s, FromContext(ctx))
		}
		if st.ID == "boom" {
			panic("boom")
		}
		var i int
		fmt.Sscanf(st.ID, "%d", &i)
		mu.Lock()
		order[st.From.Bare().String()] = append(order[st.From.Bare().String()], i)
		mu.Unlock()
		return nil
	})
	users := []jid.JID{jid.MustParse("a@x/r"), jid.MustParse("b@x/r"), jid.MustParse("c@x/r")}
	outer := mux.HandlerFunc(func(ctx context.Context, _ mux.Sender, st *stanza.Stanza) error {
		sess := FromContext(ctx)
		for i := range n {
			m := stanza.NewMessage(stanza.TypeChat, jid.MustParse("svc.example.org"), "x")
			m.From, m.ID = users[i%len(users)], fmt.Sprint(i)
			if err := sess.Dispatch(ctx, m, inner, via); err != nil {
				t.Errorf("Dispatch: %v", err)
			}
		}
		iq := stanza.NewIQ(stanza.TypeGet, jid.MustParse("svc.example.org"), stanza.Element{Space: "urn:x", Local: "q"})
		iq.From, iq.ID = users[0], "boom"
		return sess.Dispatch(ctx, iq, inner, via)
	})
	s := New(Config{Addr: jid.MustParse("svc.example.org"), Handler: outer, Logger: quiet, Workers: 4, WorkerQueue: 64}, nopTransport{})
	s.LinkUp(1)
	m := stanza.NewMessage(stanza.TypeChat, jid.MustParse("svc.example.org"), "go")
	m.From = jid.MustParse("server.example.org")
	if err := s.Receive(context.Background(), m, nil); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return via.count() == 1 && len(order["a@x"])+len(order["b@x"])+len(order["c@x"]) == n
	})
	if r := via.sent[0]; r.ID != "boom" || r.Type != stanza.TypeError {
		t.Errorf("panic answered with %v, want an error reply to boom", r)
	}
	mu.Lock()
	total := 0
	for u, got := range order {
		total += len(got)
		for k := 1; k < len(got); k++ {
			if got[k] <= got[k-1] {
				t.Errorf("%s: %d after %d", u, got[k], got[k-1])
			}
		}
	}
	mu.Unlock()
	if total != n {
		t.Errorf("%d of %d dispatched stanzas handled", total, n)
	}
	s.Terminate(ErrClosed)
	if err := s.Dispatch(context.Background(), m, inner, via); !errors.Is(err, ErrClosed) {
		t.Errorf("Dispatch after Terminate: %v, want ErrClosed", err)
	}
}
