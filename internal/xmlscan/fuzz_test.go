package xmlscan

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

func addSeeds(f *testing.F, add func(string)) {
	for _, tc := range validStreams {
		add(tc.in)
	}
	for _, s := range []string{
		"<message to='a@b' type='chat'><body>hi &amp; &#x41;</body><x xmlns='urn:x' y='1'/></message>",
		"<iq xmlns:p='urn:p' p:a='1'><p:q><![CDATA[x]]></p:q></iq>",
		"<a><!-- c --></a>", "<a>&foo;</a>", "<a b='1' b='2'/>", "<p:a/>", "<a>]]></a>",
		"<?xml version='1.0'?><a/>", "<a\u00e9/>", "<a>\xff</a>", "<a xmlns:p=''/>",
	} {
		add(s)
	}
}

// FuzzScan feeds arbitrary bytes in stream and fragment mode, whole and one
// byte at a time: the scanner must not panic, must keep its buffer within
// the limit, must hand out consistent tokens, and must give the same tokens
// however the input is split.
func FuzzScan(f *testing.F) {
	addSeeds(f, func(s string) { f.Add([]byte(s), uint8(0)); f.Add([]byte(s), uint8(3)) })
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		opts := Options{Fragment: mode&1 != 0, DefaultNS: "jabber:client"}
		if mode&2 != 0 {
			opts.Limits = Limits{MaxElement: 64, MaxDepth: 4, MaxAttrs: 3, MaxHeader: 96}
		}
		whole, errWhole := checkScan(t, bytes.NewReader(data), opts)
		split, errSplit := checkScan(t, iotest.OneByteReader(bytes.NewReader(data)), opts)
		if (errWhole == nil) != (errSplit == nil) {
			t.Fatalf("whole: %v, one byte: %v", errWhole, errSplit)
		}
		var e1, e2 *Error
		if errors.As(errWhole, &e1) && errors.As(errSplit, &e2) && e1.Condition != CondPolicyViolation &&
			e2.Condition != CondPolicyViolation && (e1.Condition != e2.Condition || e1.Offset != e2.Offset) {
			t.Fatalf("whole: %v, one byte: %v", errWhole, errSplit)
		}
		if errWhole == nil && strings.Join(whole, "\n") != strings.Join(split, "\n") {
			t.Fatalf("whole:\n%s\none byte:\n%s", strings.Join(whole, "\n"), strings.Join(split, "\n"))
		}
	})
}

// checkScan scans r to the end, checking invariants of every token.
func checkScan(t *testing.T, r io.Reader, opts Options) ([]string, error) {
	s := New(r, opts)
	var out []string
	for {
		tok, err := s.Next()
		if len(s.buf) > s.maxBuf {
			t.Fatalf("buffer %d > %d", len(s.buf), s.maxBuf)
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			var xe *Error
			if !errors.As(err, &xe) && err != io.ErrUnexpectedEOF {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			return out, err
		}
		switch tok.Kind {
		case KindElement:
			raw := tok.Raw
			if len(raw) < 4 || raw[0] != '<' || raw[len(raw)-1] != '>' || len(tok.Start.Local) == 0 {
				t.Fatalf("bad element %q", raw)
			}
			if len(raw) > s.lim.MaxElement {
				t.Fatalf("element of %d bytes over the limit", len(raw))
			}
			last := 0
			for _, c := range tok.Children {
				if c.Off < last || c.End <= c.Off || c.End > len(raw) || raw[c.Off] != '<' || raw[c.End-1] != '>' ||
					!bytes.HasPrefix(raw[c.Off+1:], c.Local) && !bytes.Contains(raw[c.Off:c.End], c.Local) {
					t.Fatalf("bad child %+v in %q", c, raw)
				}
				last = c.End
			}
		case KindWhitespace:
			if len(bytes.Trim(tok.Raw, " \t\r\n")) != 0 || len(tok.Raw) == 0 {
				t.Fatalf("bad whitespace %q", tok.Raw)
			}
		}
		out = summary(out, tok)
	}
}

// Reasons for which the scanner rejects input that encoding/xml accepts:
// encoding/xml does not check Namespaces in XML well-formedness, duplicate
// attributes or "]]>" in character data.
var lenientInEncodingXML = []string{
	"undeclared namespace prefix", "more than one colon in a name", "empty local name",
	"invalid local name", "name with an empty prefix", "duplicate attribute",
	"reserved prefix or namespace misused", "reserved namespace as default namespace",
	"empty namespace name for a prefix", "element with the xmlns prefix",
	"\"]]>\" in character data", "reference too long", "missing whitespace before attribute",
}

type xmlResult struct {
	ok         bool
	err        error
	elems      [][2]int64
	restricted bool // comment, PI, directive, or character data outside elements
}

// stdScan runs encoding/xml (Strict) over data and records where the
// elements at depth base+1 begin and end.
func stdScan(data []byte, base int) xmlResult {
	var res xmlResult
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	depth := 0
	var start int64
	for {
		off := d.InputOffset()
		tok, err := d.Token()
		if err == io.EOF {
			res.ok = true
			return res
		}
		if err != nil {
			res.err = err
			return res
		}
		switch tok.(type) {
		case xml.StartElement:
			if depth == base {
				start = off
			}
			depth++
		case xml.EndElement:
			depth--
			if depth == base {
				res.elems = append(res.elems, [2]int64{start, d.InputOffset()})
			}
		case xml.CharData:
			// Raw bytes: a character reference to whitespace is not
			// whitespace outside an element.
			if depth == base && len(bytes.Trim(data[off:d.InputOffset()], " \t\r\n")) != 0 {
				res.restricted = true
			}
		case xml.Comment, xml.ProcInst, xml.Directive:
			res.restricted = true
		}
	}
}

// ourScan runs the scanner and records element boundaries.
func ourScan(data []byte, opts Options) (elems [][2]int64, err error) {
	s := New(bytes.NewReader(data), opts)
	var off int64
	for {
		tok, err := s.Next()
		if err == io.EOF {
			return elems, nil
		}
		if err != nil {
			return elems, err
		}
		if tok.Kind == KindElement {
			elems = append(elems, [2]int64{off, off + int64(len(tok.Raw))})
		}
		off += int64(len(tok.Raw))
	}
}

// FuzzDifferential checks the scanner against encoding/xml on the same
// bytes, as a fragment and wrapped in a stream: inside the restricted
// subset they must agree on well-formedness and on element boundaries.
func FuzzDifferential(f *testing.F) {
	addSeeds(f, func(s string) { f.Add([]byte(s)) })
	big := Limits{MaxElement: 1 << 20, MaxDepth: 1 << 20, MaxAttrs: 1 << 20, MaxHeader: 1 << 20}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 {
			return
		}
		ascii := true
		for _, c := range data {
			if c >= 0x80 {
				ascii = false
				break
			}
		}
		for _, stream := range []bool{false, true} {
			in, base, opts := data, 0, Options{Fragment: true, Limits: big, DefaultNS: "jabber:client"}
			if stream {
				if bytes.Contains(data, []byte("</stream:stream")) {
					continue // the scanner stops reading at the close tag
				}
				in = []byte(hdrClient + string(data) + "</stream:stream>")
				base, opts = 1, Options{Limits: big}
			}
			elems, err := ourScan(in, opts)
			std := stdScan(in, base)
			if err == nil && !utf8.Valid(in) {
				t.Fatalf("stream=%v: accepted invalid UTF-8", stream)
			}
			if std.restricted {
				if err == nil {
					t.Fatalf("stream=%v: accepted input outside the restricted subset: %q", stream, in)
				}
				continue
			}
			if !ascii {
				continue // encoding/xml uses XML 1.0 fourth-edition name rules
			}
			switch {
			case err == nil && !std.ok:
				t.Fatalf("stream=%v: scanner accepted, encoding/xml: %v\n%q", stream, std.err, in)
			case err != nil && std.ok:
				var xe *Error
				// A second stream header is an XMPP rule, not an XML one.
				if errors.As(err, &xe) && (xe.Condition == CondRestrictedXML || lenient(xe.Reason) ||
					stream && xe.Reason == reasonSecondHeader) {
					continue
				}
				t.Fatalf("stream=%v: scanner: %v, encoding/xml accepted\n%q", stream, err, in)
			case err == nil:
				if len(elems) != len(std.elems) {
					t.Fatalf("stream=%v: %d elements, encoding/xml %d\n%q", stream, len(elems), len(std.elems), in)
				}
				for i := range elems {
					if elems[i] != std.elems[i] {
						t.Fatalf("stream=%v: element %d at %v, encoding/xml %v\n%q", stream, i, elems[i], std.elems[i], in)
					}
				}
			}
		}
	})
}

func lenient(reason string) bool {
	for _, r := range lenientInEncodingXML {
		if r == reason {
			return true
		}
	}
	return false
}
