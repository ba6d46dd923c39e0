package component

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"xmppkit.dev/stanza"
)

// failedIDs collects the ids of the stanzas a component's SendFailed hook
// is given.
type failedIDs struct {
	mu  sync.Mutex
	ids map[string]int
}

func (f *failedIDs) hook(st *stanza.Stanza, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ids == nil {
		f.ids = map[string]int{}
	}
	f.ids[st.ID]++
}

func (f *failedIDs) get() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.ids)
}

// startLinkLoss runs a component with a small queue and a SendFailed hook
// on a newLinkLossServer.
func startLinkLoss(t *testing.T) (*Component, func() error, func() (map[string]int, []int), *failedIDs) {
	checkGoroutines(t)
	fs, received := newLinkLossServer(t)
	c := newTestComponent(fs, nil)
	failed := new(failedIDs)
	c.SendFailed = failed.hook
	c.MaxQueue = 4 << 10
	return c, runComponent(t, context.Background(), c), received, failed
}

// Send returns once the stanza is written or queued. Across a link loss
// every stanza is either delivered exactly once, or returned to its caller
// as not sent (it wrote the stanza itself and the write failed), or
// reported through the SendFailed hook; each not sent one is counted in
// Stats.SendFailed. None is lost without a trace, none is duplicated,
// none is two of these.
func TestSendAccounting(t *testing.T) {
	const n = 400
	c, wait, received, failed := startLinkLoss(t)
	ctx := context.Background()
	returned := map[string]int{}
	for i := range n {
		m := stanza.NewMessage("", alice, "x")
		m.ID = "m" + strconv.Itoa(i)
		if err := c.Send(ctx, m); err != nil {
			if !errors.Is(err, ErrNotSent) || !errors.Is(err, ErrDisconnected) {
				t.Fatalf("Send %d: %v", i, err)
			}
			returned[m.ID]++
		}
	}
	closeOK(t, c, wait)

	delivered, perConn := received()
	lost := failed.get()
	for i := range n {
		id := "m" + strconv.Itoa(i)
		if d, f, r := delivered[id], lost[id], returned[id]; d+f+r != 1 {
			t.Errorf("%s delivered %d times, reported to the hook %d times, returned as not sent %d times", id, d, f, r)
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
	if uint64(len(delivered))+st.SendFailed != n || st.SendFailed != uint64(len(lost)+len(returned)) {
		t.Fatalf("delivered %d + failed %d != %d (hook saw %d, callers %d)", len(delivered), st.SendFailed, n, len(lost), len(returned))
	}
	if st.StanzasOut < uint64(len(delivered)) {
		t.Fatalf("StanzasOut %d, delivered %d", st.StanzasOut, len(delivered))
	}
	if len(perConn) < 2 || perConn[1] == 0 {
		t.Fatalf("nothing delivered after the reconnect: %v", perConn)
	}
}

// Stanzas still queued when a stop cannot complete (the server reads
// nothing) are reported through SendFailed and counted.
func TestSendAbort(t *testing.T) {
	checkGoroutines(t)
	block := make(chan struct{})
	fs := newPipeServer(t, func(_ int, fc *fakeConn) {
		if !fc.accept() {
			return
		}
		<-block // never reads: writes block
	})
	c := newTestComponent(fs, nil)
	var failed failedIDs
	c.SendFailed = failed.hook
	c.StopTimeout = 100 * time.Millisecond
	c.WriteTimeout = 300 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	wait := runComponent(t, ctx, c)
	waitFor(t, "connected", 5*time.Second, func() bool { return c.Stats().State == StateConnected })
	// The first Send writes in this goroutine and blocks in the pipe until
	// the write deadline; the others queue behind it meanwhile.
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := stanza.NewMessage("", alice, "x")
			m.ID = "m" + strconv.Itoa(i)
			if err := c.Send(context.Background(), m); err != nil && !errors.Is(err, ErrNotSent) {
				t.Errorf("Send %d: %v", i, err)
			}
		}()
	}
	waitFor(t, "stanzas queued", 5*time.Second, func() bool { return c.Stats().QueueBytes > 0 })
	cancel()
	if err := wait(); err != nil {
		t.Fatalf("Run = %v, want nil after its context ended", err)
	}
	close(block)
	wg.Wait()
	st := c.Stats()
	if st.SendFailed != 5 || st.StanzasOut != 0 {
		t.Fatalf("failed %d, written %d; want 5, 0", st.SendFailed, st.StanzasOut)
	}
	if len(failed.get()) == 0 {
		t.Fatal("SendFailed saw nothing")
	}
}

// Under load, answers to each sender leave in the order its stanzas came
// in: write combining keeps the order of each sender's stanzas.
func TestEchoOrderUnderLoad(t *testing.T) {
	for _, workers := range []int{1, DefaultWorkers} {
		t.Run(strconv.Itoa(workers), func(t *testing.T) {
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
				Logger: quietLogger(), Workers: workers}
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
