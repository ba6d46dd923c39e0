// Command xmppbench runs the side-by-side performance harness: an echo
// component written with xmppkit, mellium.im/xmpp and gosrc.io/xmpp (and a
// parser-less raw ceiling) against a fake XEP-0114 server, flooded from 64
// sender JIDs (echo/...) and from one (echo1/...), component-to-
// component forwarding through xmppkit's router (loopback and in-process)
// against a plain TCP relay, and the memory of idle connections on the
// router. Each measured component or router runs in a child process (this
// binary re-executed) so that its allocations and peak RSS are its own.
// Scenarios are interleaved over several rounds and the medians are
// printed as a Markdown table and drawn in an SVG bar chart.
//
//	go run ./cmd/xmppbench -rounds 5 -svg chart.svg
//
// With -cpuprofile DIR every child writes a CPU profile of its run:
//
//	go run ./cmd/xmppbench -rounds 1 -idle 0 -cpuprofile /tmp/prof
//	go tool pprof -top /tmp/prof/echo-xmppkit-2.prof
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"runtime"
	"strings"
	"time"

	"xmppkit.dev/bench/harness"
)

func main() {
	if len(os.Args) == 4 && os.Args[1] == harness.ChildFlag {
		if err := harness.RunChild(os.Args[2], os.Args[3], os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	rounds := flag.Int("rounds", 5, "rounds; each runs every scenario once, interleaved")
	n := flag.Int("n", 200000, "stanzas per echo run of xmppkit and raw")
	nRival := flag.Int("n-rival", 50000, "stanzas per echo run of the rival libraries (slower)")
	nRouter := flag.Int("n-router", 400000, "stanzas per router run")
	idle := flag.Int("idle", 10000, "idle component connections to measure (0: skip)")
	only := flag.String("only", "", "comma-separated scenarios to run (e.g. echo/xmppkit,router/router-tcp); empty: all")
	svg := flag.String("svg", "chart.svg", "write the chart here (empty: none)")
	timeout := flag.Duration("timeout", 2*time.Minute, "bound on one run")
	instr := flag.String("callgrind", "", "directory: also count the instructions per forwarded stanza of the router scenarios selected, with valgrind's callgrind (independent of the machine's load; slow)")
	flag.StringVar(&harness.ProfileDir, "cpuprofile", "", "directory where each measured child process writes a CPU profile (go tool pprof -top FILE)")
	flag.Parse()
	if harness.ProfileDir != "" {
		if err := os.MkdirAll(harness.ProfileDir, 0o755); err != nil {
			log.Fatal(err)
		}
	}
	log.SetFlags(0)

	want := func(sc string) bool {
		if *only == "" {
			return true
		}
		for _, o := range strings.Split(*only, ",") {
			if o == sc {
				return true
			}
		}
		return false
	}
	var results []harness.Result
	t0 := time.Now()
	for r := 1; r <= *rounds; r++ {
		for _, senders := range []int{64, 1} {
			for _, lib := range harness.Libs {
				if !want(harness.EchoScenario(lib, senders)) {
					continue
				}
				cnt := *n
				if lib == "mellium" || lib == "gosrc" {
					cnt = *nRival
				}
				res, err := harness.MeasureEcho(lib, cnt, senders, *timeout)
				if err != nil {
					log.Fatal(err)
				}
				res.Round = r
				log.Printf("round %d %-22s %9.0f stanzas/s %6.2f µs CPU/stanza %6.2f allocs/stanza %6.1f MiB", r, res.Scenario, res.Rate(), float64(res.CPUPer().Nanoseconds())/1e3, res.AllocsPer(), float64(res.PeakRSS)/(1<<20))
				results = append(results, res)
			}
		}
		for _, kind := range harness.Relays {
			if !want("router/" + kind) {
				continue
			}
			res, err := harness.MeasureForward(kind, *nRouter, *timeout)
			if err != nil {
				log.Fatal(err)
			}
			res.Round = r
			log.Printf("round %d %-22s %9.0f stanzas/s %6.2f µs CPU/stanza %6.2f allocs/stanza %6.1f MiB", r, res.Scenario, res.Rate(), float64(res.CPUPer().Nanoseconds())/1e3, res.AllocsPer(), float64(res.PeakRSS)/(1<<20))
			results = append(results, res)
		}
	}
	var counts []harness.Instructions
	if *instr != "" {
		if err := os.MkdirAll(*instr, 0o755); err != nil {
			log.Fatal(err)
		}
		for _, kind := range harness.Relays {
			if !want("router/" + kind) {
				continue
			}
			ic, err := harness.MeasureInstructions(kind, *nRouter/4, *instr, 4**timeout)
			if err != nil {
				log.Fatal(err)
			}
			log.Printf("callgrind %-22s %9.0f instructions/stanza", ic.Scenario, ic.PerStanza)
			counts = append(counts, ic)
		}
	}
	var idleRes *harness.IdleResult
	if *idle > 0 && want("idle") {
		ir, err := harness.MeasureIdle(*idle)
		if err != nil {
			log.Fatal(err)
		}
		idleRes = &ir
	}
	ss := harness.Summarize(results)
	fmt.Printf("\nxmppbench: %d rounds, medians; echo n=%d (rivals %d), router n=%d; %s/%s, %d CPUs, %s; took %v\n\n",
		*rounds, *n, *nRival, *nRouter, runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), time.Since(t0).Round(time.Second))
	harness.WriteTable(os.Stdout, results, idleRes)
	if len(counts) > 0 {
		fmt.Printf("\n| router (callgrind, user space) | instructions/stanza | stanzas counted |\n|---|--:|--:|\n")
		for _, ic := range counts {
			fmt.Printf("| %s | %.0f | %d - %d |\n", strings.TrimPrefix(ic.Scenario, "router/"), ic.PerStanza, ic.N, ic.Small)
		}
	}
	if *svg != "" && len(ss) > 0 {
		f, err := os.Create(*svg)
		if err != nil {
			log.Fatal(err)
		}
		title := fmt.Sprintf("xmppkit side-by-side, medians of %d rounds (%d CPUs, %s)", *rounds, runtime.NumCPU(), runtime.Version())
		if err := harness.WriteSVG(f, ss, title); err != nil {
			log.Fatal(err)
		}
		if err := f.Close(); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("\nchart: %s\n", *svg)
	}
}
