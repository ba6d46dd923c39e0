package disco_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"xmppkit.dev/disco"
	"xmppkit.dev/form"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/mux/muxtest"
	"xmppkit.dev/stanza"
)

// gateway advertises different things for its domain and for contacts.
type gateway struct{ domain string }

func (gateway) HandleStanza(context.Context, mux.Sender, *stanza.Stanza) error { return nil }

func (g gateway) Features(q disco.Query) []string {
	if q.Node != "" {
		return nil
	}
	if q.To.Local() == "" {
		return []string{"jabber:iq:gateway", "jabber:iq:register"}
	}
	return []string{"urn:xmpp:chat-markers:0"}
}

func (g gateway) Identities(q disco.Query) []disco.Identity {
	if q.Node != "" {
		return nil
	}
	if q.To.Local() == "" {
		return []disco.Identity{{Category: "gateway", Type: "irc", Name: "IRC"}}
	}
	return []disco.Identity{{Category: "client", Type: "pc"}}
}

func (g gateway) Items(q disco.Query) []disco.Item {
	if q.To.Local() == "" && q.Node == "" {
		return []disco.Item{{JID: jid.MustParse("#go@" + g.domain)}, {JID: jid.MustParse("#go@" + g.domain)}}
	}
	return nil
}

func (g gateway) Forms(q disco.Query) []form.Form {
	if q.Node != "" {
		return nil
	}
	return []form.Form{{Type: form.TypeResult, Fields: []form.Field{{Var: "x", Values: []string{"1"}}}}}
}

func noop() mux.Handler {
	return mux.HandlerFunc(func(context.Context, mux.Sender, *stanza.Stanza) error { return nil })
}

func TestCollection(t *testing.T) {
	m := mux.New()
	m.HandleIQ(stanza.TypeGet, "urn:xmpp:ping", "ping", noop())
	m.HandleIQ(stanza.TypeSet, "urn:xmpp:ping", "ping", noop())
	m.HandleIQ("", "jabber:iq:register", "query", gateway{"irc.x"})
	m.HandleMessage(mux.AnyType, "", gateway{"irc.x"})
	d := disco.New(m)
	d.Register(m)

	domain := jid.MustParse("irc.x")
	contact := jid.MustParse("alice@irc.x")
	info, ok := d.Info(disco.Query{To: domain})
	want := []string{disco.NSInfo, disco.NSItems, "jabber:iq:gateway", "jabber:iq:register", "urn:xmpp:ping"}
	if !ok || !slices.Equal(info.Features, want) {
		t.Errorf("domain features %q, want %q", info.Features, want)
	}
	if len(info.Identities) != 1 || info.Identities[0].Type != "irc" {
		t.Errorf("domain identities %v (two registrations of one handler must not repeat)", info.Identities)
	}
	if len(info.Forms) != 1 {
		t.Errorf("forms %v (a handler registered twice is asked once)", info.Forms)
	}
	info, ok = d.Info(disco.Query{To: contact})
	want = []string{disco.NSInfo, disco.NSItems, "urn:xmpp:chat-markers:0", "urn:xmpp:ping"}
	if !ok || !slices.Equal(info.Features, want) {
		t.Errorf("contact features %q, want %q", info.Features, want)
	}
	if len(info.Identities) != 1 || info.Identities[0].Category != "client" {
		t.Errorf("contact identities %v", info.Identities)
	}
	if _, ok := d.Info(disco.Query{To: domain, Node: "some-node"}); ok {
		t.Error("some-node known: implied features belong to the empty node only")
	}
	if items, ok := d.ItemsFor(disco.Query{To: domain}); !ok || len(items) != 1 {
		t.Errorf("items %v, %v (repeats of one JID and node are dropped)", items, ok)
	}
}

// idp is a handler that gives fixed identities.
type idp []disco.Identity

func (p idp) HandleStanza(context.Context, mux.Sender, *stanza.Stanza) error { return nil }
func (p idp) Identities(disco.Query) []disco.Identity                        { return p }

func TestIdentitiesSortedUnique(t *testing.T) {
	m := mux.New()
	m.HandlePresence("", idp{{Category: "client", Type: "pc", Lang: "en", Name: "B"}, {Category: "client", Type: "pc", Lang: "el", Name: "A"}})
	m.HandlePresence(stanza.TypeProbe, idp{{Category: "client", Type: "pc", Lang: "en", Name: "B"}, {Category: "automation", Type: "command-list"}})
	info, _ := disco.New(m).Info(disco.Query{To: jid.MustParse("svc.x")})
	var got []string
	for _, id := range info.Identities {
		got = append(got, id.Category+"/"+id.Type+"/"+id.Lang+"/"+id.Name)
	}
	want := []string{"automation/command-list//", "client/pc/el/A", "client/pc/en/B"}
	if !slices.Equal(got, want) {
		t.Errorf("identities %q, want %q", got, want)
	}
}

// TestNestedMux: a ServeMux registered inside another is walked; its
// handlers speak for it, so the outer registration's namespace is not
// implied for it.
func TestNestedMux(t *testing.T) {
	inner := mux.New()
	inner.HandleIQ(stanza.TypeGet, "urn:inner", "q", noop())
	inner.HandleIQ("", "jabber:iq:register", "query", gateway{"irc.x"})
	outer := mux.New()
	outer.HandleIQ(stanza.TypeGet, "urn:outer-route", "", inner)
	outer.HandleFallback(stanza.Message, inner)
	d := disco.New(outer)
	d.Register(outer)
	info, _ := d.Info(disco.Query{To: jid.MustParse("irc.x")})
	for _, f := range []string{"urn:inner", "jabber:iq:gateway"} {
		if !info.HasFeature(f) {
			t.Errorf("missing %q from the nested mux: %q", f, info.Features)
		}
	}
	if info.HasFeature("urn:outer-route") {
		t.Errorf("the route to a nested mux implied its namespace: %q", info.Features)
	}
	if len(info.Identities) != 1 || info.Identities[0].Type != "irc" {
		t.Errorf("identities %v (the nested mux is registered twice, walked once)", info.Identities)
	}
	// A mux inside itself ends at the nesting bound instead of looping.
	loop := mux.New()
	loop.HandleFallback(stanza.IQ, loop)
	if _, ok := disco.New(loop).Info(disco.Query{To: jid.MustParse("svc.x")}); !ok {
		t.Error("empty node of a looping mux unknown")
	}
}

func TestAddProvider(t *testing.T) {
	m := mux.New()
	d := disco.New(m)
	d.Register(m)
	d.AddProvider(gateway{"irc.x"})
	info, _ := d.Info(disco.Query{To: jid.MustParse("bob@irc.x")})
	if len(info.Identities) != 1 || info.Identities[0].Category != "client" || !info.HasFeature("urn:xmpp:chat-markers:0") {
		t.Errorf("provider not asked: %+v", info)
	}
	if items, _ := d.ItemsFor(disco.Query{To: jid.MustParse("irc.x")}); len(items) != 1 {
		t.Errorf("items %v", items)
	}
	defer func() {
		if recover() == nil {
			t.Error("AddProvider with a non-provider did not panic")
		}
	}()
	d.AddProvider(struct{}{})
}

// adminOnly advertises a node only to one requester (XEP-0030 §3.1 lets an
// entity answer per requester; XEP-0050 §2.2 does so for commands).
type adminOnly struct{ admin jid.JID }

func (adminOnly) HandleStanza(context.Context, mux.Sender, *stanza.Stanza) error { return nil }
func (a adminOnly) Items(q disco.Query) []disco.Item {
	if q.Node == "" && q.From.Bare().Equal(a.admin) {
		return []disco.Item{{JID: q.To, Node: "admin"}}
	}
	return nil
}

func TestQueryRequester(t *testing.T) {
	m := mux.New()
	m.HandlePresence("", adminOnly{jid.MustParse("root@x")})
	d := disco.New(m)
	svc := jid.MustParse("svc.x")
	if items, _ := d.ItemsFor(disco.Query{From: jid.MustParse("root@x/pc"), To: svc}); len(items) != 1 {
		t.Errorf("admin sees %v, want the admin node", items)
	}
	if items, _ := d.ItemsFor(disco.Query{From: jid.MustParse("eve@x/pc"), To: svc}); len(items) != 0 {
		t.Errorf("others see %v, want nothing", items)
	}
	// Through the wire: HandleStanza passes the IQ's from.
	rec := &muxtest.Recorder{}
	iq := stanza.NewIQ(stanza.TypeGet, svc, stanza.NewBuilder(disco.NSItems, "query").Element())
	iq.From = jid.MustParse("root@x/pc")
	if err := d.HandleStanza(context.Background(), rec, iq); err != nil {
		t.Fatal(err)
	}
	if sent := rec.Sent(); len(sent) != 1 || !strings.Contains(sent[0].String(), `node='admin'`) {
		t.Errorf("answer %v, want the admin node", sent)
	}
}
