package gateway

import (
	"strings"
	"testing"
	"time"

	"xmppkit.dev/examples/transport/room"
	"xmppkit.dev/stanza"
	"xmppkit.dev/version"
)

// The cases below run against ngircd through both hosts: the embedded
// router (TestNgircdRouter) and Prosody (TestNgircdProsody). Each case uses
// its own XMPP account, IRC nicks and channel, so they do not depend on one
// another.
var cases = []struct {
	name string
	run  func(t *testing.T, h *host)
}{
	{"spelling/server-written", caseSpellingServerWritten},
	{"spelling/both-at-once", caseSpellingBoth},
	{"multi-device", caseMultiDevice},
	{"part-reason", casePartReason},
	{"version-and-ping", caseVersionPing},
	{"self-ping", caseSelfPing},
}

func TestNgircdRouter(t *testing.T) {
	checkNoLeaks(t)
	h := routerHost(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, h) })
	}
}

func TestNgircdProsody(t *testing.T) {
	checkNoLeaks(t)
	h := prosodyHost(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, h) })
	}
}

// caseSpellingServerWritten: a client that writes the default server out
// (#chan%server@gw) gets every answer from exactly that address: occupants,
// self-presence, subject, groupchat and reflections.
func caseSpellingServerWritten(t *testing.T, h *host) {
	bob := ircPeer(t, h.irc.Addr, "sp1bob")
	bob.send("JOIN #sp1")
	bob.expect("366 sp1bob #sp1")
	bob.send("TOPIC #sp1 :long form")
	bob.expect("TOPIC #sp1")
	u := h.newUser()
	d := h.dev(t, u, "phone")
	roomJID := "#sp1%irc.test.local@irc.localhost"
	d.join(roomJID + "/" + u)
	d.joinSequence(roomJID, u, []string{"sp1bob"}, "110")
	bob.expect(" JOIN :#sp1")
	bob.send("PRIVMSG #sp1 :hello long form")
	d.body(roomJID+"/sp1bob", "hello long form")
	out := d.groupchat(roomJID, "answer in long form")
	echo := d.body(roomJID+"/"+u, "answer in long form")
	if echo.ID != out.ID {
		t.Errorf("reflection id %q, sent %q", echo.ID, out.ID)
	}
	bob.expect("PRIVMSG #sp1 :answer in long form")
	d.none(200*time.Millisecond, "stanza from the short spelling", func(st *stanza.Stanza) bool {
		return strings.HasPrefix(st.From.String(), "#sp1@")
	})
	d.presence(stanza.TypeUnavailable, roomJID+"/"+u)
	if p := d.from(stanza.Presence, stanza.TypeUnavailable, roomJID+"/"+u); !hasStatus(p, "110") {
		t.Errorf("leave: %s", p)
	}
}

// caseSpellingBoth: two devices of one user join one IRC channel through
// its two spellings: each sees the room at the address it used.
func caseSpellingBoth(t *testing.T, h *host) {
	bob := ircPeer(t, h.irc.Addr, "sp2bob")
	bob.send("JOIN #sp2")
	bob.expect("366 sp2bob #sp2")
	u := h.newUser()
	long, short := h.dev(t, u, "long"), h.dev(t, u, "short")
	longJID, shortJID := "#sp2%irc.test.local@irc.localhost", "#sp2@irc.localhost"
	long.join(longJID + "/" + u)
	long.joinSequence(longJID, u, []string{"sp2bob"}, "110")
	short.join(shortJID + "/" + u)
	short.joinSequence(shortJID, u, []string{"sp2bob"}, "110")
	bob.send("PRIVMSG #sp2 :to both")
	long.body(longJID+"/sp2bob", "to both")
	short.body(shortJID+"/sp2bob", "to both")
	long.groupchat(longJID, "from long")
	long.body(longJID+"/"+u, "from long")
	short.body(shortJID+"/"+u, "from long")
	bob.expect("PRIVMSG #sp2 :from long")
	for _, c := range []struct {
		d     *dev
		other string
	}{{long, shortJID}, {short, longJID}} {
		c.d.none(100*time.Millisecond, "stanza from the other spelling", func(st *stanza.Stanza) bool {
			return st.From.Bare().String() == c.other
		})
	}
}

// caseMultiDevice: a second device of the user joins the room the first is
// in: it gets the whole join sequence, the first keeps receiving, both
// share one IRC nick; a second device asking for another nick gets the
// shared one with status 210; one device leaving does not part IRC.
func caseMultiDevice(t *testing.T, h *host) {
	bob := ircPeer(t, h.irc.Addr, "mdbob")
	bob.send("JOIN #md")
	bob.expect("366 mdbob #md")
	bob.send("TOPIC #md :many devices")
	u := h.newUser()
	roomJID := "#md@irc.localhost"
	phone, laptop, tablet := h.dev(t, u, "phone"), h.dev(t, u, "laptop"), h.dev(t, u, "tablet")
	phone.join(roomJID + "/" + u)
	phone.joinSequence(roomJID, u, []string{"mdbob"}, "110")
	bob.expect(" JOIN :#md")
	laptop.join(roomJID + "/" + u)
	laptop.joinSequence(roomJID, u, []string{"mdbob"}, "110")
	tablet.join(roomJID + "/" + u + "-tab")
	self := tablet.joinSequence(roomJID, u, []string{"mdbob"}, "110", "210")
	if self.From.Resource() != u {
		t.Errorf("tablet's nick: %s", self.From)
	}
	bob.send("PRIVMSG #md :everyone hears")
	for _, d := range []*dev{phone, laptop, tablet} {
		d.body(roomJID+"/mdbob", "everyone hears")
	}
	out := laptop.groupchat(roomJID, "typed on the laptop")
	for _, d := range []*dev{phone, laptop, tablet} {
		if m := d.body(roomJID+"/"+u, "typed on the laptop"); m.ID != out.ID {
			t.Errorf("%s: reflection id %q, sent %q", d.jid(), m.ID, out.ID)
		}
	}
	bob.expect(":" + u + "!")
	// One IRC connection only: bob sees one JOIN and one user.
	bob.send("NAMES #md")
	if l := bob.expect("353 mdbob"); strings.Count(l, u) != 1 {
		t.Errorf("NAMES: %s", l)
	}
	phone.presence(stanza.TypeUnavailable, roomJID+"/"+u)
	phone.from(stanza.Presence, stanza.TypeUnavailable, roomJID+"/"+u)
	tablet.presence(stanza.TypeUnavailable, roomJID+"/"+u)
	tablet.from(stanza.Presence, stanza.TypeUnavailable, roomJID+"/"+u)
	bob.send("PRIVMSG #md :still there?")
	laptop.body(roomJID+"/mdbob", "still there?")
	phone.none(100*time.Millisecond, "message after leaving", func(st *stanza.Stanza) bool {
		return st.Kind == stanza.Message && st.Body() == "still there?"
	})
	laptop.presence(stanza.TypeUnavailable, roomJID+"/"+u)
	laptop.from(stanza.Presence, stanza.TypeUnavailable, roomJID+"/"+u)
	l := bob.expect(" PART #md")
	if !strings.HasPrefix(l, ":"+u+"!") {
		t.Errorf("PART from someone else: %s", l)
	}
}

// casePartReason: the <status/> of the unavailable presence is the PART
// reason.
func casePartReason(t *testing.T, h *host) {
	bob := ircPeer(t, h.irc.Addr, "prbob")
	bob.send("JOIN #pr")
	bob.expect("366 prbob #pr")
	u := h.newUser()
	d := h.dev(t, u, "r")
	d.join("#pr@irc.localhost/" + u)
	d.joinSequence("#pr@irc.localhost", u, nil, "110")
	bob.expect(" JOIN :#pr")
	d.presence(stanza.TypeUnavailable, "#pr@irc.localhost/"+u, stanza.TextElement("", "status", "off to lunch"))
	if p := d.from(stanza.Presence, stanza.TypeUnavailable, "#pr@irc.localhost/"+u); !hasStatus(p, "110") {
		t.Errorf("self unavailable: %s", p)
	}
	if l := bob.expect(" PART #pr"); !strings.HasSuffix(l, ":off to lunch") {
		t.Errorf("PART without the reason: %s", l)
	}
}

// caseVersionPing: jabber:iq:version and urn:xmpp:ping at the gateway and
// its rooms; version and ping of an IRC user go as CTCP.
func caseVersionPing(t *testing.T, h *host) {
	bob := ircPeer(t, h.irc.Addr, "vpbob")
	u := h.newUser()
	d := h.dev(t, u, "v")
	res, err := d.iq(stanza.TypeGet, "irc.localhost", stanza.Element{Space: version.NS, Local: "query"})
	if err != nil || !strings.Contains(res.Payload(), "<name>xmppkit IRC transport</name>") {
		t.Errorf("gateway version: %v %v", res, err)
	}
	for _, to := range []string{"irc.localhost", "#vp@irc.localhost", "irc.test.local@irc.localhost"} {
		if _, err := d.iq(stanza.TypeGet, to, stanza.Element{Space: "urn:xmpp:ping", Local: "ping"}); err != nil {
			t.Errorf("ping %s: %v", to, err)
		}
	}
	// Relayed to IRC once the user is connected there.
	d.join("#vp@irc.localhost/" + u)
	d.joinSequence("#vp@irc.localhost", u, nil, "110")
	res, err = d.iq(stanza.TypeGet, "vpbob@irc.localhost", stanza.Element{Space: version.NS, Local: "query"})
	if err != nil || !strings.Contains(res.Payload(), "<name>testirc 1.0</name>") {
		t.Errorf("CTCP version: %v %v", res, err)
	}
	bob.expect("PRIVMSG vpbob :\x01VERSION\x01")
	_, err = d.iq(stanza.TypeGet, "nobody-here@irc.localhost", stanza.Element{Space: version.NS, Local: "query"})
	if e, ok := err.(*stanza.Error); !ok || e.Condition != stanza.RecipientUnavailable {
		t.Errorf("version of a missing nick: %v", err)
	}
}

// caseSelfPing: XEP-0410: a joined device pinging its own occupant gets a
// result; one that is not joined gets not-acceptable.
func caseSelfPing(t *testing.T, h *host) {
	bob := ircPeer(t, h.irc.Addr, "spbob")
	bob.send("JOIN #ping")
	bob.expect("366 spbob #ping")
	u := h.newUser()
	in, out := h.dev(t, u, "in"), h.dev(t, u, "out")
	in.join("#ping@irc.localhost/" + u)
	in.joinSequence("#ping@irc.localhost", u, []string{"spbob"}, "110")
	ping := stanza.Element{Space: "urn:xmpp:ping", Local: "ping"}
	if _, err := in.iq(stanza.TypeGet, "#ping@irc.localhost/"+u, ping); err != nil {
		t.Errorf("self-ping of a joined device: %v", err)
	}
	if _, err := in.iq(stanza.TypeGet, "#ping@irc.localhost/spbob", ping); err != nil {
		t.Errorf("ping of a present occupant: %v", err)
	}
	_, err := out.iq(stanza.TypeGet, "#ping@irc.localhost/"+u, ping)
	if e, ok := err.(*stanza.Error); !ok || e.Condition != stanza.NotAcceptable {
		t.Errorf("self-ping of a device not in the room: %v", err)
	}
	// Through the other spelling the device is not joined either.
	_, err = in.iq(stanza.TypeGet, "#ping%irc.test.local@irc.localhost/"+u, ping)
	if e, ok := err.(*stanza.Error); !ok || e.Condition != stanza.NotAcceptable {
		t.Errorf("self-ping through the other spelling: %v", err)
	}
	_ = room.NSSelfPing
}
