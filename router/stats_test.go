package router

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// recordSink collects log records.
type recordSink struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (s *recordSink) Enabled(context.Context, slog.Level) bool { return true }
func (s *recordSink) Handle(_ context.Context, r slog.Record) error {
	s.mu.Lock()
	s.recs = append(s.recs, r.Clone())
	s.mu.Unlock()
	return nil
}
func (s *recordSink) WithAttrs([]slog.Attr) slog.Handler { return s }
func (s *recordSink) WithGroup(string) slog.Handler      { return s }

// infos returns the Info records whose message starts with prefix, and the
// sum of their "suppressed" attributes.
func (s *recordSink) infos(prefix string) (n int, suppressed int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.recs {
		if r.Level != slog.LevelInfo || !strings.HasPrefix(r.Message, prefix) {
			continue
		}
		n++
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "suppressed" {
				suppressed += a.Value.Int64()
			}
			return true
		})
	}
	return n, suppressed
}

// TestDropsCountedAndLogged (issue 18 item 13): the router's drop decisions
// were logged at Debug only; they are counted in Stats (in all and by
// reason) and logged at Info, at most logBurst records at once and logRate
// a second after that, the suppressed ones reported with the next record.
func TestDropsCountedAndLogged(t *testing.T) {
	var sink recordSink
	r, _ := newTestRouter(t, Config{Logger: slog.New(&sink)})
	s, err := r.Attach("svc.localhost", mux.New())
	if err != nil {
		t.Fatal(err)
	}
	alice := connect(t, r, "alice@localhost/a")
	available(t, alice, "")
	const n = 100
	for range n {
		e := stanza.NewMessage(stanza.TypeError, mustJID("alice@localhost"), "")
		if err := s.Send(ctxT(t), e); err != nil {
			t.Fatal(err)
		}
	}
	st := r.Stats()
	if st.Dropped != n || st.Reasons[ReasonErrorToBare] != n {
		t.Fatalf("Dropped %d, reasons %v; want %d %s", st.Dropped, st.Reasons, n, ReasonErrorToBare)
	}
	logged, _ := sink.infos("router: stanza dropped")
	if logged != logBurst {
		t.Errorf("%d drops logged at Info at once, want the burst of %d", logged, logBurst)
	}
	time.Sleep(time.Second / logRate * 3 / 2)
	s.Send(ctxT(t), stanza.NewMessage(stanza.TypeError, mustJID("alice@localhost"), ""))
	logged, suppressed := sink.infos("router: stanza dropped")
	if logged != logBurst+1 || suppressed != n-logBurst {
		t.Errorf("after a pause: %d records, %d reported suppressed; want %d and %d", logged, suppressed, logBurst+1, n-logBurst)
	}
	// Bounces are counted too: a message to nobody at a local domain.
	s.Send(ctxT(t), stanza.NewMessage(stanza.TypeChat, mustJID("nobody@localhost"), "x"))
	if b := r.Stats().Bounced; b != 1 {
		t.Errorf("Bounced %d, want 1", b)
	}
}
