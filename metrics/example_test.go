package metrics_test

import (
	"fmt"
	"sync/atomic"

	"xmppkit.dev/metrics"
	"xmppkit.dev/metrics/metricstest"
)

// reporter is how an SDK package holds its instruments: made once, from
// the catalogue, and nil when no Registry is configured.
type reporter struct {
	in      [len(metrics.Kinds)]metrics.Counter
	latency metrics.Histogram
	remove  func()
}

func newReporter(reg metrics.Registry, domain string, queued *atomic.Int64) *reporter {
	if reg == nil {
		return nil // nothing reported, nothing paid
	}
	m := &reporter{latency: reg.Histogram(metrics.IQRoundTrip, domain)}
	for i, kind := range metrics.Kinds {
		m.in[i] = reg.Counter(metrics.Stanzas, domain, metrics.In, kind)
	}
	// A gauge is read when collected: no cost between scrapes.
	m.remove = reg.GaugeFunc(metrics.InboundQueue, func() float64 { return float64(queued.Load()) }, domain)
	return m
}

// A reporter makes its instruments once and pays one nil check and one
// call per event.
func Example() {
	test := metricstest.New() // in a program: a Prometheus adapter
	reg := metrics.WithLabels(test, "instance", "eu-1")
	var queued atomic.Int64
	m := newReporter(reg, "pubsub.example.org", &queued)
	defer m.remove()

	if m != nil {
		m.in[2].Add(1) // an iq arrived
		m.latency.Observe(0.004)
	}
	queued.Store(3)

	fmt.Println(test.Value("xmppkit_stanzas_total", "instance", "eu-1", "domain", "pubsub.example.org", "direction", "in", "kind", "iq"))
	fmt.Println(test.Value("xmppkit_inbound_queue_stanzas", "instance", "eu-1", "domain", "pubsub.example.org"))
	n, _ := test.Count("xmppkit_iq_roundtrip_seconds", "instance", "eu-1", "domain", "pubsub.example.org")
	fmt.Println(n)
	// Output:
	// 1
	// 3
	// 1
}
