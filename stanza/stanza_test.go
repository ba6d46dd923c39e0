package stanza

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"xmppkit.dev/jid"
)

func TestDecodeHeader(t *testing.T) {
	raw := `<iq type='get' id='q1' from='alice@example.com/res' to='pubsub.example.com' xml:lang='en'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`
	s, err := Decode([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if s.Kind != IQ || s.Type != "get" || s.ID != "q1" || s.Lang != "en" {
		t.Errorf("header = %v %q %q %q", s.Kind, s.Type, s.ID, s.Lang)
	}
	if s.From != jid.MustParse("alice@example.com/res") || s.To != jid.MustParse("pubsub.example.com") {
		t.Errorf("from/to = %v %v", s.From, s.To)
	}
	if sp, l := s.PayloadName(); sp != "http://jabber.org/protocol/disco#info" || l != "query" {
		t.Errorf("PayloadName = %q %q", sp, l)
	}
	if got := s.Payload(); got != `<query xmlns='http://jabber.org/protocol/disco#info'/>` {
		t.Errorf("Payload = %q", got)
	}
	if s.NS != "" {
		t.Errorf("NS = %q, want inherited", s.NS)
	}
}

func TestDecodeMessageChildren(t *testing.T) {
	raw := `<message xmlns='jabber:component:accept' type='chat' to='a@b' id='m'>
  <body>hi &amp; &lt;bye&gt;</body>
  <thread>t1</thread>
  <x xmlns='jabber:x:oob'><url>http://x</url></x>
</message>`
	s, err := Decode([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Body(); got != "hi & <bye>" {
		t.Errorf("Body = %q", got)
	}
	kids := s.Children()
	if len(kids) != 3 {
		t.Fatalf("%d children", len(kids))
	}
	want := [][2]string{{"", "body"}, {"", "thread"}, {"jabber:x:oob", "x"}}
	for i, k := range kids {
		if k.Space != want[i][0] || k.Local != want[i][1] {
			t.Errorf("child %d = %q %q, want %q", i, k.Space, k.Local, want[i])
		}
	}
	if kids[2].XML() != `<x xmlns='jabber:x:oob'><url>http://x</url></x>` {
		t.Errorf("child XML = %q", kids[2].XML())
	}
	var oob struct {
		URL string `xml:"url"`
	}
	if err := s.UnmarshalChild("jabber:x:oob", "x", &oob); err != nil || oob.URL != "http://x" {
		t.Errorf("UnmarshalChild = %v %q", err, oob.URL)
	}
	if _, ok := s.Child("jabber:component:accept", "body"); ok {
		t.Error("content-namespace child found by its namespace; want only \"\"")
	}
}

func TestDecodePrefixedPayload(t *testing.T) {
	raw := `<iq xmlns:d='urn:x:data' type='set' id='1' to='c.example'><d:q a='1'><d:v>7</d:v></d:q></iq>`
	s, err := Decode([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if sp, l := s.PayloadName(); sp != "urn:x:data" || l != "q" {
		t.Fatalf("PayloadName = %q %q", sp, l)
	}
	var v struct {
		XMLName xml.Name
		V       int `xml:"urn:x:data v"`
	}
	if err := s.Unmarshal(&v); err != nil {
		t.Fatal(err)
	}
	if v.XMLName.Space != "urn:x:data" || v.V != 7 {
		t.Errorf("Unmarshal = %+v", v)
	}
	if len(s.Attrs()) != 1 || s.Attrs()[0] != (Attr{"xmlns:d", "urn:x:data"}) {
		t.Errorf("Attrs = %v", s.Attrs())
	}
	// Re-encoding keeps the declaration the payload needs.
	again, err := Decode(s.AppendXML(nil))
	if err != nil {
		t.Fatal(err)
	}
	if again.Payload() != s.Payload() {
		t.Errorf("payload changed: %q", again.Payload())
	}
}

func TestDecodeEscapedAttrs(t *testing.T) {
	raw := `<message id="a&amp;b&#x27;c" type='chat' to='x@y'/>`
	s, err := Decode([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if s.ID != "a&b'c" {
		t.Errorf("ID = %q", s.ID)
	}
	out := string(s.AppendXML(nil))
	if !strings.Contains(out, `id='a&amp;b&apos;c'`) {
		t.Errorf("encoded %s", out)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, raw string
		cond      Condition // "" means not a *Error
		notStanza bool
	}{
		{"iq no id", `<iq type='get'><q xmlns='x'/></iq>`, BadRequest, false},
		{"iq bad type", `<iq type='fetch' id='1'><q xmlns='x'/></iq>`, BadRequest, false},
		{"iq no type", `<iq id='1'><q xmlns='x'/></iq>`, BadRequest, false},
		{"iq get no payload", `<iq type='get' id='1'/>`, BadRequest, false},
		{"iq set two payloads", `<iq type='set' id='1'><a xmlns='x'/><b xmlns='y'/></iq>`, BadRequest, false},
		{"iq result two payloads", `<iq type='result' id='1'><a xmlns='x'/><b xmlns='y'/></iq>`, BadRequest, false},
		{"presence bad type", `<presence type='online'/>`, BadRequest, false},
		{"bad to", `<message to='a@b@c'/>`, JIDMalformed, false},
		{"bad from", `<message from='@x'/>`, JIDMalformed, false},
		{"unknown element", `<mess/>`, "", true},
		{"wrong namespace", `<message xmlns='urn:other'/>`, "", true},
		{"not well-formed", `<message><body></message>`, "", false},
		{"two elements", `<message/><message/>`, "", false},
		{"empty", ``, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Decode([]byte(tt.raw))
			if err == nil {
				t.Fatal("no error")
			}
			var se *Error
			isSE := errors.As(err, &se)
			if tt.cond != "" {
				if !isSE || se.Condition != tt.cond {
					t.Fatalf("err = %v, want %s", err, tt.cond)
				}
				if s == nil {
					t.Fatal("no stanza with a stanza error")
				}
				if r := s.ErrorReply(se); r == nil || r.Type != TypeError {
					t.Errorf("ErrorReply = %v", r)
				}
				return
			}
			if isSE {
				t.Fatalf("err = %v, want no stanza error", err)
			}
			if errors.Is(err, ErrNotStanza) != tt.notStanza {
				t.Errorf("err = %v; ErrNotStanza = %v", err, !tt.notStanza)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	inputs := []string{
		`<message type='chat' to='a@b/c' from='d@e' id='1' xml:lang='de'><body>x &lt; y</body><x xmlns='u:v'>  <y/>text</x></message>`,
		`<presence/>`,
		`<presence type='unavailable' from='a@b/r'><status>gone "now"</status></presence>`,
		`<iq type='result' id='r' to='x.y'/>`,
		`<iq type='error' id='e'><q xmlns='x'/><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`,
		`<message foo='bar' xmlns:p='urn:p'><p:z/></message>`,
	}
	for _, in := range inputs {
		s1, err := Decode([]byte(in))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		out := s1.AppendXML(nil)
		s2, err := Decode(out)
		if err != nil {
			t.Fatalf("%s: re-decode %s: %v", in, out, err)
		}
		checkSame(t, s1, s2)
	}
}

func checkSame(t *testing.T, a, b *Stanza) {
	t.Helper()
	if a.Kind != b.Kind || a.Type != b.Type || a.ID != b.ID || a.From != b.From || a.To != b.To || a.Lang != b.Lang {
		t.Errorf("header differs:\n%#v\n%#v", a, b)
	}
	if a.Payload() != b.Payload() {
		t.Errorf("payload differs:\n%q\n%q", a.Payload(), b.Payload())
	}
	if fmt.Sprint(a.Attrs()) != fmt.Sprint(b.Attrs()) {
		t.Errorf("attrs differ: %v vs %v", a.Attrs(), b.Attrs())
	}
	ak, bk := a.Children(), b.Children()
	if len(ak) != len(bk) {
		t.Fatalf("children %d vs %d", len(ak), len(bk))
	}
	for i := range ak {
		if ak[i] != bk[i] {
			t.Errorf("child %d: %+v vs %+v", i, ak[i], bk[i])
		}
	}
}

func TestBuild(t *testing.T) {
	to := jid.MustParse("juliet@example.com/balcony")
	m := NewMessage(TypeChat, to, "O Romeo & <3")
	if m.ID == "" || m.Body() != "O Romeo & <3" {
		t.Errorf("NewMessage: id %q body %q", m.ID, m.Body())
	}
	want := `<message to='juliet@example.com/balcony' id='` + m.ID + `' type='chat'><body>O Romeo &amp; &lt;3</body></message>`
	if got := m.String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}

	ping := Element{Space: "urn:xmpp:ping", Local: "ping"}
	iq := NewIQ(TypeGet, to, ping)
	iq.From = jid.MustParse("svc.example.com")
	if got := iq.Payload(); got != `<ping xmlns='urn:xmpp:ping'/>` {
		t.Errorf("IQ payload %q", got)
	}
	if sp, l := iq.PayloadName(); sp != "urn:xmpp:ping" || l != "ping" {
		t.Errorf("PayloadName %q %q", sp, l)
	}
	if _, err := Decode(iq.AppendXML(nil)); err != nil {
		t.Errorf("built IQ does not decode: %v", err)
	}

	res := iq.Result(MustElement(`<pong xmlns='urn:x'>1</pong>`))
	if res.Type != TypeResult || res.ID != iq.ID || res.To != iq.From || res.From != iq.To {
		t.Errorf("Result header %+v", res)
	}
	if res.Payload() != `<pong xmlns='urn:x'>1</pong>` {
		t.Errorf("Result payload %q", res.Payload())
	}
	r := iq.Reply()
	if r.Type != TypeResult || r.Payload() != "" || r.String() != `<iq from='juliet@example.com/balcony' to='svc.example.com' id='`+iq.ID+`' type='result'/>` {
		t.Errorf("Reply = %s", r)
	}

	er := iq.ErrorReply(NewError(ServiceUnavailable, ""))
	if er.Type != TypeError || er.ID != iq.ID || er.To != iq.From {
		t.Errorf("ErrorReply header %+v", er)
	}
	if sp, l := er.PayloadName(); sp != "urn:xmpp:ping" || l != "ping" {
		t.Errorf("ErrorReply keeps payload: %q %q", sp, l)
	}
	got := er.Err()
	if got == nil || got.Condition != ServiceUnavailable || got.Type != Cancel {
		t.Errorf("Err() = %+v", got)
	}
	if er.ErrorReply(ErrBadRequest) != nil {
		t.Error("error reply to an error stanza")
	}
	if NewIQ(TypeGet, to, ping).ID == iq.ID {
		t.Error("ids repeat")
	}

	msgErr := m.ErrorReply(ErrRecipientUnavailable)
	if len(msgErr.Children()) != 1 || msgErr.Children()[0].Local != "error" {
		t.Errorf("message error reply children %+v", msgErr.Children())
	}

	var v struct {
		XMLName xml.Name `xml:"urn:q query"`
		N       int      `xml:"n"`
	}
	v.N = 3
	e, err := MarshalElement(v)
	if err != nil || e.Space != "urn:q" || e.Local != "query" {
		t.Fatalf("MarshalElement = %+v %v", e, err)
	}
	iq2 := NewIQ(TypeSet, to, e)
	v.N = 0
	if err := iq2.Unmarshal(&v); err != nil || v.N != 3 {
		t.Errorf("Unmarshal %v %d", err, v.N)
	}
}

func TestSetPayload(t *testing.T) {
	s := NewPresence("", jid.JID{})
	if err := s.SetPayload(`<show>away</show> <status>x</status><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='v'/>`); err != nil {
		t.Fatal(err)
	}
	if len(s.Children()) != 3 || s.Children()[2].Space != "http://jabber.org/protocol/caps" {
		t.Errorf("children %+v", s.Children())
	}
	for _, bad := range []string{`<a>`, `</w><w>`, `<a/></b>`, `<!-- c -->`, `<a xmlns:p='x'><q:b/></a>`} {
		before := s.Payload()
		if err := s.SetPayload(bad); err == nil {
			t.Errorf("SetPayload(%q) accepted", bad)
		}
		if s.Payload() != before {
			t.Errorf("SetPayload(%q) changed the payload", bad)
		}
	}
	s.AddChild(Element{Space: "urn:y", Local: "y"})
	if len(s.Children()) != 4 || !strings.HasSuffix(s.Payload(), `<y xmlns='urn:y'/>`) {
		t.Errorf("AddChild: %q", s.Payload())
	}
	if _, err := Decode(s.AppendXML(nil)); err != nil {
		t.Error(err)
	}
}

func TestEscaping(t *testing.T) {
	m := NewMessage("", jid.JID{}, "a\x00b\r\n\t\xffc\U0001F600")
	m.ID = "'\"<>&\n\t"
	out := m.AppendXML(nil)
	s, err := Decode(out)
	if err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if s.ID != m.ID {
		t.Errorf("ID round trip %q", s.ID)
	}
	if s.Body() != "a\uFFFDb\r\n\t\uFFFDc\U0001F600" {
		t.Errorf("Body round trip %q", s.Body())
	}
}

func TestNewIDUnique(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids := make([]string, 1000)
			for i := range ids {
				ids[i] = NewID()
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range ids {
				if seen[id] || len(id) != 36 || id[14] != '4' {
					t.Errorf("bad or repeated id %q", id)
				}
				seen[id] = true
			}
		}()
	}
	wg.Wait()
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{Message: "message", Presence: "presence", IQ: "iq", 9: "Kind(9)"} {
		if k.String() != want {
			t.Errorf("%d: %q", k, k.String())
		}
	}
}

func TestAllocs(t *testing.T) {
	raw := []byte(`<message from='a@example.com/r' to='svc.example.com' id='abc' type='chat'><body>hi</body></message>`)
	s, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 512)
	if n := testing.AllocsPerRun(100, func() { buf = s.AppendXML(buf[:0]) }); n != 0 {
		t.Errorf("AppendXML allocs = %v", n)
	}
	if !bytes.Equal(buf, raw) {
		t.Errorf("re-encoded\n%s\nwant\n%s", buf, raw)
	}
}

func TestClone(t *testing.T) {
	s, err := Decode([]byte(`<message xmlns:p='urn:p' to='a@b' id='1'><body>x</body><p:y/></message>`))
	if err != nil {
		t.Fatal(err)
	}
	c := s.Clone()
	checkSame(t, s, c)
	c.SetPayloadElements(Element{Space: "urn:z", Local: "z"})
	c.ID = "2"
	if s.Body() != "x" || len(s.Children()) != 2 || s.ID != "1" {
		t.Errorf("original changed by its clone: %s", s)
	}
}

func TestPayloadBoundaries(t *testing.T) {
	for raw, want := range map[string]string{
		`<message/>`:                           "",
		`<message  />`:                         "",
		`<message></message>`:                  "",
		`<message to='a@b'   ><x/></message >`: "<x/>",
		`<message id='a>b' to='a@b' />`:        "",
		`<message id='a/'><x/></message>`:      "<x/>",
		`<message id=''><x/></message>`:        "<x/>",
		`<message a="'>'"> <x/> </message>`:    " <x/> ",
	} {
		s, err := Decode([]byte(raw))
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if s.Payload() != want {
			t.Errorf("%s: payload %q, want %q", raw, s.Payload(), want)
		}
	}
}

func TestElementText(t *testing.T) {
	for raw, want := range map[string]string{
		`<body>plain</body>`:                 "plain",
		`<body>a &amp; b &#x263A;</body>`:    "a & b ☺",
		`<body><![CDATA[x < y & z]]></body>`: "x < y & z",
		`<body>a<i>nested</i>b</body>`:       "ab",
		`<body/>`:                            "",
		"<body>line1\r\nline2</body>":        "line1\nline2",
	} {
		e, err := ParseElement(raw)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if got, err := e.Text(); err != nil || got != want {
			t.Errorf("%s: Text = %q %v, want %q", raw, got, err, want)
		}
	}
}

func TestAsElement(t *testing.T) {
	m := NewMessage(TypeChat, jid.MustParse("bob@localhost"), "a < b")
	m.From = jid.MustParse("alice@localhost")
	for _, ns := range []string{"", NSClient, "urn:other"} {
		m.NS = ns
		e := m.AsElement()
		back, err := ParseElement(e.XML())
		if err != nil || back.Space != e.Space || back.Local != "message" || e.XML() != m.String() {
			t.Errorf("NS %q: AsElement = %+v %s (parsed %+v, %v)", ns, e, e.XML(), back, err)
		}
	}
}
