package bridge_test

import (
	"strings"
	"testing"

	"xmppkit.dev/bridge"
	"xmppkit.dev/bridge/archive"
	"xmppkit.dev/bridge/bridgetest"
	"xmppkit.dev/jid"
	"xmppkit.dev/mam"
	"xmppkit.dev/stanza"
)

func groupSetup(t *testing.T, cfg bridge.Config) (*bridgetest.Env, *bridgetest.Account, *bridgetest.User) {
	t.Helper()
	cfg.Name = "Memnet"
	env := bridgetest.New(t, cfg)
	acc := env.Network().Account("alice")
	acc.AddContact(bridge.Contact{ID: "bob", Name: "Bob"})
	acc.AddGroup(bridge.Group{ID: "Team Room", Name: "The team", Subject: "ship it", SubjectBy: "bob",
		Participants: []bridge.Participant{
			{ID: "bob", Nick: "bob", Role: bridge.RoleModerator, Affiliation: bridge.AffOwner},
			{ID: "carol", Nick: "carol"},
		}})
	u := env.Register("alice", map[string]string{"username": "alice", "password": "pw"})
	return env, acc, u
}

func join(t *testing.T, u *bridgetest.User, roomJID jid.JID, nick string) *stanza.Stanza {
	t.Helper()
	occ, _ := roomJID.WithResource(nick)
	p := stanza.NewPresence("", occ)
	p.SetPayloadElements(stanza.Element{Space: bridge.NSMUC, Local: "x"})
	u.MustSend(p)
	return u.Expect(func(st *stanza.Stanza) bool {
		return st.Kind == stanza.Presence && st.From.Equal(occ) && hasCode(st, "110")
	}, "the self-presence")
}

func TestGroupJoinAndMessages(t *testing.T) {
	_, acc, u := groupSetup(t, bridge.Config{})
	roomJID := u.Puppet("Team Room")
	if roomJID.Local() != `team\20room` {
		t.Fatalf("room JID %v (XEP-0106)", roomJID)
	}
	// The join reached the network before the self-presence.
	self := join(t, u, roomJID, "ally")
	if j, ok := next(t, acc).Event.(*bridge.Join); !ok || j.Group != "Team Room" || j.Nick != "ally" {
		t.Fatal("no Join")
	}
	if _, ok := self.Child(bridge.NSOccupantID, "occupant-id"); !ok {
		t.Fatalf("self-presence without occupant-id: %v", self)
	}
	// The occupants came before, with their occupant ids.
	var bobPresence *stanza.Stanza
	for _, st := range u.Inbox() {
		if st.Kind == stanza.Presence && st.From.Resource() == "bob" {
			bobPresence = st
		}
	}
	if bobPresence == nil || !strings.Contains(bobPresence.String(), "affiliation='owner'") {
		t.Fatalf("no presence of bob: %v", u.Inbox())
	}
	oid, ok := bobPresence.Child(bridge.NSOccupantID, "occupant-id")
	if !ok {
		t.Fatalf("no occupant-id for bob: %v", bobPresence)
	}
	subj := u.Expect(func(st *stanza.Stanza) bool { _, ok := st.Child("", "subject"); return ok }, "the subject")
	if !strings.Contains(subj.String(), "ship it") || subj.From.Resource() != "bob" {
		t.Fatalf("subject %v", subj)
	}

	// A participant speaks: from room/bob with the same occupant id.
	if err := acc.Emit(ctx(t), &bridge.Message{Chat: "Team Room", From: "bob", ID: "g1", Body: "standup!"}); err != nil {
		t.Fatal(err)
	}
	m := u.Expect(func(st *stanza.Stanza) bool { return st.Kind == stanza.Message && st.Body() == "standup!" }, "bob's groupchat")
	if m.Type != stanza.TypeGroupchat || m.From.Resource() != "bob" {
		t.Fatalf("got %v", m)
	}
	if moid, _ := m.Child(bridge.NSOccupantID, "occupant-id"); moid.XML() != oid.XML() {
		t.Fatalf("occupant ids differ: %s vs %s", moid.XML(), oid.XML())
	}
	if sid, ok := m.Child(bridge.NSSID, "stanza-id"); !ok || !strings.Contains(sid.XML(), "g1") || !strings.Contains(sid.XML(), roomJID.String()) {
		t.Fatalf("stanza-id %v", m)
	}

	// alice speaks: the network gets it, every device gets the reflection
	// with the client's id and the network's id as stanza-id.
	say := stanza.NewMessage(stanza.TypeGroupchat, roomJID, "morning")
	say.ID = "c1"
	u.MustSend(say)
	s := next(t, acc)
	if gm, ok := s.Event.(*bridge.Message); !ok || !gm.Group || gm.Chat != "Team Room" || gm.Body != "morning" {
		t.Fatalf("network got %#v", s.Event)
	}
	refl := u.Expect(func(st *stanza.Stanza) bool { return st.Kind == stanza.Message && st.ID == "c1" }, "the reflection")
	if refl.From.Resource() != "ally" || !strings.Contains(refl.String(), s.ID) {
		t.Fatalf("reflection %v (legacy id %s)", refl, s.ID)
	}

	// A reaction to bob's message names the legacy id on the network.
	re := stanza.NewMessage(stanza.TypeGroupchat, roomJID, "")
	re.SetPayloadElements(stanza.MustElement(`<reactions xmlns='urn:xmpp:reactions:0' id='g1'><reaction>🚀</reaction></reactions>`))
	u.MustSend(re)
	if r, ok := next(t, acc).Event.(*bridge.Reaction); !ok || r.ID != "g1" || r.Chat != "Team Room" {
		t.Fatal("no reaction in the group")
	}
	// The network's reaction to alice's message names the client's id.
	acc.Emit(ctx(t), &bridge.Reaction{Chat: "Team Room", From: "carol", ID: s.ID, Emojis: []string{"👏"}})
	rx := u.Expect(func(st *stanza.Stanza) bool {
		_, ok := st.Child(bridge.NSReactions, "reactions")
		return ok && st.From.Resource() == "carol"
	}, "carol's reaction")
	if !strings.Contains(rx.String(), s.ID) {
		t.Fatalf("reaction %v", rx)
	}

	// carol leaves, dave joins, bob renames.
	acc.Emit(ctx(t), &bridge.Participant{Group: "Team Room", ID: "carol", Left: true, Reason: "bye"})
	u.Expect(func(st *stanza.Stanza) bool {
		return st.Kind == stanza.Presence && st.Type == stanza.TypeUnavailable && st.From.Resource() == "carol"
	}, "carol leaving")
	acc.Emit(ctx(t), &bridge.Participant{Group: "Team Room", ID: "bob", Nick: "robert"})
	u.Expect(func(st *stanza.Stanza) bool {
		return st.Kind == stanza.Presence && st.Type == stanza.TypeUnavailable && st.From.Resource() == "bob" && hasCode(st, "303")
	}, "bob's nick change")

	// Leaving the room tells the network.
	occ, _ := roomJID.WithResource("ally")
	u.MustSend(stanza.NewPresence(stanza.TypeUnavailable, occ))
	for {
		ev := next(t, acc).Event
		if l, ok := ev.(*bridge.Leave); ok {
			if l.Group != "Team Room" {
				t.Fatal(l)
			}
			break
		}
	}
}

func TestGroupUnknownAndHistory(t *testing.T) {
	arch := &archive.Archive{Store: &mam.Memory{}}
	_, acc, u := groupSetup(t, bridge.Config{Archive: arch})
	// A room the network does not have: the join fails with its error.
	nowhere := u.Puppet("nowhere")
	occ, _ := nowhere.WithResource("ally")
	p := stanza.NewPresence("", occ)
	p.SetPayloadElements(stanza.Element{Space: bridge.NSMUC, Local: "x"})
	u.MustSend(p)
	e := u.Expect(func(st *stanza.Stanza) bool { return st.Kind == stanza.Presence && st.Type == stanza.TypeError }, "the join error")
	if err := e.Err(); err == nil || err.Condition != stanza.ItemNotFound {
		t.Fatalf("join error %v", e)
	}

	// Messages while nobody is in the room are archived, and the user is
	// invited once.
	for _, b := range []string{"first", "second"} {
		if err := acc.Emit(ctx(t), &bridge.Message{Chat: "Team Room", From: "bob", ID: "h-" + b, Body: b}); err != nil {
			t.Fatal(err)
		}
	}
	inv := u.Expect(func(st *stanza.Stanza) bool { _, ok := st.Child(bridge.NSConference, "x"); return ok }, "an invitation")
	if !strings.Contains(inv.String(), u.Puppet("Team Room").String()) {
		t.Fatalf("invitation %v", inv)
	}
	// Joining gives the history.
	join(t, u, u.Puppet("Team Room"), "ally")
	for _, b := range []string{"first", "second"} {
		h := u.Expect(func(st *stanza.Stanza) bool { return st.Kind == stanza.Message && st.Body() == b }, "history "+b)
		if _, ok := h.Child(bridge.NSDelay, "delay"); !ok {
			t.Fatalf("history without delay: %v", h)
		}
	}
}

func hasCode(st *stanza.Stanza, code string) bool {
	x := st.String()
	return strings.Contains(x, "code='"+code+"'") || strings.Contains(x, `code="`+code+`"`)
}
