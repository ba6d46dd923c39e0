package router

import (
	"context"
	"errors"
	"testing"

	"xmppkit.dev/disco"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/ping"
	"xmppkit.dev/stanza"
)

// TestOwnDomainAnswers: the router answers disco#info, disco#items and ping
// for its domain and, on their behalf, for its accounts' bare JIDs, with
// the disco and ping packages' handlers.
func TestOwnDomainAnswers(t *testing.T) {
	r, _ := newTestRouter(t, Config{})
	for _, d := range []string{"b.localhost", "a.localhost"} {
		if _, err := r.Attach(d, mux.New()); err != nil {
			t.Fatal(err)
		}
	}
	alice, err := r.Connect(jid.MustParse("alice@localhost/phone"))
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	bob, err := r.Connect(jid.MustParse("bob@localhost/pc"))
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	ctx := ctxT(t)
	server := jid.MustParse("localhost")

	info, err := disco.GetInfo(ctx, alice, server, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Identities) != 1 || info.Identities[0] != (disco.Identity{Category: "server", Type: "im", Name: "xmppkit router"}) {
		t.Errorf("server identities %v", info.Identities)
	}
	for _, f := range []string{disco.NSInfo, disco.NSItems, ping.NS} {
		if !info.HasFeature(f) {
			t.Errorf("server features %q lack %q", info.Features, f)
		}
	}
	items, err := disco.GetItems(ctx, alice, server, "")
	if err != nil || len(items) != 2 || items[0].JID.String() != "a.localhost" || items[1].JID.String() != "b.localhost" {
		t.Errorf("server items %v, %v: want the attached components, sorted", items, err)
	}
	if _, err := disco.GetInfo(ctx, alice, server, "x"); !errors.Is(err, stanza.ErrItemNotFound) {
		t.Errorf("unknown node: %v", err)
	}
	if err := ping.Send(ctx, alice, server); err != nil {
		t.Errorf("ping: %v", err)
	}
	_, err = alice.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, server, stanza.Element{Space: "jabber:iq:version", Local: "query"}))
	if !errors.Is(err, stanza.ErrServiceUnavailable) {
		t.Errorf("version query to the server: %v, want service-unavailable", err)
	}

	// On behalf of an account: bob asks alice's bare JID, once subscribed
	// to her presence (a stranger gets service-unavailable, see
	// TestAccountIQGate).
	subscribe(t, r, bob, alice)
	info, err = disco.GetInfo(ctx, bob, jid.MustParse("alice@localhost"), "")
	if err != nil || len(info.Identities) != 1 || info.Identities[0].Category != "account" || !info.HasFeature(ping.NS) {
		t.Errorf("account info %+v, %v", info, err)
	}
	if items, err := disco.GetItems(ctx, bob, jid.MustParse("alice@localhost"), ""); err != nil || len(items) != 0 {
		t.Errorf("account items %v, %v", items, err)
	}

	// An IQ without to is for the sender's own account (RFC 6120 §10.3.3);
	// the answer comes from the address it was sent to: none.
	q := stanza.NewIQ(stanza.TypeGet, jid.JID{}, stanza.Element{Space: disco.NSInfo, Local: "query"})
	if err := alice.Send(ctx, q); err != nil {
		t.Fatal(err)
	}
	res, err := alice.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	info, err = disco.ParseInfo([]byte(res.Payload()))
	if res.Type != stanza.TypeResult || res.ID != q.ID || !res.From.IsZero() || err != nil ||
		len(info.Identities) != 1 || info.Identities[0].Category != "account" {
		t.Errorf("own account info: %v (%+v, %v)", res, info, err)
	}
}

func TestOwnSenderSendsNoIQs(t *testing.T) {
	r, _ := newTestRouter(t, Config{})
	if _, err := (ownSender{r: r}).SendIQ(context.Background(), stanza.NewIQ(stanza.TypeGet, jid.MustParse("localhost"))); err == nil {
		t.Error("SendIQ from the router's own handlers succeeded")
	}
}
