package bridge_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"xmppkit.dev/bridge"
	"xmppkit.dev/bridge/bridgetest"
	"xmppkit.dev/jid"
	"xmppkit.dev/router"
	"xmppkit.dev/stanza"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return c
}

// setup is a gateway on the in-memory network with alice registered as
// legacy account "alice" with contact bob, online.
func setup(t *testing.T, opts ...bridgetest.Option) (*bridgetest.Env, *bridgetest.Account, *bridgetest.User) {
	t.Helper()
	env := bridgetest.New(t, bridge.Config{Name: "Memnet"}, opts...)
	tap(t, env.XMPP.Router)
	acc := env.Network().Account("alice")
	if err := acc.AddContact(bridge.Contact{ID: "bob", Name: "Bob Builder", Status: "at work"}); err != nil {
		t.Fatal(err)
	}
	u := env.Register("alice", map[string]string{"username": "alice", "password": "pw"})
	return env, acc, u
}

func next(t *testing.T, acc *bridgetest.Account) bridgetest.Sent {
	t.Helper()
	s, err := acc.Next(ctx(t))
	if err != nil {
		t.Fatalf("nothing reached the network: %v", err)
	}
	return s
}

func TestLoginRosterAndPresence(t *testing.T) {
	env, acc, u := setup(t)
	if acc.Logins() != 1 || !acc.Online() {
		t.Fatalf("logins %d online %v", acc.Logins(), acc.Online())
	}
	// The contact is in alice's roster through the roster privilege.
	bob := u.Puppet("bob")
	var item router.RosterItem
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, it := range env.XMPP.Router.Roster(u.JID()) {
			if it.JID.Equal(bob) {
				item = it
			}
		}
		if !item.JID.IsZero() {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if item.JID.IsZero() || item.Name != "Bob Builder" {
		t.Fatalf("roster: %+v", env.XMPP.Router.Roster(u.JID()))
	}
	// bob's presence with status reaches alice.
	p := u.Expect(func(st *stanza.Stanza) bool {
		return st.Kind == stanza.Presence && st.From.Equal(bob) && st.Type == ""
	}, "bob's presence")
	if s, ok := p.Child("", "status"); !ok || !strings.Contains(s.XML(), "at work") {
		t.Fatalf("presence %v", p)
	}
	if _, ok := p.Child(bridge.NSVCardUpdate, "x"); !ok {
		t.Fatalf("no XEP-0153 update in %v", p)
	}
	// Going offline logs out.
	u.MustSend(stanza.NewPresence(stanza.TypeUnavailable, jid.JID{}))
	deadline = time.Now().Add(5 * time.Second)
	for acc.Online() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if acc.Online() {
		t.Fatal("still logged in after the last device left")
	}
}

func TestMessagesBothWays(t *testing.T) {
	_, acc, u := setup(t)
	// user -> network, with a receipt request.
	m := stanza.NewMessage(stanza.TypeChat, u.Puppet("bob"), "hello bob")
	m.ID = "x1"
	m.SetPayloadElements(stanza.TextElement("", "body", "hello bob"), stanza.Element{Space: bridge.NSReceipts, Local: "request"})
	u.MustSend(m)
	s := next(t, acc)
	msg, ok := s.Event.(*bridge.Message)
	if !ok || msg.Chat != "bob" || msg.Body != "hello bob" || msg.ID != "x1" || msg.From != "" {
		t.Fatalf("network got %#v", s.Event)
	}
	r := u.ExpectChild("bob", bridge.NSReceipts, "received")
	if !strings.Contains(r.String(), "id=\"x1\"") && !strings.Contains(r.String(), "id='x1'") {
		t.Fatalf("receipt %v", r)
	}
	legacyX1 := s.ID

	// network -> user.
	id, err := acc.Message(ctx(t), "bob", "hi alice")
	if err != nil {
		t.Fatal(err)
	}
	in := u.ExpectFrom(stanza.Message, "bob")
	if in.Body() != "hi alice" || in.ID != id || in.Type != stanza.TypeChat {
		t.Fatalf("got %v", in)
	}
	for _, c := range []string{"origin-id", "stanza-id"} {
		if _, ok := in.Child(bridge.NSSID, c); !ok {
			t.Fatalf("no %s in %v", c, in)
		}
	}
	if _, ok := in.Child(bridge.NSMarkers, "markable"); !ok {
		t.Fatalf("not markable: %v", in)
	}

	// Correction of alice's message (XEP-0308) names the legacy id.
	c := stanza.NewMessage(stanza.TypeChat, u.Puppet("bob"), "")
	c.SetPayloadElements(stanza.TextElement("", "body", "hello Bob"), stanza.MustElement(`<replace xmlns='urn:xmpp:message-correct:0' id='x1'/>`))
	u.MustSend(c)
	s = next(t, acc)
	if cm, ok := s.Event.(*bridge.Message); !ok || cm.Replaces != legacyX1 || cm.Body != "hello Bob" {
		t.Fatalf("correction %#v", s.Event)
	}

	// Reaction to bob's message (XEP-0444).
	re := stanza.NewMessage(stanza.TypeChat, u.Puppet("bob"), "")
	re.SetPayloadElements(stanza.MustElement(`<reactions xmlns='urn:xmpp:reactions:0' id='` + id + `'><reaction>👍</reaction></reactions>`))
	u.MustSend(re)
	s = next(t, acc)
	if rr, ok := s.Event.(*bridge.Reaction); !ok || rr.ID != id || len(rr.Emojis) != 1 || rr.Emojis[0] != "👍" {
		t.Fatalf("reaction %#v", s.Event)
	}

	// Reply (XEP-0461) with its fallback cut.
	rp := stanza.NewMessage(stanza.TypeChat, u.Puppet("bob"), "")
	rp.SetPayloadElements(stanza.TextElement("", "body", "> hi alice\nyes"),
		stanza.MustElement(`<reply xmlns='urn:xmpp:reply:0' to='`+u.Puppet("bob").String()+`' id='`+id+`'/>`),
		stanza.MustElement(`<fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'><body start='0' end='11'/></fallback>`))
	u.MustSend(rp)
	s = next(t, acc)
	if rm, ok := s.Event.(*bridge.Message); !ok || rm.Body != "yes" || rm.ReplyTo == nil || rm.ReplyTo.ID != id || rm.ReplyTo.Author != "bob" {
		t.Fatalf("reply %#v", s.Event)
	}

	// Retraction (XEP-0424, both versions).
	for _, el := range []string{
		`<retract xmlns='urn:xmpp:message-retract:1' id='x1'/>`,
		`<apply-to xmlns='urn:xmpp:fasten:0' id='x1'><retract xmlns='urn:xmpp:message-retract:0'/></apply-to>`,
	} {
		rt := stanza.NewMessage(stanza.TypeChat, u.Puppet("bob"), "")
		rt.SetPayloadElements(stanza.MustElement(el))
		u.MustSend(rt)
		s = next(t, acc)
		if rr, ok := s.Event.(*bridge.Retraction); !ok || rr.ID != legacyX1 {
			t.Fatalf("retraction %#v", s.Event)
		}
	}

	// Read marker and chat state.
	dm := stanza.NewMessage(stanza.TypeChat, u.Puppet("bob"), "")
	dm.SetPayloadElements(stanza.MustElement(`<displayed xmlns='urn:xmpp:chat-markers:0' id='` + id + `'/>`))
	u.MustSend(dm)
	if d, ok := next(t, acc).Event.(*bridge.Displayed); !ok || d.ID != id {
		t.Fatal("no displayed")
	}
	cs := stanza.NewMessage(stanza.TypeChat, u.Puppet("bob"), "")
	cs.SetPayloadElements(stanza.Element{Space: bridge.NSChatStates, Local: "composing"})
	u.MustSend(cs)
	if d, ok := next(t, acc).Event.(*bridge.ChatState); !ok || d.State != bridge.Composing {
		t.Fatal("no chat state")
	}

	// Network -> user: correction, reaction, retraction, receipt,
	// displayed, chat state, reply.
	emit := func(ev bridge.Event) {
		t.Helper()
		if err := acc.Emit(ctx(t), ev); err != nil {
			t.Fatal(err)
		}
	}
	emit(&bridge.Message{Chat: "bob", From: "bob", ID: "L-fix", Body: "hi Alice", Replaces: id})
	got := u.ExpectChild("bob", bridge.NSCorrect, "replace")
	if !strings.Contains(got.String(), id) || got.Body() != "hi Alice" {
		t.Fatalf("correction %v", got)
	}
	emit(&bridge.Reaction{Chat: "bob", From: "bob", ID: legacyX1, Emojis: []string{"❤"}})
	got = u.ExpectChild("bob", bridge.NSReactions, "reactions")
	if !strings.Contains(got.String(), "x1") || !strings.Contains(got.String(), "❤") {
		t.Fatalf("reaction names the client's id: %v", got)
	}
	emit(&bridge.Retraction{Chat: "bob", From: "bob", ID: id})
	u.ExpectChild("bob", bridge.NSRetract, "retract")
	emit(&bridge.Displayed{Chat: "bob", From: "bob", ID: legacyX1})
	got = u.ExpectChild("bob", bridge.NSMarkers, "displayed")
	if !strings.Contains(got.String(), "x1") {
		t.Fatalf("displayed %v", got)
	}
	emit(&bridge.ChatState{Chat: "bob", From: "bob", State: bridge.Paused})
	u.ExpectChild("bob", bridge.NSChatStates, "paused")
	emit(&bridge.Message{Chat: "bob", From: "bob", ID: "L-re", Body: "sure", ReplyTo: &bridge.Reply{ID: legacyX1, Author: "", Quote: "hello Bob"}})
	got = u.ExpectChild("bob", bridge.NSReply, "reply")
	if !strings.HasPrefix(got.Body(), "> hello Bob\n") || !strings.Contains(got.String(), "x1") {
		t.Fatalf("reply %v", got)
	}
}

func TestOwnMessagesThroughPrivilege(t *testing.T) {
	env, acc, u := setup(t)
	// The user writes from the network's other client: the gateway sends
	// it on the user's behalf; the router routes it to the puppet, i.e.
	// back to the gateway, which must not pass it to the network again.
	if err := acc.Emit(ctx(t), &bridge.Message{Chat: "bob", From: "", ID: "own1", Body: "sent from my phone"}); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if s, err := acc.Next(sctx); err == nil {
		t.Fatalf("the reflection reached the network again: %#v", s)
	}
	_ = env
	u.ExpectNoMessage(200 * time.Millisecond)
}

func TestDegradedWithoutPrivileges(t *testing.T) {
	env, acc, u := setup(t, bridgetest.WithPrivileges(router.Privileges{}))
	rep := env.Gateway.Report(jid.JID{})
	if rep.Capabilities[0].Full {
		t.Fatalf("report says the roster works: %v", rep)
	}
	// bob asks to be subscribed to, and alice is told why once.
	sub := u.Expect(func(st *stanza.Stanza) bool {
		return st.Kind == stanza.Presence && st.Type == stanza.TypeSubscribe && st.From.Equal(u.Puppet("bob"))
	}, "bob's subscription request")
	if nick, ok := sub.Child(bridge.NSNick, "nick"); !ok || !strings.Contains(nick.XML(), "Bob Builder") {
		t.Fatalf("no nick in %v", sub)
	}
	// A second contact asks too, but the notice is not repeated.
	acc.AddContact(bridge.Contact{ID: "carol"})
	u.Expect(func(st *stanza.Stanza) bool {
		return st.Kind == stanza.Presence && st.Type == stanza.TypeSubscribe && st.From.Equal(u.Puppet("carol"))
	}, "carol's subscription request")
	// Own messages are shown as notes from the contact.
	if err := acc.Emit(ctx(t), &bridge.Message{Chat: "bob", From: "", ID: "own1", Body: "from my phone"}); err != nil {
		t.Fatal(err)
	}
	got := u.ExpectFrom(stanza.Message, "bob")
	if !strings.Contains(got.Body(), "from my phone") {
		t.Fatalf("got %v", got)
	}
}

func TestDroppedSessionRetries(t *testing.T) {
	_, acc, u := setup(t)
	if err := acc.Drop(errors.New("network gone"), true); err != nil {
		t.Fatal(err)
	}
	u.Expect(func(st *stanza.Stanza) bool {
		return st.Kind == stanza.Message && strings.Contains(st.Body(), "network gone")
	}, "the notice of the drop")
	eventually(t, "a second login", func() bool { return acc.Logins() == 2 && acc.Online() })
	u.WaitConnected()
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
