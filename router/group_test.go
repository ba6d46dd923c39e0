package router

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"xmppkit.dev/internal/balance"
	"xmppkit.dev/mux"
	"xmppkit.dev/ping"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

// handled records, per attachment, the stanzas its handler got.
type handled struct {
	mu  sync.Mutex
	got map[int][]*stanza.Stanza
}

func (h *handled) handler(i int) mux.Handler {
	return mux.HandlerFunc(func(_ context.Context, _ mux.Sender, st *stanza.Stanza) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.got == nil {
			h.got = map[int][]*stanza.Stanza{}
		}
		h.got[i] = append(h.got[i], st)
		return nil
	})
}

func (h *handled) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, sts := range h.got {
		n += len(sts)
	}
	return n
}

// senders connects n in-memory clients.
func senders(t *testing.T, r *Router, n int) []*Client {
	t.Helper()
	cs := make([]*Client, n)
	for i := range cs {
		c, err := r.Connect(mustJID(fmt.Sprintf("u%d@localhost/r", i)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		cs[i] = c
	}
	return cs
}

// TestLinksInProcess: a domain of Config.Links attached three times is
// balanced by the sender's bare JID over the attachments' slots: each
// sender's stanzas reach one attachment, in order, the one rendezvous
// hashing picks; a fourth Attach is refused.
func TestLinksInProcess(t *testing.T) {
	r, _ := newTestRouter(t, Config{Links: map[string]int{"a.localhost": 3}})
	var h handled
	for i := range 3 {
		if _, err := r.Attach("a.localhost", h.handler(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Attach("a.localhost", nil); err == nil {
		t.Fatal("a fourth Attach of a domain of 3 links was accepted")
	}
	if n := r.Stats().Components; n != 3 {
		t.Errorf("Stats.Components = %d, want 3 links", n)
	}
	cs := senders(t, r, 30)
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 20 {
				m := stanza.NewMessage(stanza.TypeChat, mustJID("a.localhost"), "x")
				m.ID = strconv.Itoa(k)
				if err := c.Send(ctxT(t), m); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for h.count() < 600 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	where := map[string]int{}
	next := map[string]int{}
	for i, sts := range h.got {
		for _, st := range sts {
			k := st.From.Bare().String()
			if w, ok := where[k]; ok && w != i {
				t.Fatalf("%s reached attachments %d and %d", k, w, i)
			}
			where[k] = i
			if st.ID != strconv.Itoa(next[k]) {
				t.Fatalf("%s: got id %s, want %d", k, st.ID, next[k])
			}
			next[k]++
		}
	}
	for k, i := range where {
		if want := balance.Pick(balance.Key(k), []uint32{0, 1, 2}); want != i {
			t.Errorf("%s went to attachment %d, the hash picks slot %d", k, i, want)
		}
	}
	if len(h.got) != 3 {
		t.Errorf("%d attachments got stanzas, want 3", len(h.got))
	}
}

// TestLinksAnswerToAsker: the answer to an iq a link sent goes back to that
// link, whatever the hash of the answerer picks: each link's session
// matches its own answers.
func TestLinksAnswerToAsker(t *testing.T) {
	r, _ := newTestRouter(t, Config{Links: map[string]int{"a.localhost": 2}})
	s1, err := r.Attach("a.localhost", nil)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := r.Attach("a.localhost", nil)
	if err != nil {
		t.Fatal(err)
	}
	// The router answers pings to its own domain: every answer comes
	// from "localhost", which the hash sends to one link only.
	for i := range 10 {
		for _, s := range []mux.Sender{s1, s2} {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			err := ping.Send(ctx, s, mustJID("localhost"))
			cancel()
			if err != nil {
				t.Fatalf("ping %d: %v", i, err)
			}
		}
	}
}

// pipeListener is a net.Listener of in-memory connections: a write
// returns only once the peer read it, so a connection's queue stays in the
// router's writer while its peer does not read.
type pipeListener struct {
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{ch: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return &net.UnixAddr{Name: "pipe", Net: "pipe"} }

// dial connects an in-memory component and authenticates it as domain.
func (l *pipeListener) dial(t *testing.T, domain string) *rawComp {
	t.Helper()
	client, server := net.Pipe()
	t.Cleanup(func() { client.Close() })
	select {
	case l.ch <- server:
	case <-time.After(5 * time.Second):
		t.Fatal("the router did not accept")
	}
	c := &rawComp{t: t, nc: client, rd: stream.NewReader(client, stream.ReaderOptions{NS: stream.NSComponent})}
	c.w = stream.NewWriter(client, nil)
	c.w.WriteHeader(stream.Header{NS: stream.NSComponent, To: domain})
	h, err := c.rd.ReadHeader()
	if err != nil {
		t.Fatal(err)
	}
	c.id = h.ID
	if err := c.handshake(testSecret); err != nil {
		t.Fatal(err)
	}
	return c
}

// linkLog records what the raw links read, with one sequence over all
// of them (the order the peers saw things in).
type linkLog struct {
	mu   sync.Mutex
	seq  int
	recs []linkRec
}

type linkRec struct {
	seq, link int
	st        *stanza.Stanza // nil for a ping answer
}

func (lg *linkLog) add(link int, st *stanza.Stanza) {
	lg.mu.Lock()
	lg.seq++
	lg.recs = append(lg.recs, linkRec{seq: lg.seq, link: link, st: st})
	lg.mu.Unlock()
}

func (lg *linkLog) snapshot() []linkRec {
	lg.mu.Lock()
	defer lg.mu.Unlock()
	return append([]linkRec(nil), lg.recs...)
}

// readLink reads the raw component link c as link number link into lg,
// answering pings after hold. Once pause is set it stops reading (after
// the stanza it is reading) until resume is closed.
func readLink(c *rawComp, link int, lg *linkLog, hold time.Duration, pause *atomic.Bool, resume <-chan struct{}) {
	for {
		if pause != nil && pause.Load() {
			<-resume
		}
		st, err := c.recvErr()
		if err != nil {
			return
		}
		lg.add(link, st)
		if st.Kind != stanza.IQ || st.Type != stanza.TypeGet {
			continue
		}
		if _, ok := st.Child(ping.NS, "ping"); ok {
			go func() {
				time.Sleep(hold)
				lg.add(link, nil)
				res := stanza.Stanza{Kind: stanza.IQ, Type: stanza.TypeResult, ID: st.ID, From: st.To, To: st.From}
				c.w.WriteRaw(res.AppendXML(nil))
			}()
		}
	}
}

// pair is a balanced domain a.localhost of two raw links over pipes: a
// (slot 0, which stops reading once set up, until resume is closed) and b
// (slot 1, answering pings after bHold), both recording into lg.
type pair struct {
	r      *Router
	ln     *pipeListener
	lg     linkLog
	a, b   *rawComp
	resume chan struct{}
}

func newPair(t *testing.T, bHold time.Duration) *pair {
	p := &pair{resume: make(chan struct{})}
	p.r, _ = newTestRouter(t, Config{Links: map[string]int{"a.localhost": 2}, MaxQueue: 64 << 10})
	p.ln = newPipeListener()
	go p.r.ServeComponents(p.ln)
	var pause atomic.Bool
	p.a = p.ln.dial(t, "a.localhost")
	go readLink(p.a, 1, &p.lg, 0, &pause, p.resume)
	p.b = p.ln.dial(t, "a.localhost") // joins after a answered its barrier
	go readLink(p.b, 2, &p.lg, bHold, nil, nil)
	waitUntil(t, "a answered b's barrier", func() bool { return len(p.lg.snapshot()) >= 2 })
	pause.Store(true)
	return p
}

// TestLinksLossAndJoin: over XEP-0114 links, a link lost with a queue the
// router had not written moves that queue to the surviving link, ahead of
// later stanzas, so each sender's stanzas arrive in order and without a
// gap; a link that joins takes its senders only after the other link
// answered the barrier ping behind what it carried.
func TestLinksLossAndJoin(t *testing.T) {
	p := newPair(t, 200*time.Millisecond)
	r, ln, a, resume := p.r, p.ln, p.a, p.resume
	lg := &p.lg

	cs := senders(t, r, 16)
	var onA []int
	for i, c := range cs {
		if balance.Pick(balance.Key(c.JID().Bare().String()), []uint32{0, 1}) == 0 {
			onA = append(onA, i)
		}
	}
	if len(onA) == 0 || len(onA) == len(cs) {
		t.Fatalf("%d of %d senders on slot 0: pick other names", len(onA), len(cs))
	}
	round := func(k int) {
		for _, c := range cs {
			m := stanza.NewMessage(stanza.TypeChat, mustJID("a.localhost"), "0123456789012345678901234567890123456789")
			m.ID = strconv.Itoa(k)
			if err := c.Send(ctxT(t), m); err != nil {
				t.Error(err)
			}
		}
	}
	// Phase 1: a queue builds up for a, which stops reading after the
	// first stanza. Its senders block on the full queue, so they send
	// from a goroutine.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for k := range 40 {
			round(k)
		}
	}()
	time.Sleep(200 * time.Millisecond)
	// Cut a: what the router had queued for it moves to b.
	a.nc.Close()
	close(resume)
	wg.Wait()
	waitUntil(t, "a's link gone", func() bool { return r.Stats().Components == 1 })
	time.Sleep(settle + 50*time.Millisecond) // its senders move to b
	// Phase 2: a new link takes slot 0 again; b holds its barrier ping
	// answer for 200 ms, so the new link must wait that long.
	a2 := ln.dial(t, "a.localhost")
	go readLink(a2, 3, lg, 0, nil, nil)
	for k := 40; k < 60; k++ {
		round(k)
		time.Sleep(5 * time.Millisecond)
	}
	waitUntil(t, "every stanza of the last round", func() bool {
		n := 0
		for _, l := range lg.snapshot() {
			if l.st != nil && l.st.Kind == stanza.Message && l.st.ID == "59" {
				n++
			}
		}
		return n == len(cs)
	})
	recs := lg.snapshot()
	moved := r.Stats().Moved
	if moved == 0 {
		t.Errorf("Stats.Moved = 0: the lost link's queue did not move")
	}
	lost := 0
	for _, i := range onA {
		k := cs[i].JID().Bare().String()
		var got []linkRec
		for _, l := range recs {
			if l.st != nil && l.st.Kind == stanza.Message && l.st.From.Bare().String() == k {
				got = append(got, l)
			}
		}
		// What a read it had before the cut, even when its reader parses
		// it later (it was in its buffer): a's first.
		sort.SliceStable(got, func(i, j int) bool { return got[i].link == 1 && got[j].link != 1 })
		// In order; a gap only where a's connection was writing when it
		// was cut (a write handed to a connection is lost with it).
		next := 0
		for _, l := range got {
			n, _ := strconv.Atoi(l.st.ID)
			if n < next {
				t.Fatalf("%s: id %d after %d: order lost", k, n, next-1)
			}
			lost += n - next
			next = n + 1
		}
		if next != 60 {
			t.Errorf("%s: last id %d", k, next-1)
		}
		// Back on the new link, after b answered a barrier ping.
		var firstNew, lastB *linkRec
		for j := range got {
			switch {
			case got[j].link == 3 && firstNew == nil:
				firstNew = &got[j]
			case got[j].link == 2 && firstNew == nil:
				lastB = &got[j]
			}
		}
		if firstNew == nil || lastB == nil {
			t.Fatalf("%s: did not move to b and back (b %v, new %v)", k, lastB != nil, firstNew != nil)
		}
		answered := false
		for _, l := range recs {
			if l.link == 2 && l.st == nil && l.seq > lastB.seq && l.seq < firstNew.seq {
				answered = true
			}
		}
		if !answered {
			t.Errorf("%s: first stanza on the new link (seq %d) with no barrier answer on b after its last there (seq %d)", k, firstNew.seq, lastB.seq)
		}
	}
	// What a's connection was writing when it was cut: what queued while
	// its previous write was in progress, a few stanzas.
	if lost > 40 || lost > int(moved) {
		t.Errorf("%d stanzas lost: more than the write in flight on the cut link", lost)
	}
	t.Logf("moved %d stanzas; %d lost in the write the cut interrupted", moved, lost)
}

// TestLinksTakeover: a link that comes back within the settling time
// takes its slot back with everything that waited for it: nothing moves
// to the other link, and the senders' stanzas arrive in order.
func TestLinksTakeover(t *testing.T) {
	p := newPair(t, 0)
	r, ln, a, resume := p.r, p.ln, p.a, p.resume
	lg := &p.lg
	cs := senders(t, r, 16)
	send := func(k int) {
		for _, c := range cs {
			m := stanza.NewMessage(stanza.TypeChat, mustJID("a.localhost"), "x")
			m.ID = strconv.Itoa(k)
			if err := c.Send(ctxT(t), m); err != nil {
				t.Error(err)
			}
		}
	}
	for k := range 20 {
		send(k)
	}
	a.nc.Close()
	close(resume)
	waitUntil(t, "a's link lost", func() bool { return r.Stats().Components == 1 })
	a2 := ln.dial(t, "a.localhost") // within the settling time
	go readLink(a2, 3, lg, 0, nil, nil)
	for k := 20; k < 30; k++ {
		send(k)
	}
	waitUntil(t, "the last round", func() bool {
		n := 0
		for _, l := range lg.snapshot() {
			if l.st != nil && l.st.ID == "29" {
				n++
			}
		}
		return n == len(cs)
	})
	if m := r.Stats().Moved; m != 0 {
		t.Errorf("Stats.Moved = %d: the returning link should have taken its queue", m)
	}
	recs := lg.snapshot()
	for _, c := range cs {
		k := c.JID().Bare().String()
		if balance.Pick(balance.Key(k), []uint32{0, 1}) != 0 {
			continue
		}
		var got []linkRec
		for _, l := range recs {
			if l.st != nil && l.st.Kind == stanza.Message && l.st.From.Bare().String() == k {
				got = append(got, l)
			}
		}
		sort.SliceStable(got, func(i, j int) bool { return got[i].link == 1 && got[j].link != 1 })
		for j, l := range got {
			if l.link == 2 {
				t.Fatalf("%s: message %s went to the other link", k, l.st.ID)
			}
			if l.st.ID != strconv.Itoa(j) {
				t.Fatalf("%s: message %d is %s (order or gap)", k, j, l.st.ID)
			}
		}
		if len(got) != 30 {
			t.Errorf("%s: %d of 30 messages", k, len(got))
		}
	}
}

// waitUntil polls cond for up to 5 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestLinksFull: a balanced domain refuses a connection beyond its links
// with conflict (RefuseNew).
func TestLinksFull(t *testing.T) {
	_, addr := newTestRouter(t, Config{Links: map[string]int{"a.localhost": 2}})
	connectRaw(t, addr, "a.localhost")
	connectRaw(t, addr, "a.localhost")
	c, _, err := dialRaw(t, addr, "a.localhost")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.handshake(testSecret); condOf(err) != "conflict" {
		t.Fatalf("third link: %v, want conflict", err)
	}
}
