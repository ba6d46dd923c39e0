package router

import (
	"strings"
	"testing"

	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

func TestParseHeader(t *testing.T) {
	tests := []struct {
		raw               string
		ok                bool
		kind              stanza.Kind
		typ, id, to, from string
		prefixed, bad     bool
		xmlns             string
	}{
		{raw: "<message to='a@b/c' from=\"x@y\" type='chat' id='1'><body/></message>", ok: true, kind: stanza.Message, typ: "chat", id: "1", to: "a@b/c", from: "x@y"},
		{raw: "<iq\n to = 'B'  id=\"a'b\" type='get'/>", ok: true, kind: stanza.IQ, typ: "get", id: "a'b", to: "b"},
		{raw: "<presence/>", ok: true, kind: stanza.Presence},
		{raw: "<presence xmlns='jabber:client' to='a&amp;b@c'/>", ok: true, kind: stanza.Presence, xmlns: "jabber:client", bad: true},
		{raw: "<message to='a&#x40;b'/>", ok: true, kind: stanza.Message, to: "a@b"},
		{raw: "<c:message xmlns:c='jabber:client' to='x'/>", ok: true, kind: stanza.Message, to: "x", prefixed: true},
		{raw: "<message to='@@'/>", ok: true, kind: stanza.Message, bad: true},
		{raw: "<handshake/>"},
		{raw: "<message to='x"},
		{raw: "<"},
		{raw: ""},
	}
	for _, tt := range tests {
		var h header
		ok := parseHeader([]byte(tt.raw), &h)
		if ok != tt.ok {
			t.Errorf("%q: ok %v", tt.raw, ok)
			continue
		}
		if !ok {
			continue
		}
		if h.kind != tt.kind || h.typ != tt.typ || h.id != tt.id || h.prefixed != tt.prefixed || h.xmlns != tt.xmlns || (h.badAddr != nil) != tt.bad {
			t.Errorf("%q: got %+v", tt.raw, h)
		}
		if !tt.bad && (h.to.String() != tt.to || h.from.String() != tt.from) {
			t.Errorf("%q: to %v from %v", tt.raw, h.to, h.from)
		}
	}
}

func TestAppendWithFrom(t *testing.T) {
	from := jid.MustParse("svc@a.localhost/r")
	for _, raw := range []string{
		"<message to='x@y'><body>hi</body></message>",
		"<message from='old@a.localhost' to='x@y'><body>hi</body></message>",
		"<presence/>",
		"<iq type='get' id='1' from=\"o'k@a\" to='y'><ping xmlns='urn:xmpp:ping'/></iq>",
	} {
		var h header
		if !parseHeader([]byte(raw), &h) {
			t.Fatalf("%q: not parsed", raw)
		}
		out := appendWithFrom(nil, []byte(raw), &h, from)
		st, err := stanza.Decode(out)
		if err != nil {
			t.Fatalf("%q → %q: %v", raw, out, err)
		}
		orig, _ := stanza.Decode([]byte(raw))
		if st.From != from || st.To != orig.To || st.Payload() != orig.Payload() || st.ID != orig.ID {
			t.Errorf("%q → %q", raw, out)
		}
	}
}

// FuzzParseHeader checks parseHeader against stanza.Decode: it never panics,
// and for every stanza Decode accepts it reads the same header, and
// appendWithFrom changes only from.
func FuzzParseHeader(f *testing.F) {
	for _, s := range []string{
		"<message to='a@b/c' from='x@y' type='chat' id='1'><body>x</body></message>",
		"<iq to='b' id='2' type='get'><q xmlns='u'/></iq>",
		"<presence type='unavailable'/>",
		"<message to='a&amp;b@c'/>",
		"<message xml:lang='en' to = \"x\" ><body/></message>",
		"<c:message xmlns:c='jabber:client'/>",
	} {
		f.Add([]byte(s))
	}
	from := jid.MustParse("f@from.example/r")
	f.Fuzz(func(t *testing.T, raw []byte) {
		var h header
		ok := parseHeader(raw, &h)
		st, err := stanza.Decode(raw)
		if err != nil || st == nil {
			return
		}
		if !ok {
			t.Fatalf("%q: Decode accepts, parseHeader does not", raw)
		}
		if h.kind != st.Kind || h.typ != st.Type || h.id != st.ID {
			t.Fatalf("%q: header %v %q %q, stanza %v %q %q", raw, h.kind, h.typ, h.id, st.Kind, st.Type, st.ID)
		}
		if h.badAddr == nil && (h.to != st.To || h.from != st.From) {
			t.Fatalf("%q: to/from %v %v, stanza %v %v", raw, h.to, h.from, st.To, st.From)
		}
		checkElementHeader(t, raw, &h, from)
		if h.prefixed {
			return
		}
		out := appendWithFrom(nil, raw, &h, from)
		st2, err := stanza.Decode(out)
		if err != nil || st2 == nil {
			t.Fatalf("%q → %q: %v", raw, out, err)
		}
		if st2.From != from || st2.To != st.To || st2.ID != st.ID || st2.Payload() != st.Payload() {
			t.Fatalf("%q → %q changed more than from", raw, out)
		}
	})
}

// readElement reads raw as the only element of a component stream.
func readElement(t testing.TB, raw []byte) *stream.Element {
	in := "<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams'>" +
		string(raw) + "</stream:stream>"
	rd := stream.NewReader(strings.NewReader(in), stream.ReaderOptions{})
	if _, err := rd.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	el, err := rd.Next()
	if err != nil {
		return nil
	}
	return el
}

// sameHeader compares the fields two ways of reading a header must agree on.
func sameHeader(a, b *header) bool {
	return a.kind == b.kind && a.typ == b.typ && a.id == b.id && a.to == b.to && a.from == b.from &&
		a.hasTo == b.hasTo && a.hasFrom == b.hasFrom && (a.badAddr == nil) == (b.badAddr == nil) &&
		a.nameEnd == b.nameEnd && a.prefixed == b.prefixed && a.xmlns == b.xmlns
}

// checkElementHeader checks that elementHeader reads raw (whose parseHeader
// result is want) as parseHeader does, and that stampFrom leaves the header
// that parseHeader reads from its output.
func checkElementHeader(t testing.TB, raw []byte, want *header, from jid.JID) {
	t.Helper()
	el := readElement(t, raw)
	if el == nil {
		return // not well-formed as part of a stream (e.g. an undeclared prefix)
	}
	var h header
	if !elementHeader(el, &h) {
		t.Fatalf("%q: elementHeader refuses what parseHeader reads", raw)
	}
	if !sameHeader(&h, want) {
		t.Fatalf("%q: elementHeader %+v, parseHeader %+v", raw, h, *want)
	}
	if h.prefixed {
		return
	}
	out := stampFrom([]byte("junk"), raw, &h, from)
	var got header
	if !parseHeader(out[4:], &got) {
		t.Fatalf("%q → %q: not a stanza", raw, out)
	}
	if !sameHeader(&h, &got) || h.fromAt != got.fromAt || h.fromEnd != got.fromEnd {
		t.Fatalf("%q → %q: stampFrom header %+v, reading it %+v", raw, out[4:], h, got)
	}
}

func TestElementHeader(t *testing.T) {
	from := jid.MustParse("svc@a.localhost/r")
	for _, raw := range []string{
		"<message to='a@b/c' from=\"x@y\" type='chat' id='1'><body/></message>",
		"<iq\n to = 'B'  id=\"a'b\" type='get'/>",
		"<presence/>",
		"<presence xmlns='jabber:client' to='a&amp;b@c'/>",
		"<message to='a&#x40;b' xml:lang='en'/>",
		"<message from='@@' to='x'/>",
		"<message to='@@' from='x@y'/>",
		"<c:message xmlns:c='jabber:client' to='x'/>",
	} {
		var want header
		if !parseHeader([]byte(raw), &want) {
			t.Fatalf("%q: not parsed", raw)
		}
		checkElementHeader(t, []byte(raw), &want, from)
	}
	el := readElement(t, []byte("<handshake>x</handshake>"))
	var h header
	if elementHeader(el, &h) {
		t.Error("elementHeader accepts <handshake/>")
	}
}

func BenchmarkElementHeader(b *testing.B) {
	el := readElement(b, []byte(benchMsg))
	var h header
	b.ReportAllocs()
	for b.Loop() {
		elementHeader(el, &h)
	}
}

func BenchmarkParseHeader(b *testing.B) {
	raw := []byte(benchMsg)
	var h header
	b.ReportAllocs()
	for b.Loop() {
		parseHeader(raw, &h)
	}
}
