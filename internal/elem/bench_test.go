package elem

import "testing"

// BenchmarkParse reads a command request's element.
func BenchmarkParse(b *testing.B) {
	raw := "<command xmlns='http://jabber.org/protocol/commands' node='uptime' sessionid='ABCDEFGHIJKLMNOPQRSTUVWXYZ' status='completed'><note type='info'>up 3 days</note></command>"
	b.ReportAllocs()
	for b.Loop() {
		n, err := Parse(raw, "jabber:client")
		if err != nil || len(n.Kids) != 1 {
			b.Fatal(err)
		}
	}
}
