package stanza_test

import (
	"encoding/xml"
	"strings"
	"testing"

	"xmppkit.dev/stanza"
)

func TestBuilder(t *testing.T) {
	tests := []struct {
		name string
		el   func() stanza.Element
		want string
	}{
		{"empty", func() stanza.Element { return stanza.NewBuilder("urn:x", "ping").Element() }, `<ping xmlns='urn:x'/>`},
		{"content ns", func() stanza.Element { return stanza.TextElement("", "body", "1 < 2 & 3") }, `<body>1 &lt; 2 &amp; 3</body>`},
		{"injection", func() stanza.Element {
			return stanza.TextElement("", "body", "<b xmlns='urn:evil'>x</b>")
		}, `<body>&lt;b xmlns='urn:evil'&gt;x&lt;/b&gt;</body>`},
		{"attrs escaped", func() stanza.Element {
			return stanza.NewBuilder("urn:x", "item").Attr("id", `a'b"c<&`).OptAttr("node", "").Element()
		}, `<item xmlns='urn:x' id='a&apos;b&quot;c&lt;&amp;'/>`},
		{"nested", func() stanza.Element {
			return stanza.NewBuilder("jabber:iq:version", "query").
				TextElement("name", "echo").OptTextElement("os", "").TextElement("version", "").
				Child("urn:other", "x").Attr("a", "1").Child("", "y").End().End().
				Element()
		}, `<query xmlns='jabber:iq:version'><name>echo</name><version/><x xmlns='urn:other' a='1'><y/></x></query>`},
		{"append", func() stanza.Element {
			inner := stanza.TextElement("urn:p", "entry", "hi")
			return stanza.NewBuilder("urn:x", "item").Attr("id", "1").Append(inner).Element()
		}, `<item xmlns='urn:x' id='1'><entry xmlns='urn:p'>hi</entry></item>`},
		{"xml:lang", func() stanza.Element {
			return stanza.NewBuilder("", "body").Attr("xml:lang", "de").Text("Hallo").Element()
		}, `<body xml:lang='de'>Hallo</body>`},
		{"sized, too small", func() stanza.Element {
			return stanza.NewBuilderSize("urn:x", "item", 0).Attr("id", "1").TextElement("entry", strings.Repeat("x", 300)).Element()
		}, `<item xmlns='urn:x' id='1'><entry>` + strings.Repeat("x", 300) + `</entry></item>`},
		{"bad chars", func() stanza.Element { return stanza.TextElement("", "body", "a\x00b\rc") }, "<body>a\uFFFDb&#xD;c</body>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			el := tc.el()
			if got := el.XML(); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
			if _, err := stanza.ParseElement(el.XML()); err != nil {
				t.Fatalf("output does not parse: %v", err)
			}
		})
	}
}

// TestBuilderSizeOneAllocation: a Builder sized for its element writes it
// without growing its buffer (the Builder and the buffer, nothing more).
func TestBuilderSizeOneAllocation(t *testing.T) {
	inner := stanza.TextElement("urn:p", "entry", strings.Repeat("y", 400))
	n := testing.AllocsPerRun(100, func() {
		stanza.NewBuilderSize("urn:x", "result", len(inner.XML())+64).Attr("id", "abc").Append(inner).Element()
	})
	if n > 2 {
		t.Fatalf("%v allocations, want at most 2", n)
	}
}

func TestBuilderTextRoundTrip(t *testing.T) {
	for _, s := range []string{"", "plain", "1 < 2", "]]>", "a&amp;b", "tab\tnl\n", "ünï", "\"'"} {
		el := stanza.TextElement("", "body", s)
		got, err := el.Text()
		if err != nil || got != s {
			t.Errorf("Text(%q) = %q, %v", s, got, err)
		}
		var v struct {
			A string `xml:"a,attr"`
		}
		at := stanza.NewBuilder("", "x").Attr("a", s).Element()
		if err := xml.Unmarshal([]byte(at.XML()), &v); err != nil || v.A != s {
			t.Errorf("attr %q round trip = %q, %v", s, v.A, err)
		}
	}
}

func TestBuilderPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"bad element name":  func() { stanza.NewBuilder("", "a b") },
		"bad attr name":     func() { stanza.NewBuilder("", "a").Attr("x='1'", "") },
		"attr after text":   func() { stanza.NewBuilder("", "a").Text("t").Attr("x", "1") },
		"end outermost":     func() { stanza.NewBuilder("", "a").End() },
		"use after Element": func() { b := stanza.NewBuilder("", "a"); b.Element(); b.Text("x") },
		"empty name":        func() { stanza.NewBuilder("", "") },
		"prefixed element":  func() { stanza.NewBuilder("", "a:b") },
		"empty prefix attr": func() { stanza.NewBuilder("", "a").Attr(":", "0") },
		"xmlns attr":        func() { stanza.NewBuilder("", "a").Attr("xmlns", "urn:x") },
		"xmlns prefix attr": func() { stanza.NewBuilder("", "a").Attr("xmlns:p", "urn:x") },
		"duplicate attr":    func() { stanza.NewBuilder("", "a").Attr("x", "1").Attr("x", "2") },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			f()
		})
	}
}

func FuzzBuilder(f *testing.F) {
	f.Add("body", "text", "a", "v")
	f.Add("x", "<y/>", "id", "'\"&")
	f.Fuzz(func(t *testing.T, local, text, attr, value string) {
		ok := func(s string) bool { return s != "" && !strings.ContainsAny(s, " <>&'\"=/\x00") }
		if !ok(local) || !ok(attr) {
			return
		}
		var el stanza.Element
		func() {
			defer func() { recover() }() // invalid names panic by contract
			el = stanza.NewBuilder("urn:f", local).Attr(attr, value).Text(text).Element()
		}()
		if el.XML() == "" {
			return
		}
		p, err := stanza.ParseElement(el.XML())
		if err != nil {
			t.Fatalf("builder output %q does not parse: %v", el.XML(), err)
		}
		if p.Local != local {
			t.Fatalf("local %q, want %q", p.Local, local)
		}
	})
}
