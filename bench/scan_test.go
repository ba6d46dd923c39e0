package bench

// Side-by-side: xmppkit's internal/xmlscan against encoding/xml's
// Decoder.Token on the same recorded-style component stream.
//
//	go test -run '^$' -bench 'Scan' -benchmem

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"testing"

	"xmppkit.dev/internal/xmlscan"
)

func scanStream(tb testing.TB) []byte {
	data, err := os.ReadFile("../internal/xmlscan/testdata/stream.xml")
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// countXmlscan returns the number of top-level elements xmlscan yields.
func countXmlscan(s *xmlscan.Scanner) (int, error) {
	n := 0
	for {
		tok, err := s.Next()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if tok.Kind == xmlscan.KindElement {
			n++
		}
	}
}

// countEncodingXML returns the number of elements at depth 1 of the stream.
func countEncodingXML(d *xml.Decoder) (int, error) {
	n, depth := 0, 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 2 {
				n++
			}
		case xml.EndElement:
			depth--
		}
	}
}

func TestScanSameElements(t *testing.T) {
	data := scanStream(t)
	a, err := countXmlscan(xmlscan.New(bytes.NewReader(data), xmlscan.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	b, err := countEncodingXML(xml.NewDecoder(bytes.NewReader(data)))
	if err != nil {
		t.Fatal(err)
	}
	if a != b || a == 0 {
		t.Fatalf("xmlscan saw %d elements, encoding/xml %d", a, b)
	}
}

func BenchmarkScanXmlscan(b *testing.B) {
	data := scanStream(b)
	r := bytes.NewReader(data)
	s := xmlscan.New(r, xmlscan.Options{})
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		r.Reset(data)
		s.Reset(r)
		c, err := countXmlscan(s)
		if err != nil {
			b.Fatal(err)
		}
		n += c
	}
	b.ReportMetric(float64(n)/float64(b.N), "stanzas/op")
}

func BenchmarkScanEncodingXML(b *testing.B) {
	data := scanStream(b)
	r := bytes.NewReader(data)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		r.Reset(data)
		d := xml.NewDecoder(r)
		c, err := countEncodingXML(d)
		if err != nil {
			b.Fatal(err)
		}
		n += c
	}
	b.ReportMetric(float64(n)/float64(b.N), "stanzas/op")
}
