package component

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
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

// Under load, answers to each sender leave in the order its stanzas came
// in, with Send waiting for the socket and with AsyncSend.
func TestEchoOrderUnderLoad(t *testing.T) {
	for _, async := range []bool{false, true} {
		t.Run(map[bool]string{false: "sync", true: "async"}[async], func(t *testing.T) {
			checkGoroutines(t)
			const n = 5 * echoBlockLen
			result := make(chan error, 1)
			fs := newFakeServer(t, func(_ int, fc *fakeConn) {
				if !fc.accept() {
					result <- errors.New("handshake failed")
					return
				}
				go flood(fc.Conn, echoFlood(), n)
				last := map[string]int{}
				for i := range n {
					st, err := fc.readStanza()
					if err != nil {
						result <- fmt.Errorf("echo %d: %w", i, err)
						return
					}
					to := st.To.String()
					seq, err := strconv.Atoi(strings.TrimPrefix(st.ID, "m"))
					if err != nil {
						result <- fmt.Errorf("echo %d: id %q", i, st.ID)
						return
					}
					// Sender u's messages carry ids u, u+50, u+100, ...,
					// starting over with each block of the flood.
					want := seq % echoSenders
					if prev, ok := last[to]; ok {
						want = prev + echoSenders
						if want >= echoBlockLen {
							want -= echoBlockLen
						}
					}
					if seq != want {
						result <- fmt.Errorf("to %s: id %s, want m%07d (out of order or lost)", to, st.ID, want)
						return
					}
					last[to] = seq
				}
				result <- nil
				fc.serveUntilClose(nil)
			})
			c := &Component{Addr: fs.addr(), Domain: testDomain, Secret: testSecret, Handler: echoHandler(),
				Logger: quietLogger(), AsyncSend: async}
			wait := runComponent(t, context.Background(), c)
			select {
			case err := <-result:
				if err != nil {
					t.Error(err)
				}
			case <-time.After(30 * time.Second):
				t.Error("timed out")
			}
			closeOK(t, c, wait)
		})
	}
}
