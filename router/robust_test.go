package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

func TestBadStreams(t *testing.T) {
	_, addr := newTestRouter(t, Config{Limits: stream.Limits{MaxElement: 4096}})
	a := connectRaw(t, addr, "a.localhost")
	b := connectRaw(t, addr, "b.localhost")
	tests := []struct{ name, send, cond string }{
		{"garbage", "<message to='b.localhost'><body>x</message>", "not-well-formed"},
		{"text between stanzas", "hello", "bad-format"},
		{"oversized", "<message to='b.localhost'><body>" + strings.Repeat("x", 8192) + "</body></message>", "policy-violation"},
		{"not a stanza", "<foo xmlns='urn:x'/>", "unsupported-stanza-type"},
		{"entity", "<message to='b.localhost'>&foo;</message>", "restricted-xml"},
		{"bad utf-8", "<message to='b.localhost'><body>\xff</body></message>", "unsupported-encoding"},
		{"peer error", "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := connectRaw(t, addr, "c.localhost")
			c.send(tt.send)
			if got := condOf(c.streamErr()); got != tt.cond {
				t.Fatalf("got %q, want %q", got, tt.cond)
			}
			// Others are unaffected, and the domain is free again.
			a.send("<message to='b.localhost' id='ok'/>")
			if st := b.recv(); st.ID != "ok" {
				t.Fatalf("b got %v", st)
			}
		})
	}
	t.Run("vanish mid-stanza", func(t *testing.T) {
		c := connectRaw(t, addr, "c.localhost")
		c.send("<message to='b.localhost' id='half'><body>partial")
		c.nc.Close()
		time.Sleep(20 * time.Millisecond)
		a.send("<message to='b.localhost' id='after'/>")
		if st := b.recv(); st.ID != "after" {
			t.Fatalf("b got %v", st)
		}
		// c.localhost is free again.
		connectRaw(t, addr, "c.localhost")
	})
}

func TestSlowConsumer(t *testing.T) {
	r, addr := newTestRouter(t, Config{MaxQueue: 64 << 10, SlowTimeout: 100 * time.Millisecond})
	a := connectRaw(t, addr, "a.localhost")
	b := connectRaw(t, addr, "b.localhost")
	slow := connectRaw(t, addr, "slow.localhost")
	// slow never reads. Its socket buffers fill, then its queue, then it
	// is disconnected; a keeps sending and gets bounces, b keeps receiving.
	body := strings.Repeat("x", 4000)
	var wg sync.WaitGroup
	wg.Add(1)
	bounced := 0
	go func() {
		defer wg.Done()
		for {
			st, err := a.recvErr()
			if err != nil {
				return
			}
			if st.ID == "done" {
				return
			}
			if c := errCond(st); c == "resource-constraint" || c == "service-unavailable" {
				bounced++
			}
		}
	}()
	const n = 3000
	for i := range n {
		a.send("<message to='slow.localhost' id='s" + strconv.Itoa(i) + "'><body>" + body + "</body></message>")
		if i%100 == 0 {
			a.send("<message to='b.localhost' id='b" + strconv.Itoa(i) + "'/>")
			if st := b.recv(); st.ID != "b"+strconv.Itoa(i) {
				t.Fatalf("b got %v", st)
			}
		}
	}
	// Wait until the router dropped slow's route.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.RLock()
		_, up := r.comps["slow.localhost"]
		r.mu.RUnlock()
		if !up {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("slow consumer still connected")
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.send("<message to='a.localhost' id='done'/>")
	wg.Wait()
	if bounced == 0 {
		t.Fatal("no bounce for the slow consumer's stanzas")
	}
	// The slow peer finally reads: it finds the resource-constraint error
	// after what was queued.
	// (Unless the router gave up writing to it first: then the
	// connection just breaks.)
	slow.nc.SetDeadline(time.Now().Add(10 * time.Second))
	switch err := slow.streamErr(); {
	case condOf(err) == "resource-constraint":
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
		t.Logf("slow consumer's connection broke before it read the stream error: %v", err)
	default:
		t.Fatalf("slow got %v", err)
	}
	t.Logf("%d of %d stanzas bounced", bounced, n)
}

// TestLoad: 16 components send each other messages; all arrive, once, in
// order per sender.
func TestLoad(t *testing.T) {
	const comps, per = 16, 150
	secrets := map[string]string{}
	for i := range comps {
		secrets[fmt.Sprintf("c%d.localhost", i)] = testSecret
	}
	_, addr := newTestRouter(t, Config{Secrets: secrets})
	cs := make([]*rawComp, comps)
	for i := range cs {
		cs[i] = connectRaw(t, addr, fmt.Sprintf("c%d.localhost", i))
		cs[i].nc.SetDeadline(time.Now().Add(2 * time.Minute))
	}
	var wg sync.WaitGroup
	errs := make(chan error, comps)
	for i, c := range cs {
		wg.Add(2)
		go func() { // receiver: from each other component, ids 0..per-1 in order
			defer wg.Done()
			next := make([]int, comps)
			for got := 0; got < (comps-1)*per; got++ {
				st, err := c.recvErr()
				if err != nil {
					errs <- fmt.Errorf("c%d after %d: %v", i, got, err)
					return
				}
				var from, seq int
				if _, err := fmt.Sscanf(st.ID, "%d-%d", &from, &seq); err != nil || st.Type == "error" {
					errs <- fmt.Errorf("c%d got %v", i, st)
					return
				}
				if seq != next[from] {
					errs <- fmt.Errorf("c%d: from c%d seq %d, want %d", i, from, seq, next[from])
					return
				}
				next[from]++
			}
		}()
		go func() {
			defer wg.Done()
			var b strings.Builder
			for seq := range per {
				for j := range comps {
					if j == i {
						continue
					}
					fmt.Fprintf(&b, "<message to='c%d.localhost' id='%d-%d'><body>m</body></message>", j, i, seq)
				}
				c.w.WriteRaw([]byte(b.String()))
				b.Reset()
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case err := <-errs:
		for _, c := range cs {
			c.nc.Close()
		}
		<-done
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}

func TestCloseGraceful(t *testing.T) {
	checkGoroutines(t)
	r, err := New(Config{Secrets: map[string]string{"a.localhost": testSecret}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- r.ServeComponents(ln) }()
	a := connectRaw(t, ln.Addr().String(), "a.localhost")
	// A connection still in its handshake.
	pre, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer pre.Close()
	time.Sleep(20 * time.Millisecond) // accepted
	cl, err := r.Connect(mustJID("u@localhost/r"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Close(ctxT(t)) }()
	if got := condOf(a.streamErr()); got != "system-shutdown" {
		t.Fatalf("component got %q", got)
	}
	a.w.Close(ctxT(t))
	pre.SetDeadline(time.Now().Add(10 * time.Second))
	rd := stream.NewReader(pre, stream.ReaderOptions{})
	_, err = rd.ReadHeader()
	for err == nil {
		_, err = rd.Next()
	}
	if condOf(err) != "system-shutdown" {
		t.Fatalf("connection in handshake got %v", err)
	}
	pre.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != ErrClosed {
		t.Fatalf("ServeComponents: %v", err)
	}
	if _, err := cl.Recv(ctxT(t)); err != ErrDetached {
		t.Fatalf("client Recv after Close: %v", err)
	}
	if _, err := r.Attach("x.localhost", nil); err != ErrClosed {
		t.Fatalf("Attach after Close: %v", err)
	}
	if err := r.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

// TestInProcessQueueFull: a stalled in-process component's bounded queue
// bounces the excess with resource-constraint; nothing is lost silently.
func TestInProcessQueueFull(t *testing.T) {
	r, addr := newTestRouter(t, Config{Workers: 1, WorkerQueue: 4, SlowTimeout: 20 * time.Millisecond})
	release := make(chan struct{})
	handled := make(chan string, 100)
	svc, err := r.Attach("stuck.localhost", mux.HandlerFunc(func(ctx context.Context, s mux.Sender, st *stanza.Stanza) error {
		<-release
		handled <- st.ID
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close(context.Background())
	a := connectRaw(t, addr, "a.localhost")
	const n = 20
	for i := range n {
		a.send(fmt.Sprintf("<message to='stuck.localhost' id='%d'/>", i))
	}
	bounced := map[string]bool{}
	for len(bounced) < n-9 { // at most 1 running, 4 queued, 4 in the overflow (Workers×WorkerQueue)
		st := a.recv()
		if errCond(st) != "resource-constraint" || st.Err().Type != stanza.Wait {
			t.Fatalf("got %v", st)
		}
		bounced[st.ID] = true
	}
	close(release)
	for range n - len(bounced) {
		id := <-handled
		if bounced[id] {
			t.Fatalf("%s both bounced and handled", id)
		}
	}
}

// TestDirectedPresence: presence to a component is routed, and the
// component hears unavailable when the client goes (RFC 6121 §4.6.3).
func TestDirectedPresence(t *testing.T) {
	r, addr := newTestRouter(t, Config{})
	a := connectRaw(t, addr, "a.localhost")
	cl, err := r.Connect(mustJID("u@localhost/r"))
	if err != nil {
		t.Fatal(err)
	}
	p := stanza.NewPresence("", mustJID("room@a.localhost/nick"))
	if err := cl.Send(ctxT(t), p); err != nil {
		t.Fatal(err)
	}
	if st := a.recv(); st.Kind != stanza.Presence || st.Type != "" || st.From.String() != "u@localhost/r" {
		t.Fatalf("a got %v", st)
	}
	// Closing sends unavailable to the directed-presence recipient, even
	// though the client never sent initial presence.
	cl.Close()
	if st := a.recv(); st.Kind != stanza.Presence || st.Type != "unavailable" || st.To.String() != "room@a.localhost/nick" {
		t.Fatalf("a got %v", st)
	}
}

// TestCloseDeadline: a peer that never closes its stream does not hold
// Close past its context.
func TestCloseDeadline(t *testing.T) {
	checkGoroutines(t)
	r, err := New(Config{Secrets: map[string]string{"a.localhost": testSecret}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := r.ListenComponents("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	connectRaw(t, addr.String(), "a.localhost") // never answers the close
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := r.Close(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Close: %v", err)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Fatalf("Close took %v", d)
	}
}
