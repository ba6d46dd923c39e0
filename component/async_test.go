package component

import (
	"context"
	"strconv"
	"testing"
	"time"

	"xmppkit.dev/stanza"
)

// With AsyncSend, Send returns once the stanza is queued. Across a link
// loss every stanza is either delivered exactly once or counted in
// Stats.SendFailed; none is lost without a trace, none is duplicated.
func TestAsyncSendAccounting(t *testing.T) {
	checkGoroutines(t)
	const n = 400
	fs, received := newLinkLossServer(t)
	c := newTestComponent(fs, nil)
	c.QueueSize = 64
	c.AsyncSend = true
	wait := runComponent(t, context.Background(), c)
	ctx := context.Background()
	for i := range n {
		m := stanza.NewMessage("", alice, "x")
		m.ID = "m" + strconv.Itoa(i)
		if err := c.Send(ctx, m); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	closeOK(t, c, wait)

	delivered, perConn := received()
	for id, k := range delivered {
		if k != 1 {
			t.Errorf("%s delivered %d times", id, k)
		}
	}
	// Stanzas from one goroutine go out in order: what the first link
	// delivered is a prefix.
	for i := range perConn[0] {
		if delivered["m"+strconv.Itoa(i)] != 1 {
			t.Errorf("m%d missing from the first link's prefix", i)
		}
	}
	st := c.Stats()
	t.Logf("delivered %d (per connection %v), failed %d, written %d", len(delivered), perConn, st.SendFailed, st.StanzasOut)
	if uint64(len(delivered))+st.SendFailed != n {
		t.Fatalf("delivered %d + failed %d != %d", len(delivered), st.SendFailed, n)
	}
	if st.StanzasOut != uint64(len(delivered)) {
		t.Fatalf("StanzasOut %d, delivered %d", st.StanzasOut, len(delivered))
	}
	if len(perConn) < 2 || perConn[1] == 0 {
		t.Fatalf("nothing delivered after the reconnect: %v", perConn)
	}
}

// With AsyncSend, stanzas still queued when Run's context ends are counted
// as failed.
func TestAsyncSendAbort(t *testing.T) {
	checkGoroutines(t)
	block := make(chan struct{})
	fs := newPipeServer(t, func(_ int, fc *fakeConn) {
		if !fc.accept() {
			return
		}
		<-block // never reads: writes block
	})
	c := newTestComponent(fs, nil)
	c.QueueSize = 8
	c.AsyncSend = true
	ctx, cancel := context.WithCancel(context.Background())
	wait := runComponent(t, ctx, c)
	waitFor(t, "connected", 5*time.Second, func() bool { return c.Stats().State == StateConnected })
	for i := range 5 {
		m := stanza.NewMessage("", alice, "x")
		if err := c.Send(context.Background(), m); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	cancel()
	wait()
	close(block)
	st := c.Stats()
	if st.SendFailed != 5 || st.StanzasOut != 0 {
		t.Fatalf("failed %d, written %d; want 5, 0", st.SendFailed, st.StanzasOut)
	}
}
