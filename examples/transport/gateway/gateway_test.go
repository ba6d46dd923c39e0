package gateway

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"xmppkit.dev/disco"
	"xmppkit.dev/jid"
	"xmppkit.dev/servertest"
	"xmppkit.dev/stanza"
)

// closedAddr returns a loopback address nobody listens on.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestDiscoWithoutIRC: the gateway and its rooms answer disco#info (XEP-0030)
// and the XEP-0100 prompt without any IRC server reachable.
func TestDiscoWithoutIRC(t *testing.T) {
	_, env := newEnv(t, closedAddr(t), nil)
	alice := env.Client("alice")
	ctx := context.Background()
	info, err := disco.GetInfo(ctx, alice, jid.MustParse("irc.localhost"), "")
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, id := range info.Identities {
		ids[id.Category+"/"+id.Type] = true
	}
	if !ids["gateway/irc"] || !ids["conference/irc"] {
		t.Errorf("gateway identities: %+v", info.Identities)
	}
	for _, f := range []string{NSMUC, NSRegister, NSGateway, disco.NSInfo} {
		if !info.HasFeature(f) {
			t.Errorf("gateway lacks feature %s: %v", f, info.Features)
		}
	}
	room, err := disco.GetInfo(ctx, alice, jid.MustParse("#Some-Room@irc.localhost"), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(room.Identities) != 1 || room.Identities[0].Category != "conference" || !room.HasFeature(NSMUC) {
		t.Errorf("room info: %+v", room)
	}
	user, err := disco.GetInfo(ctx, alice, jid.MustParse("bob@irc.localhost"), "")
	if err != nil || user.Identities[0].Category != "client" {
		t.Errorf("user info: %+v %v", user, err)
	}
	res, err := alice.IQTo("irc.localhost", "get", "<query xmlns='jabber:iq:gateway'/>")
	if err != nil || !strings.Contains(res.Payload(), "<prompt>") {
		t.Errorf("XEP-0100 prompt: %v %v", res, err)
	}
	for legacy, want := range map[string]string{
		"bob":                  "bob@irc.localhost",
		"#Chan":                "#chan@irc.localhost",
		"#chan%irc.test.local": "#chan@irc.localhost",
		"nick@other.net":       "nick%other.net@irc.localhost",
		"d'artagnan":           `d\27artagnan@irc.localhost`,
	} {
		res, err := alice.IQTo("irc.localhost", "set", stanza.NewBuilder(NSGateway, "query").TextElement("prompt", legacy).Element().XML())
		if err != nil || !strings.Contains(res.Payload(), "<jid>"+want+"</jid>") {
			t.Errorf("translate %q: %v %v", legacy, res, err)
		}
	}
	_, err = alice.IQTo("irc.localhost", "set", "<query xmlns='jabber:iq:gateway'><prompt>two words</prompt></query>")
	if !errors.Is(err, stanza.ErrNotAcceptable) {
		t.Errorf("bad legacy address: %v", err)
	}
	// A join to an unreachable server fails with remote-server-not-found.
	presenceTo(t, alice, "", "#x@irc.localhost/alice")
	e := expectStanza(t, alice, stanza.Presence, stanza.TypeError, "#x@irc.localhost/alice")
	if e.Err().Condition != stanza.RemoteServerNotFound {
		t.Errorf("unreachable: %s", e)
	}
	// A nick IRC cannot carry is malformed.
	presenceTo(t, alice, "", "#x@irc.localhost/my nick")
	if e := expectStanza(t, alice, stanza.Presence, stanza.TypeError, "#x@irc.localhost/my nick"); e.Err().Condition != stanza.JIDMalformed {
		t.Errorf("bad nick: %s", e)
	}
	// A join without a nick is malformed (XEP-0045 §7.2.1).
	presenceTo(t, alice, "", "#x@irc.localhost")
	if e := expectStanza(t, alice, stanza.Presence, stanza.TypeError, "#x@irc.localhost"); e.Err().Condition != stanza.JIDMalformed {
		t.Errorf("no nick: %s", e)
	}
}

// TestRegistration covers XEP-0077: the form, legacy and data form
// submissions, a change, refusals, removal, and persistence across a restart
// of the gateway with a JournalStore.
func TestRegistration(t *testing.T) {
	dir := t.TempDir()
	store, err := OpenJournalStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, env := newEnv(t, closedAddr(t), store)
	alice := env.Client("alice")
	res, err := alice.IQ("get", "<query xmlns='jabber:iq:register'/>")
	if err != nil || strings.Contains(res.Payload(), "<registered/>") || !strings.Contains(strings.ReplaceAll(res.Payload(), `"`, "'"), "var='nick'") {
		t.Fatalf("form: %v %v", res, err)
	}
	for _, tc := range []struct {
		payload string
		cond    stanza.Condition
	}{
		{"<query xmlns='jabber:iq:register'><password>x</password></query>", stanza.NotAcceptable},
		{"<query xmlns='jabber:iq:register'><nick>#chan</nick></query>", stanza.NotAcceptable},
		{"<query xmlns='jabber:iq:register'><nick>a b</nick></query>", stanza.NotAcceptable},
		{"<query xmlns='jabber:iq:register'><remove/></query>", stanza.RegistrationRequired},
		{"<query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'><field var='nick'><value>al</value></field><field var='server'><value>nowhere</value></field></x></query>", stanza.NotAcceptable},
	} {
		_, err := alice.IQ("set", tc.payload)
		var se *stanza.Error
		if !errors.As(err, &se) || se.Condition != tc.cond {
			t.Errorf("%s: %v, want %s", tc.payload, err, tc.cond)
		}
	}
	if _, err := alice.IQ("set", "<query xmlns='jabber:iq:register'><nick>al</nick><password>pw</password></query>"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.IQ("set", "<query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'><field var='nick'><value>alice</value></field><field var='server'><value>irc.test.local</value></field></x></query>"); err != nil {
		t.Fatal(err)
	}
	// A form with an empty password keeps the stored one (the form never
	// shows it).
	if r, ok := stored(store, "alice@localhost"); !ok || r.Nick != "alice" || r.Server != "irc.test.local" || r.Password != "pw" {
		t.Errorf("stored: %+v", r)
	}
	bob := env.Client("bob")
	if _, err := bob.IQ("set", "<query xmlns='jabber:iq:register'><nick>bob</nick></query>"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.IQ("set", "<query xmlns='jabber:iq:register'><remove/></query>"); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	store2, err := OpenJournalStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer store2.Close()
	_, env2 := newEnv(t, closedAddr(t), store2)
	alice2 := env2.Client("alice")
	res, err = alice2.IQ("get", "<query xmlns='jabber:iq:register'/>")
	if err != nil || !strings.Contains(res.Payload(), "<registered/>") || !strings.Contains(res.Payload(), "<nick>alice</nick>") {
		t.Errorf("after restart: %v %v", res, err)
	}
	if _, ok := stored(store2, "bob@localhost"); ok {
		t.Error("bob's removed registration came back")
	}
}

// TestReconnect: when the IRC server goes away the user sees the gateway go
// unavailable with the reason and the rooms end (status 332); when it comes
// back the gateway reconnects on its own and says so with presence.
func TestReconnect(t *testing.T) {
	checkNoLeaks(t)
	srv := servertest.Ngircd(t, servertest.NgircdOptions{})
	_, env := newEnv(t, srv.Addr, nil)
	alice := env.Client("alice")
	if _, err := alice.IQ("set", "<query xmlns='jabber:iq:register'><nick>alice</nick></query>"); err != nil {
		t.Fatal(err)
	}
	presenceTo(t, alice, "", "irc.localhost")
	if p := expectStanza(t, alice, stanza.Presence, "", "irc.localhost"); !strings.Contains(p.Payload(), "Connected") {
		t.Fatalf("online: %s", p)
	}
	presenceTo(t, alice, "", "#r@irc.localhost/alice")
	expectStanza(t, alice, stanza.Presence, "", "#r@irc.localhost/alice")
	expectStanza(t, alice, stanza.Message, stanza.TypeGroupchat, "#r@irc.localhost")
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	if p := expectStanza(t, alice, stanza.Presence, stanza.TypeUnavailable, "#r@irc.localhost/alice"); !hasStatus(p, "110", "332") {
		t.Errorf("room end: %s", p)
	}
	if p := expectStanza(t, alice, stanza.Presence, stanza.TypeUnavailable, "irc.localhost"); !strings.Contains(p.Payload(), "retrying in") {
		t.Errorf("gateway state: %s", p)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	for {
		p := next(t, alice)
		if p.Kind == stanza.Presence && p.From.String() == "irc.localhost" && p.Type == "" {
			if !strings.Contains(p.Payload(), "Connected to irc.test.local as alice") {
				t.Errorf("reconnected: %s", p)
			}
			break
		}
	}
	bob := dialIRC(t, srv.Addr, "bob")
	bob.send("ISON alice")
	if l := bob.expect(" 303 bob "); !strings.HasSuffix(l, ":alice") {
		t.Errorf("alice not back on IRC: %s", l)
	}
}
