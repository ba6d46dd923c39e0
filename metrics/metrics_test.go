package metrics_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"xmppkit.dev/metrics"
	"xmppkit.dev/metrics/metricstest"
)

func TestWithLabels(t *testing.T) {
	r := metricstest.New()
	a := metrics.WithLabels(r, "instance", "a")
	b := metrics.WithLabels(r, "instance", "b")
	a.Counter(metrics.RouterStanzas, metrics.IQ).Add(2)
	a.Counter(metrics.RouterStanzas, metrics.IQ).Add(1) // same series
	b.Counter(metrics.RouterStanzas, metrics.IQ).Add(5)
	if got := r.Value("xmppkit_router_stanzas_total", "instance", "a", "kind", "iq"); got != 3 {
		t.Errorf("instance a: %v, want 3\n%s", got, r.Series())
	}
	if got := r.Value("xmppkit_router_stanzas_total", "kind", "iq", "instance", "b"); got != 5 {
		t.Errorf("instance b: %v, want 5", got)
	}
	a.Histogram(metrics.RouterHandshake, "client").Observe(0.25)
	if n, sum := r.Count("xmppkit_router_handshake_seconds", "instance", "a", "kind", "client"); n != 1 || sum != 0.25 {
		t.Errorf("histogram: %d observations, sum %v", n, sum)
	}
	v := 7.0
	remove := a.GaugeFunc(metrics.RouterSessions, func() float64 { return v }, "client")
	remove2 := a.GaugeFunc(metrics.RouterSessions, func() float64 { return 1 }, "client")
	if got := r.Value("xmppkit_router_sessions", "instance", "a", "kind", "client"); got != 8 {
		t.Errorf("two gauge functions of one series: %v, want their sum 8", got)
	}
	v = 9
	remove2()
	remove2()
	if got := r.Value("xmppkit_router_sessions", "instance", "a", "kind", "client"); got != 9 {
		t.Errorf("gauge read at collection: %v, want 9", got)
	}
	remove()
	if n := r.Gauges("xmppkit_router_sessions", "instance", "a", "kind", "client"); n != 0 {
		t.Errorf("%d gauge functions left after remove", n)
	}
	// The wrapper does not change the catalogue's Desc.
	if !slices.Equal(metrics.RouterSessions.Labels, []string{"kind"}) {
		t.Errorf("RouterSessions.Labels = %v", metrics.RouterSessions.Labels)
	}
	if metrics.WithLabels(nil, "a", "b") != nil {
		t.Error("WithLabels(nil) is not nil")
	}
}

func TestStrictRegistry(t *testing.T) {
	for name, f := range map[string]func(r *metricstest.Registry){
		"too few values":   func(r *metricstest.Registry) { r.Counter(metrics.Stanzas, "d", "in") },
		"wrong kind":       func(r *metricstest.Registry) { r.Histogram(metrics.Stanzas, "d", "in", "iq") },
		"labels disagree":  func(r *metricstest.Registry) { metrics.WithLabels(r, "x", "y").Counter(metrics.RouterStanzas, "iq") },
		"negative counter": func(r *metricstest.Registry) { r.Counter(metrics.RouterStanzas, "iq").Add(-1) },
	} {
		t.Run(name, func(t *testing.T) {
			r := metricstest.New()
			r.Counter(metrics.RouterStanzas, "message")
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			f(r)
		})
	}
}

// TestCatalogue checks the conventions the package documentation promises:
// names, help, units and kinds.
func TestCatalogue(t *testing.T) {
	valid := regexp.MustCompile(`^xmppkit_[a-z_]+$`)
	seen := map[string]bool{}
	for _, d := range metrics.All {
		if !valid.MatchString(d.Name) || seen[d.Name] {
			t.Errorf("%q: malformed or repeated name", d.Name)
		}
		seen[d.Name] = true
		if d.Help == "" || !strings.HasSuffix(d.Help, ".") {
			t.Errorf("%s: help %q", d.Name, d.Help)
		}
		switch counter := strings.HasSuffix(d.Name, "_total"); {
		case counter != (d.Kind == metrics.KindCounter):
			t.Errorf("%s: a %v; _total is for counters only", d.Name, d.Kind)
		case d.Kind == metrics.KindHistogram && !strings.HasSuffix(d.Name, "_seconds"):
			t.Errorf("%s: histograms here measure seconds", d.Name)
		}
		if !slices.IsSorted(d.BucketsOrDefault()) {
			t.Errorf("%s: buckets not increasing", d.Name)
		}
	}
}
