package servertest

import (
	"testing"
	"time"
)

// BenchmarkRestart measures one graceful stop plus one start until ready of
// each server, on the same ports and data; the start-ms and stop-ms metrics
// split the two. Run with a small -benchtime, e.g. -benchtime 3x.
func BenchmarkRestart(b *testing.B) {
	kinds := []struct {
		name  string
		start func(testing.TB) *Server
	}{
		{"prosody", func(t testing.TB) *Server { return Prosody(t, ProsodyOptions{}) }},
		{"ejabberd", func(t testing.TB) *Server { return Ejabberd(t, EjabberdOptions{}) }},
		{"ngircd", func(t testing.TB) *Server { return Ngircd(t, NgircdOptions{}) }},
	}
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			s := k.start(b)
			var start, stop time.Duration
			for b.Loop() {
				if err := s.Restart(); err != nil {
					b.Fatal(err)
				}
				st, sp := s.Timings()
				start += st
				stop += sp
			}
			b.ReportMetric(float64(start.Milliseconds())/float64(b.N), "start-ms")
			b.ReportMetric(float64(stop.Milliseconds())/float64(b.N), "stop-ms")
		})
	}
}
