// Package metricstest is an in-memory metrics.Registry for tests: it keeps
// every series reported into it and answers what a test asserts (a
// counter's value, a histogram's count, a gauge read now), and it checks
// the reporter's side of the metrics.Registry contract (label values that
// match the Desc, one set of label names per metric name, the Desc's kind)
// by panicking, as a strict backend would.
package metricstest

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"xmppkit.dev/metrics"
)

// Registry is an in-memory metrics.Registry. The zero value is not ready:
// use New.
type Registry struct {
	mu     sync.Mutex
	names  map[string]*metrics.Desc // first Desc seen per name
	series map[string]*series       // by key(name, labels)
}

type series struct {
	desc   *metrics.Desc
	labels []string // name, value pairs in Desc order

	value   atomic.Uint64 // counter: float64 bits
	count   atomic.Uint64 // histogram
	sum     atomic.Uint64 // histogram: float64 bits
	buckets []atomic.Uint64
	funcs   map[int]func() float64
	next    int
}

// New returns an empty Registry.
func New() *Registry {
	return &Registry{names: map[string]*metrics.Desc{}, series: map[string]*series{}}
}

var _ metrics.Registry = (*Registry)(nil)

func key(name string, pairs []string) string {
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('{')
	type kv struct{ k, v string }
	var kvs []kv
	for i := 0; i+1 < len(pairs); i += 2 {
		kvs = append(kvs, kv{pairs[i], pairs[i+1]})
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].k < kvs[j].k })
	for i, p := range kvs {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", p.k, p.v)
	}
	b.WriteByte('}')
	return b.String()
}

func (r *Registry) get(d *metrics.Desc, kind metrics.Kind, values []string) *series {
	if d.Kind != kind {
		panic(fmt.Sprintf("metricstest: %s is a %v, asked for as a %v", d.Name, d.Kind, kind))
	}
	if len(values) != len(d.Labels) {
		panic(fmt.Sprintf("metricstest: %s has labels %v, given values %q", d.Name, d.Labels, values))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if first, ok := r.names[d.Name]; ok {
		if !slices.Equal(first.Labels, d.Labels) || first.Kind != d.Kind {
			panic(fmt.Sprintf("metricstest: %s asked for with labels %v (%v) and %v (%v)", d.Name, first.Labels, first.Kind, d.Labels, d.Kind))
		}
	} else {
		r.names[d.Name] = d
	}
	pairs := make([]string, 0, 2*len(values))
	for i, v := range values {
		pairs = append(pairs, d.Labels[i], v)
	}
	k := key(d.Name, pairs)
	s := r.series[k]
	if s == nil {
		s = &series{desc: d, labels: pairs}
		if kind == metrics.KindHistogram {
			s.buckets = make([]atomic.Uint64, len(d.BucketsOrDefault()))
		}
		r.series[k] = s
	}
	return s
}

// Counter implements metrics.Registry.
func (r *Registry) Counter(d *metrics.Desc, labelValues ...string) metrics.Counter {
	return counter{r.get(d, metrics.KindCounter, labelValues)}
}

// Histogram implements metrics.Registry.
func (r *Registry) Histogram(d *metrics.Desc, labelValues ...string) metrics.Histogram {
	return histogram{r.get(d, metrics.KindHistogram, labelValues)}
}

// GaugeFunc implements metrics.Registry.
func (r *Registry) GaugeFunc(d *metrics.Desc, f func() float64, labelValues ...string) func() {
	s := r.get(d, metrics.KindGauge, labelValues)
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.funcs == nil {
		s.funcs = map[int]func() float64{}
	}
	id := s.next
	s.next++
	s.funcs[id] = f
	return func() {
		r.mu.Lock()
		delete(s.funcs, id)
		r.mu.Unlock()
	}
}

func addFloat(u *atomic.Uint64, d float64) {
	for {
		old := u.Load()
		if u.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+d)) {
			return
		}
	}
}

type counter struct{ s *series }

func (c counter) Add(d float64) {
	if d < 0 {
		panic(fmt.Sprintf("metricstest: counter %s decreased by %v", c.s.desc.Name, d))
	}
	addFloat(&c.s.value, d)
}

type histogram struct{ s *series }

func (h histogram) Observe(v float64) {
	h.s.count.Add(1)
	addFloat(&h.s.sum, v)
	for i, ub := range h.s.desc.BucketsOrDefault() {
		if v <= ub {
			h.s.buckets[i].Add(1)
			return
		}
	}
}

func (r *Registry) find(name string, pairs []string) *series {
	if len(pairs)%2 != 0 {
		panic("metricstest: labels must be name, value pairs")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.series[key(name, pairs)]
}

// Value returns the value of the counter or gauge name with exactly the
// labels given as name, value pairs (in any order): a counter's sum, or the
// sum of a gauge's registered functions called now. It returns 0 for a
// series never reported.
func (r *Registry) Value(name string, labels ...string) float64 {
	s := r.find(name, labels)
	if s == nil {
		return 0
	}
	if s.desc.Kind == metrics.KindGauge {
		r.mu.Lock()
		fs := make([]func() float64, 0, len(s.funcs))
		for _, f := range s.funcs {
			fs = append(fs, f)
		}
		r.mu.Unlock()
		total := 0.0
		for _, f := range fs {
			total += f()
		}
		return total
	}
	return math.Float64frombits(s.value.Load())
}

// Count returns the number of observations of the histogram name with
// exactly the labels given, and their sum.
func (r *Registry) Count(name string, labels ...string) (n uint64, sum float64) {
	s := r.find(name, labels)
	if s == nil {
		return 0, 0
	}
	return s.count.Load(), math.Float64frombits(s.sum.Load())
}

// Gauges returns the number of functions registered for the gauge name with
// exactly the labels given (0 once all were removed).
func (r *Registry) Gauges(name string, labels ...string) int {
	s := r.find(name, labels)
	if s == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(s.funcs)
}

// Series lists the series reported so far, one per line, sorted, as
// name{label="value",...} (for a test's failure message).
func (r *Registry) Series() string {
	r.mu.Lock()
	keys := make([]string, 0, len(r.series))
	for k := range r.series {
		keys = append(keys, k)
	}
	r.mu.Unlock()
	sort.Strings(keys)
	return strings.Join(keys, "\n")
}
