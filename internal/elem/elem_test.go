package elem

import (
	"encoding/xml"
	"errors"
	"strings"
	"testing"

	"xmppkit.dev/internal/xmlscan"
)

func TestParse(t *testing.T) {
	raw := ` <command xmlns='http://jabber.org/protocol/commands' node='a&amp;b' xml:lang='en' xmlns:x='urn:x'>` +
		`<note type="warn">one &lt;two&gt;<b xmlns='urn:b'/> three</note><x:data v='1'/><plain/></command> `
	n, err := Parse(raw, "jabber:client")
	if err != nil {
		t.Fatal(err)
	}
	if n.Space != "http://jabber.org/protocol/commands" || n.Local != "command" || n.Raw != strings.TrimSpace(raw) {
		t.Fatalf("node %q %q", n.Space, n.Local)
	}
	if v, ok, err := n.Attr("node"); v != "a&b" || !ok || err != nil {
		t.Fatalf("node attr %q %v %v", v, ok, err)
	}
	if v, ok, _ := n.AttrNS(NSXML, "lang"); v != "en" || !ok {
		t.Fatalf("xml:lang %q", v)
	}
	if _, ok, _ := n.Attr("xmlns"); ok {
		t.Fatal("a namespace declaration reads as an attribute")
	}
	if len(n.Kids) != 3 || n.Kids[1].Space != "urn:x" || n.Kids[1].Local != "data" || n.Kids[2].Space != n.Space {
		t.Fatalf("kids %+v", n.Kids)
	}
	note, err := n.Child(n.Kids[0])
	if err != nil {
		t.Fatal(err)
	}
	if text, err := note.Text(); text != "one <two> three" || err != nil {
		t.Fatalf("text %q %v", text, err)
	}
	// The prefixed child stands alone with the parent's declaration.
	x, err := n.Child(n.Kids[1])
	if err != nil || x.Space != "urn:x" {
		t.Fatalf("prefixed child %+v %v", x, err)
	}
	if s := n.Standalone(n.Kids[1]); s != "<x:data xmlns:x='urn:x' v='1'/>" {
		t.Fatalf("standalone %s", s)
	}
	// The unprefixed child inherits the parent's default namespace.
	plain, err := n.Child(n.Kids[2])
	if err != nil || plain.Space != n.Space {
		t.Fatalf("plain child %+v %v", plain, err)
	}
	for _, bad := range []string{"", "<a/><b/>", "<a>", "text", "<a xmlns:p='x'><p:b></a>", "<!-- c --><a/>"} {
		if _, err := Parse(bad, ""); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	if _, err := Parse("<a/><b/>", ""); !errors.Is(err, ErrNotOne) {
		var se *xmlscan.Error
		if !errors.As(err, &se) {
			t.Errorf("two elements: %v", err)
		}
	}
}

// FuzzParse cross-checks the element name, namespace and children against
// encoding/xml.
func FuzzParse(f *testing.F) {
	f.Add(`<query xmlns='urn:xmpp:mam:2' queryid='q'><x xmlns='jabber:x:data' type='submit'/><set xmlns='http://jabber.org/protocol/rsm'><max>10</max></set></query>`)
	f.Add(`<p:a xmlns:p='urn:p' p:b='c'><p:d>e</p:d><f/></p:a>`)
	f.Add(`<a b="&lt;&amp;">x<![CDATA[<y>]]>z</a>`)
	f.Fuzz(func(t *testing.T, raw string) {
		n, err := Parse(raw, "urn:default")
		if err != nil {
			return
		}
		d := xml.NewDecoder(strings.NewReader(n.Raw))
		tok, err := d.Token()
		if err != nil {
			return // encoding/xml is stricter or looser elsewhere; names are compared below
		}
		st, ok := tok.(xml.StartElement)
		if !ok {
			return
		}
		if st.Name.Local != n.Local {
			t.Fatalf("local %q vs %q", n.Local, st.Name.Local)
		}
		for _, k := range n.Kids {
			c, err := n.Child(k)
			if err != nil {
				t.Fatalf("child %q of a parsed element: %v", k.Raw, err)
			}
			if c.Local != k.Local || c.Space != k.Space {
				t.Fatalf("child {%s}%s parsed as {%s}%s", k.Space, k.Local, c.Space, c.Local)
			}
			if _, err := c.Text(); err != nil {
				t.Fatalf("text of %q: %v", k.Raw, err)
			}
		}
	})
}
