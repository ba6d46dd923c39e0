package component

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// pingAnswer is how a fake server answers a barrier ping.
type pingAnswer int

const (
	answerResult pingAnswer = iota // <iq type='result'/>
	answerError                    // <iq type='error'> service-unavailable
	answerNone                     // never
)

// confirmServer serves one connection: it counts messages and pings, and
// answers pings as told.
func confirmServer(fc *fakeConn, how pingAnswer, msgs, pings *atomic.Int32, onMsg func(*stanza.Stanza)) {
	fc.serveUntilClose(func(st *stanza.Stanza) {
		switch {
		case st.Kind == stanza.Message:
			msgs.Add(1)
			if onMsg != nil {
				onMsg(st)
			}
		case st.Kind == stanza.IQ && st.Type == stanza.TypeGet:
			pings.Add(1)
			hdr := "<iq from='" + st.To.String() + "' to='" + st.From.String() + "' id='" + st.ID + "' type="
			switch how {
			case answerResult:
				fc.send(hdr + "'result'/>")
			case answerError:
				fc.send(hdr + "'error'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")
			}
		}
	})
}

func TestSendConfirmed(t *testing.T) {
	for _, tc := range []struct {
		name string
		how  pingAnswer
	}{{"result", answerResult}, {"error answer", answerError}} {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			var msgs, pings atomic.Int32
			fs := newFakeServer(t, func(n int, fc *fakeConn) {
				if fc.accept() {
					confirmServer(fc, tc.how, &msgs, &pings, nil)
				}
			})
			c := newTestComponent(fs, nil)
			c.ConfirmSends = true
			wait := runComponent(t, context.Background(), c)
			const n = 64
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					errs <- c.Send(ctx, stanza.NewMessage(stanza.TypeChat, alice, strconv.Itoa(i)))
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
			}
			// Every confirmed stanza was received before its barrier.
			if got := msgs.Load(); got != n {
				t.Fatalf("server got %d messages, want %d", got, n)
			}
			if p := pings.Load(); p < 1 || p >= n {
				t.Fatalf("%d barrier pings for %d concurrent sends, want batching (1..%d)", p, n, n-1)
			}
			t.Logf("%d sends confirmed with %d barrier pings", n, pings.Load())
			closeOK(t, c, wait)
		})
	}
}

// TestSendConfirmedLinkDies: a server that reads stanzas but dies before
// answering the barrier makes SendConfirmed report ErrUnconfirmed (written,
// not proven), never nil; the next connection confirms again.
func TestSendConfirmedLinkDies(t *testing.T) {
	checkGoroutines(t)
	var msgs, pings atomic.Int32
	fs := newFakeServer(t, func(n int, fc *fakeConn) {
		if !fc.accept() {
			return
		}
		if n == 1 {
			// Read the first message, swallow the ping, then drop the link.
			for {
				st, err := fc.readStanza()
				if err != nil {
					return
				}
				if st.Kind == stanza.IQ {
					fc.Close()
					return
				}
			}
		}
		confirmServer(fc, answerResult, &msgs, &pings, nil)
	})
	c := newTestComponent(fs, nil)
	wait := runComponent(t, context.Background(), c)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := c.SendConfirmed(ctx, stanza.NewMessage(stanza.TypeChat, alice, "first"))
	if !errors.Is(err, ErrUnconfirmed) || errors.Is(err, ErrNotSent) {
		t.Fatalf("SendConfirmed across a dying link = %v, want ErrUnconfirmed only", err)
	}
	waitFor(t, "reconnect", 5*time.Second, func() bool { return c.Stats().State == StateConnected })
	if err := c.SendConfirmed(ctx, stanza.NewMessage(stanza.TypeChat, alice, "second")); err != nil {
		t.Fatalf("SendConfirmed after reconnect: %v", err)
	}
	if msgs.Load() != 1 {
		t.Fatalf("second connection got %d messages, want 1", msgs.Load())
	}
	closeOK(t, c, wait)
}

// TestSendConfirmedPingTimeout: a live but silent server is not proof; the
// barrier gives up after PingTimeout.
func TestSendConfirmedPingTimeout(t *testing.T) {
	checkGoroutines(t)
	var msgs, pings atomic.Int32
	fs := newFakeServer(t, func(n int, fc *fakeConn) {
		if fc.accept() {
			confirmServer(fc, answerNone, &msgs, &pings, nil)
		}
	})
	c := newTestComponent(fs, nil)
	c.PingTimeout = 100 * time.Millisecond
	wait := runComponent(t, context.Background(), c)
	t0 := time.Now()
	err := c.SendConfirmed(context.Background(), stanza.NewMessage(stanza.TypeChat, alice, "x"))
	if !errors.Is(err, ErrUnconfirmed) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SendConfirmed to a silent server = %v, want ErrUnconfirmed wrapping the deadline", err)
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Fatalf("gave up after %v, PingTimeout is 100ms", d)
	}
	// The caller's context bounds the wait as well.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	c.PingTimeout = time.Hour // not read concurrently: no round is running
	if err := c.SendConfirmed(ctx, stanza.NewMessage(stanza.TypeChat, alice, "y")); !errors.Is(err, ErrUnconfirmed) {
		t.Fatalf("SendConfirmed with a short context = %v", err)
	}
	c.Close(context.Background()) // the hour-long round ends with Run
	wait()
}

// TestSendConfirmedNotRunning: without a link the stanza is never written:
// ErrNotSent, not ErrUnconfirmed.
func TestSendConfirmedNotRunning(t *testing.T) {
	c := &Component{Addr: "127.0.0.1:1", Domain: testDomain, Logger: quietLogger()}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := c.SendConfirmed(ctx, stanza.NewMessage(stanza.TypeChat, alice, "x"))
	if !errors.Is(err, ErrNotSent) || errors.Is(err, ErrUnconfirmed) {
		t.Fatalf("SendConfirmed without Run = %v, want ErrNotSent", err)
	}
}

// BenchmarkSendConfirmed compares plain Send (written to the socket) with a
// confirmed Send (answered barrier ping) over loopback TCP, with parallel
// senders sharing barrier pings.
func BenchmarkSendConfirmed(b *testing.B) {
	for _, confirm := range []bool{false, true} {
		name := "plain"
		if confirm {
			name = "confirmed"
		}
		b.Run(name, func(b *testing.B) {
			var msgs, pings atomic.Int32
			fs := newFakeServer(b, func(n int, fc *fakeConn) {
				if fc.accept() {
					confirmServer(fc, answerResult, &msgs, &pings, nil)
				}
			})
			c := newTestComponent(fs, nil)
			c.ConfirmSends = confirm
			done := make(chan error, 1)
			go func() { done <- c.Run(context.Background()) }()
			for c.Stats().State != StateConnected {
				time.Sleep(time.Millisecond)
			}
			m := stanza.NewMessage(stanza.TypeChat, alice, "benchmark")
			b.SetParallelism(8)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					if err := c.Send(ctx, m); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(pings.Load())/float64(b.N), "pings/op")
			c.Close(context.Background())
			<-done
		})
	}
}

// TestSendConfirmedDuringClose: Close lets handlers finish, and their
// confirmed sends still get their barrier answered before the stream ends.
func TestSendConfirmedDuringClose(t *testing.T) {
	checkGoroutines(t)
	var msgs, pings atomic.Int32
	fs := newFakeServer(t, func(n int, fc *fakeConn) {
		if !fc.accept() {
			return
		}
		fc.send("<message from='alice@example.test/phone' to='" + testDomain + "' type='chat' id='in1'><body>go</body></message>")
		confirmServer(fc, answerResult, &msgs, &pings, nil)
	})
	started := make(chan struct{})
	result := make(chan error, 1)
	h := mux.HandlerFunc(func(ctx context.Context, s mux.Sender, st *stanza.Stanza) error {
		if st.Kind != stanza.Message {
			return nil
		}
		close(started)
		time.Sleep(50 * time.Millisecond) // Close is under way
		result <- s.Send(ctx, stanza.NewMessage(stanza.TypeChat, st.From, "reply"))
		return nil
	})
	c := newTestComponent(fs, h)
	c.ConfirmSends = true
	wait := runComponent(t, context.Background(), c)
	<-started
	closeOK(t, c, wait)
	if err := <-result; err != nil {
		t.Fatalf("confirmed Send from a handler during Close = %v", err)
	}
	if msgs.Load() != 1 || pings.Load() < 1 {
		t.Fatalf("server got %d messages and %d pings", msgs.Load(), pings.Load())
	}
}
