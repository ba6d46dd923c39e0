package gateway

import (
	"strings"
	"testing"
	"time"

	"xmppkit.dev/bridge/room"
	"xmppkit.dev/examples/transport/irc"
	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// The IRCv3 cases run against InspIRCd (Debian's 3.x with its ircv3
// modules: server-time, msgid, echo-message, labeled-response,
// message-tags), through the embedded router and Prosody; the plain path
// is tested on ngircd (TestNgircd*).
var ircv3Cases = []struct {
	name string
	run  func(t *testing.T, h *host)
}{
	{"server-time-and-msgid", caseServerTime},
	{"echo-message-reflection", caseEcho},
	{"reply/irc-to-xmpp", caseReplyFromIRC},
	{"reply/xmpp-to-irc", caseReplyToIRC},
	{"reaction/xmpp-to-irc", caseReactionToIRC},
	{"reaction/irc-to-xmpp", caseReactionFromIRC},
	{"correction", caseCorrection},
	{"sasl/plain", caseSASLPlain},
	{"sasl/wrong-password", caseSASLWrong},
}

func TestInspircdRouter(t *testing.T) {
	checkNoLeaks(t)
	h := routerHostWith(t, inspircdTLS(t))
	for _, c := range ircv3Cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, h) })
	}
}

func TestInspircdProsody(t *testing.T) {
	checkNoLeaks(t)
	h := prosodyHostWith(t, inspircdTLS(t))
	for _, c := range ircv3Cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, h) })
	}
}

// v3Peer is an IRC user whose client takes message tags and server-time.
func v3Peer(t *testing.T, h *host, nick, channel string) *ircClient {
	c := dialIRCCaps(t, h.irc.Addr, nick, "", "message-tags server-time")
	c.send("JOIN " + channel)
	c.expect("366 " + nick + " " + channel)
	return c
}

// v3Room joins a fresh user to the channel and returns the device.
func v3Room(t *testing.T, h *host, channel string, others ...string) (*dev, string, string) {
	u := h.newUser()
	d := h.dev(t, u, "v3")
	roomJID := channel + "@irc.localhost"
	d.join(roomJID + "/" + u)
	d.joinSequence(roomJID, u, others, "110")
	return d, u, roomJID
}

func tagOf(t *testing.T, line, tag string) string {
	t.Helper()
	m, err := irc.Parse(line)
	if err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	return m.Tags[tag]
}

func stanzaIDOfMsg(st *stanza.Stanza) string {
	el, ok := st.Child(room.NSStanzaID, "stanza-id")
	if !ok {
		return ""
	}
	var v struct {
		ID string `xml:"id,attr"`
	}
	el.Unmarshal(&v)
	return v.ID
}

// caseServerTime: a message from IRC carries the server's time as a
// XEP-0203 delay and its msgid as the XEP-0359 stanza-id.
func caseServerTime(t *testing.T, h *host) {
	bob := v3Peer(t, h, "stbob", "#st")
	d, _, roomJID := v3Room(t, h, "#st", "stbob")
	bob.send("PRIVMSG #st :timed")
	m := d.body(roomJID+"/stbob", "timed")
	el, ok := m.Child("urn:xmpp:delay", "delay")
	if !ok {
		t.Fatalf("no delay: %s", m)
	}
	var dl struct {
		Stamp string `xml:"stamp,attr"`
	}
	el.Unmarshal(&dl)
	stamp, err := time.Parse(time.RFC3339Nano, dl.Stamp)
	if err != nil || time.Since(stamp) > time.Minute || time.Since(stamp) < -time.Minute {
		t.Errorf("delay stamp %q: %v", dl.Stamp, err)
	}
	if stanzaIDOfMsg(m) == "" {
		t.Errorf("no stanza-id: %s", m)
	}
}

// caseEcho: with echo-message the reflection is the server's echo: it
// keeps the sender's id and carries the server's msgid.
func caseEcho(t *testing.T, h *host) {
	bob := v3Peer(t, h, "ecbob", "#ec")
	d, u, roomJID := v3Room(t, h, "#ec", "ecbob")
	out := d.groupchat(roomJID, "echoed")
	l := bob.expect("PRIVMSG #ec :echoed")
	echo := d.body(roomJID+"/"+u, "echoed")
	if echo.ID != out.ID {
		t.Errorf("reflection id %q, sent %q", echo.ID, out.ID)
	}
	if got, want := stanzaIDOfMsg(echo), tagOf(t, l, "msgid"); got == "" || got != want {
		t.Errorf("reflection stanza-id %q, IRC msgid %q", got, want)
	}
	// A multi-line message is reflected once.
	d.groupchat(roomJID, "one\ntwo")
	bob.expect("PRIVMSG #ec :two")
	d.body(roomJID+"/"+u, "one\ntwo")
	d.none(300*time.Millisecond, "second reflection", func(st *stanza.Stanza) bool {
		return st.Kind == stanza.Message && st.From.Resource() == u && (st.Body() == "two" || st.Body() == "one\ntwo")
	})
}

// caseReplyFromIRC: +draft/reply becomes a XEP-0461 reply to the message
// it names.
func caseReplyFromIRC(t *testing.T, h *host) {
	bob := v3Peer(t, h, "rfbob", "#rf")
	d, _, roomJID := v3Room(t, h, "#rf", "rfbob")
	bob.send("PRIVMSG #rf :first")
	first := d.body(roomJID+"/rfbob", "first")
	// bob's client has no echo-message: the msgid is the room's stanza-id
	// (no archive: the room passes the IRC msgid through).
	bob.send("@+draft/reply=" + stanzaIDOfMsg(first) + " PRIVMSG #rf :answer")
	m := d.body(roomJID+"/rfbob", "answer")
	el, ok := m.Child(NSReply, "reply")
	if !ok {
		t.Fatalf("no reply: %s", m)
	}
	var r struct {
		ID string `xml:"id,attr"`
	}
	el.Unmarshal(&r)
	if r.ID != stanzaIDOfMsg(first) {
		t.Errorf("reply to %q, want %q", r.ID, stanzaIDOfMsg(first))
	}
}

// caseReplyToIRC: a XEP-0461 reply loses its quoted fallback, is addressed
// to the author, and carries +draft/reply with the msgid.
func caseReplyToIRC(t *testing.T, h *host) {
	bob := v3Peer(t, h, "rtbob", "#rt")
	carol := v3Peer(t, h, "rtcarol", "#rt")
	d, _, roomJID := v3Room(t, h, "#rt", "rtbob", "rtcarol")
	bob.send("PRIVMSG #rt :question?")
	q := d.body(roomJID+"/rtbob", "question?")
	msgid := tagOf(t, carol.expect("PRIVMSG #rt :question?"), "msgid")
	quote := "> question?\n"
	m := stanza.NewMessage(stanza.TypeGroupchat, jid.MustParse(roomJID), quote+"yes!")
	m.AddChild(stanza.NewBuilder(NSReply, "reply").Attr("id", stanzaIDOfMsg(q)).Attr("to", roomJID+"/rtbob").Element())
	m.AddChild(stanza.NewBuilder(NSFallback, "fallback").Attr("for", NSReply).
		Child("", "body").Attr("start", "0").Attr("end", "12").End().Element())
	d.send(m)
	l := carol.expect("PRIVMSG #rt :rtbob: yes!")
	if got := tagOf(t, l, "+draft/reply"); got != msgid {
		t.Errorf("+draft/reply %q, want %q: %s", got, msgid, l)
	}
}

// caseReactionToIRC: a XEP-0444 reaction is a TAGMSG with +draft/react.
func caseReactionToIRC(t *testing.T, h *host) {
	bob := v3Peer(t, h, "rxbob", "#rx")
	carol := v3Peer(t, h, "rxcarol", "#rx")
	d, _, roomJID := v3Room(t, h, "#rx", "rxbob", "rxcarol")
	bob.send("PRIVMSG #rx :react to me")
	q := d.body(roomJID+"/rxbob", "react to me")
	msgid := tagOf(t, carol.expect("PRIVMSG #rx :react to me"), "msgid")
	m := stanza.NewMessage(stanza.TypeGroupchat, jid.MustParse(roomJID), "")
	m.SetPayloadElements(stanza.NewBuilder(NSReactions, "reactions").Attr("id", stanzaIDOfMsg(q)).TextElement("reaction", "👍").Element())
	d.send(m)
	l := carol.expect(" TAGMSG ")
	if tagOf(t, l, "+draft/react") != "👍" || tagOf(t, l, "+draft/reply") != msgid {
		t.Errorf("reaction: %s (msgid %s)", l, msgid)
	}
}

// caseReactionFromIRC: a +draft/react TAGMSG is a XEP-0444 reaction to the
// message it names.
func caseReactionFromIRC(t *testing.T, h *host) {
	bob := v3Peer(t, h, "rybob", "#ry")
	d, _, roomJID := v3Room(t, h, "#ry", "rybob")
	bob.send("PRIVMSG #ry :like this")
	q := d.body(roomJID+"/rybob", "like this")
	bob.send("@+draft/react=🎉;+draft/reply=" + stanzaIDOfMsg(q) + " TAGMSG #ry")
	m := d.expect("reaction", func(st *stanza.Stanza) bool {
		_, ok := st.Child(NSReactions, "reactions")
		return ok && st.From.String() == roomJID+"/rybob"
	})
	el, _ := m.Child(NSReactions, "reactions")
	var rs struct {
		ID        string   `xml:"id,attr"`
		Reactions []string `xml:"reaction"`
	}
	el.Unmarshal(&rs)
	if rs.ID != stanzaIDOfMsg(q) || len(rs.Reactions) != 1 || rs.Reactions[0] != "🎉" {
		t.Errorf("reaction: %s", m)
	}
}

// caseCorrection: a XEP-0308 correction reaches IRC as "* new text".
func caseCorrection(t *testing.T, h *host) {
	bob := v3Peer(t, h, "cobob", "#co")
	d, _, roomJID := v3Room(t, h, "#co", "cobob")
	first := d.groupchat(roomJID, "helo")
	bob.expect("PRIVMSG #co :helo")
	m := stanza.NewMessage(stanza.TypeGroupchat, jid.MustParse(roomJID), "hello")
	m.AddChild(stanza.NewBuilder(NSCorrection, "replace").Attr("id", first.ID).Element())
	d.send(m)
	bob.expect("PRIVMSG #co :* hello")
}

// caseSASLPlain: the server settings' SASL PLAIN logs the user in to the
// services account (over TLS, verified with the CA): WHOIS shows it.
func caseSASLPlain(t *testing.T, h *host) {
	bob := dialIRC(t, h.irc.Addr, "saslbob")
	u := h.newUser()
	d := h.dev(t, u, "x")
	configure(t, d, "secure@irc.localhost", map[string][]string{
		setNick: {"saslacct"}, setSASL: {"PLAIN"}, setSASLUser: {"saslacct"}, setSASLPassword: {"saslpw"}})
	d.join("#sasl%secure@irc.localhost/saslacct")
	d.joinSequence("#sasl%secure@irc.localhost", "saslacct", nil, "110")
	bob.send("WHOIS saslacct")
	if l := bob.expect(" 330 saslbob saslacct "); !strings.Contains(l, " saslacct saslacct ") {
		t.Errorf("not logged in to the account: %s", l)
	}
}

// caseSASLWrong: a refused SASL login fails the join with the server's
// reason, and the gateway does not connect without it.
func caseSASLWrong(t *testing.T, h *host) {
	u := h.newUser()
	d := h.dev(t, u, "x")
	configure(t, d, "secure@irc.localhost", map[string][]string{
		setSASL: {"PLAIN"}, setSASLUser: {"saslacct"}, setSASLPassword: {"wrong"}})
	d.join("#sasl2%secure@irc.localhost/" + u)
	e := d.from(stanza.Presence, stanza.TypeError, "#sasl2%secure@irc.localhost/"+u)
	if err := e.Err(); err == nil || err.Condition != stanza.NotAuthorized || !strings.Contains(err.Text, "904") {
		t.Errorf("SASL refusal (want not-authorized): %s", e)
	}
}
