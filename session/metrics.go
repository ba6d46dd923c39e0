package session

import (
	"time"

	"xmppkit.dev/metrics"
	"xmppkit.dev/stanza"
)

// sessionMetrics are a session's instruments (package metrics' session
// catalogue, labelled with the session's domain), made by New when
// Config.Metrics is set; Session.m is nil otherwise and every report is
// skipped by that nil check.
type sessionMetrics struct {
	in, out     [stanza.IQ + 1]metrics.Counter // by stanza.Kind; [0] counts as iq
	handler     metrics.Histogram
	errors      metrics.Counter
	panics      metrics.Counter
	rtt         metrics.Histogram
	unanswered  metrics.Counter
	sendFailed  metrics.Counter
	dropped     metrics.Counter
	removeQueue func()
}

func newSessionMetrics(s *Session, reg metrics.Registry) *sessionMetrics {
	if reg == nil {
		return nil
	}
	d := s.addr.Domain()
	m := &sessionMetrics{
		handler:    reg.Histogram(metrics.HandlerDuration, d),
		errors:     reg.Counter(metrics.HandlerErrors, d),
		panics:     reg.Counter(metrics.HandlerPanics, d),
		rtt:        reg.Histogram(metrics.IQRoundTrip, d),
		unanswered: reg.Counter(metrics.IQUnanswered, d),
		sendFailed: reg.Counter(metrics.SendFailed, d),
		dropped:    reg.Counter(metrics.InboundDropped, d),
	}
	for k := stanza.Message; k <= stanza.IQ; k++ {
		m.in[k] = reg.Counter(metrics.Stanzas, d, metrics.In, metrics.Kinds[k-1])
		m.out[k] = reg.Counter(metrics.Stanzas, d, metrics.Out, metrics.Kinds[k-1])
	}
	m.in[0], m.out[0] = m.in[stanza.IQ], m.out[stanza.IQ]
	m.removeQueue = reg.GaugeFunc(metrics.InboundQueue, func() float64 {
		s.mu.RLock()
		wk := s.wk
		s.mu.RUnlock()
		if wk == nil {
			return 0
		}
		return float64(max(0, wk.inflight.Load()))
	}, d)
	return m
}

func kindIndex(k stanza.Kind) stanza.Kind {
	if k > stanza.IQ {
		return 0
	}
	return k
}

// received counts a stanza handed to Receive.
func (m *sessionMetrics) received(st *stanza.Stanza) {
	if m != nil && st != nil {
		m.in[kindIndex(st.Kind)].Add(1)
	}
}

// sent counts a stanza the transport took.
func (m *sessionMetrics) sent(k stanza.Kind) {
	if m != nil {
		m.out[kindIndex(k)].Add(1)
	}
}

// handled observes a handler call that took d and returned err.
func (m *sessionMetrics) handled(d time.Duration, err error) {
	if m == nil {
		return
	}
	m.handler.Observe(d.Seconds())
	if err != nil {
		m.errors.Add(1)
	}
}

func (m *sessionMetrics) panicked() {
	if m != nil {
		m.panics.Add(1)
	}
}

// answered observes a SendIQ's outcome: answered after d, or not (ok
// false).
func (m *sessionMetrics) answered(d time.Duration, ok bool) {
	switch {
	case m == nil:
	case ok:
		m.rtt.Observe(d.Seconds())
	default:
		m.unanswered.Add(1)
	}
}

// close unregisters the gauge (the session ended).
func (m *sessionMetrics) close() {
	if m != nil {
		m.removeQueue()
	}
}

// countSendFailed counts n stanzas not sent, in Stats and the metrics.
func (s *Session) countSendFailed(n int) {
	s.stats.sendFailed.Add(uint64(n))
	if s.m != nil {
		s.m.sendFailed.Add(float64(n))
	}
}

// countDropped counts a received stanza not handled, in Stats and the
// metrics.
func (s *Session) countDropped() {
	s.stats.inboundDropped.Add(1)
	if s.m != nil {
		s.m.dropped.Add(1)
	}
}
