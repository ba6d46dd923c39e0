package component

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/ping"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

var (
	alice = jid.MustParse("alice@example.test/phone")
	bob   = jid.MustParse("bob@example.test/pc")
)

// newTestComponent returns a component wired to fs (pipe or loopback).
func newTestComponent(fs *fakeServer, h mux.Handler) *Component {
	c := &Component{Addr: fs.addr(), Domain: testDomain, Secret: testSecret, Handler: h,
		Logger: quietLogger(), HandshakeTimeout: 2 * time.Second,
		BackoffBase: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond}
	if fs.ln == nil {
		c.dialHook = fs.dial
	}
	return c
}

// closeOK closes c gracefully and checks that Run returned nil (a
// requested stop is no failure).
func closeOK(t *testing.T, c *Component, wait func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := wait(); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

// serveUntilClose answers the client's </stream:stream> with ours.
func (fc *fakeConn) serveUntilClose(onStanza func(st *stanza.Stanza)) error {
	for {
		st, err := fc.readStanza()
		if errors.Is(err, io.EOF) {
			return fc.send(stream.CloseTag)
		}
		if err != nil {
			return err
		}
		if onStanza != nil {
			onStanza(st)
		}
	}
}

func TestEchoAndFromRules(t *testing.T) {
	checkGoroutines(t)
	got := make(chan *stanza.Stanza, 10)
	fs := newPipeServer(t, func(n int, fc *fakeConn) {
		if !fc.accept() {
			return
		}
		fc.send("<message from='alice@example.test/phone' to='" + testDomain + "' type='chat' id='m1'><body>hi &amp; bye</body></message>")
		fc.serveUntilClose(func(st *stanza.Stanza) { got <- st })
	})
	h := mux.HandlerFunc(func(ctx context.Context, s mux.Sender, st *stanza.Stanza) error {
		if st.Kind != stanza.Message {
			return nil
		}
		return s.Send(ctx, stanza.NewMessage(stanza.TypeChat, st.From, "echo: "+st.Body()))
	})
	c := newTestComponent(fs, h)
	wait := runComponent(t, context.Background(), c)
	var reply *stanza.Stanza
	select {
	case reply = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no echo")
	}
	if reply.Body() != "echo: hi & bye" || reply.From.String() != testDomain || !reply.To.Equal(alice) {
		t.Fatalf("reply %s", reply)
	}

	ctx := context.Background()
	// A from at the component's domain (a subaddress) is kept.
	m := stanza.NewMessage(stanza.TypeChat, alice, "from a room")
	m.From = jid.MustParse("room@" + testDomain + "/nick")
	if err := c.Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	if r := <-got; r.From.String() != "room@"+testDomain+"/nick" {
		t.Fatalf("from rewritten: %s", r)
	}
	// A from outside the domain is refused, and nothing is written.
	m.From = jid.MustParse("evil.example.test")
	if err := c.Send(ctx, m); !errors.Is(err, ErrBadFrom) {
		t.Fatalf("Send with foreign from = %v, want ErrBadFrom", err)
	}
	// An IQ result needs the id of its request.
	res := &stanza.Stanza{Kind: stanza.IQ, Type: stanza.TypeResult, To: alice}
	if err := c.Send(ctx, res); !errors.Is(err, ErrBadStanza) {
		t.Fatalf("iq result without id = %v, want ErrBadStanza", err)
	}
	// An IQ get without id gets one; the caller's stanza is not modified.
	get := stanza.NewIQ(stanza.TypeGet, alice, stanza.Element{Space: "urn:example", Local: "q"})
	get.ID = ""
	if err := c.Send(ctx, get); err != nil {
		t.Fatal(err)
	}
	if r := <-got; r.ID == "" || r.From.String() != testDomain {
		t.Fatalf("iq sent as %s", r)
	}
	if get.ID != "" || !get.From.IsZero() {
		t.Fatalf("caller's stanza modified: %s", get)
	}
	closeOK(t, c, wait)
	if st := c.Stats(); st.StanzasOut != 3 || st.StanzasIn != 1 || st.BytesIn == 0 || st.BytesOut == 0 || st.HandlerCalls != 1 {
		t.Fatalf("stats %+v", st)
	}
	if err := c.Send(ctx, stanza.NewMessage("", alice, "late")); !errors.Is(err, ErrNotSent) || !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close = %v", err)
	}
}

func TestSendIQMatching(t *testing.T) {
	checkGoroutines(t)
	handled := make(chan *stanza.Stanza, 10)
	fs := newPipeServer(t, func(n int, fc *fakeConn) {
		if !fc.accept() {
			return
		}
		fc.serveUntilClose(func(st *stanza.Stanza) {
			if st.Kind != stanza.IQ || st.Type != stanza.TypeGet {
				return
			}
			switch st.To.String() {
			case alice.String():
				// First an answer with the right id from the wrong address
				// (must not match), then a message, then the real answer.
				fc.send(fmt.Sprintf("<iq type='result' id='%s' from='%s' to='%s'/>", st.ID, bob, st.From))
				fc.send(fmt.Sprintf("<iq type='result' id='%s' from='%s' to='%s'><q xmlns='urn:example'>ok</q></iq>", st.ID, alice, st.From))
			case bob.String():
				fc.send(fmt.Sprintf("<iq type='error' id='%s' from='%s' to='%s'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>", st.ID, bob, st.From))
			}
		})
	})
	h := mux.HandlerFunc(func(ctx context.Context, s mux.Sender, st *stanza.Stanza) error {
		handled <- st
		return nil
	})
	c := newTestComponent(fs, h)
	wait := runComponent(t, context.Background(), c)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	res, err := c.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, alice, stanza.Element{Space: "urn:example", Local: "q"}))
	if err != nil {
		t.Fatal(err)
	}
	if !res.From.Equal(alice) || res.Type != stanza.TypeResult {
		t.Fatalf("matched %s", res)
	}
	if e, ok := res.Child("urn:example", "q"); !ok || e.XML() == "" {
		t.Fatalf("result payload missing: %s", res)
	}
	select {
	case st := <-handled:
		if !st.From.Equal(bob) || st.Type != stanza.TypeResult {
			t.Fatalf("handler got %s, want the unmatched answer from bob", st)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the answer from the wrong address did not reach the handler")
	}

	_, err = c.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, bob, stanza.Element{Space: "urn:example", Local: "q"}))
	var se *stanza.Error
	if !errors.As(err, &se) || se.Condition != stanza.ItemNotFound {
		t.Fatalf("SendIQ error answer = %v, want item-not-found", err)
	}

	// Nobody answers carol: ctx ends the wait and the waiter is removed.
	short, cancel2 := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel2()
	_, err = c.SendIQ(short, stanza.NewIQ(stanza.TypeGet, jid.MustParse("carol@example.test"), stanza.Element{Space: "urn:example", Local: "q"}))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unanswered SendIQ = %v", err)
	}
	if n := c.Stats().PendingIQs; n != 0 {
		t.Fatalf("%d waiters left", n)
	}
	if _, err := c.SendIQ(ctx, stanza.NewMessage("", alice, "x")); !errors.Is(err, ErrBadStanza) {
		t.Fatalf("SendIQ(message) = %v", err)
	}
	closeOK(t, c, wait)
}

func TestCloseDrainsQueue(t *testing.T) {
	checkGoroutines(t)
	const n = 300
	var received atomic.Int32
	serverClosed := make(chan error, 1)
	fs := newPipeServer(t, func(_ int, fc *fakeConn) {
		if !fc.accept() {
			return
		}
		serverClosed <- fc.serveUntilClose(func(*stanza.Stanza) {
			received.Add(1)
			time.Sleep(100 * time.Microsecond) // a slow server
		})
	})
	c := newTestComponent(fs, nil)
	// Queue everything before Run: Send queues for the next link.
	var wg sync.WaitGroup
	var ok, failed atomic.Int32
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Send(context.Background(), stanza.NewMessage("", alice, strconv.Itoa(i))); err != nil {
				failed.Add(1)
				return
			}
			ok.Add(1)
		}()
	}
	wg.Wait()
	if c.Stats().QueueBytes == 0 {
		t.Fatal("nothing queued")
	}
	wait := runComponent(t, context.Background(), c)
	waitFor(t, "connected", 5*time.Second, func() bool { return c.Stats().State == StateConnected })
	atClose := received.Load()
	closeOK(t, c, wait)
	if err := <-serverClosed; err != nil {
		t.Fatalf("server: %v", err)
	}
	t.Logf("received %d before Close, %d in all; Send ok %d, failed %d", atClose, received.Load(), ok.Load(), failed.Load())
	if ok.Load() != n || received.Load() != n || failed.Load() != 0 {
		t.Fatalf("ok %d failed %d received %d, want all %d drained", ok.Load(), failed.Load(), received.Load(), n)
	}
	if atClose == n {
		t.Log("note: everything was written before Close began; the drain was trivial")
	}
}

func TestOutboundBackpressure(t *testing.T) {
	checkGoroutines(t)
	release := make(chan struct{})
	var received atomic.Int32
	fs := newPipeServer(t, func(_ int, fc *fakeConn) {
		if !fc.accept() {
			return
		}
		<-release // stop reading: the pipe blocks the writer
		fc.serveUntilClose(func(*stanza.Stanza) { received.Add(1) })
	})
	c := newTestComponent(fs, nil)
	msgLen := len(stanza.NewMessage("", alice, "00").String()) + len(" from=''") + len(testDomain)
	c.MaxQueue = 4 * msgLen
	wait := runComponent(t, context.Background(), c)
	waitFor(t, "connected", 5*time.Second, func() bool { return c.Stats().State == StateConnected })

	// 20 senders, each giving up after 200 ms. One stanza is in a blocked
	// write, about four wait in the queue, the rest cannot get in.
	var ok, notSentN atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			err := c.Send(ctx, stanza.NewMessage("", alice, strconv.Itoa(i)))
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrNotSent) && errors.Is(err, context.DeadlineExceeded):
				notSentN.Add(1)
			default:
				t.Errorf("Send = %v", err)
			}
		}()
	}
	time.Sleep(400 * time.Millisecond)
	if d := c.Stats().QueueBytes; d > c.MaxQueue+msgLen {
		t.Fatalf("%d bytes queued, beyond MaxQueue %d and one stanza", d, c.MaxQueue)
	}
	close(release)
	wg.Wait()
	closeOK(t, c, wait)
	t.Logf("written %d, reported not sent %d, server received %d", ok.Load(), notSentN.Load(), received.Load())
	if ok.Load()+notSentN.Load() != 20 || ok.Load() != received.Load() {
		t.Fatalf("written %d + not sent %d != 20, or server received %d", ok.Load(), notSentN.Load(), received.Load())
	}
	// At most the first stanza and what fits in MaxQueue got in.
	if ok.Load() > 6 || notSentN.Load() < 14 {
		t.Fatalf("backpressure did not hold: %d written while the server read nothing", ok.Load())
	}
	if st := c.Stats(); st.SendFailed != uint64(notSentN.Load()) {
		t.Fatalf("SendFailed %d, want %d", st.SendFailed, notSentN.Load())
	}
}

// recordConn records what the server side read, to recount after the fact
// which stanzas reached it.
type recordConn struct {
	net.Conn // the server's end of the pipe
	mu       sync.Mutex
	buf      []byte
}

func (r *recordConn) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.mu.Lock()
	r.buf = append(r.buf, p[:n]...)
	r.mu.Unlock()
	return n, err
}

// idsIn parses a recorded client stream and returns the ids of the complete
// message stanzas in it.
func idsIn(raw []byte) []string {
	rd := stream.NewReader(strings.NewReader(string(raw)), stream.ReaderOptions{})
	if _, err := rd.ReadHeader(); err != nil {
		return nil
	}
	var ids []string
	for {
		el, err := rd.Next()
		if err != nil {
			return ids
		}
		if el.Is(stream.NSComponent, "message") {
			id, _ := el.Attr("id")
			ids = append(ids, id)
		}
	}
}

// The link dies while many Sends are in flight. Every Send either returns
// nil and its stanza reached the server exactly once (on the first
// connection or, if it was still queued, on the second), or returns
// ErrNotSent and the stanza never arrived complete.
// newLinkLossServer is a pipe server whose first connection reads 50
// stanzas and dies, and whose later ones serve until closed. Its result
// function returns how often each message id was received, over all
// connections, and how many per connection.
func newLinkLossServer(t *testing.T) (*fakeServer, func() (map[string]int, []int)) {
	var recs []*recordConn
	var recMu sync.Mutex
	fs := newPipeServer(t, func(k int, fc *fakeConn) {
		rc := &recordConn{Conn: fc.Conn}
		recMu.Lock()
		recs = append(recs, rc)
		recMu.Unlock()
		fc.Conn = rc
		if !fc.accept() {
			return
		}
		if k == 1 {
			// Read 50 stanzas, then the link dies.
			for range 50 {
				if _, err := fc.readStanza(); err != nil {
					return
				}
			}
			return
		}
		fc.serveUntilClose(nil)
	})
	return fs, func() (map[string]int, []int) {
		delivered := map[string]int{}
		var perConn []int
		recMu.Lock()
		defer recMu.Unlock()
		for _, rc := range recs {
			rc.mu.Lock()
			ids := idsIn(rc.buf)
			rc.mu.Unlock()
			perConn = append(perConn, len(ids))
			for _, id := range ids {
				delivered[id]++
			}
		}
		return delivered, perConn
	}
}

func TestLinkLossAccounting(t *testing.T) {
	const n = 400
	c, wait, received, failed := startLinkLoss(t)
	type outcome struct {
		id  string
		err error
	}
	results := make(chan outcome, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			m := stanza.NewMessage("", alice, "x")
			m.ID = "m" + strconv.Itoa(i)
			results <- outcome{m.ID, c.Send(ctx, m)}
		}()
	}
	wg.Wait()
	close(results)
	closeOK(t, c, wait)

	delivered, perConn := received()
	lost := failed.get()
	var ok, notSentN int
	for o := range results {
		switch {
		case o.err == nil:
			ok++
			if delivered[o.id]+lost[o.id] != 1 {
				t.Errorf("%s: Send returned nil, delivered %d times, reported failed %d times", o.id, delivered[o.id], lost[o.id])
			}
		case errors.Is(o.err, ErrNotSent):
			notSentN++
			if delivered[o.id] != 0 || lost[o.id] != 0 {
				t.Errorf("%s: reported not sent, but delivered %d times, reported to the hook %d times", o.id, delivered[o.id], lost[o.id])
			}
		default:
			t.Errorf("%s: unexpected error %v", o.id, o.err)
		}
	}
	st := c.Stats()
	t.Logf("sent ok %d (per connection %v), reported not sent %d; reconnects %d", ok, perConn, notSentN, st.Reconnects)
	if ok+notSentN != n {
		t.Fatalf("%d + %d != %d", ok, notSentN, n)
	}
	if len(perConn) < 2 || perConn[1] == 0 {
		t.Fatalf("nothing delivered after the reconnect: %v", perConn)
	}
	if st.Reconnects != 1 {
		t.Fatalf("reconnects %d", st.Reconnects)
	}
}

func TestReconnectBackoff(t *testing.T) {
	checkGoroutines(t)
	var times []time.Time
	var mu sync.Mutex
	fs := newPipeServer(t, func(k int, fc *fakeConn) {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		if !fc.accept() {
			return
		}
		if k <= 3 {
			return // the link drops right after the handshake
		}
		fc.serveUntilClose(nil)
	})
	c := newTestComponent(fs, nil)
	c.BackoffBase = 40 * time.Millisecond
	c.BackoffMax = 2 * time.Second
	wait := runComponent(t, context.Background(), c)
	waitFor(t, "4th connection", 5*time.Second, func() bool { return c.Stats().Connects == 4 })
	waitFor(t, "connected", 5*time.Second, func() bool { return c.Stats().State == StateConnected })
	st := c.Stats()
	closeOK(t, c, wait)
	if st.Reconnects != 3 {
		t.Fatalf("reconnects %d, want 3", st.Reconnects)
	}
	mu.Lock()
	defer mu.Unlock()
	for k := 1; k < len(times); k++ {
		gap := times[k].Sub(times[k-1])
		lo := (40 * time.Millisecond << (k - 1)) / 2
		t.Logf("reconnect %d after %v (at least %v)", k, gap.Round(time.Millisecond), lo)
		if gap < lo {
			t.Errorf("reconnect %d after %v, want at least %v", k, gap, lo)
		}
	}
}

func TestHandlerOrderPerSender(t *testing.T) {
	checkGoroutines(t)
	const senders, each = 8, 100
	fs := newPipeServer(t, func(_ int, fc *fakeConn) {
		if !fc.accept() {
			return
		}
		go func() {
			var b strings.Builder
			for i := range each {
				for s := range senders {
					fmt.Fprintf(&b, "<message from='u%d@example.test/r%d' to='%s' id='%d'><body>%d</body></message>", s, i%3, testDomain, i, i)
				}
			}
			fc.send(b.String())
		}()
		fc.serveUntilClose(nil)
	})
	var mu sync.Mutex
	seen := map[string][]int{}
	var active, maxActive atomic.Int32
	h := mux.HandlerFunc(func(ctx context.Context, s mux.Sender, st *stanza.Stanza) error {
		a := active.Add(1)
		for {
			m := maxActive.Load()
			if a <= m || maxActive.CompareAndSwap(m, a) {
				break
			}
		}
		time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
		i, _ := strconv.Atoi(st.Body())
		mu.Lock()
		seen[st.From.Bare().String()] = append(seen[st.From.Bare().String()], i)
		mu.Unlock()
		active.Add(-1)
		return nil
	})
	c := newTestComponent(fs, h)
	c.Workers = 4
	c.WorkerQueue = 8
	wait := runComponent(t, context.Background(), c)
	waitFor(t, "all handled", 10*time.Second, func() bool { return c.Stats().HandlerCalls == senders*each })
	closeOK(t, c, wait)
	for s, got := range seen {
		for i, v := range got {
			if v != i {
				t.Fatalf("sender %s: handled %v at position %d (out of order)", s, v, i)
			}
		}
	}
	if len(seen) != senders {
		t.Fatalf("%d senders seen", len(seen))
	}
	if maxActive.Load() < 2 {
		t.Fatalf("handlers never ran in parallel (max %d)", maxActive.Load())
	}
	st := c.Stats()
	var hist uint64
	for _, v := range st.HandlerHist {
		hist += v
	}
	if hist != senders*each || st.HandlerTotal <= 0 || st.HandlerMax <= 0 {
		t.Fatalf("handler stats %+v", st)
	}
}

func TestInboundBackpressure(t *testing.T) {
	checkGoroutines(t)
	const total = 100
	var wrote atomic.Int32
	fs := newPipeServer(t, func(_ int, fc *fakeConn) {
		if !fc.accept() {
			return
		}
		go func() {
			for i := range total {
				if fc.send(fmt.Sprintf("<message from='alice@example.test/x' to='%s' id='%d'><body>%d</body></message>", testDomain, i, i)) != nil {
					return
				}
				wrote.Add(1)
			}
		}()
		fc.serveUntilClose(nil)
	})
	unblock := make(chan struct{})
	var handled atomic.Int32
	h := mux.HandlerFunc(func(ctx context.Context, s mux.Sender, st *stanza.Stanza) error {
		<-unblock
		handled.Add(1)
		return nil
	})
	c := newTestComponent(fs, h)
	c.Workers = 2
	c.WorkerQueue = 3
	wait := runComponent(t, context.Background(), c)
	time.Sleep(300 * time.Millisecond)
	// One stanza in the handler, three queued, six in the overflow
	// (Workers×WorkerQueue), one held by the blocked reader; the scanner
	// may have buffered a few more bytes but not parsed them. The server's
	// writes block (pipe) once reading stops.
	in := c.Stats().StanzasIn
	t.Logf("while the handler blocks: %d stanzas read, %d written by the server", in, wrote.Load())
	if max := 1 + 3 + 2*3 + 1; in > uint64(max) {
		t.Fatalf("reader took %d stanzas while the handler was blocked; want at most %d", in, max)
	}
	if w := wrote.Load(); w >= total {
		t.Fatalf("server wrote all %d stanzas: no backpressure", w)
	}
	close(unblock)
	waitFor(t, "all handled", 5*time.Second, func() bool { return handled.Load() == total })
	closeOK(t, c, wait)
}

func TestKeepaliveAndPing(t *testing.T) {
	checkGoroutines(t)
	var spaces, pingsSeen, pingsAnswered atomic.Int32
	fs := newPipeServer(t, func(k int, fc *fakeConn) {
		fc.keepalives = true
		if !fc.accept() {
			return
		}
		for {
			el, err := fc.rd.Next()
			if errors.Is(err, io.EOF) {
				fc.send(stream.CloseTag)
				return
			}
			if err != nil {
				return
			}
			if el.Keepalive() {
				spaces.Add(1)
				continue
			}
			st, err := el.Stanza()
			if err != nil || st.Kind != stanza.IQ {
				continue
			}
			if _, ok := st.Child(ping.NS, "ping"); !ok {
				continue
			}
			pingsSeen.Add(1)
			if st.To.String() != "example.test" {
				fc.t.Errorf("ping to %s, want the host domain", st.To)
			}
			if k == 1 {
				continue // the first server never answers: a dead link
			}
			pingsAnswered.Add(1)
			fc.send(fmt.Sprintf("<iq type='result' id='%s' from='%s' to='%s'/>", st.ID, st.To, st.From))
		}
	})
	c := newTestComponent(fs, nil)
	c.KeepAlive = 30 * time.Millisecond
	c.PingInterval = 100 * time.Millisecond
	c.PingTimeout = 150 * time.Millisecond
	wait := runComponent(t, context.Background(), c)
	waitFor(t, "ping timeout and reconnect", 5*time.Second, func() bool {
		st := c.Stats()
		return st.PingTimeouts >= 1 && st.Connects >= 2 && st.Pings >= 2
	})
	closeOK(t, c, wait)
	st := c.Stats()
	t.Logf("spaces %d, pings seen %d answered %d; stats pings %d timeouts %d reconnects %d",
		spaces.Load(), pingsSeen.Load(), pingsAnswered.Load(), st.Pings, st.PingTimeouts, st.Reconnects)
	if spaces.Load() < 2 {
		t.Fatalf("%d whitespace keepalives", spaces.Load())
	}
	if st.Reconnects < 1 || st.LastError == nil || !strings.Contains(st.LastError.Error(), "ping") {
		t.Fatalf("stats %+v", st)
	}
}

func TestMalformedAndUnhandledIQ(t *testing.T) {
	checkGoroutines(t)
	got := make(chan *stanza.Stanza, 4)
	fs := newPipeServer(t, func(_ int, fc *fakeConn) {
		if !fc.accept() {
			return
		}
		// An IQ get with no payload (bad-request, answered without the
		// handler) and one nobody handles (service-unavailable).
		fc.send("<iq type='get' id='bad1' from='alice@example.test/phone' to='" + testDomain + "'/>")
		fc.send("<iq type='get' id='q2' from='alice@example.test/phone' to='" + testDomain + "'><query xmlns='urn:example:nothing'/></iq>")
		fc.serveUntilClose(func(st *stanza.Stanza) { got <- st })
	})
	c := newTestComponent(fs, nil) // nil Handler: an empty ServeMux
	wait := runComponent(t, context.Background(), c)
	want := map[string]stanza.Condition{"bad1": stanza.BadRequest, "q2": stanza.ServiceUnavailable}
	for range 2 {
		select {
		case st := <-got:
			e := st.Err()
			if st.Type != stanza.TypeError || e == nil || e.Condition != want[st.ID] {
				t.Fatalf("reply %s, want %s", st, want[st.ID])
			}
			delete(want, st.ID)
		case <-time.After(5 * time.Second):
			t.Fatalf("missing replies %v", want)
		}
	}
	closeOK(t, c, wait)
}

func TestHandlerPanicAndError(t *testing.T) {
	checkGoroutines(t)
	got := make(chan *stanza.Stanza, 4)
	fs := newPipeServer(t, func(_ int, fc *fakeConn) {
		if !fc.accept() {
			return
		}
		fc.send("<iq type='get' id='p1' from='alice@example.test/phone' to='" + testDomain + "'><panic xmlns='urn:example'/></iq>")
		fc.send("<iq type='set' id='e1' from='alice@example.test/phone' to='" + testDomain + "'><fail xmlns='urn:example'/></iq>")
		fc.serveUntilClose(func(st *stanza.Stanza) { got <- st })
	})
	h := mux.HandlerFunc(func(ctx context.Context, s mux.Sender, st *stanza.Stanza) error {
		if _, ok := st.Child("urn:example", "panic"); ok {
			panic("boom")
		}
		return stanza.NewError(stanza.NotAllowed, "no")
	})
	c := newTestComponent(fs, h)
	wait := runComponent(t, context.Background(), c)
	want := map[string]stanza.Condition{"p1": stanza.InternalServerError, "e1": stanza.NotAllowed}
	for range 2 {
		select {
		case st := <-got:
			if e := st.Err(); e == nil || e.Condition != want[st.ID] {
				t.Fatalf("reply %s, want %s", st, want[st.ID])
			}
		case <-time.After(5 * time.Second):
			t.Fatal("missing replies")
		}
	}
	closeOK(t, c, wait)
	if st := c.Stats(); st.HandlerPanics != 1 || st.HandlerErrors != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// While disconnected, Send queues for the next link (and SendIQ waits for
// its write); Close then reports both as not sent: the queued one to the
// SendFailed hook, the waiting one to its caller.
func TestCloseWhileDisconnected(t *testing.T) {
	checkGoroutines(t)
	fs := newPipeServer(t, func(_ int, fc *fakeConn) {}) // hangs up at once
	c := newTestComponent(fs, nil)
	var failed failedIDs
	c.SendFailed = failed.hook
	wait := runComponent(t, context.Background(), c)
	m := stanza.NewMessage("", alice, "x")
	if err := c.Send(context.Background(), m); err != nil {
		t.Fatalf("Send while disconnected = %v, want nil (queued)", err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := c.SendIQ(context.Background(), stanza.NewIQ(stanza.TypeGet, alice, stanza.Element{Space: "urn:example", Local: "q"}))
		errc <- err
	}()
	waitFor(t, "queued", 5*time.Second, func() bool { return c.Stats().PendingIQs == 1 })
	select {
	case err := <-errc:
		t.Fatalf("SendIQ returned %v while disconnected", err)
	case <-time.After(50 * time.Millisecond):
	}
	closeOK(t, c, wait)
	if err := <-errc; !errors.Is(err, ErrNotSent) || !errors.Is(err, ErrClosed) {
		t.Fatalf("SendIQ = %v, want ErrNotSent and ErrClosed", err)
	}
	if got := failed.get(); got[m.ID] != 1 || len(got) != 1 {
		t.Fatalf("SendFailed saw %v, want %s once", got, m.ID)
	}
	if st := c.Stats(); st.SendFailed != 2 {
		t.Fatalf("SendFailed %d, want 2", st.SendFailed)
	}
}

// Ending Run's context stops gracefully: what a handler sends while
// draining still goes out, Run returns nil, a later Send fails at once.
func TestRunContextCancel(t *testing.T) {
	checkGoroutines(t)
	fs := newPipeServer(t, func(_ int, fc *fakeConn) {
		if fc.accept() {
			fc.serveUntilClose(nil)
		}
	})
	c := newTestComponent(fs, nil)
	ctx, cancel := context.WithCancel(context.Background())
	wait := runComponent(t, ctx, c)
	waitFor(t, "connected", 5*time.Second, func() bool { return c.Stats().State == StateConnected })
	cancel()
	if err := wait(); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if err := c.Send(context.Background(), stanza.NewMessage("", alice, "x")); !errors.Is(err, ErrNotSent) {
		t.Fatalf("Send after Run = %v", err)
	}
	if err := c.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Run = %v", err)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatalf("Close after Run = %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []*Component{
		{Addr: "x:1"},
		{Addr: "x:1", Domain: "user@example.test"},
		{Domain: "example.test"},
	} {
		err := c.Run(context.Background())
		if !IsPermanent(err) {
			t.Errorf("Run(%+v) = %v, want a permanent configuration error", c, err)
		}
	}
}

// A SendIQ whose request went out on a link that then dies fails with
// ErrDisconnected at once; one queued while disconnected goes out on the
// next link and gets its answer there.
func TestSendIQAcrossLinkLoss(t *testing.T) {
	checkGoroutines(t)
	fs := newPipeServer(t, func(k int, fc *fakeConn) {
		if !fc.accept() {
			return
		}
		if k == 1 {
			fc.readStanza() // take the IQ, never answer, drop the link
			return
		}
		fc.serveUntilClose(func(st *stanza.Stanza) {
			if st.Kind == stanza.IQ && st.Type == stanza.TypeGet {
				fc.send(fmt.Sprintf("<iq type='result' id='%s' from='%s' to='%s'/>", st.ID, st.To, st.From))
			}
		})
	})
	c := newTestComponent(fs, nil)
	c.BackoffBase = 200 * time.Millisecond
	c.BackoffMax = 200 * time.Millisecond
	wait := runComponent(t, context.Background(), c)
	waitFor(t, "connected", 5*time.Second, func() bool { return c.Stats().State == StateConnected })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	t0 := time.Now()
	_, err := c.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, alice, stanza.Element{Space: "urn:example", Local: "q"}))
	if !errors.Is(err, ErrDisconnected) {
		t.Fatalf("SendIQ over a dying link = %v, want ErrDisconnected", err)
	}
	if el := time.Since(t0); el > time.Second {
		t.Fatalf("SendIQ took %v to notice the link loss", el)
	}
	// Now (most likely in backoff) a new SendIQ waits for the next link.
	res, err := c.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, alice, stanza.Element{Space: "urn:example", Local: "q"}))
	if err != nil || res.Type != stanza.TypeResult {
		t.Fatalf("SendIQ after reconnect = %v, %v", res, err)
	}
	if st := c.Stats(); st.Connects != 2 || st.ConnectedSince.IsZero() || st.PendingIQs != 0 {
		t.Fatalf("stats %+v", st)
	}
	closeOK(t, c, wait)
}

// What the server may do to an established stream: each ends the link with
// a typed cause and the component reconnects; an unknown element is skipped.
func TestRuntimeStreamEvents(t *testing.T) {
	tests := []struct {
		name  string
		send  string
		check func(error) bool
		again bool // reconnects
	}{
		{"system-shutdown", streamError("system-shutdown", ""), func(err error) bool { return errors.Is(err, stream.ErrSystemShutdown) }, true},
		{"conflict (kicked)", streamError("conflict", "replaced"), func(err error) bool { return errors.Is(err, stream.ErrConflict) }, true},
		{"not well-formed", "<message><</message>", func(err error) bool { return errors.Is(err, ErrBadServer) }, true},
		{"server closes its stream", stream.CloseTag, func(err error) bool { return errors.Is(err, ErrDisconnected) }, true},
		{"unknown element then a stanza", "<foo xmlns='urn:x'/><message from='a@example.test' to='" + testDomain + "'><body>still here</body></message>", nil, false},
		{"not-authorized mid-stream is permanent", streamError("not-authorized", ""), func(err error) bool { return errors.Is(err, stream.ErrNotAuthorized) }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			got := make(chan string, 4)
			fs := newPipeServer(t, func(k int, fc *fakeConn) {
				if !fc.accept() {
					return
				}
				if k == 1 {
					fc.send(tc.send)
				}
				fc.serveUntilClose(nil)
			})
			h := mux.HandlerFunc(func(ctx context.Context, s mux.Sender, st *stanza.Stanza) error {
				got <- st.Body()
				return nil
			})
			c := newTestComponent(fs, h)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx) }()
			switch {
			case tc.check == nil:
				select {
				case b := <-got:
					if b != "still here" {
						t.Fatalf("handled %q", b)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("stanza after the unknown element not handled")
				}
				if st := c.Stats(); st.Reconnects != 0 {
					t.Fatalf("reconnected: %+v", st)
				}
				cancel()
				<-done
			case tc.again:
				waitFor(t, "reconnect", 5*time.Second, func() bool { return c.Stats().Connects == 2 })
				if err := c.Stats().LastError; !tc.check(err) {
					t.Fatalf("LastError = %v", err)
				}
				cancel()
				<-done
			default:
				select {
				case err := <-done:
					if !tc.check(err) || !IsPermanent(err) {
						t.Fatalf("Run = %v", err)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("Run did not return")
				}
			}
		})
	}
}

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{StateIdle: "idle", StateConnecting: "connecting", StateConnected: "connected",
		StateBackoff: "backoff", StateClosing: "closing", StateClosed: "closed", State(99): "unknown"} {
		if s.String() != want {
			t.Errorf("%d: %q", s, s.String())
		}
	}
}
