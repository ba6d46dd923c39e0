// Package metrics is how xmppkit reports what operators chart: stanzas in
// and out, queue depths, reconnects, handshake and IQ round-trip latency,
// handler errors and panics, store commit latency, sessions per kind.
//
// The SDK depends on no metrics library. It reports into a Registry, a
// small interface of three methods that any backend can implement in a few
// lines: Prometheus (client_golang: a CounterVec's child is a Counter, a
// HistogramVec's child a Histogram, a GaugeFunc a gauge function),
// OpenTelemetry (counters, histograms and observable gauges), expvar. The
// example programs of this repository carry a Prometheus one
// (xmppkit.dev/examples/daemon).
//
// Packages take a Registry in their configuration (router.Config.Metrics,
// component.Component.Metrics, journal.Options.Metrics, ...). When it is
// nil, nothing is reported and nothing is paid: the instruments are never
// made and the code that would update them is skipped by one nil check.
// When it is set, the instruments are made once, when the reporter starts
// (a router's New, a component's Run), and updating one is one call on an
// interface value: no label lookup, no allocation.
//
// # The catalogue
//
// Every metric the SDK reports is declared in this package (see the Desc
// variables: Stanzas, HandlerDuration, RouterSessions, ...), with its name,
// help text, label names and, for a histogram, its buckets, so that a
// dashboard can be written against this page. Names follow the Prometheus
// conventions: an xmppkit_ prefix, _total for counters, _seconds and _bytes
// for units, durations in seconds.
//
// # Labels
//
// A Desc names its labels; a reporter asks for an instrument with one value
// per label, once per series. WithLabels adds labels of the caller's to
// everything reported through a Registry (an instance name, a region), so
// that two routers of one process can share one backend.
package metrics

import (
	"slices"
	"sync"
)

// Counter is a monotonically increasing value (a count of events).
type Counter interface {
	// Add adds delta, which is never negative, to the counter.
	Add(delta float64)
}

// Histogram counts observations (latencies, in seconds) into buckets.
type Histogram interface {
	// Observe records one observation.
	Observe(value float64)
}

// Registry makes the instruments that the SDK reports into. Its methods are
// called when a reporter starts (not per event) and must be safe for
// concurrent use; so must the instruments it returns.
//
// labelValues gives one value for each of d.Labels, in order. Asking twice
// for the same Desc and label values must give instruments that report
// into the same series (two components of one domain add up). A Registry
// may panic when a Desc's labels do not match its label values, or when one
// name comes with two different sets of label names: both are programming
// errors of the reporter.
type Registry interface {
	// Counter returns the counter of d (a Desc of kind KindCounter) for
	// the label values.
	Counter(d *Desc, labelValues ...string) Counter
	// Histogram returns the histogram of d (KindHistogram) for the label
	// values, with d.Buckets (DefaultBuckets when nil).
	Histogram(d *Desc, labelValues ...string) Histogram
	// GaugeFunc registers f as the gauge of d (KindGauge) for the label
	// values: f is called, from any goroutine, whenever the value is
	// collected (a scrape), so that a gauge costs nothing between
	// collections. f must be fast and must not block. Several functions
	// registered for the same series are summed. The returned remove
	// unregisters f (the reporter calls it when it stops: a router's
	// Close); it may be called more than once.
	GaugeFunc(d *Desc, f func() float64, labelValues ...string) (remove func())
}

// Kind is the kind of instrument a Desc describes.
type Kind int

const (
	// KindCounter is a monotonically increasing count (Registry.Counter).
	KindCounter Kind = iota
	// KindGauge is a value that goes up and down, read when collected
	// (Registry.GaugeFunc).
	KindGauge
	// KindHistogram is a distribution of observations
	// (Registry.Histogram).
	KindHistogram
)

// String returns "counter", "gauge" or "histogram".
func (k Kind) String() string {
	switch k {
	case KindCounter:
		return "counter"
	case KindGauge:
		return "gauge"
	case KindHistogram:
		return "histogram"
	}
	return "unknown"
}

// Desc describes one metric: what a backend needs to declare it. The Desc
// values of this package are the SDK's catalogue; treat them as read-only.
type Desc struct {
	// Name is the metric's name, e.g. "xmppkit_stanzas_total".
	Name string
	// Help says what it measures, in one sentence.
	Help string
	// Kind is the kind of instrument.
	Kind Kind
	// Labels are the names of its labels, in the order in which label
	// values are given to the Registry.
	Labels []string
	// Buckets are a histogram's bucket upper bounds, increasing; nil means
	// DefaultBuckets.
	Buckets []float64
}

// BucketsOrDefault returns d.Buckets, or DefaultBuckets when it is nil.
func (d *Desc) BucketsOrDefault() []float64 {
	if d.Buckets == nil {
		return DefaultBuckets
	}
	return d.Buckets
}

// DefaultBuckets are latency buckets in seconds from 100 µs to 10 s, in
// 1-2.5-5 steps: in-process handlers answer in microseconds, a remote
// server in milliseconds, an fsync in milliseconds to a second.
var DefaultBuckets = []float64{
	.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10,
}

// WithLabels returns a Registry that reports everything into r with the
// labels given as name, value pairs added before each Desc's own labels.
// It panics when pairs has an odd length. WithLabels(nil, ...) is nil, so
// that an unset Registry stays unset.
func WithLabels(r Registry, pairs ...string) Registry {
	if r == nil {
		return nil
	}
	if len(pairs)%2 != 0 {
		panic("metrics: WithLabels needs name, value pairs")
	}
	w := &labeled{r: r, descs: map[*Desc]*Desc{}}
	for i := 0; i < len(pairs); i += 2 {
		w.names = append(w.names, pairs[i])
		w.values = append(w.values, pairs[i+1])
	}
	return w
}

type labeled struct {
	r             Registry
	names, values []string
	mu            sync.Mutex
	descs         map[*Desc]*Desc // each Desc with the added label names
}

func (w *labeled) desc(d *Desc) *Desc {
	w.mu.Lock()
	defer w.mu.Unlock()
	if e, ok := w.descs[d]; ok {
		return e
	}
	e := *d
	e.Labels = slices.Concat(w.names, d.Labels)
	w.descs[d] = &e
	return &e
}

func (w *labeled) vals(v []string) []string { return slices.Concat(w.values, v) }

func (w *labeled) Counter(d *Desc, v ...string) Counter {
	return w.r.Counter(w.desc(d), w.vals(v)...)
}

func (w *labeled) Histogram(d *Desc, v ...string) Histogram {
	return w.r.Histogram(w.desc(d), w.vals(v)...)
}

func (w *labeled) GaugeFunc(d *Desc, f func() float64, v ...string) func() {
	return w.r.GaugeFunc(w.desc(d), f, w.vals(v)...)
}
