package component

import (
	"time"

	"xmppkit.dev/metrics"
)

// componentMetrics are the component's own instruments (package metrics'
// Component* catalogue and OutboundQueue, labelled with the domain), made
// by init when Metrics is set; the session reports the rest. Component.m
// is nil otherwise and every report is skipped by that nil check.
type componentMetrics struct {
	handshake  metrics.Histogram
	reconnects metrics.Counter
	failures   metrics.Counter
	remove     []func()
}

func newComponentMetrics(c *Component, reg metrics.Registry) *componentMetrics {
	if reg == nil {
		return nil
	}
	d := c.domain.Domain()
	m := &componentMetrics{
		handshake:  reg.Histogram(metrics.ComponentHandshake, d),
		reconnects: reg.Counter(metrics.ComponentReconnects, d),
		failures:   reg.Counter(metrics.ComponentConnectFailures, d),
	}
	m.remove = append(m.remove,
		reg.GaugeFunc(metrics.ComponentLinkUp, func() float64 {
			c.stats.mu.Lock()
			defer c.stats.mu.Unlock()
			return float64(c.stats.up)
		}, d),
		reg.GaugeFunc(metrics.OutboundQueue, func() float64 {
			n := 0
			for _, s := range c.slots {
				n += s.w.Queued()
			}
			return float64(n)
		}, d),
	)
	return m
}

// connected observes a successful dial and handshake that took d.
func (m *componentMetrics) connected(d time.Duration) {
	if m != nil {
		m.handshake.Observe(d.Seconds())
	}
}

// failed counts a connection attempt that failed.
func (m *componentMetrics) failed() {
	if m != nil {
		m.failures.Add(1)
	}
}

// lost counts a link lost after its handshake, before reconnecting.
func (m *componentMetrics) lost() {
	if m != nil {
		m.reconnects.Add(1)
	}
}

// close unregisters the gauges (the component ended).
func (m *componentMetrics) close() {
	if m != nil {
		for _, f := range m.remove {
			f()
		}
	}
}
