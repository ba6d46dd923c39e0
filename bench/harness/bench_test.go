package harness

import (
	"context"
	"testing"
	"time"
)

// BenchmarkEcho floods b.N chat messages at an echo component (server and
// component in this process) and waits for every echo. allocs/op counts
// the component's allocations plus the fake server's, which allocates
// nothing per stanza; setup (connection, handshake) is excluded.
//
//	go test -run '^$' -bench Echo -benchmem
func BenchmarkEcho(b *testing.B) {
	for _, lib := range Libs {
		b.Run(lib, func(b *testing.B) {
			srv, err := Listen()
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			stop, err := StartEcho(lib, srv.Addr())
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			peer, err := srv.Accept(ctx)
			cancel()
			if err != nil {
				stop()
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			d, err := peer.Flood(b.N, 5*time.Minute)
			b.StopTimer()
			peer.Close()
			if serr := stop(); err == nil {
				err = serr
			}
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/d.Seconds(), "stanzas/s")
		})
	}
}

// BenchmarkRouter sends b.N messages from component A to component B
// through a plain TCP relay (the ceiling), xmppkit's router over loopback
// XEP-0114 (raw components on both ends), and the router with both
// attached in-process. Everything runs in this process: allocs/op includes
// the raw components, which allocate nothing per stanza.
//
//	go test -run '^$' -bench Router -benchmem
func BenchmarkRouter(b *testing.B) {
	for _, kind := range Relays {
		b.Run(kind, func(b *testing.B) {
			b.ReportAllocs()
			var d time.Duration
			var err error
			if kind == "router-inproc" {
				d, err = Inproc(b.N, 5*time.Minute)
			} else {
				var rl Relay
				rl, err = StartRelay(kind)
				if err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				d, err = Forward(rl.Addr(), b.N, 5*time.Minute)
				b.StopTimer()
				rl.Close()
			}
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/d.Seconds(), "stanzas/s")
		})
	}
}
