package daemon

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"xmppkit.dev/metrics"
)

// Prometheus is a metrics.Registry that reports the SDK's metrics into a
// Prometheus registry (client_golang): a counter is a CounterVec's child,
// a histogram a HistogramVec's, and the gauge functions of one name are
// one collector that reads them at each scrape (several functions of one
// series are summed).
type Prometheus struct {
	reg prometheus.Registerer

	mu    sync.Mutex
	names map[string]*metrics.Desc // the first Desc of each name
	cvecs map[string]*prometheus.CounterVec
	hvecs map[string]*prometheus.HistogramVec
	gauge map[string]*gaugeFuncs
}

var _ metrics.Registry = (*Prometheus)(nil)

// NewPrometheus returns a Registry reporting into reg.
func NewPrometheus(reg prometheus.Registerer) *Prometheus {
	return &Prometheus{
		reg: reg, names: map[string]*metrics.Desc{},
		cvecs: map[string]*prometheus.CounterVec{}, hvecs: map[string]*prometheus.HistogramVec{}, gauge: map[string]*gaugeFuncs{},
	}
}

// MetricsHandler returns a Prometheus registry with the Go runtime's and
// the process's collectors, the SDK's metrics reporting into it, and the
// /metrics handler that serves it in the text format.
func MetricsHandler() (*Prometheus, http.Handler) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return NewPrometheus(reg), promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// check records d's name, and panics when the name was asked for with
// other labels or as another kind, or when the values do not match the
// labels: the reporter's bug, which Prometheus would report at each
// scrape.
func (p *Prometheus) check(d *metrics.Desc, kind metrics.Kind, values []string) {
	if d.Kind != kind || len(values) != len(d.Labels) {
		panic(fmt.Sprintf("metrics: %s (%v, labels %v) asked for as a %v with values %q", d.Name, d.Kind, d.Labels, kind, values))
	}
	if first, ok := p.names[d.Name]; ok {
		if first.Kind != d.Kind || !slices.Equal(first.Labels, d.Labels) {
			panic(fmt.Sprintf("metrics: %s asked for with labels %v and %v", d.Name, first.Labels, d.Labels))
		}
		return
	}
	p.names[d.Name] = d
}

// Counter implements metrics.Registry.
func (p *Prometheus) Counter(d *metrics.Desc, labelValues ...string) metrics.Counter {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.check(d, metrics.KindCounter, labelValues)
	v := p.cvecs[d.Name]
	if v == nil {
		v = prometheus.NewCounterVec(prometheus.CounterOpts{Name: d.Name, Help: d.Help}, d.Labels)
		p.reg.MustRegister(v)
		p.cvecs[d.Name] = v
	}
	return v.WithLabelValues(labelValues...)
}

// Histogram implements metrics.Registry.
func (p *Prometheus) Histogram(d *metrics.Desc, labelValues ...string) metrics.Histogram {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.check(d, metrics.KindHistogram, labelValues)
	v := p.hvecs[d.Name]
	if v == nil {
		v = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: d.Name, Help: d.Help, Buckets: d.BucketsOrDefault()}, d.Labels)
		p.reg.MustRegister(v)
		p.hvecs[d.Name] = v
	}
	return v.WithLabelValues(labelValues...)
}

// GaugeFunc implements metrics.Registry.
func (p *Prometheus) GaugeFunc(d *metrics.Desc, f func() float64, labelValues ...string) func() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.check(d, metrics.KindGauge, labelValues)
	g := p.gauge[d.Name]
	if g == nil {
		g = &gaugeFuncs{desc: prometheus.NewDesc(d.Name, d.Help, d.Labels, nil), series: map[string]*gaugeSeries{}}
		p.reg.MustRegister(g)
		p.gauge[d.Name] = g
	}
	return g.add(f, labelValues)
}

// gaugeFuncs is the collector of the gauge functions of one name.
type gaugeFuncs struct {
	desc *prometheus.Desc

	mu     sync.Mutex
	next   int
	series map[string]*gaugeSeries // by the label values joined
}

type gaugeSeries struct {
	values []string
	funcs  map[int]func() float64
}

func (g *gaugeFuncs) add(f func() float64, values []string) func() {
	key := strings.Join(values, "\x00")
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.series[key]
	if s == nil {
		s = &gaugeSeries{values: slices.Clone(values), funcs: map[int]func() float64{}}
		g.series[key] = s
	}
	id := g.next
	g.next++
	s.funcs[id] = f
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		delete(s.funcs, id)
		if len(s.funcs) == 0 && g.series[key] == s {
			delete(g.series, key)
		}
	}
}

// Describe implements prometheus.Collector.
func (g *gaugeFuncs) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

// Collect implements prometheus.Collector: each series is the sum of its
// functions, called now (outside the lock: a function may take its own).
func (g *gaugeFuncs) Collect(ch chan<- prometheus.Metric) {
	type snap struct {
		values []string
		funcs  []func() float64
	}
	g.mu.Lock()
	snaps := make([]snap, 0, len(g.series))
	for _, s := range g.series {
		sn := snap{values: s.values}
		for _, f := range s.funcs {
			sn.funcs = append(sn.funcs, f)
		}
		snaps = append(snaps, sn)
	}
	g.mu.Unlock()
	for _, s := range snaps {
		total := 0.0
		for _, f := range s.funcs {
			total += f()
		}
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, total, s.values...)
	}
}
