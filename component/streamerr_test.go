package component

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"xmppkit.dev/mux"
	"xmppkit.dev/ping"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

// TestStreamErrorOnBadInput checks RFC 6120 §4.9.1.1 on the component side:
// bad input from the server ends the link with the matching stream error
// sent to the server, then </stream:stream>; LastError wraps ErrBadServer
// and the condition; and the component reconnects.
func TestStreamErrorOnBadInput(t *testing.T) {
	tests := []struct {
		name, input string
		cond        stream.Condition
	}{
		{"mismatched end tag", "<message to='" + testDomain + "'><body>x</bdy></message>", stream.NotWellFormed},
		{"comment", "<!-- hi -->", stream.RestrictedXML},
		{"invalid UTF-8", "<message to='" + testDomain + "'><body>\xff</body></message>", stream.UnsupportedEncoding},
		{"oversized stanza", "<message to='" + testDomain + "'><body>" + strings.Repeat("x", 8<<10) + "</body></message>", stream.PolicyViolation},
		{"text between stanzas", "hello", stream.BadFormat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			got := make(chan error, 1)
			fs := newFakeServer(t, func(n int, fc *fakeConn) {
				if !fc.accept() {
					return
				}
				if n > 1 {
					// The reconnection: stay until the test ends.
					fc.rd.Next()
					return
				}
				fc.send(tc.input)
				fc.SetReadDeadline(time.Now().Add(5 * time.Second))
				for {
					_, err := fc.rd.Next()
					if err != nil {
						got <- err
						// The component closed its stream after the error.
						if _, err := fc.rd.Next(); err == nil {
							got <- errors.New("more after the stream error")
						}
						return
					}
				}
			})
			c := newTestComponent(fs, nil)
			c.Limits = stream.Limits{MaxElement: 4 << 10}
			c.KeepAlive = -1
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			wait := runComponent(t, ctx, c)
			select {
			case err := <-got:
				var se *stream.Error
				if !errors.As(err, &se) || !se.Remote || se.Condition != tc.cond {
					t.Errorf("server read %v, want the stream error %s", err, tc.cond)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the server got nothing")
			}
			waitFor(t, "reconnection", 5*time.Second, func() bool { return fs.n.Load() >= 2 && c.Stats().Connects >= 2 })
			if err := c.Stats().LastError; !errors.Is(err, ErrBadServer) || !errors.Is(err, &stream.Error{Condition: tc.cond}) {
				t.Errorf("LastError = %v, want ErrBadServer and %s", err, tc.cond)
			}
			cancel()
			wait()
		})
	}
}

// TestStreamErrorWhileWriting checks that the stream error never lands in
// the middle of a stanza the writer is sending: the server reads whole
// stanzas, then the error.
func TestStreamErrorWhileWriting(t *testing.T) {
	checkGoroutines(t)
	got := make(chan error, 1)
	fs := newFakeServer(t, func(n int, fc *fakeConn) {
		if !fc.accept() || n > 1 {
			return
		}
		fc.SetReadDeadline(time.Now().Add(10 * time.Second))
		for i := 0; ; i++ {
			if i == 50 {
				fc.send("<message><body>x</bdy></message>")
			}
			_, err := fc.rd.Next()
			if err != nil {
				got <- err
				return
			}
		}
	})
	c := newTestComponent(fs, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wait := runComponent(t, ctx, c)
	waitFor(t, "connection", 5*time.Second, func() bool { return c.Stats().State == StateConnected })
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 500 {
				m := stanza.NewMessage(stanza.TypeChat, alice, strings.Repeat("y", 2000))
				if c.Send(ctx, m) != nil {
					return
				}
			}
		}()
	}
	select {
	case err := <-got:
		if !errors.Is(err, stream.ErrNotWellFormed) {
			t.Errorf("server read %v, want the stream error not-well-formed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server got nothing")
	}
	cancel()
	wg.Wait()
	wait()
}

// warnCounter counts log records at Warn and above.
type warnCounter struct {
	mu sync.Mutex
	n  int
}

func (w *warnCounter) Enabled(_ context.Context, l slog.Level) bool { return true }
func (w *warnCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		w.mu.Lock()
		w.n++
		w.mu.Unlock()
	}
	return nil
}
func (w *warnCounter) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnCounter) WithGroup(string) slog.Handler      { return w }

// TestIgnoredElements checks that top-level elements that are not stanzas
// are ignored without a Warn record each (a server could flood the log),
// counted in Stats.IgnoredElements, and that the stream goes on.
func TestIgnoredElements(t *testing.T) {
	checkGoroutines(t)
	const flood = 1000
	answered := make(chan *stanza.Stanza, 1)
	fs := newFakeServer(t, func(n int, fc *fakeConn) {
		if !fc.accept() {
			return
		}
		fc.send(strings.Repeat("<foo xmlns='urn:example:evil'/><stream:features/>", flood/2))
		fc.send("<iq type='get' id='p1' from='example.test' to='" + testDomain + "'><ping xmlns='urn:xmpp:ping'/></iq>")
		st, _ := fc.readStanza()
		answered <- st
		fc.rd.Next()
	})
	m := mux.New()
	ping.Handler{}.Register(m)
	c := newTestComponent(fs, m)
	wc := &warnCounter{}
	c.Logger = slog.New(wc)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wait := runComponent(t, ctx, c)
	select {
	case st := <-answered:
		if st == nil || st.ID != "p1" || st.Type != stanza.TypeResult {
			t.Errorf("ping answer %v", st)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no answer to the ping")
	}
	if got := c.Stats().IgnoredElements; got != flood {
		t.Errorf("IgnoredElements = %d, want %d", got, flood)
	}
	wc.mu.Lock()
	if wc.n != 0 {
		t.Errorf("%d Warn records for ignored elements", wc.n)
	}
	wc.mu.Unlock()
	if c.Stats().Reconnects != 0 {
		t.Errorf("the link was lost: %v", c.Stats().LastError)
	}
	cancel()
	wait()
}
