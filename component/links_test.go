package component

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"xmppkit.dev/internal/balance"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/ping"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

// linkServer is a fake server for a component with several links: it
// records every stanza it reads with a global sequence number (the order
// the server saw them in, over all connections) and answers pings.
type linkServer struct {
	t  *testing.T
	fs *fakeServer

	mu    sync.Mutex
	seq   int
	log   []rec
	conns map[int]*fakeConn
	gates map[int]chan struct{} // a connection with a gate stops reading after its next message, until the gate is closed
	// answerOn, when set, picks the connection an iq answer is written on.
	answerOn func(got int) int
	// pingHold delays the answer to a ping read on the connection.
	pingHold map[int]time.Duration
}

// rec is one stanza the server read.
type rec struct {
	seq  int
	conn int
	st   *stanza.Stanza
}

func newLinkServer(t *testing.T) *linkServer {
	ls := &linkServer{t: t, conns: map[int]*fakeConn{}, gates: map[int]chan struct{}{}, pingHold: map[int]time.Duration{}}
	ls.fs = newPipeServer(t, ls.script)
	return ls
}

func (ls *linkServer) script(n int, fc *fakeConn) {
	if !fc.accept() {
		return
	}
	ls.mu.Lock()
	ls.conns[n] = fc
	ls.mu.Unlock()
	defer func() {
		ls.mu.Lock()
		delete(ls.conns, n)
		ls.mu.Unlock()
	}()
	for {
		st, err := fc.readStanza()
		if err != nil {
			if errors.Is(err, io.EOF) {
				fc.send(stream.CloseTag)
			}
			return
		}
		ls.mu.Lock()
		ls.seq++
		ls.log = append(ls.log, rec{seq: ls.seq, conn: n, st: st})
		hold := ls.pingHold[n]
		gate := ls.gates[n]
		ls.mu.Unlock()
		if st.Kind == stanza.IQ && st.Type == stanza.TypeGet {
			if _, ok := st.Child(ping.NS, "ping"); ok {
				go ls.answer(n, st, hold)
			}
		}
		if gate != nil && st.Kind == stanza.Message {
			<-gate
		}
	}
}

// answer writes the result of iq, after hold, on the connection answerOn
// picks (the one it came on by default).
func (ls *linkServer) answer(got int, iq *stanza.Stanza, hold time.Duration) {
	time.Sleep(hold)
	ls.mu.Lock()
	on := got
	if ls.answerOn != nil {
		on = ls.answerOn(got)
	}
	fc := ls.conns[on]
	if hold > 0 {
		ls.seq++
		ls.log = append(ls.log, rec{seq: ls.seq, conn: got, st: &stanza.Stanza{Kind: stanza.IQ, Type: stanza.TypeResult, ID: iq.ID}})
	}
	ls.mu.Unlock()
	if fc == nil {
		return
	}
	res := stanza.Stanza{Kind: stanza.IQ, Type: stanza.TypeResult, ID: iq.ID, From: iq.To, To: iq.From}
	fc.send(string(res.AppendXML(nil)))
}

// records returns a copy of the log.
func (ls *linkServer) records() []rec {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return append([]rec(nil), ls.log...)
}

// connected returns the numbers of the connections up now.
func (ls *linkServer) connected() []int {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	var ns []int
	for n := range ls.conns {
		ns = append(ns, n)
	}
	return ns
}

// messages returns, per recipient (bare JID), the messages read for it in
// the server's order, with the connection each came on.
func messages(rs []rec) map[string][]rec {
	m := map[string][]rec{}
	for _, r := range rs {
		if r.st.Kind == stanza.Message {
			k := r.st.To.Bare().String()
			m[k] = append(m[k], r)
		}
	}
	return m
}

func recipients(n int) []jid.JID {
	out := make([]jid.JID, n)
	for i := range out {
		out[i] = jid.MustParse(fmt.Sprintf("user%d@example.test/r", i))
	}
	return out
}

// sendSeq sends count messages to to, numbered in their ids from start, one
// after the other (one sender per recipient keeps the order defined).
func sendSeq(ctx context.Context, c *Component, to jid.JID, start, count int) error {
	for i := start; i < start+count; i++ {
		m := stanza.NewMessage(stanza.TypeChat, to, "n")
		m.ID = strconv.Itoa(i)
		if err := c.Send(ctx, m); err != nil {
			return fmt.Errorf("message %d to %s: %w", i, to, err)
		}
	}
	return nil
}

func newMultiComponent(ls *linkServer, links int) *Component {
	c := newTestComponent(ls.fs, mux.New())
	c.Links = links
	return c
}

// TestLinksSpread: with three links, recipients are spread over all of
// them, each recipient's stanzas leave on one link in the order sent, and
// the pick is the rendezvous hash of the recipient's bare JID.
func TestLinksSpread(t *testing.T) {
	checkGoroutines(t)
	ls := newLinkServer(t)
	c := newMultiComponent(ls, 3)
	var evMu sync.Mutex
	var events []LinkEvent
	c.OnLink = func(ev LinkEvent) {
		evMu.Lock()
		events = append(events, ev)
		evMu.Unlock()
	}
	wait := runComponent(t, context.Background(), c)
	waitFor(t, "three links", 5*time.Second, func() bool { return c.Stats().Links == 3 })
	tos := recipients(30)
	var wg sync.WaitGroup
	for _, to := range tos {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := sendSeq(context.Background(), c, to, 0, 20); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	waitFor(t, "600 messages", 5*time.Second, func() bool { return len(messages(ls.records())) == 30 && countMsgs(ls.records()) == 600 })
	used := map[int]int{}
	byConn := map[int]int{} // connection number -> slot, from the picks
	for to, rs := range messages(ls.records()) {
		for i, r := range rs {
			if r.st.ID != strconv.Itoa(i) {
				t.Fatalf("%s: message %d has id %s: out of order", to, i, r.st.ID)
			}
			if r.conn != rs[0].conn {
				t.Fatalf("%s: messages on connections %d and %d", to, rs[0].conn, r.conn)
			}
		}
		used[rs[0].conn]++
		slot := balance.Pick(balance.Key(to), []uint32{0, 1, 2})
		if prev, ok := byConn[rs[0].conn]; ok && prev != slot {
			t.Fatalf("connection %d carries recipients of slots %d and %d", rs[0].conn, prev, slot)
		}
		byConn[rs[0].conn] = slot
	}
	if len(used) != 3 {
		t.Errorf("recipients used %d links (%v), want 3", len(used), used)
	}
	st := c.Stats()
	if st.Links != 3 || st.State != StateConnected || st.Connects != 3 {
		t.Errorf("Stats: links %d, state %v, connects %d", st.Links, st.State, st.Connects)
	}
	closeOK(t, c, wait)
	evMu.Lock()
	defer evMu.Unlock()
	slots := map[int]bool{}
	ups, downs := 0, 0
	for _, ev := range events {
		slots[ev.Slot] = true
		if ev.Up {
			ups++
		} else {
			downs++
			if ev.Err != nil {
				t.Errorf("Down of link %d after Close has Err %v", ev.Link, ev.Err)
			}
		}
	}
	if ups != 3 || downs != 3 || len(slots) != 3 || events[len(events)-1].LinksUp != 0 {
		t.Errorf("OnLink events %+v: want 3 up, 3 down over slots 0-2, ending with 0 up", events)
	}
}

func countMsgs(rs []rec) int {
	n := 0
	for _, r := range rs {
		if r.st.Kind == stanza.Message {
			n++
		}
	}
	return n
}

// TestLinksAnswerOnAnotherLink: a server that balances a domain balances
// iq answers like any stanza (ejabberd does), so the answer to a request
// sent on one link may come on another: the links share one tracker.
func TestLinksAnswerOnAnotherLink(t *testing.T) {
	checkGoroutines(t)
	ls := newLinkServer(t)
	ls.answerOn = func(got int) int {
		ls.t.Helper()
		// Any other connection that is up.
		for n := range ls.conns {
			if n != got {
				return n
			}
		}
		return got
	}
	c := newMultiComponent(ls, 2)
	wait := runComponent(t, context.Background(), c)
	waitFor(t, "two links", 5*time.Second, func() bool { return c.Stats().Links == 2 })
	for i := range 20 {
		to := jid.MustParse(fmt.Sprintf("peer@example%d.test", i))
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err := ping.Send(ctx, c, to)
		cancel()
		if err != nil {
			t.Fatalf("ping %s: %v", to, err)
		}
	}
	crossed := 0
	for _, r := range ls.records() {
		if r.st.Kind == stanza.IQ && r.st.To.Local() == "peer" {
			crossed++
		}
	}
	if crossed != 20 {
		t.Errorf("server read %d pings, want 20", crossed)
	}
	if p := c.Stats().PendingIQs; p != 0 {
		t.Errorf("%d iqs still pending", p)
	}
	closeOK(t, c, wait)
}

// TestLinksLossMovesQueue: when a link dies with stanzas queued, they move
// to the links that serve their recipients now, ahead of later ones; what
// the dead link was writing is reported (SendFailed), nothing is lost
// unseen, and every recipient's stanzas reach the server in the order
// sent. When the slot's link comes back, its recipients move back to it
// only after a barrier ping on the link that served them meanwhile was
// answered, so the server sees no stanza overtake an older one.
func TestLinksLossMovesQueue(t *testing.T) {
	checkGoroutines(t)
	ls := newLinkServer(t)
	var failedMu sync.Mutex
	failed := map[string]map[string]bool{}
	c := newMultiComponent(ls, 3)
	c.MaxQueue = 2 << 10 // Send waits soon: the queue of the stalled link fills
	// The lost link comes back after its settling time: its recipients
	// move to the others meanwhile, then back.
	c.BackoffBase, c.BackoffMax = 2*settle+100*time.Millisecond, 2*settle+100*time.Millisecond
	c.SendFailed = func(st *stanza.Stanza, err error) {
		failedMu.Lock()
		defer failedMu.Unlock()
		k := st.To.Bare().String()
		if failed[k] == nil {
			failed[k] = map[string]bool{}
		}
		failed[k][st.ID] = true
	}
	wait := runComponent(t, context.Background(), c)
	waitFor(t, "three links", 5*time.Second, func() bool { return c.Stats().Links == 3 })

	// Stall one connection after its first message, so that the
	// recipients of its slot are known.
	conns := ls.connected()
	victim := conns[0]
	for _, n := range conns {
		victim = min(victim, n)
	}
	ls.mu.Lock()
	gate := make(chan struct{})
	ls.gates[victim] = gate
	ls.mu.Unlock()
	// Hold the barrier pings of the survivors long enough to see that the
	// returning link waits for them.
	for _, n := range conns {
		if n != victim {
			ls.mu.Lock()
			ls.pingHold[n] = 200 * time.Millisecond
			ls.mu.Unlock()
		}
	}

	tos := recipients(24)
	const per = 60
	var wg sync.WaitGroup
	sent := make([]atomic.Int32, len(tos))
	for i, to := range tos {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range per {
				if err := sendSeq(context.Background(), c, to, k, 1); err != nil {
					if !errors.Is(err, ErrNotSent) {
						t.Error(err)
						return
					}
					// Its own write failed: returned to its caller.
					c.SendFailed(&stanza.Stanza{To: to, ID: strconv.Itoa(k)}, err)
				}
				sent[i].Add(1)
				time.Sleep(time.Millisecond)
			}
		}()
	}
	// Let the stalled link's queue fill, then cut it.
	time.Sleep(150 * time.Millisecond)
	ls.fs.mu.Lock()
	ls.mu.Lock()
	fc := ls.conns[victim]
	ls.mu.Unlock()
	ls.fs.mu.Unlock()
	fc.Close()
	close(gate)
	wg.Wait()
	waitFor(t, "the slot reconnected", 5*time.Second, func() bool { return c.Stats().Links == 3 })
	// Some more after the return, so that recipients move back.
	for _, to := range tos {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := sendSeq(context.Background(), c, to, per, 10); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	closeOK(t, c, wait)

	rs := ls.records()
	byTo := messages(rs)
	victimSlot := -1
	for _, r := range rs {
		if r.conn == victim && r.st.Kind == stanza.Message {
			victimSlot = balance.Pick(balance.Key(r.st.To.Bare().String()), []uint32{0, 1, 2})
		}
	}
	moved, back, ofVictim := 0, 0, 0
	for _, to := range tos {
		k := to.Bare().String()
		got := byTo[k]
		seen := map[string]bool{}
		last := -1
		for _, r := range got {
			n, _ := strconv.Atoi(r.st.ID)
			if n <= last {
				t.Fatalf("%s: message %d after %d: order lost", k, n, last)
			}
			last = n
			seen[r.st.ID] = true
		}
		failedMu.Lock()
		for i := range per + 10 {
			id := strconv.Itoa(i)
			if !seen[id] && !failed[k][id] {
				t.Errorf("%s: message %s neither received nor reported as failed", k, id)
			}
			if seen[id] && failed[k][id] {
				t.Errorf("%s: message %s received and reported as failed", k, id)
			}
		}
		failedMu.Unlock()
		if balance.Pick(balance.Key(k), []uint32{0, 1, 2}) != victimSlot {
			continue
		}
		ofVictim++
		// A recipient of the lost slot: on the victim first, then on
		// others, then (once the slot is back) on its new connection.
		conns := map[int]bool{}
		for _, r := range got {
			conns[r.conn] = true
		}
		if len(conns) >= 2 {
			moved++
		}
		if checkBarrier(t, k, rs, got, victim) {
			back++
		}
	}
	if moved == 0 {
		t.Errorf("no recipient of the lost link moved to another link")
	}
	if back == 0 {
		t.Errorf("no recipient moved back to the returned link")
	}
	t.Logf("%d recipients on the lost link: %d moved, %d moved back; %d recipients had stanzas fail", ofVictim, moved, back, len(failed))
}

// checkBarrier checks, for the messages got of recipient k that moved back
// to a returned link, that the first message on the returned connection
// came after the answer to a barrier ping on the connection that carried
// the recipient before. A move straight off the lost connection needs no
// barrier. It reports whether k moved back.
func checkBarrier(t *testing.T, k string, rs []rec, got []rec, lost int) bool {
	t.Helper()
	if len(got) < 2 {
		return false
	}
	lastConn := got[len(got)-1].conn
	first := -1
	for i, r := range got {
		if r.conn == lastConn {
			first = i
			break
		}
	}
	if first <= 0 || got[first-1].conn == lastConn {
		return false
	}
	prev := got[first-1]
	if prev.conn == lost {
		return false
	}
	// The answer to a ping read on prev's connection, between prev and
	// the first message on the returned connection.
	for _, r := range rs {
		if r.conn == prev.conn && r.st.Kind == stanza.IQ && r.st.Type == stanza.TypeResult &&
			r.seq > prev.seq && r.seq < got[first].seq {
			return true
		}
	}
	t.Errorf("%s moved from connection %d (last at %d) to %d (first at %d) with no barrier answered between",
		k, prev.conn, prev.seq, lastConn, got[first].seq)
	return true
}

// TestLinksPermanentEndsAll: a permanent refusal on one link ends every
// link and Run returns it.
func TestLinksPermanentEndsAll(t *testing.T) {
	checkGoroutines(t)
	fs := newFakeServer(t, func(n int, fc *fakeConn) {
		if n == 2 {
			fc.readHeader()
			fc.sendHeader("x")
			fc.readHandshake()
			fc.send("<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>")
			return
		}
		if fc.accept() {
			fc.serveUntilClose(nil)
		}
	})
	c := newTestComponent(fs, nil)
	c.Links = 2
	err := runComponent(t, context.Background(), c)()
	if !errors.Is(err, stream.ErrNotAuthorized) || !IsPermanent(err) {
		t.Fatalf("Run = %v, want not-authorized", err)
	}
	if st := c.Stats(); st.Links != 0 || st.State != StateClosed {
		t.Errorf("after Run: links %d, state %v", st.Links, st.State)
	}
}

// TestLinksConfig: Links beyond MaxLinks is a configuration error.
func TestLinksConfig(t *testing.T) {
	c := &Component{Addr: "x:1", Domain: testDomain, Links: MaxLinks + 1}
	if err := c.Run(context.Background()); !IsPermanent(err) || !strings.Contains(err.Error(), "Links") {
		t.Fatalf("Run = %v, want a configuration error about Links", err)
	}
}

// TestLinksComeBack: a link that comes back within its settling time takes
// its recipients back with nothing moved to the other links, and carries
// nothing before the settling time since the loss has passed.
func TestLinksComeBack(t *testing.T) {
	checkGoroutines(t)
	ls := newLinkServer(t)
	c := newMultiComponent(ls, 2)
	wait := runComponent(t, context.Background(), c)
	waitFor(t, "two links", 5*time.Second, func() bool { return c.Stats().Links == 2 })
	tos := recipients(12)
	for _, to := range tos {
		if err := sendSeq(context.Background(), c, to, 0, 5); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "60 messages", 5*time.Second, func() bool { return countMsgs(ls.records()) == 60 })
	victim := ls.records()[len(ls.records())-1].conn
	ls.mu.Lock()
	fc := ls.conns[victim]
	ls.mu.Unlock()
	fc.Close()
	cut := time.Now()
	waitFor(t, "the link back", 5*time.Second, func() bool { st := c.Stats(); return st.Connects == 3 && st.Links == 2 })
	for _, to := range tos {
		if err := sendSeq(context.Background(), c, to, 5, 5); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "120 messages", 5*time.Second, func() bool { return countMsgs(ls.records()) == 120 })
	for to, rs := range messages(ls.records()) {
		conns := map[int]bool{}
		for i, r := range rs {
			if r.st.ID != strconv.Itoa(i) {
				t.Fatalf("%s: message %d is %s", to, i, r.st.ID)
			}
			conns[r.conn] = true
		}
		if conns[victim] && len(conns) != 2 {
			t.Errorf("%s: on connections %v, want the lost one and its successor only", to, conns)
		}
	}
	if since := time.Since(cut); since < settle {
		t.Errorf("all delivered %v after the loss, before the settling time", since)
	}
	closeOK(t, c, wait)
}
