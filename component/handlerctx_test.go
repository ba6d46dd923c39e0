package component

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// Each handler call gets a context that ends HandlerTimeout after the call
// started, even though workers reuse their contexts between calls; a call
// after one that timed out gets a live context again.
func TestHandlerTimeout(t *testing.T) {
	checkGoroutines(t)
	const timeout = 80 * time.Millisecond
	fs := newPipeServer(t, func(_ int, fc *fakeConn) {
		if !fc.accept() {
			return
		}
		go func() {
			var b strings.Builder
			for i, body := range []string{"quick", "quick", "wait", "quick", "quick"} {
				fmt.Fprintf(&b, "<message from='u@example.test/r' to='%s' id='%d'><body>%s</body></message>", testDomain, i, body)
			}
			fc.send(b.String())
		}()
		fc.serveUntilClose(nil)
	})
	type call struct {
		body      string
		left      time.Duration // until the deadline, at the start
		err       error         // ctx.Err() at the start
		waitedErr error         // for "wait": ctx.Err() once Done closed
		waited    time.Duration
	}
	var mu sync.Mutex
	var calls []call
	h := mux.HandlerFunc(func(ctx context.Context, _ mux.Sender, st *stanza.Stanza) error {
		cl := call{body: st.Body(), err: ctx.Err()}
		dl, ok := ctx.Deadline()
		if !ok {
			return errors.New("no deadline")
		}
		cl.left = time.Until(dl)
		if cl.body == "wait" {
			t0 := time.Now()
			select {
			case <-ctx.Done():
				cl.waitedErr = ctx.Err()
			case <-time.After(5 * time.Second):
			}
			cl.waited = time.Since(t0)
		}
		mu.Lock()
		calls = append(calls, cl)
		mu.Unlock()
		return nil
	})
	c := newTestComponent(fs, h)
	c.Workers = 1
	c.HandlerTimeout = timeout
	wait := runComponent(t, context.Background(), c)
	waitFor(t, "all handled", 10*time.Second, func() bool { return c.Stats().HandlerCalls == 5 })
	closeOK(t, c, wait)
	if len(calls) != 5 {
		t.Fatalf("%d calls", len(calls))
	}
	for i, cl := range calls {
		if cl.err != nil {
			t.Errorf("call %d (%s): context already ended: %v", i, cl.body, cl.err)
		}
		if cl.left <= 0 || cl.left > timeout {
			t.Errorf("call %d (%s): deadline in %v, want within (0, %v]", i, cl.body, cl.left, timeout)
		}
	}
	w := calls[2]
	if !errors.Is(w.waitedErr, context.DeadlineExceeded) {
		t.Errorf("waiting handler: ctx.Err() = %v, want DeadlineExceeded", w.waitedErr)
	}
	if w.waited < timeout/2 || w.waited > 2*time.Second {
		t.Errorf("waiting handler waited %v, want about %v", w.waited, timeout)
	}
}

// Without a timeout the handler's context has no deadline and ends when Run
// does.
func TestHandlerNoTimeout(t *testing.T) {
	checkGoroutines(t)
	fs := newPipeServer(t, func(_ int, fc *fakeConn) {
		if !fc.accept() {
			return
		}
		fc.send("<message from='u@example.test/r' to='" + testDomain + "' id='1'><body>x</body></message>")
		fc.serveUntilClose(nil)
	})
	got := make(chan bool, 1)
	h := mux.HandlerFunc(func(ctx context.Context, _ mux.Sender, st *stanza.Stanza) error {
		_, ok := ctx.Deadline()
		got <- ok
		return nil
	})
	c := newTestComponent(fs, h)
	c.HandlerTimeout = -1
	wait := runComponent(t, context.Background(), c)
	if <-got {
		t.Error("handler context has a deadline with HandlerTimeout < 0")
	}
	closeOK(t, c, wait)
}
