package xmlscan

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
)

// streamData is a recorded-style component stream (testdata/stream.xml):
// chat messages with body and receipts/chat-state/stanza-id extensions,
// presences with caps and vcard-update, pubsub publish IQs and disco IQs.
func streamData(tb testing.TB) []byte {
	data, err := os.ReadFile("testdata/stream.xml")
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func BenchmarkScan(b *testing.B) {
	data := streamData(b)
	r := bytes.NewReader(data)
	s := New(r, Options{})
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	elems := 0
	for b.Loop() {
		r.Reset(data)
		s.Reset(r)
		for {
			tok, err := s.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if tok.Kind == KindElement {
				elems++
			}
		}
	}
	b.ReportMetric(float64(elems)/float64(b.N), "stanzas/op")
}

// BenchmarkFragment decodes one stanza with a fresh scanner, as a stanza
// decoder does for a standalone element.
func BenchmarkFragment(b *testing.B) {
	const stanza = `<message to='pubsub.localhost' id='m1' type='chat'><body>hello</body><request xmlns='urn:xmpp:receipts'/></message>`
	b.SetBytes(int64(len(stanza)))
	b.ReportAllocs()
	for b.Loop() {
		s := New(bytes.NewReader([]byte(stanza)), Options{Fragment: true, DefaultNS: "jabber:client"})
		if tok, err := s.Next(); err != nil || tok.Kind != KindElement {
			b.Fatal(tok, err)
		}
	}
}

// BenchmarkScanChat scans a stream of short chat messages, the traffic a
// router forwards: one op is one message.
func BenchmarkScanChat(b *testing.B) {
	const msg = "<message from='bot@a.localhost/x' to='user@b.localhost' type='chat' id='0123456789'><body>hello, this is a benchmark message</body></message>"
	const n = 1000
	data := []byte(hdrClient + strings.Repeat(msg, n))
	r := bytes.NewReader(data)
	s := New(r, Options{})
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%n == 0 {
			r.Reset(data)
			s.Reset(r)
			if _, err := s.Next(); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := s.Next(); err != nil {
			b.Fatal(err)
		}
	}
}
