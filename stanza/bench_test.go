package stanza

import (
	"bytes"
	"testing"

	"xmppkit.dev/internal/xmlscan"
	"xmppkit.dev/jid"
)

var benchRaw = []byte(`<iq type='get' id='c2s1-4711' from='juliet@capulet.example/balcony' to='pubsub.shakespeare.example'><query xmlns='http://jabber.org/protocol/disco#info' node='princely_musings'/></iq>`)

// BenchmarkDecodeReply decodes a stanza, builds the result and encodes it
// into a reused buffer: the component's hot path. Budget: 3 allocs.
func BenchmarkDecodeReply(b *testing.B) {
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchRaw)))
	for b.Loop() {
		s, err := Decode(benchRaw)
		if err != nil {
			b.Fatal(err)
		}
		buf = s.Reply().AppendXML(buf[:0])
	}
}

func BenchmarkAppendXML(b *testing.B) {
	s, err := Decode(benchRaw)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = s.AppendXML(buf[:0])
	}
}

func BenchmarkNewMessage(b *testing.B) {
	to := jid.MustParse("juliet@capulet.example/balcony")
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = NewMessage(TypeChat, to, "Wherefore art thou?").AppendXML(buf[:0])
	}
}

func BenchmarkNewID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = NewID()
	}
}

func BenchmarkUUIDNewString(b *testing.B) {
	// The alternative NewID avoids: a crypto/rand read per id.
	b.ReportAllocs()
	for b.Loop() {
		_ = uuidString()
	}
}

// BenchmarkStreamDecodeReply is the stream path: the element is scanned by a
// reused scanner (as stream.Reader does), decoded from the token, answered
// and encoded into a reused buffer. Budget: 3 allocs per stanza.
func BenchmarkStreamDecodeReply(b *testing.B) {
	var br bytes.Reader
	sc := xmlscan.New(&br, xmlscan.Options{Fragment: true, DefaultNS: NSComponent})
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchRaw)))
	for b.Loop() {
		br.Reset(benchRaw)
		sc.Reset(&br)
		tok, err := sc.Next()
		if err != nil {
			b.Fatal(err)
		}
		s, err := fromToken(tok)
		if err != nil {
			b.Fatal(err)
		}
		buf = s.Reply().AppendXML(buf[:0])
	}
}

func BenchmarkParseElement(b *testing.B) {
	raw := `<query xmlns='http://jabber.org/protocol/disco#info' node='n'><identity category='component' type='generic'/><feature var='urn:xmpp:mam:2'/></query>`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseElement(raw); err != nil {
			b.Fatal(err)
		}
	}
}
