package c2s

import (
	"errors"
	"strings"
	"testing"
	"time"

	"xmppkit.dev/router"
	"xmppkit.dev/stream"
)

// TestIdleTimeout (issue 18 item 11): an authenticated client could hold
// its connection open forever. After router.Config.IdleTimeout without
// input the router pings it (XEP-0199); silence after that ends the stream
// with connection-timeout; whitespace keepalives and answers keep it.
func TestIdleTimeout(t *testing.T) {
	const idle = 300 * time.Millisecond
	r, _, addr := newC2S(t, router.Config{IdleTimeout: idle}, Config{})

	t.Run("silent", func(t *testing.T) {
		rc := loginRaw(t, addr, "alice", "alicepw", "silent", "")
		start := time.Now()
		ping := rc.nextRaw(t)
		if !strings.Contains(ping, "id='xk-idle-") || !strings.Contains(ping, "<ping xmlns='urn:xmpp:ping'/>") || !strings.Contains(ping, "from='localhost'") {
			t.Fatalf("got %s, want the server's ping", ping)
		}
		if d := time.Since(start); d < idle/2 || d > 3*idle {
			t.Errorf("ping after %v, want about %v", d, idle)
		}
		_, err := rc.rd.Next()
		if !errors.Is(err, stream.ErrConnectionTimeout) {
			t.Fatalf("after the unanswered ping: %v", err)
		}
		if d := time.Since(start); d < idle || d > 5*idle {
			t.Errorf("closed after %v, want about %v", d, 2*idle)
		}
		if n := r.Stats().Reasons[router.ReasonIdle]; n != 1 {
			t.Errorf("Stats.Reasons[idle] = %d", n)
		}
	})
	t.Run("whitespace keepalives", func(t *testing.T) {
		rc := loginRaw(t, addr, "alice", "alicepw", "ws", "")
		for range 8 {
			time.Sleep(idle / 3)
			rc.send(" ")
		}
		rc.send("<message to='alice@localhost/ws' id='still'/>")
		if got := rc.nextRaw(t); !strings.Contains(got, "id='still'") {
			t.Errorf("after %v of keepalives got %s", 8*idle/3, got)
		}
	})
	t.Run("answers the ping", func(t *testing.T) {
		rc := loginRaw(t, addr, "alice", "alicepw", "answers", "")
		deadline := time.Now().Add(4 * idle)
		pings := 0
		for time.Now().Before(deadline) {
			st, err := rc.rd.ReadStanza()
			if err != nil {
				t.Fatalf("after %d pings: %v", pings, err)
			}
			pings++
			rc.send("<iq type='result' id='" + st.ID + "' to='localhost'/>")
		}
		if pings < 2 {
			t.Errorf("%d pings in %v", pings, 4*idle)
		}
		if n := r.Stats().Reasons[router.ReasonToServer]; n != 0 {
			t.Errorf("the answers were counted as drops: %d", n)
		}
	})
}
