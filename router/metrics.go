package router

import (
	"sync"
	"time"

	"xmppkit.dev/metrics"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

// routerMetrics are the router's instruments (package metrics' Router*
// catalogue), made by New when Config.Metrics is set; Router.m is nil
// otherwise, and every report is skipped by that nil check.
type routerMetrics struct {
	reg       metrics.Registry
	stanzas   [stanza.IQ + 1]metrics.Counter // by stanza.Kind; [0] is never used
	handshake [2]metrics.Histogram           // component, client
	slow      metrics.Counter
	conflict  metrics.Counter
	remove    []func()

	mu          sync.Mutex
	undelivered map[[2]string]metrics.Counter // outcome, reason: made on first use
}

const (
	peerComponent = iota
	peerClient
)

func newRouterMetrics(r *Router, reg metrics.Registry) *routerMetrics {
	if reg == nil {
		return nil
	}
	m := &routerMetrics{reg: reg, undelivered: map[[2]string]metrics.Counter{}}
	for k := stanza.Message; k <= stanza.IQ; k++ {
		m.stanzas[k] = reg.Counter(metrics.RouterStanzas, metrics.Kinds[k-1])
	}
	m.stanzas[0] = m.stanzas[stanza.IQ]
	m.handshake[peerComponent] = reg.Histogram(metrics.RouterHandshake, "component")
	m.handshake[peerClient] = reg.Histogram(metrics.RouterHandshake, "client")
	m.slow = reg.Counter(metrics.RouterKicked, "slow")
	m.conflict = reg.Counter(metrics.RouterKicked, "conflict")
	for _, kind := range []string{"component", "service", "client", "unauthenticated"} {
		m.remove = append(m.remove, reg.GaugeFunc(metrics.RouterSessions, func() float64 {
			return float64(r.sessions()[kind])
		}, kind))
	}
	for kind, ns := range map[string]string{"component": stream.NSComponent, "client": stream.NSClient} {
		m.remove = append(m.remove, reg.GaugeFunc(metrics.RouterQueue, func() float64 {
			return float64(r.queuedBytes(ns))
		}, kind))
	}
	return m
}

// close unregisters the gauges (Router.Close).
func (m *routerMetrics) close() {
	if m == nil {
		return
	}
	for _, f := range m.remove {
		f()
	}
}

// sessions counts the routes by kind, as the RouterSessions gauge reads
// them when collected.
func (r *Router) sessions() map[string]int {
	n := map[string]int{}
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, crt := range r.comps {
		for _, rt := range linksOf(crt) {
			if _, tcp := rt.(*conn); tcp {
				n["component"]++
			} else {
				n["service"]++
			}
		}
	}
	for _, a := range r.users {
		n["client"] += len(a.res)
	}
	n["unauthenticated"] = r.unauthAll
	return n
}

// queuedBytes sums the backlog of the socket streams in namespace ns.
func (r *Router) queuedBytes(ns string) int64 {
	var total int64
	r.mu.RLock()
	defer r.mu.RUnlock()
	for c := range r.conns {
		if c.ns == ns {
			total += max(0, c.queued.Load()-c.written.Load())
		}
	}
	return total
}

// countUndelivered counts a stanza not delivered, by outcome ("dropped",
// "bounced", "denied") and reason.
func (m *routerMetrics) countUndelivered(outcome, reason string) {
	if m == nil {
		return
	}
	k := [2]string{outcome, reason}
	m.mu.Lock()
	c := m.undelivered[k]
	if c == nil {
		c = m.reg.Counter(metrics.RouterUndelivered, outcome, reason)
		m.undelivered[k] = c
	}
	m.mu.Unlock()
	c.Add(1)
}

// handshook observes the time from accepting c to its authentication
// (peer: peerComponent or peerClient).
func (m *routerMetrics) handshook(peer int, c *conn) {
	if m == nil {
		return
	}
	m.handshake[peer].Observe(time.Since(c.accepted).Seconds())
}

// kicked counts a session the router ended: slow is a slow consumer, else
// a conflict.
func (m *routerMetrics) kicked(slow bool) {
	switch {
	case m == nil:
	case slow:
		m.slow.Add(1)
	default:
		m.conflict.Add(1)
	}
}
