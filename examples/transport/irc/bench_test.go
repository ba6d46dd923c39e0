package irc

import (
	"strings"
	"testing"
)

func BenchmarkParse(b *testing.B) {
	line := ":alice!~alice@127.0.0.1 PRIVMSG #test :hello channel, how is everyone today?\r\n"
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if _, err := Parse(line); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSplit(b *testing.B) {
	text := strings.Repeat("é€ word ", 250) // 2250 bytes
	b.ReportAllocs()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		Split(text, 450)
	}
}

func BenchmarkText(b *testing.B) {
	for _, bc := range []struct{ name, s string }{
		{"ascii", "hello channel, how is everyone today?"},
		{"formatted", "\x02bold\x02 \x0304,12colour\x03 caf\xe9 and more text here"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.s)))
			for b.Loop() {
				Text(bc.s)
			}
		})
	}
}
