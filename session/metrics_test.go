package session

import (
	"context"
	"testing"

	"xmppkit.dev/jid"
	"xmppkit.dev/metrics/metricstest"
	"xmppkit.dev/stanza"
)

// nopTransport takes every stanza and writes nothing.
type nopTransport struct{}

func (nopTransport) Deliver(context.Context, Outgoing, bool) (uint64, error) { return 1, nil }
func (nopTransport) Confirm(context.Context, uint64) error                   { return nil }
func (nopTransport) Shutdown(context.Context) error                          { return nil }
func (nopTransport) Drop(*stanza.Stanza, error)                              {}

// TestMetricsCostNothing: sending a stanza allocates no more with metrics
// than without, and the metrics count it by kind.
func TestMetricsCostNothing(t *testing.T) {
	msg := stanza.NewMessage(stanza.TypeChat, jid.MustParse("alice@example.org"), "hi")
	msg.ID = "m1"
	allocs := func(s *Session) float64 {
		ctx := context.Background()
		return testing.AllocsPerRun(1000, func() {
			if err := s.Send(ctx, msg); err != nil {
				t.Fatal(err)
			}
		})
	}
	cfg := Config{Addr: jid.MustParse("svc.example.org"), Logger: quiet}
	without := allocs(New(cfg, nopTransport{}))
	reg := metricstest.New()
	cfg.Metrics = reg
	s := New(cfg, nopTransport{})
	with := allocs(s)
	if with != without {
		t.Errorf("allocations per Send: %v with metrics, %v without", with, without)
	}
	if got := reg.Value("xmppkit_stanzas_total", "domain", "svc.example.org", "direction", "out", "kind", "message"); got < 1000 {
		t.Errorf("stanzas out = %v, want at least 1000", got)
	}
	s.Terminate(ErrClosed)
	if n := reg.Gauges("xmppkit_inbound_queue_stanzas", "domain", "svc.example.org"); n != 0 {
		t.Errorf("%d gauge functions left after the session ended", n)
	}
}
