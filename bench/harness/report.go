package harness

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// Summary is the median of several runs of one scenario.
type Summary struct {
	Scenario string
	Rate     float64 // stanzas/s
	Allocs   float64 // heap allocations per stanza
	PeakRSS  float64 // bytes
	CPU      float64 // CPU time of the measured process per stanza, µs
	Runs     int
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Summarize takes the median of each figure per scenario, in the order
// the scenarios first appear.
func Summarize(rs []Result) []Summary {
	var order []string
	by := map[string][]Result{}
	for _, r := range rs {
		if _, ok := by[r.Scenario]; !ok {
			order = append(order, r.Scenario)
		}
		by[r.Scenario] = append(by[r.Scenario], r)
	}
	var out []Summary
	for _, sc := range order {
		var rate, allocs, rss, cpu []float64
		for _, r := range by[sc] {
			cpu = append(cpu, float64(r.CPU.Nanoseconds())/1e3/float64(r.N))
			rate = append(rate, r.Rate())
			allocs = append(allocs, r.AllocsPer())
			rss = append(rss, float64(r.PeakRSS))
		}
		out = append(out, Summary{Scenario: sc, Rate: median(rate), Allocs: median(allocs), PeakRSS: median(rss), CPU: median(cpu), Runs: len(rate)})
	}
	return out
}

func find(ss []Summary, sc string) (Summary, bool) {
	for _, s := range ss {
		if s.Scenario == sc {
			return s, true
		}
	}
	return Summary{}, false
}

// RateRatio is the median over rounds of the rate of scenario a divided by
// the rate of scenario b in the same round: pairing runs of one round
// cancels most of the drift of a shared, loaded machine. NaN when no round
// has both.
func RateRatio(rs []Result, a, b string) float64 {
	if a == b {
		return 1
	}
	ra, rb := map[int]float64{}, map[int]float64{}
	for _, r := range rs {
		switch r.Scenario {
		case a:
			ra[r.Round] = r.Rate()
		case b:
			rb[r.Round] = r.Rate()
		}
	}
	var v []float64
	for round, x := range ra {
		if y, ok := rb[round]; ok && y > 0 {
			v = append(v, x/y)
		}
	}
	return median(v)
}

// WriteTable prints the echo and router tables, the idle figure and the
// issue's targets, as Markdown. Rates and allocations are medians over the
// rounds; ratios are medians of the per-round ratios (RateRatio).
func WriteTable(w io.Writer, rs []Result, idle *IdleResult) {
	ss := Summarize(rs)
	rows := func(prefix string, names []string, ceiling string, rivals []string) {
		x, _ := find(ss, prefix+"xmppkit")
		fmt.Fprintf(w, "| %s | stanzas/s | CPU µs/stanza | allocs/stanza | peak RSS MiB | rate vs %s |", prefix[:len(prefix)-1], ceiling)
		if len(rivals) > 0 {
			fmt.Fprintf(w, " xmppkit rate ÷ this | xmppkit allocs ÷ this |")
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "|---|--:|--:|--:|--:|--:|")
		if len(rivals) > 0 {
			fmt.Fprintf(w, "--:|--:|")
		}
		fmt.Fprintln(w)
		for _, n := range names {
			s, ok := find(ss, prefix+n)
			if !ok {
				continue
			}
			fmt.Fprintf(w, "| %s | %.0f | %.2f | %.2f | %.1f | %.1f%% |", n, s.Rate, s.CPU, s.Allocs, s.PeakRSS/(1<<20),
				100*RateRatio(rs, prefix+n, prefix+ceiling))
			if len(rivals) > 0 {
				fmt.Fprintf(w, " %.2fx | %s |", RateRatio(rs, prefix+"xmppkit", prefix+n), ratio(x.Allocs, s.Allocs))
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w)
	}
	rows("echo/", Libs, "raw", []string{"mellium", "gosrc"})
	if _, ok := find(ss, "echo1/xmppkit"); ok {
		rows("echo1/", Libs, "raw", []string{"mellium", "gosrc"})
	}
	rows("router/", Relays, "relay", nil)
	if idle != nil {
		fmt.Fprintf(w, "Idle: %d XEP-0114 connections on the router: %.1f KiB RSS per connection (heap+stacks %.1f KiB, %.1f goroutines per connection)\n\n",
			idle.Conns, idle.PerConnKiB(), float64(idle.HeapDelta)/1024/float64(idle.Conns), idle.Goroutines)
	}
	fmt.Fprintln(w, "Targets (issue 13; echo = 64 sender JIDs, echo1 = one):")
	check := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	for _, p := range []string{"echo/", "echo1/"} {
		x, okx := find(ss, p+"xmppkit")
		_, okr := find(ss, p+"raw")
		if !okx {
			continue
		}
		name := p[:len(p)-1]
		worst := math.Inf(1) // xmppkit's lead over the faster rival
		for _, r := range []string{p + "mellium", p + "gosrc"} {
			if q := RateRatio(rs, p+"xmppkit", r); q < worst {
				worst = q
			}
		}
		if !math.IsInf(worst, 1) && !math.IsNaN(worst) {
			fmt.Fprintf(w, "- %s: xmppkit ÷ faster rival = %.2fx (target ≥ 10x): %s\n", name, worst, check(worst >= 10))
		}
		if okr {
			q := RateRatio(rs, p+"xmppkit", p+"raw")
			fmt.Fprintf(w, "- %s: xmppkit ÷ raw = %.1f%% (target ≥ 30%%): %s\n", name, 100*q, check(q >= 0.3))
		}
		fmt.Fprintf(w, "- %s: allocs per echoed stanza = %.2f (target ≤ 2): %s\n", name, x.Allocs, check(x.Allocs <= 2))
	}
	rt, okt := find(ss, "router/router-tcp")
	_, okl := find(ss, "router/relay")
	_, oki := find(ss, "router/router-inproc")
	if okt && okl {
		q := RateRatio(rs, "router/router-tcp", "router/relay")
		fmt.Fprintf(w, "- router: loopback ÷ raw relay = %.1f%% (target ≥ 50%%): %s\n", 100*q, check(q >= 0.5))
	}
	if okt && oki {
		q := RateRatio(rs, "router/router-inproc", "router/router-tcp")
		fmt.Fprintf(w, "- router: in-process ÷ loopback = %.2fx (target > 1x): %s\n", q, check(q > 1))
	}
	if okt {
		fmt.Fprintf(w, "- router: allocs per forwarded stanza (loopback) = %.2f (target ≤ 1): %s\n", rt.Allocs, check(rt.Allocs <= 1))
	}
	if idle != nil {
		kib := math.Max(idle.PerConnKiB(), float64(idle.HeapDelta)/1024/float64(idle.Conns))
		fmt.Fprintf(w, "- router: idle connection = %.1f KiB, the larger of RSS and heap+stacks (target ≤ 32 KiB): %s\n", kib, check(kib <= 32))
	}
}

func ratio(a, b float64) string {
	if b < 0.01 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

// WriteSVG draws the medians as two horizontal bar charts (echo and
// router, stanzas per second, each bar labelled with its rate and
// allocations per stanza), with nothing but the standard library.
func WriteSVG(w io.Writer, ss []Summary, title string) error {
	type bar struct {
		label string
		s     Summary
	}
	var groups [][]bar
	var names []string
	for _, g := range []struct {
		name, prefix string
		list         []string
	}{{"Echo component (XEP-0114, loopback)", "echo/", Libs}, {"Router: component A → B", "router/", Relays}} {
		var bs []bar
		for _, n := range g.list {
			if s, ok := find(ss, g.prefix+n); ok {
				bs = append(bs, bar{n, s})
			}
		}
		if len(bs) > 0 {
			groups = append(groups, bs)
			names = append(names, g.name)
		}
	}
	const (
		width  = 900
		left   = 130
		right  = 230
		barH   = 26
		gap    = 10
		header = 34
	)
	h := 50
	for _, g := range groups {
		h += header + len(g)*(barH+gap) + 20
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="14">`+"\n", width, h, width, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="28" font-size="18" font-weight="bold">%s</text>`+"\n", 10, xmlEscape(title))
	colors := map[string]string{"raw": "#9e9e9e", "relay": "#9e9e9e", "xmppkit": "#1565c0", "router-tcp": "#1565c0", "router-inproc": "#42a5f5", "mellium": "#ef6c00", "gosrc": "#2e7d32"}
	y := 50
	for gi, g := range groups {
		fmt.Fprintf(&b, `<text x="10" y="%d" font-weight="bold">%s (stanzas/s, median)</text>`+"\n", y+20, xmlEscape(names[gi]))
		y += header
		maxRate := 0.0
		for _, br := range g {
			maxRate = math.Max(maxRate, br.s.Rate)
		}
		for _, br := range g {
			wbar := float64(width-left-right) * br.s.Rate / maxRate
			if wbar < 1 {
				wbar = 1
			}
			col := colors[br.label]
			if col == "" {
				col = "#607d8b"
			}
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-8, y+barH/2+5, xmlEscape(br.label))
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", left, y, wbar, barH, col)
			fmt.Fprintf(&b, `<text x="%.1f" y="%d">%s/s · %.1f allocs</text>`+"\n", float64(left)+wbar+6, y+barH/2+5, human(br.s.Rate), br.s.Allocs)
			y += barH + gap
		}
		y += 20
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func human(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
