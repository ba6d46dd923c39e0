package main

import (
	"strings"
	"testing"

	"xmppkit.dev/bridge"
	"xmppkit.dev/bridge/bridgetest"
	"xmppkit.dev/stanza"
)

// TestEchoBridge drives the example as an XMPP user would, on the
// in-memory router (package bridgetest).
func TestEchoBridge(t *testing.T) {
	env := bridgetest.New(t, config(bridgetest.Domain, "", nil))
	u := env.Register("alice", map[string]string{"username": "alice", "password": "secret"})

	m := u.Say("echo", "hello")
	got := u.ExpectChild("echo", bridge.NSReply, "reply")
	if !strings.HasSuffix(got.Body(), "hello") || !strings.HasPrefix(got.Body(), "> hello\n") {
		t.Fatalf("echo answered %q", got.Body())
	}
	u.ExpectChild("echo", bridge.NSReceipts, "received")

	// A correction corrects the answer.
	fix := stanza.NewMessage(stanza.TypeChat, u.Puppet("echo"), "")
	fix.SetPayloadElements(stanza.TextElement("", "body", "hello!"), stanza.NewBuilder(bridge.NSCorrect, "replace").Attr("id", m.ID).Element())
	u.MustSend(fix)
	c := u.ExpectChild("echo", bridge.NSCorrect, "replace")
	if c.Body() != "hello!" {
		t.Fatalf("corrected answer %v", c)
	}

	u.Say("shout", "quiet please")
	got = u.Expect(func(st *stanza.Stanza) bool { return strings.Contains(st.Body(), "QUIET PLEASE") }, "the shout")
	if !got.From.Bare().Equal(u.Puppet("shout")) {
		t.Fatalf("from %v", got.From)
	}

	// The lobby echoes what is said in it.
	room := u.Puppet("lobby")
	occ, _ := room.WithResource("alice")
	p := stanza.NewPresence("", occ)
	p.SetPayloadElements(stanza.Element{Space: bridge.NSMUC, Local: "x"})
	u.MustSend(p)
	u.Expect(func(st *stanza.Stanza) bool { return st.Kind == stanza.Presence && st.From.Equal(occ) }, "the self-presence")
	u.MustSend(stanza.NewMessage(stanza.TypeGroupchat, room, "hi all"))
	u.Expect(func(st *stanza.Stanza) bool { return st.Body() == "alice said: hi all" && st.From.Resource() == "echo" }, "the lobby's echo")
}
