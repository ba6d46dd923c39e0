package privilege_test

import (
	"context"
	"testing"

	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/mux/muxtest"
	"xmppkit.dev/privilege"
	"xmppkit.dev/stanza"
)

// FuzzUnwrapIQAnswer: no panic; an answer is returned only when it is an
// iq result with the id asked for.
func FuzzUnwrapIQAnswer(f *testing.F) {
	for _, s := range []string{
		`<iq to='priv.localhost' id='piq1' from='alice@localhost' type='result'><privilege xmlns='urn:xmpp:privilege:2'><forwarded xmlns='urn:xmpp:forward:0'><iq to='alice@localhost' id='in1' xmlns='jabber:client' type='result'/></forwarded></privilege></iq>`,
		`<iq id='piq1' type='result'><privilege xmlns='urn:xmpp:privilege:2'><forwarded xmlns='urn:xmpp:forward:0'><iq id='in1' xmlns='jabber:client' type='error'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq></forwarded></privilege></iq>`,
		`<iq id='piq1' type='result'><privilege xmlns='urn:xmpp:privilege:2'><forwarded xmlns='urn:xmpp:forward:0'><iq id='in1' xmlns='jabber:client' type='result'><query xmlns='jabber:iq:private'><note xmlns='urn:test:n'>hello</note></query></iq></forwarded></privilege></iq>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		st, err := stanza.Decode([]byte(raw))
		if st == nil || err != nil {
			return
		}
		ans, err := privilege.UnwrapIQAnswer(st, "in1")
		if err != nil {
			if ans != nil {
				t.Fatal("an answer with an error")
			}
			return
		}
		if ans.Kind != stanza.IQ || ans.Type != stanza.TypeResult || ans.ID != "in1" {
			t.Fatalf("answer %s", ans)
		}
	})
}

// FuzzEntity feeds any stanza to a mux with an Entity: no panic, and
// nothing is believed from anyone but the server (localhost).
func FuzzEntity(f *testing.F) {
	for _, s := range []string{
		`<message from='localhost' to='priv.localhost'><privilege xmlns='urn:xmpp:privilege:2'><perm access='roster' type='both'/><perm access='iq'><namespace ns='a' type='get'><namespace ns='b' type='set'/></namespace></perm></privilege></message>`,
		`<message from='alice@localhost' to='priv.localhost'><privilege xmlns='urn:xmpp:privilege:1'><perm access='message' type='outgoing'/></privilege></message>`,
		`<iq type='set' id='p' from='alice@localhost' to='priv.localhost'><query xmlns='jabber:iq:roster'><item jid='bob@localhost'/></query></iq>`,
		`<presence from='alice@localhost/r' to='priv.localhost'/>`,
		`<presence type='unavailable' from='alice@localhost/r' to='priv.localhost'/>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		st, err := stanza.Decode([]byte(raw))
		if st == nil || err != nil {
			return
		}
		p := &privilege.Entity{Logger: quiet}
		m := mux.New()
		p.Register(m)
		_ = muxtest.Serve(context.Background(), m, &muxtest.Recorder{}, st)
		for _, g := range p.All() {
			if !st.From.Equal(jid.MustParse("localhost")) || !g.Server.Equal(st.From) {
				t.Fatalf("believed %v from %s", g, st.From)
			}
		}
	})
}
