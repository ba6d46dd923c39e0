package component

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

// TestOnLink: OnLink reports each link's Up before any stanza of that link
// reaches the handler (the server's first message is sent right after the
// handshake, as XEP-0356 advertisements are), and its Down, with the
// cause, before the next link's Up.
func TestOnLink(t *testing.T) {
	checkGoroutines(t)
	fs := newPipeServer(t, func(n int, fc *fakeConn) {
		if !fc.accept() {
			return
		}
		fc.send(fmt.Sprintf("<message from='example.test' to='%s' id='adv%d'><x xmlns='urn:example:adv'/></message>", testDomain, n))
		if n == 1 {
			// Drop the first link once its message was read.
			time.Sleep(50 * time.Millisecond)
			fc.send(stream.CloseTag)
			return
		}
		fc.serveUntilClose(nil)
	})
	var mu sync.Mutex
	var log []string
	add := func(s string) {
		mu.Lock()
		log = append(log, s)
		mu.Unlock()
	}
	var downErr []error
	handled := make(chan struct{}, 2)
	c := newTestComponent(fs, mux.HandlerFunc(func(ctx context.Context, s mux.Sender, st *stanza.Stanza) error {
		add("stanza " + st.ID)
		handled <- struct{}{}
		return nil
	}))
	c.OnLink = func(ev LinkEvent) {
		if ev.StreamID != "sid-1234" {
			t.Errorf("event %+v: stream id", ev)
		}
		if ev.Up {
			add(fmt.Sprintf("up %d", ev.Link))
			return
		}
		add(fmt.Sprintf("down %d", ev.Link))
		mu.Lock()
		downErr = append(downErr, ev.Err)
		mu.Unlock()
	}
	wait := runComponent(t, context.Background(), c)
	for range 2 {
		select {
		case <-handled:
		case <-time.After(5 * time.Second):
			t.Fatal("advertisements not handled")
		}
	}
	closeOK(t, c, wait)
	mu.Lock()
	defer mu.Unlock()
	pos := map[string]int{}
	for i, s := range log {
		pos[s] = i
	}
	for _, want := range [][2]string{
		{"up 1", "stanza adv1"}, {"up 1", "down 1"}, {"down 1", "up 2"},
		{"up 2", "stanza adv2"}, {"up 2", "down 2"},
	} {
		a, okA := pos[want[0]]
		b, okB := pos[want[1]]
		if !okA || !okB || a > b {
			t.Fatalf("want %q before %q, log %q", want[0], want[1], log)
		}
	}
	if len(downErr) != 2 || !errors.Is(downErr[0], ErrDisconnected) || downErr[1] != nil {
		t.Fatalf("down causes %v, want [ErrDisconnected, nil]", downErr)
	}
}
