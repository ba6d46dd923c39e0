package wire

import (
	"bytes"
	"strings"
	"testing"

	"xmppkit.dev/internal/xmlscan"
)

// FuzzInner checks TagEnd and Inner on arbitrary bytes: no panic, the
// string and []byte forms agree, TagEnd points at a '>', and for a
// well-formed element (as the scanner reads it) Inner returns exactly the
// content between the start tag and the end tag.
func FuzzInner(f *testing.F) {
	for _, s := range []string{`<a>x</a>`, `<a b='>'>y<c/></a>`, `<a b="'/>">z</a>`, `<a/>`, `<p:a xmlns:p='u'>t</p:a >`,
		`<a b='x'`, `<a><![CDATA[</a>]]></a>`, `<a>&lt;/a&gt;</a>`, ``, `>`, `'`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		end := TagEnd(raw)
		if end != TagEnd(string(raw)) {
			t.Fatalf("TagEnd differs between string and []byte")
		}
		if end >= 0 && raw[end] != '>' {
			t.Fatalf("TagEnd = %d, raw[%d] = %q", end, end, raw[end])
		}
		inner, ok := Inner(raw)
		sinner, sok := Inner(string(raw))
		if ok != sok || string(inner) != sinner {
			t.Fatalf("Inner differs between string and []byte")
		}
		if ok && !bytes.Contains(raw, inner) {
			t.Fatalf("Inner %q is not part of %q", inner, raw)
		}
		sc := xmlscan.New(bytes.NewReader(raw), xmlscan.Options{Fragment: true})
		tok, err := sc.Next()
		if err != nil || tok.Kind != xmlscan.KindElement || !bytes.Equal(tok.Raw, raw) {
			return
		}
		if _, err := sc.Next(); err == nil {
			return
		}
		empty := bytes.HasSuffix(raw, []byte("/>")) && end == len(raw)-1
		if empty {
			if ok {
				t.Fatalf("Inner(%q) = %q for an empty element", raw, inner)
			}
			return
		}
		if !ok {
			t.Fatalf("Inner(%q) failed on a well-formed element", raw)
		}
		if !bytes.HasPrefix(raw[end+1:], inner) {
			t.Fatalf("Inner(%q) = %q does not start after the start tag", raw, inner)
		}
		name := string(tok.Start.Local)
		if len(tok.Start.Prefix) > 0 {
			name = string(tok.Start.Prefix) + ":" + name
		}
		rest := strings.TrimRight(string(raw[end+1+len(inner):]), " \t\r\n>")
		if rest != "</"+name {
			t.Fatalf("Inner(%q) = %q leaves %q, want the end tag </%s>", raw, inner, raw[end+1+len(inner):], name)
		}
	})
}
