package console

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

func TestIndent(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`<message to='a@b' type='chat'><body>hi</body></message>`,
			"<message to='a@b' type='chat'>\n  <body>hi</body>\n</message>"},
		{`<presence/>`, `<presence/>`},
		{`<iq type="get" id="1"><query xmlns="jabber:iq:roster"/></iq>`,
			"<iq type='get' id='1'>\n  <query xmlns='jabber:iq:roster'/>\n</iq>"},
		{"<m>\n  <a>  x  </a>\n  <b><c/></b>\n</m>",
			"<m>\n  <a>  x  </a>\n  <b>\n    <c/>\n  </b>\n</m>"},
		{`<m a='&lt;&apos;&quot;&amp;'><body>&lt;script&gt; &amp;amp; "q"</body></m>`,
			"<m a='&lt;&apos;\"&amp;'>\n  <body>&lt;script&gt; &amp;amp; \"q\"</body>\n</m>"},
		{`<stream:error xmlns:stream='http://etherx.jabber.org/streams'><x:y xmlns:x='urn:x'/></stream:error>`,
			"<stream:error xmlns:stream='http://etherx.jabber.org/streams'>\n  <x:y xmlns:x='urn:x'/>\n</stream:error>"},
		{`<body xmlns='http://www.w3.org/1999/xhtml'>a <b>bold</b> c</body>`,
			"<body xmlns='http://www.w3.org/1999/xhtml'>\n  a \n  <b>bold</b>\n   c\n</body>"},
		{"<a t='line&#10;break'>\r</a>", "<a t='line&#xA;break'>\n</a>"}, // XML normalizes line ends
	} {
		got, err := Indent([]byte(tc.in))
		if err != nil || got != tc.want {
			t.Errorf("Indent(%q)\n got %q, %v\nwant %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "text", "<a>", "<a></b>", "<a/><b/>", "<a x='1' x='2'/>"} {
		if got, err := Indent([]byte(bad)); err == nil && bad != "<a x='1' x='2'/>" {
			t.Errorf("Indent(%q) = %q, want an error", bad, got)
		}
	}
}

// tokens returns the tokens of raw that Indent keeps, with whitespace-only
// text between elements dropped.
func tokens(raw []byte) ([]string, error) {
	d := xml.NewDecoder(bytes.NewReader(raw))
	var out []string
	for {
		tok, err := d.RawToken()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			s := "<" + tok.Name.Space + ":" + tok.Name.Local
			for _, a := range tok.Attr {
				s += " " + a.Name.Space + ":" + a.Name.Local + "=" + a.Value
			}
			out = append(out, s)
		case xml.EndElement:
			out = append(out, "</"+tok.Name.Space+":"+tok.Name.Local)
		case xml.CharData:
			// Indent re-indents text mixed with elements.
			if s := strings.TrimSpace(string(tok)); s != "" {
				out = append(out, "text "+s)
			}
		}
	}
}

// FuzzIndent: Indent never panics, and what it prints parses to the same
// elements, attributes and text as its input.
func FuzzIndent(f *testing.F) {
	for _, s := range []string{
		`<message to='a@b' type='chat'><body>hi &amp; bye</body></message>`,
		`<iq type="get" id="1"><query xmlns="jabber:iq:roster"/></iq>`,
		`<a xmlns:p='urn:p'><p:b p:c='&apos;'>x<d/>y</p:b></a>`,
		"<a t='\t\n'>\r\n</a>",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, err := Indent(raw)
		if err != nil {
			return
		}
		want, err := tokens(raw)
		if err != nil {
			t.Fatalf("Indent accepted %q, which the decoder refuses: %v", raw, err)
		}
		got, err := tokens([]byte(out))
		if err != nil {
			t.Fatalf("Indent(%q) = %q, not XML: %v", raw, out, err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("Indent(%q) = %q\nparses as %q\nwant %q", raw, out, got, want)
		}
	})
}
