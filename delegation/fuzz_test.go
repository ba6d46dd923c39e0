package delegation_test

import (
	"context"
	"strings"
	"testing"

	"xmppkit.dev/delegation"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/mux/muxtest"
	"xmppkit.dev/stanza"
)

// FuzzDelegatedIQ feeds any <delegation/> payload, from the server or from
// a user, to a Manager: no panic; a handler runs only for a delegation
// from the server, and then sees an iq get or set with an id and a from;
// every stanza the component sends answers either the outer iq or, wrapped,
// the inner one.
func FuzzDelegatedIQ(f *testing.F) {
	for _, c := range []struct{ from, payload string }{
		{"localhost", `<delegation xmlns='urn:xmpp:delegation:2'><forwarded xmlns='urn:xmpp:forward:0'><iq type='set' from='alice@localhost/ra' xmlns='jabber:client' xml:lang='en' id='mam1'><query queryid='q1' xmlns='urn:xmpp:mam:2'/></iq></forwarded></delegation>`},
		{"localhost", `<delegation xmlns='urn:xmpp:delegation:1'><forwarded xmlns='urn:xmpp:forward:0'><iq xml:lang='en' to='alice@localhost' from='alice@localhost/ra' type='set' id='mam1' xmlns='jabber:client'><query xmlns='urn:xmpp:mam:2' queryid='q1'/></iq></forwarded></delegation>`},
		{"alice@localhost/ra", `<delegation xmlns='urn:xmpp:delegation:2'><forwarded xmlns='urn:xmpp:forward:0'><iq type='get' from='bob@localhost/x' xmlns='jabber:client' id='f'><query xmlns='urn:xmpp:mam:2'/></iq></forwarded></delegation>`},
		{"localhost", `<delegation xmlns='urn:xmpp:delegation:2'><forwarded xmlns='urn:xmpp:forward:0'><iq type='get' from='a@localhost/x' to='localhost' xmlns='jabber:client' id='f'><delegation xmlns='urn:xmpp:delegation:2'/></iq></forwarded></delegation>`},
	} {
		f.Add(c.from, c.payload)
	}
	f.Fuzz(func(t *testing.T, from, payload string) {
		outer := stanza.NewIQ(stanza.TypeSet, jid.MustParse("priv.localhost"))
		outer.ID = "out1"
		if from != "" {
			j, err := jid.Parse(from)
			if err != nil {
				return
			}
			outer.From = j
		}
		if err := outer.SetPayload(payload); err != nil {
			return
		}
		st, err := stanza.Decode([]byte(outer.String()))
		if st == nil || err != nil {
			return
		}
		ran := 0
		m := mux.New()
		m.HandleFallback(stanza.IQ, mux.HandlerFunc(func(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
			if _, ok := delegation.FromContext(ctx); !ok {
				return stanza.ErrServiceUnavailable
			}
			ran++
			if iq.ID == "" || iq.From.IsZero() || (iq.Type != stanza.TypeGet && iq.Type != stanza.TypeSet) {
				t.Fatalf("handler got %s", iq)
			}
			return s.Send(ctx, iq.Result())
		}))
		d := &delegation.Manager{Logger: quiet}
		d.Register(m)
		rec := &muxtest.Recorder{}
		_ = muxtest.Serve(context.Background(), m, rec, st)
		if ran > 0 && st.From.String() != "localhost" {
			t.Fatalf("a handler ran for a delegation from %q", st.From)
		}
		if _, ok := st.Child(delegation.NS2, "delegation"); !ok {
			if _, ok := st.Child(delegation.NS1, "delegation"); !ok {
				return // not a delegation: the fallback answered it
			}
		}
		for _, out := range rec.Sent() {
			if out.ID != "out1" || out.Kind != stanza.IQ {
				t.Fatalf("sent %s", out)
			}
			if out.Type == stanza.TypeResult && !strings.Contains(out.Payload(), "<iq xmlns='jabber:client'") {
				t.Fatalf("a result without the wrapped answer: %s", out)
			}
		}
	})
}

// FuzzParseAdvertisement: no panic; every namespace returned is named in
// the element.
func FuzzParseAdvertisement(f *testing.F) {
	for _, s := range []string{
		`<delegation xmlns='urn:xmpp:delegation:1'><delegated namespace='urn:xmpp:mam:2'/></delegation>`,
		`<delegation xmlns='urn:xmpp:delegation:2'><delegated namespace='http://jabber.org/protocol/pubsub'/><delegated namespace='urn:xmpp:mam:2'><attribute name='node'/></delegated></delegation>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		el, err := stanza.ParseElement(raw)
		if err != nil {
			return
		}
		list, err := delegation.ParseAdvertisement(el)
		if err != nil {
			return
		}
		for _, d := range list {
			if d.Namespace == "" {
				t.Fatal("empty namespace")
			}
		}
	})
}

// FuzzParseNode: ParseNode and Node are inverses.
func FuzzParseNode(f *testing.F) {
	f.Add("urn:xmpp:delegation:1::urn:xmpp:mam:2")
	f.Add("urn:xmpp:delegation:2:bare:http://jabber.org/protocol/pubsub")
	f.Fuzz(func(t *testing.T, node string) {
		v, ns, bare, ok := delegation.ParseNode(node)
		if ok && delegation.Node(v, ns, bare) != node {
			t.Fatalf("ParseNode(%q) = %q %q %v, and back: %q", node, v, ns, bare, delegation.Node(v, ns, bare))
		}
	})
}
