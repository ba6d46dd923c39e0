package jid

import "testing"

// benchJIDs are the inputs of BenchmarkParse (and of the side-by-side
// benchmark in the bench module).
var benchJIDs = []struct{ name, in string }{
	{"ascii-full", "juliet@capulet.example.com/balcony-7f3a"},
	{"ascii-bare", "juliet@capulet.example.com"},
	{"domain", "pubsub.capulet.example.com"},
	{"non-ascii", "jülïet@bücher.example/Ωmega"},
	{"needs-mapping", "Juliet@Capulet.Example.COM/balcony"},
}

func BenchmarkParse(b *testing.B) {
	for _, c := range benchJIDs {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.in)))
			for b.Loop() {
				if _, err := Parse(c.in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseBytes(b *testing.B) {
	in := []byte(benchJIDs[0].in)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseBytes(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBare(b *testing.B) {
	j := MustParse(benchJIDs[0].in)
	var sink JID
	b.ReportAllocs()
	for b.Loop() {
		sink = j.Bare()
	}
	_ = sink
}
