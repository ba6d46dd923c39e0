package hostile

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"xmppkit.dev/client"
	"xmppkit.dev/component"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/router"
	"xmppkit.dev/router/c2s"
	"xmppkit.dev/stanza"
)

// soakDuration is XMPPKIT_SOAK (a Go duration), 5 s by default, 2 s with
// -short.
func soakDuration(t *testing.T) time.Duration {
	if v := os.Getenv("XMPPKIT_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("XMPPKIT_SOAK=%q: want a positive Go duration such as 60s", v)
		}
		return d
	}
	if testing.Short() {
		return 2 * time.Second
	}
	return 5 * time.Second
}

// tracker checks that the messages of each sender arrive exactly once and
// in order: the body of a sender's n-th message is n.
type tracker struct {
	mu       sync.Mutex
	next     map[string]int
	received atomic.Int64
	errs     []string
}

func newTracker() *tracker { return &tracker{next: map[string]int{}} }

func (tr *tracker) see(st *stanza.Stanza) {
	if st.Kind != stanza.Message {
		return
	}
	from := st.From.String()
	seq, err := strconv.Atoi(st.Body())
	tr.mu.Lock()
	defer tr.mu.Unlock()
	switch {
	case st.Type == stanza.TypeError:
		tr.fail("error reply from %s: %v", from, st.Err())
	case err != nil:
		tr.fail("message from %s with body %q", from, st.Body())
	case seq != tr.next[from]:
		tr.fail("from %s: got #%d, want #%d (lost, duplicated or reordered)", from, seq, tr.next[from])
		tr.next[from] = seq + 1
	default:
		tr.next[from] = seq + 1
	}
	tr.received.Add(1)
}

func (tr *tracker) fail(format string, args ...any) {
	if len(tr.errs) < 20 {
		tr.errs = append(tr.errs, fmt.Sprintf(format, args...))
	}
}

func (tr *tracker) count(from string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.next[from]
}

// flow sends numbered messages from one sender to one receiver; each
// (from, receiver) pair has one flow, hence one sequence.
type flow struct {
	name string
	from string // the from the receiver sees
	to   jid.JID
	send mux.Sender
	rcv  *tracker
	sent atomic.Int64
}

// TestSoak runs steady traffic through the router for XMPPKIT_SOAK: TCP
// clients (c2s over loopback), in-memory clients, an in-process component
// and TCP components (XEP-0114 over loopback) send numbered messages to each
// other. Every message must arrive exactly once and in order per sender,
// and the heap and goroutine counts must be as flat at the end as at the
// start (after GC, within a tolerance).
func TestSoak(t *testing.T) {
	dur := soakDuration(t)
	g0 := runtime.NumGoroutine()
	secrets := map[string]string{"sink.localhost": "sink-secret", "src.localhost": "src-secret"}
	users := map[string]string{}
	for i := range 3 {
		users[fmt.Sprintf("tcp%d@localhost", i)] = password
	}
	r, err := router.New(router.Config{Domains: []string{"localhost"}, Secrets: secrets, Users: users, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	closeAll := []func(){}
	defer func() {
		for i := len(closeAll) - 1; i >= 0; i-- {
			closeAll[i]()
		}
	}()
	closeAll = append(closeAll, func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer ccancel()
		r.Close(cctx)
	})
	compAddr, err := r.ListenComponents("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, c2sAddr, err := c2s.Listen(r, "127.0.0.1:0", c2s.Config{})
	if err != nil {
		t.Fatal(err)
	}

	sink := newTracker()
	tcpComp := func(domain, secret string, h mux.Handler) *component.Component {
		c := &component.Component{Addr: compAddr.String(), Domain: domain, Secret: secret, Handler: h, Logger: discard}
		done := make(chan struct{})
		go func() { defer close(done); c.Run(context.Background()) }()
		closeAll = append(closeAll, func() {
			cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer ccancel()
			c.Close(cctx)
			<-done
		})
		for c.Stats().State != component.StateConnected {
			if c.Stats().State == component.StateClosed {
				t.Fatalf("%s: %v", domain, c.Stats().LastError)
			}
			time.Sleep(5 * time.Millisecond)
		}
		return c
	}
	tcpComp("sink.localhost", "sink-secret", mux.HandlerFunc(func(_ context.Context, _ mux.Sender, st *stanza.Stanza) error {
		sink.see(st)
		return nil
	}))
	src := tcpComp("src.localhost", "src-secret", nil)
	bots, err := r.Attach("bots.localhost", mux.HandlerFunc(func(context.Context, mux.Sender, *stanza.Stanza) error { return nil }))
	if err != nil {
		t.Fatal(err)
	}
	closeAll = append(closeAll, func() { bots.Close(context.Background()) })

	sinkJID := jid.MustParse("sink.localhost")
	var flows []*flow
	var receivers []receiver
	for i := range 3 {
		dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
		cl, err := client.Dial(dctx, c2sAddr.String(), client.Config{
			JID: jid.MustParse(fmt.Sprintf("tcp%d@localhost", i)), Password: password,
			TLS: &tls.Config{RootCAs: srv.CertPool(), ServerName: "localhost"},
		})
		dcancel()
		if err != nil {
			t.Fatal(err)
		}
		closeAll = append(closeAll, func() {
			cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer ccancel()
			cl.Close(cctx)
		})
		tr := newTracker()
		receivers = append(receivers, receiver{tr, cl.Recv})
		flows = append(flows,
			&flow{name: "tcp client → TCP component", from: cl.JID().String(), to: sinkJID, send: cl, rcv: sink},
			&flow{name: "TCP component → tcp client", from: "src.localhost", to: cl.JID(), send: src, rcv: tr},
			&flow{name: "in-process component → tcp client", from: "bots.localhost", to: cl.JID(), send: bots, rcv: tr})
	}
	for i := range 2 {
		mc, err := r.Connect(jid.MustParse(fmt.Sprintf("mem%d@localhost/soak", i)))
		if err != nil {
			t.Fatal(err)
		}
		closeAll = append(closeAll, func() { mc.Close() })
		tr := newTracker()
		receivers = append(receivers, receiver{tr, mc.Recv})
		flows = append(flows,
			&flow{name: "memory client → TCP component", from: mc.JID().String(), to: sinkJID, send: mc, rcv: sink},
			&flow{name: "TCP component → memory client", from: "src.localhost", to: mc.JID(), send: src, rcv: tr})
	}
	flows = append(flows, &flow{name: "in-process component → TCP component", from: "bots.localhost", to: sinkJID, send: bots, rcv: sink})

	for _, rc := range receivers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				st, err := rc.recv(ctx)
				if err != nil {
					return
				}
				rc.tr.see(st)
			}
		}()
	}

	// Baseline: everything connected, no traffic yet.
	heapStart, gStart := heapInuse(), runtime.NumGoroutine()
	var sendErrs atomic.Int64
	var firstSendErr atomic.Value
	trafficCtx, stopTraffic := context.WithTimeout(ctx, dur)
	var senders sync.WaitGroup
	const interval = 5 * time.Millisecond
	for _, f := range flows {
		senders.Add(1)
		go func() {
			defer senders.Done()
			tk := time.NewTicker(interval)
			defer tk.Stop()
			for seq := 0; ; seq++ {
				select {
				case <-trafficCtx.Done():
					return
				case <-tk.C:
				}
				m := stanza.NewMessage(stanza.TypeNormal, f.to, strconv.Itoa(seq))
				if err := f.send.Send(ctx, m); err != nil {
					sendErrs.Add(1)
					firstSendErr.CompareAndSwap(nil, fmt.Sprintf("%s: %v", f.name, err))
					return
				}
				f.sent.Add(1)
			}
		}()
	}
	// Sample the heap and goroutines once a second while traffic runs.
	var maxHeap uint64
	maxG := 0
	tk := time.NewTicker(time.Second)
sample:
	for {
		select {
		case <-trafficCtx.Done():
			break sample
		case <-tk.C:
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			maxHeap = max(maxHeap, ms.HeapInuse)
			maxG = max(maxG, runtime.NumGoroutine())
		}
	}
	tk.Stop()
	senders.Wait()
	stopTraffic()

	// Drain: every message sent must arrive.
	var total int64
	deadline := time.Now().Add(10 * time.Second)
	for _, f := range flows {
		total += f.sent.Load()
		for f.rcv.count(f.from) < int(f.sent.Load()) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	time.Sleep(50 * time.Millisecond) // let duplicates, if any, show up
	heapEnd, gEnd := heapInuse(), runtime.NumGoroutine()

	t.Logf("soak %v: %d flows, %d messages (%.0f/s), HeapInuse start %.2f MB, peak %.2f MB, end %.2f MB; goroutines start %d, peak %d, end %d",
		dur, len(flows), total, float64(total)/dur.Seconds(), float64(heapStart)/1e6, float64(maxHeap)/1e6, float64(heapEnd)/1e6, gStart, maxG, gEnd)
	if n := sendErrs.Load(); n > 0 {
		t.Errorf("%d flows failed to send: %v", n, firstSendErr.Load())
	}
	all := append([]*tracker{sink}, trackersOf(receivers)...)
	for _, tr := range all {
		tr.mu.Lock()
		for _, e := range tr.errs {
			t.Error(e)
		}
		tr.mu.Unlock()
	}
	for _, f := range flows {
		if got, want := f.rcv.count(f.from), f.sent.Load(); int64(got) != want {
			t.Errorf("%s (%s → %s): %d of %d messages arrived", f.name, f.from, f.to, got, want)
		}
	}
	var rcvd int64
	for _, tr := range all {
		rcvd += tr.received.Load()
	}
	if rcvd != total {
		t.Errorf("received %d messages, sent %d", rcvd, total)
	}
	if total < int64(len(flows))*int64(dur/interval)/8 {
		t.Errorf("only %d messages in %v: traffic was not steady", total, dur)
	}
	if gEnd > gStart+2 {
		t.Errorf("goroutines grew from %d to %d", gStart, gEnd)
	}
	if tol := max(heapStart/2, 8<<20); heapEnd > heapStart+tol {
		t.Errorf("HeapInuse grew from %d to %d bytes (tolerance %d)", heapStart, heapEnd, tol)
	}

	cancel()
	wg.Wait()
	for i := len(closeAll) - 1; i >= 0; i-- {
		closeAll[i]()
	}
	closeAll = nil
	// Everything closed: the goroutines started since the beginning end.
	for end := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > g0 && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > g0 {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines left after Close (%d before the test):\n%s", g, g0, buf[:runtime.Stack(buf, true)])
	}
}

// receiver reads what one client receives into its tracker.
type receiver struct {
	tr   *tracker
	recv func(context.Context) (*stanza.Stanza, error)
}

func trackersOf(rs []receiver) []*tracker {
	out := make([]*tracker, len(rs))
	for i, r := range rs {
		out[i] = r.tr
	}
	return out
}
