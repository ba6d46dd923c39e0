package forward

import (
	"errors"
	"strings"
	"testing"

	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

func TestWrapUnwrap(t *testing.T) {
	msg := stanza.NewMessage(stanza.TypeChat, jid.MustParse("bob@localhost"), "a <b> & 'c'")
	msg.From = jid.MustParse("alice@localhost")
	env := Wrap("urn:xmpp:privilege:2", "privilege", msg)
	want := `<privilege xmlns='urn:xmpp:privilege:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' from='alice@localhost' to='bob@localhost' id='` +
		msg.ID + `' type='chat'><body>a &lt;b&gt; &amp; 'c'</body></message></forwarded></privilege>`
	if env.XML() != want {
		t.Fatalf("Wrap =\n%s\nwant\n%s", env.XML(), want)
	}
	back, err := Unwrap(env.XML())
	if err != nil {
		t.Fatal(err)
	}
	if back.Kind != stanza.Message || !back.From.Equal(msg.From) || !back.To.Equal(msg.To) || back.Body() != msg.Body() || back.ID != msg.ID {
		t.Fatalf("Unwrap = %s", back)
	}
	if msg.NS != "" {
		t.Fatal("Wrap changed the stanza")
	}

	iq := stanza.NewIQ(stanza.TypeGet, jid.JID{}, stanza.Element{Space: "jabber:iq:private", Local: "query"})
	d := WrapDirect("urn:xmpp:privilege:2", "privileged_iq", iq)
	if !strings.HasPrefix(d.XML(), `<privileged_iq xmlns='urn:xmpp:privilege:2'><iq xmlns='jabber:client' id='`) {
		t.Fatalf("WrapDirect = %s", d.XML())
	}
	back, err = UnwrapDirect(d.XML())
	if err != nil || back.Kind != stanza.IQ || back.ID != iq.ID {
		t.Fatalf("UnwrapDirect = %v, %v", back, err)
	}
}

func TestUnwrap(t *testing.T) {
	const fw = `urn:xmpp:forward:0`
	ok := func(inner string) string {
		return `<delegation xmlns='urn:xmpp:delegation:2'><forwarded xmlns='` + fw + `'>` + inner + `</forwarded></delegation>`
	}
	for _, c := range []struct {
		name, in   string
		stanzaErr  bool // a stanza with its *stanza.Error
		fail       bool // an *Error
		wantFromTo string
	}{
		{name: "prosody trace", in: `<delegation xmlns='urn:xmpp:delegation:2'><forwarded xmlns='urn:xmpp:forward:0'>` +
			`<iq type='set' from='alice@localhost/ra' xmlns='jabber:client' xml:lang='en' id='mam1'><query queryid='q1' xmlns='urn:xmpp:mam:2'/></iq></forwarded></delegation>`,
			wantFromTo: "alice@localhost/ra>"},
		{name: "ejabberd trace", in: `<delegation xmlns='urn:xmpp:delegation:1'><forwarded xmlns='urn:xmpp:forward:0'>` +
			"\n  " + `<iq xml:lang='en' to='alice@localhost' from='alice@localhost/ra' type='set' id='mam1' xmlns='jabber:client'><query xmlns='urn:xmpp:mam:2' queryid='q1'/></iq>` + "\n" +
			`</forwarded></delegation>`, wantFromTo: "alice@localhost/ra>alice@localhost"},
		{name: "delay first", in: ok(`<delay xmlns='urn:xmpp:delay' stamp='2020-01-01T00:00:00Z'/><message xmlns='jabber:client' from='a@b'/>`), wantFromTo: "a@b>"},
		{name: "jabber:server", in: ok(`<message xmlns='jabber:server' from='a@b'/>`), wantFromTo: "a@b>"},
		{name: "inner iq without id", in: ok(`<iq xmlns='jabber:client' type='get'><q xmlns='u'/></iq>`), stanzaErr: true},
		{name: "inner bad jid", in: ok(`<iq xmlns='jabber:client' type='get' id='1' from='a@b@c'><q xmlns='u'/></iq>`), stanzaErr: true},
		{name: "no forwarded", in: `<delegation xmlns='urn:xmpp:delegation:2'/>`, fail: true},
		{name: "forwarded in wrong ns", in: `<delegation xmlns='urn:xmpp:delegation:2'><forwarded><iq xmlns='jabber:client' type='get' id='1'><q xmlns='u'/></iq></forwarded></delegation>`, fail: true},
		{name: "two forwarded", in: `<d xmlns='x'><forwarded xmlns='` + fw + `'/><forwarded xmlns='` + fw + `'/></d>`, fail: true},
		{name: "empty forwarded", in: ok(``), fail: true},
		{name: "two stanzas", in: ok(`<message xmlns='jabber:client'/><message xmlns='jabber:client'/>`), fail: true},
		{name: "stanza inheriting forward ns", in: ok(`<iq type='get' id='1'><q xmlns='u'/></iq>`), fail: true},
		{name: "not a stanza", in: ok(`<foo xmlns='jabber:client'/>`), fail: true},
		{name: "other child", in: ok(`<x xmlns='urn:other'/><message xmlns='jabber:client'/>`), fail: true},
		{name: "malformed", in: `<delegation xmlns='x'><forwarded xmlns='` + fw + `'>`, fail: true},
		{name: "two elements", in: `<a/><b/>`, fail: true},
		{name: "text", in: `hello`, fail: true},
		{name: "undeclared prefix inside", in: ok(`<iq xmlns='jabber:client' type='get' id='1'><p:q/></iq>`), fail: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, err := Unwrap(c.in)
			var se *stanza.Error
			var fe *Error
			switch {
			case c.fail:
				if st != nil || !errors.As(err, &fe) {
					t.Fatalf("Unwrap = %v, %v; want an *Error", st, err)
				}
			case c.stanzaErr:
				if st == nil || !errors.As(err, &se) {
					t.Fatalf("Unwrap = %v, %v; want a stanza and its *stanza.Error", st, err)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if got := st.From.String() + ">" + st.To.String(); got != c.wantFromTo {
					t.Fatalf("from>to = %s, want %s", got, c.wantFromTo)
				}
			}
		})
	}
}

func TestUnwrapDirect(t *testing.T) {
	for _, in := range []string{
		`<privileged_iq xmlns='urn:xmpp:privilege:2'/>`,
		`<privileged_iq xmlns='urn:xmpp:privilege:2'><forwarded xmlns='urn:xmpp:forward:0'/></privileged_iq>`,
		`<privileged_iq xmlns='urn:xmpp:privilege:2'><iq xmlns='jabber:client' type='get' id='1'><q xmlns='u'/></iq><iq xmlns='jabber:client' type='get' id='2'><q xmlns='u'/></iq></privileged_iq>`,
	} {
		if st, err := UnwrapDirect(in); st != nil || err == nil {
			t.Errorf("UnwrapDirect(%s) = %v, %v; want an error", in, st, err)
		}
	}
}

// FuzzUnwrap: no panic; what is returned is consistent (a stanza only with
// no error or a *stanza.Error), and a returned stanza survives a Wrap and
// Unwrap round trip with the same header.
func FuzzUnwrap(f *testing.F) {
	for _, s := range []string{
		`<delegation xmlns='urn:xmpp:delegation:2'><forwarded xmlns='urn:xmpp:forward:0'><iq type='set' from='alice@localhost/ra' xmlns='jabber:client' xml:lang='en' id='mam1'><query queryid='q1' xmlns='urn:xmpp:mam:2'/></iq></forwarded></delegation>`,
		`<privilege xmlns='urn:xmpp:privilege:2'><forwarded xmlns='urn:xmpp:forward:0'><iq to='alice@localhost' id='in1' xmlns='jabber:client' type='result'/></forwarded></privilege>`,
		`<d xmlns='x'><forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay'/><message xmlns='jabber:client'><body>&lt;</body></message></forwarded></d>`,
		`<d xmlns='x'><forwarded xmlns='urn:xmpp:forward:0'><iq xmlns='jabber:client' type='get'/></forwarded></d>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, unwrap := range []func(string) (*stanza.Stanza, error){Unwrap, UnwrapDirect} {
			st, err := unwrap(in)
			var se *stanza.Error
			if st == nil {
				if err == nil {
					t.Fatal("no stanza and no error")
				}
				continue
			}
			if err != nil && !errors.As(err, &se) {
				t.Fatalf("a stanza with a non-stanza error %v", err)
			}
			if err != nil {
				continue
			}
			back, err := Unwrap(Wrap("urn:x", "e", st).XML())
			if err != nil {
				t.Fatalf("round trip of %s: %v", st, err)
			}
			if back.Kind != st.Kind || back.Type != st.Type || back.ID != st.ID || !back.From.Equal(st.From) || !back.To.Equal(st.To) {
				t.Fatalf("round trip changed %s into %s", st, back)
			}
		}
	})
}
