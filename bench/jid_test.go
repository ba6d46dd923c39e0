package bench

// Side-by-side JID parsing: xmppkit.dev/jid against mellium.im/xmpp/jid and
// gosrc.io/xmpp/stanza. Run with
//
//	go test -run '^$' -bench JID -benchmem -count 5

import (
	"testing"

	gosrc "gosrc.io/xmpp/stanza"
	mellium "mellium.im/xmpp/jid"
	"xmppkit.dev/jid"
)

var jidInputs = []struct{ name, in string }{
	{"ascii-full", "juliet@capulet.example.com/balcony-7f3a"},
	{"ascii-bare", "juliet@capulet.example.com"},
	{"domain", "pubsub.capulet.example.com"},
	{"non-ascii", "jülïet@bücher.example/Ωmega"},
}

// TestJIDAgreement checks that the three parsers accept the benchmark inputs
// and that xmppkit and mellium (both RFC 7622 with PRECIS) agree on the
// canonical form, so the benchmark compares equal work.
func TestJIDAgreement(t *testing.T) {
	for _, c := range jidInputs {
		x, err := jid.Parse(c.in)
		if err != nil {
			t.Fatalf("xmppkit %q: %v", c.in, err)
		}
		m, err := mellium.Parse(c.in)
		if err != nil {
			t.Fatalf("mellium %q: %v", c.in, err)
		}
		if x.String() != m.String() || x.Local() != m.Localpart() || x.Domain() != m.Domainpart() || x.Resource() != m.Resourcepart() {
			t.Errorf("%q: xmppkit %q, mellium %q", c.in, x, m)
		}
		g, err := gosrc.NewJid(c.in)
		if err != nil {
			t.Fatalf("gosrc %q: %v", c.in, err)
		}
		if g.Domain != x.Domain() {
			t.Errorf("%q: gosrc domain %q, xmppkit %q", c.in, g.Domain, x.Domain())
		}
	}
}

func BenchmarkJID(b *testing.B) {
	for _, c := range jidInputs {
		b.Run(c.name+"/xmppkit", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := jid.Parse(c.in); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/mellium", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := mellium.Parse(c.in); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/gosrc", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := gosrc.NewJid(c.in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
