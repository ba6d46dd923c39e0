package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"xmppkit.dev/command"
	"xmppkit.dev/disco"
	"xmppkit.dev/form"
	"xmppkit.dev/jid"
	"xmppkit.dev/mam"
	"xmppkit.dev/rsm"

	"xmppkit.dev/bridge/room"
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
	{"tls/verified-with-ca-file", caseTLSVerified},
	{"tls/untrusted-no-fallback", caseTLSUntrusted},
	{"tls/pinned", caseTLSPinned},
	{"moderation", caseModeration},
	{"moderation/not-op", caseModerationRefused},
	{"room-config", caseRoomConfig},
	{"password", casePassword},
	{"invite/xmpp-to-irc", caseInviteToIRC},
	{"invite/irc-to-xmpp", caseInviteFromIRC},
	{"raw-commands", caseRaw},
	{"channel-list", caseChannelList},
	{"commands/list", caseCommandList},
	{"commands/server-nick-and-after-connect", caseServerSettings},
	{"commands/encodings", caseEncodings},
	{"commands/admin-users", caseAdminUsers},
	{"history/on-join-and-mam", caseHistory},
	{"history/not-recorded-without-consent", caseNoConsent},
	{"persistent/missed-while-offline", casePersistent},
	{"flood/paste-30-lines", casePaste},
}

func TestNgircdRouter(t *testing.T) {
	checkNoLeaks(t)
	h := routerHost(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, h) })
	}
}

// TestNgircdEjabberd runs the cases through ejabberd (not in -short).
func TestNgircdEjabberd(t *testing.T) {
	if testing.Short() {
		t.Skip("ejabberd host: not in -short")
	}
	checkNoLeaks(t)
	h := ejabberdHost(t)
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

// tlsJoin joins #chan%network as a fresh user and returns the device and
// the nick.
func tlsJoin(t *testing.T, h *host, network, channel string) (*dev, string, string) {
	u := h.newUser()
	d := h.dev(t, u, "tls")
	roomJID := channel + "%" + network + "@irc.localhost"
	d.join(roomJID + "/" + u)
	return d, u, roomJID
}

// secureWhois reports whether ngircd says nick is connected over TLS
// (WHOIS 671, or 275 as ngircd numbers it).
func secureWhois(t *testing.T, c *ircClient, nick string) bool {
	t.Helper()
	c.send("WHOIS " + nick)
	for {
		l := c.expect(" " + nick + " ")
		if strings.Contains(l, " 671 ") || strings.Contains(l, " 275 ") { // ngircd says 275
			return true
		}
		if strings.Contains(l, " 318 ") {
			return false
		}
	}
}

// caseTLSVerified: the TLS port is tried first and its certificate is
// verified against the CA file.
func caseTLSVerified(t *testing.T, h *host) {
	bob := ircPeer(t, h.irc.Addr, "tvbob")
	d, u, roomJID := tlsJoin(t, h, "secure", "#tv")
	d.joinSequence(roomJID, u, nil, "110")
	if !secureWhois(t, bob, u) {
		t.Errorf("%s is not on a TLS connection", u)
	}
}

// caseTLSUntrusted: a certificate no trusted CA signed fails the join with
// not-authorized, naming the fingerprint to pin, and the plaintext port is
// not tried.
func caseTLSUntrusted(t *testing.T, h *host) {
	bob := ircPeer(t, h.irc.Addr, "tubob")
	d, u, roomJID := tlsJoin(t, h, "untrusted", "#tu")
	e := d.from(stanza.Presence, stanza.TypeError, roomJID+"/"+u)
	if err := e.Err(); err == nil || err.Condition != stanza.NotAuthorized || !strings.Contains(err.Text, h.irc.CertSHA256()) {
		t.Errorf("untrusted certificate: %s", e)
	}
	bob.send("ISON " + u)
	if l := bob.expect(" 303 tubob "); !strings.HasSuffix(l, ":") {
		t.Errorf("fell back to plaintext: %s", l)
	}
}

// caseTLSPinned: with the certificate's fingerprint pinned, verification
// against CAs is replaced by the pin.
func caseTLSPinned(t *testing.T, h *host) {
	bob := ircPeer(t, h.irc.Addr, "tpbob")
	d, u, roomJID := tlsJoin(t, h, "pinned", "#tp")
	d.joinSequence(roomJID, u, nil, "110")
	if !secureWhois(t, bob, u) {
		t.Errorf("%s is not on a TLS connection", u)
	}
}

// admin sends a muc#admin set with one item and returns the error.
func admin(d *dev, roomJID string, attrs map[string]string, reason string) error {
	d.t.Helper()
	b := stanza.NewBuilder(room.NSAdmin, "query").Child("", "item")
	for _, k := range []string{"nick", "jid", "role", "affiliation"} {
		b.OptAttr(k, attrs[k])
	}
	b.OptTextElement("reason", reason).End()
	_, err := d.iq(stanza.TypeSet, roomJID, b.Element())
	return err
}

// mucItem reads the muc#user item of a presence.
func mucItem(st *stanza.Stanza) (aff, role, actor, reason string) {
	var x struct {
		Item struct {
			Affiliation string `xml:"affiliation,attr"`
			Role        string `xml:"role,attr"`
			Actor       struct {
				Nick string `xml:"nick,attr"`
			} `xml:"actor"`
			Reason string `xml:"reason"`
		} `xml:"item"`
	}
	st.UnmarshalChild(room.NSUser, "x", &x)
	return x.Item.Affiliation, x.Item.Role, x.Item.Actor.Nick, x.Item.Reason
}

func hasItem(st *stanza.Stanza, aff, role string) bool {
	a, r, _, _ := mucItem(st)
	return a == aff && r == role
}

// opRoom joins a new channel as its first member (an IRC operator of it)
// and has the IRC user peer join after.
func opRoom(t *testing.T, h *host, channel, peer string) (*dev, string, string, *ircClient) {
	u := h.newUser()
	d := h.dev(t, u, "mod")
	roomJID := channel + "@irc.localhost"
	d.join(roomJID + "/" + u)
	self := d.joinSequence(roomJID, u, nil, "110")
	if !hasItem(self, room.Admin, room.Moderator) {
		t.Fatalf("first joiner is not an operator: %s", self)
	}
	bob := ircPeer(t, h.irc.Addr, peer)
	bob.send("JOIN " + channel)
	bob.expect("366 " + peer + " " + channel)
	d.from(stanza.Presence, "", roomJID+"/"+peer)
	return d, u, roomJID, bob
}

// caseModeration: muc#admin voice, moderator, visitor, kick and ban map to
// IRC MODE and KICK, and the IRC side's confirmation comes back with the
// XEP-0045 items, actor and status codes.
func caseModeration(t *testing.T, h *host) {
	d, u, roomJID, bob := opRoom(t, h, "#mod", "modbob")
	occ := roomJID + "/modbob"
	if err := admin(d, roomJID, map[string]string{"nick": "modbob", "affiliation": room.Member}, ""); err != nil {
		t.Fatalf("voice: %v", err)
	}
	bob.expect("MODE #mod +v modbob")
	if p := d.from(stanza.Presence, "", occ); !hasItem(p, room.Member, room.Participant) || func() bool { _, _, a, _ := mucItem(p); return a != u }() {
		t.Errorf("voiced: %s", p)
	}
	if err := admin(d, roomJID, map[string]string{"nick": "modbob", "role": room.Moderator}, ""); err != nil {
		t.Fatalf("op: %v", err)
	}
	bob.expect("MODE #mod +o modbob")
	if p := d.from(stanza.Presence, "", occ); !hasItem(p, room.Admin, room.Moderator) {
		t.Errorf("opped: %s", p)
	}
	if err := admin(d, roomJID, map[string]string{"nick": "modbob", "role": room.Visitor}, ""); err != nil {
		t.Fatalf("devoice: %v", err)
	}
	bob.expect("MODE #mod -o modbob")
	bob.expect("MODE #mod -v modbob")
	if err := admin(d, roomJID, map[string]string{"nick": "modbob", "role": "none"}, "behave"); err != nil {
		t.Fatalf("kick: %v", err)
	}
	bob.expect("KICK #mod modbob :behave")
	p := d.expect("kick presence", func(st *stanza.Stanza) bool {
		return st.Kind == stanza.Presence && st.Type == stanza.TypeUnavailable && st.From.String() == occ
	})
	if _, _, _, reason := mucItem(p); !hasStatus(p, "307") || reason != "behave" {
		t.Errorf("kicked: %s", p)
	}
	d.forget(occ)
	bob.send("JOIN #mod")
	d.expect("rejoin", func(st *stanza.Stanza) bool {
		return st.Kind == stanza.Presence && st.Type == "" && st.From.String() == occ && hasItem(st, room.None, room.Participant)
	})
	if err := admin(d, roomJID, map[string]string{"nick": "modbob", "affiliation": room.Outcast}, "gone"); err != nil {
		t.Fatalf("ban: %v", err)
	}
	bob.expect("MODE #mod +b modbob!*@*")
	bob.expect("KICK #mod modbob :gone")
	p = d.expect("ban presence", func(st *stanza.Stanza) bool {
		return st.Kind == stanza.Presence && st.Type == stanza.TypeUnavailable && st.From.String() == occ
	})
	if aff, _, _, _ := mucItem(p); !hasStatus(p, "301") || aff != room.Outcast {
		t.Errorf("banned: %s", p)
	}
	bob.send("JOIN #mod")
	bob.expect(" 474 modbob #mod")
	// An occupant the room does not have.
	err := admin(d, roomJID, map[string]string{"nick": "nobody", "role": "none"}, "")
	if e, ok := err.(*stanza.Error); !ok || e.Condition != stanza.ItemNotFound {
		t.Errorf("kick of nobody: %v", err)
	}
}

// caseModerationRefused: a user who is no channel operator gets forbidden
// (IRC 482) and nothing changes.
func caseModerationRefused(t *testing.T, h *host) {
	bob := ircPeer(t, h.irc.Addr, "nobob")
	bob.send("JOIN #noop")
	bob.expect("366 nobob #noop")
	u := h.newUser()
	d := h.dev(t, u, "x")
	d.join("#noop@irc.localhost/" + u)
	d.joinSequence("#noop@irc.localhost", u, []string{"nobob"}, "110")
	err := admin(d, "#noop@irc.localhost", map[string]string{"nick": "nobob", "role": "none"}, "try")
	if e, ok := err.(*stanza.Error); !ok || e.Condition != stanza.Forbidden {
		t.Errorf("kick by a non-operator: %v", err)
	}
}

// caseRoomConfig: the room configuration (muc#owner) shows the channel
// modes read-only: +t, +m, +k; changing it is refused.
func caseRoomConfig(t *testing.T, h *host) {
	bob := ircPeer(t, h.irc.Addr, "cfgbob")
	bob.send("JOIN #cfg")
	bob.expect("366 cfgbob #cfg")
	bob.send("MODE #cfg +tmk s3cret")
	bob.expect("MODE #cfg +tmk s3cret")
	u := h.newUser()
	d := h.dev(t, u, "x")
	d.join("#cfg@irc.localhost/"+u, func(b *stanza.Builder) { b.TextElement("password", "s3cret") })
	self := d.joinSequence("#cfg@irc.localhost", u, []string{"cfgbob"}, "110")
	if !hasItem(self, room.None, room.Visitor) {
		t.Errorf("unvoiced in a moderated channel: %s", self)
	}
	res, err := d.iq(stanza.TypeGet, "#cfg@irc.localhost", stanza.Element{Space: room.NSOwner, Local: "query"})
	if err != nil {
		t.Fatal(err)
	}
	var q struct {
		Form form.Form `xml:"jabber:x:data x"`
	}
	if err := res.UnmarshalChild(room.NSOwner, "query", &q); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"muc#roomconfig_changesubject":         "0",
		"muc#roomconfig_moderatedroom":         "1",
		"muc#roomconfig_passwordprotectedroom": "1",
		"muc#roomconfig_roomsecret":            "s3cret",
		"muc#roomconfig_roomname":              "#cfg",
	} {
		if got, _ := q.Form.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	// -m from IRC: the visitor becomes a participant.
	bob.send("MODE #cfg -m")
	p := d.from(stanza.Presence, "", "#cfg@irc.localhost/"+u)
	if !hasItem(p, room.None, room.Participant) || !hasStatus(p, "110") {
		t.Errorf("after -m: %s", p)
	}
	_, err = d.iq(stanza.TypeSet, "#cfg@irc.localhost", stanza.NewBuilder(room.NSOwner, "query").
		Child("jabber:x:data", "x").Attr("type", "submit").End().Element())
	if e, ok := err.(*stanza.Error); !ok || e.Condition != stanza.NotAllowed {
		t.Errorf("configuration change: %v", err)
	}
}

// casePassword: a channel with a key (+k) refuses a join without
// <password/> (not-authorized) and takes one with it.
func casePassword(t *testing.T, h *host) {
	bob := ircPeer(t, h.irc.Addr, "pwbob")
	bob.send("JOIN #pw")
	bob.expect("366 pwbob #pw")
	bob.send("MODE #pw +k sesame")
	bob.expect("MODE #pw +k sesame")
	u := h.newUser()
	d := h.dev(t, u, "x")
	d.join("#pw@irc.localhost/" + u)
	e := d.from(stanza.Presence, stanza.TypeError, "#pw@irc.localhost/"+u)
	if err := e.Err(); err == nil || err.Condition != stanza.NotAuthorized {
		t.Errorf("join without the key: %s", e)
	}
	d.join("#pw@irc.localhost/"+u, func(b *stanza.Builder) { b.TextElement("password", "wrong") })
	d.from(stanza.Presence, stanza.TypeError, "#pw@irc.localhost/"+u)
	d.join("#pw@irc.localhost/"+u, func(b *stanza.Builder) { b.TextElement("password", "sesame") })
	d.joinSequence("#pw@irc.localhost", u, []string{"pwbob"}, "110")
	bob.expect(" JOIN :#pw")
}

// caseInviteToIRC: a XEP-0045 mediated invitation of nick@gateway is an IRC
// INVITE.
func caseInviteToIRC(t *testing.T, h *host) {
	d, _, roomJID, _ := opRoom(t, h, "#inv1", "inv1op")
	carol := ircPeer(t, h.irc.Addr, "inv1carol")
	m := stanza.NewMessage("", jid.MustParse(roomJID), "")
	m.Type = ""
	m.SetPayloadElements(stanza.NewBuilder(room.NSUser, "x").Child("", "invite").Attr("to", "inv1carol@irc.localhost").
		TextElement("reason", "join us").End().Element())
	d.send(m)
	if l := carol.expect(" INVITE inv1carol "); !strings.HasSuffix(l, "#inv1") {
		t.Errorf("invite: %s", l)
	}
}

// caseInviteFromIRC: an IRC INVITE reaches the user as a mediated
// invitation from the room.
func caseInviteFromIRC(t *testing.T, h *host) {
	bob := ircPeer(t, h.irc.Addr, "inv2bob")
	bob.send("JOIN #inv2")
	bob.expect("366 inv2bob #inv2")
	u := h.newUser()
	d := h.dev(t, u, "x")
	d.join("#elsewhere2@irc.localhost/" + u) // connects the user to IRC
	d.joinSequence("#elsewhere2@irc.localhost", u, nil, "110")
	bob.send("INVITE " + u + " #inv2")
	m := d.expect("invitation", func(st *stanza.Stanza) bool {
		return st.Kind == stanza.Message && st.From.String() == "#inv2@irc.localhost"
	})
	if !strings.Contains(m.Payload(), "<invite from='inv2bob@irc.localhost'") {
		t.Errorf("invitation: %s", m)
	}
}

// caseRaw: a message to the IRC server's address is sent as raw IRC
// commands, and the server's numeric answers come back from that address.
func caseRaw(t *testing.T, h *host) {
	bob := ircPeer(t, h.irc.Addr, "rawbob")
	u := h.newUser()
	d := h.dev(t, u, "x")
	d.join("#raw@irc.localhost/" + u)
	d.joinSequence("#raw@irc.localhost", u, nil, "110")
	server := "irc.test.local@irc.localhost"
	m := stanza.NewMessage(stanza.TypeChat, jid.MustParse(server), "PRIVMSG rawbob :sent raw\nTOPIC #raw :set raw")
	d.send(m)
	bob.expect("PRIVMSG rawbob :sent raw")
	if s := d.expect("subject", func(st *stanza.Stanza) bool {
		_, ok := st.Child("", "subject")
		return ok && st.From.Bare().String() == "#raw@irc.localhost"
	}); !strings.Contains(s.Payload(), "set raw") {
		t.Errorf("topic: %s", s)
	}
	d.send(stanza.NewMessage(stanza.TypeChat, jid.MustParse(server), "ISON rawbob"))
	if r := d.expect("ISON answer", func(st *stanza.Stanza) bool {
		return st.Kind == stanza.Message && st.From.String() == server && strings.HasPrefix(st.Body(), "303 ")
	}); !strings.Contains(r.Body(), "rawbob") {
		t.Errorf("ISON: %s", r)
	}
}

// caseChannelList: disco#items at an IRC server's address lists its
// channels (IRC LIST), paged with XEP-0059, in the spelling of the address
// asked.
func caseChannelList(t *testing.T, h *host) {
	bob := ircPeer(t, h.irc.Addr, "lsbob")
	for i := 0; i < 12; i++ {
		bob.send(fmt.Sprintf("JOIN #ls%02d", i))
	}
	bob.expect("366 lsbob #ls11")
	u := h.newUser()
	d := h.dev(t, u, "x")
	var seen []string
	q := rsm.First(5)
	for page := 0; page < 50; page++ {
		res, err := d.iq(stanza.TypeGet, "irc.test.local@irc.localhost", stanza.NewBuilder(disco.NSItems, "query").Append(q.Element()).Element())
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		var items struct {
			Items []struct {
				JID  string `xml:"jid,attr"`
				Name string `xml:"name,attr"`
			} `xml:"item"`
		}
		res.UnmarshalChild(disco.NSItems, "query", &items)
		el, _ := res.Child(disco.NSItems, "query")
		r, found, err := rsm.FindResult(el)
		if err != nil || !found {
			t.Fatalf("no <set/> in %s: %v", res, err)
		}
		if len(items.Items) > 5 {
			t.Fatalf("page of %d", len(items.Items))
		}
		for _, it := range items.Items {
			seen = append(seen, it.JID)
		}
		if len(items.Items) < 5 || r.HasCount && len(seen) >= r.Count {
			break
		}
		q = rsm.Next(5, r.Last)
	}
	n := 0
	for _, j := range seen {
		if strings.HasPrefix(j, "#ls") {
			n++
			if !strings.HasSuffix(j, "%irc.test.local@irc.localhost") {
				t.Errorf("item in the wrong spelling: %s", j)
			}
		}
	}
	if n != 12 {
		t.Errorf("%d of 12 channels listed: %v", n, seen)
	}
	// The short spelling, at the gateway itself (the default server).
	res, err := d.iq(stanza.TypeGet, "irc.localhost", stanza.NewBuilder(disco.NSItems, "query").Append(rsm.First(100).Element()).Element())
	if err != nil || !strings.Contains(res.Payload(), "jid='#ls00@irc.localhost'") {
		t.Errorf("short spelling: %v %v", res, err)
	}
}

// configure runs the Configure command at the address with the values.
func configure(t *testing.T, d *dev, to string, values map[string][]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	st, err := command.Execute(ctx, d.c, jid.MustParse(to), "configure")
	if err != nil {
		t.Fatalf("configure %s: %v", to, err)
	}
	if st.Form == nil {
		t.Fatalf("configure %s: no form", to)
	}
	sub := &form.Form{Type: form.TypeSubmit}
	for k, v := range values {
		if st.Form.Field(k) == nil {
			t.Fatalf("configure %s: no field %s", to, k)
		}
		sub.Set("", k, v...)
	}
	st, err = st.Complete(ctx, d.c, sub)
	if err != nil || st.Status != command.Completed {
		t.Fatalf("configure %s: %v %+v", to, err, st)
	}
}

// caseCommandList: the gateway, a server and a room list their commands
// (XEP-0050 §2.2).
func caseCommandList(t *testing.T, h *host) {
	d := h.dev(t, h.newUser(), "x")
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	for _, to := range []string{"irc.localhost", "irc.test.local@irc.localhost", "#any@irc.localhost"} {
		items, err := command.List(ctx, d.c, jid.MustParse(to))
		if err != nil || len(items) == 0 || items[0].Node != "configure" {
			t.Errorf("commands at %s: %v %v", to, items, err)
		}
		for _, it := range items {
			if it.Node == "users" {
				t.Errorf("%s lists the admin command to a non-admin", to)
			}
		}
	}
}

// caseServerSettings: the server's settings give the nick, user name and
// real name, and the commands sent after connecting (a NickServ identify).
func caseServerSettings(t *testing.T, h *host) {
	bob := ircPeer(t, h.irc.Addr, "acbob")
	u := h.newUser()
	d := h.dev(t, u, "x")
	configure(t, d, "irc.test.local@irc.localhost", map[string][]string{
		setNick: {u + "-irc"}, setUsername: {"ident" + u}, setRealname: {"Real " + u},
		setAfterConnect: {"PRIVMSG acbob :IDENTIFY sekrit", "MODE " + u + "-irc +i"},
	})
	d.presence("", "irc.localhost")
	// Not registered: the gateway asks for registration; join instead.
	d.join("#ac@irc.localhost/" + u + "-irc")
	d.joinSequence("#ac@irc.localhost", u+"-irc", nil, "110")
	if l := bob.expect("PRIVMSG acbob :IDENTIFY sekrit"); !strings.HasPrefix(l, ":"+u+"-irc!~ident"+u+"@") {
		t.Errorf("identify from %s", l)
	}
	bob.send("WHOIS " + u + "-irc")
	if l := bob.expect(" 311 acbob " + u + "-irc "); !strings.HasSuffix(l, ":Real "+u) {
		t.Errorf("real name: %s", l)
	}
}

// caseEncodings: a channel set to windows-1252 gets text in it, and text
// from it that is not UTF-8 is read in it.
func caseEncodings(t *testing.T, h *host) {
	bob := ircPeer(t, h.irc.Addr, "encbob")
	bob.send("JOIN #enc")
	bob.expect("366 encbob #enc")
	u := h.newUser()
	d := h.dev(t, u, "x")
	configure(t, d, "#enc@irc.localhost", map[string][]string{setEncodingOut: {"windows-1252"}, setEncodingIn: {"windows-1252"}})
	d.join("#enc@irc.localhost/" + u)
	d.joinSequence("#enc@irc.localhost", u, []string{"encbob"}, "110")
	d.groupchat("#enc@irc.localhost", "café €5")
	bob.expect("PRIVMSG #enc :caf\xe9 \x805")
	bob.send("PRIVMSG #enc :na\xefve \x80")
	d.body("#enc@irc.localhost/encbob", "naïve €")
	bob.send("PRIVMSG #enc :utf-8 stays caf\xc3\xa9")
	d.body("#enc@irc.localhost/encbob", "utf-8 stays café")
}

// caseAdminUsers: an admin lists the connected users and disconnects one.
func caseAdminUsers(t *testing.T, h *host) {
	bob := ircPeer(t, h.irc.Addr, "admbob")
	u := h.newUser()
	victim := h.dev(t, u, "x")
	victim.join("#adm@irc.localhost/" + u)
	victim.joinSequence("#adm@irc.localhost", u, nil, "110")
	admin := h.dev(t, "admin", "console")
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	st, err := command.Execute(ctx, admin.c, jid.MustParse("irc.localhost"), "users")
	if err != nil || st.Form == nil {
		t.Fatalf("users: %v %+v", err, st)
	}
	label := u + "@localhost on irc.test.local"
	found := false
	for _, o := range st.Form.Field("disconnect").Options {
		found = found || o.Value == label
	}
	if !found {
		t.Fatalf("%s not listed: %+v", label, st.Form.Field("disconnect").Options)
	}
	sub := &form.Form{Type: form.TypeSubmit}
	sub.Set("", "disconnect", label)
	sub.Set("", "reason", "maintenance")
	if st, err = st.Complete(ctx, admin.c, sub); err != nil || st.Status != command.Completed {
		t.Fatalf("disconnect: %v %+v", err, st)
	}
	p := victim.from(stanza.Presence, stanza.TypeUnavailable, "#adm@irc.localhost/"+u)
	if !hasStatus(p, "110", "332") {
		t.Errorf("disconnected: %s", p)
	}
	waitOn(t, bob, u, false)
	// A non-admin is refused.
	_, err = command.Execute(ctx, victim.c, jid.MustParse("irc.localhost"), "users")
	if !errors.Is(err, stanza.ErrForbidden) {
		t.Errorf("users by a non-admin: %v", err)
	}
}

// mamQuery pages through a room's archive with pages of max and returns
// the bodies in order.
func mamQuery(t *testing.T, d *dev, roomJID string, max int) []string {
	t.Helper()
	var bodies []string
	q := &mam.Query{QueryID: "q", Page: rsm.First(max)}
	for i := 0; i < 20; i++ {
		res, err := d.iq(stanza.TypeSet, roomJID, q.Element())
		if err != nil {
			t.Fatalf("MAM query: %v", err)
		}
		for n := 0; n < max && !d.peekNoResult(roomJID); n++ {
			r := d.expect("MAM result", func(st *stanza.Stanza) bool {
				_, ok := st.Child(mam.NS, "result")
				return ok && st.From.String() == roomJID
			})
			el, _ := r.Child(mam.NS, "result")
			pr, err := mam.ParseResult(el.XML())
			if err != nil {
				t.Fatal(err)
			}
			if pr.Message.From.Bare().String() != roomJID {
				t.Errorf("forwarded from %s, not the room as spelled", pr.Message.From)
			}
			bodies = append(bodies, pr.Message.Body())
		}
		fin, _ := res.Child(mam.NS, "fin")
		f, err := mam.ParseFin(fin)
		if err != nil {
			t.Fatal(err)
		}
		if f.Complete {
			break
		}
		q = &mam.Query{QueryID: "q", Page: rsm.Next(max, f.Result.Last)}
	}
	return bodies
}

// caseHistory: with recording agreed to, a join gets the history it asks
// for (delayed, with stanza-ids), and MAM pages through all of it, at the
// address spelled as queried.
func caseHistory(t *testing.T, h *host) {
	bob := ircPeer(t, h.irc.Addr, "hisbob")
	bob.send("JOIN #his")
	bob.expect("366 hisbob #his")
	u := h.newUser()
	d := h.dev(t, u, "x")
	configure(t, d, "irc.localhost", map[string][]string{setRecord: {"1"}})
	roomJID := "#his@irc.localhost"
	d.join(roomJID + "/" + u)
	if self := d.joinSequence(roomJID, u, []string{"hisbob"}, "110"); !hasStatus(self, "170") {
		t.Errorf("no status 170 (logged room): %s", self)
	}
	for i := 1; i <= 5; i++ {
		bob.send(fmt.Sprintf("PRIVMSG #his :line %d", i))
		d.body(roomJID+"/hisbob", fmt.Sprintf("line %d", i))
	}
	d.presence(stanza.TypeUnavailable, roomJID+"/"+u)
	d.from(stanza.Presence, stanza.TypeUnavailable, roomJID+"/"+u)
	d2 := h.dev(t, u, "y")
	long := "#his%irc.test.local@irc.localhost"
	d2.join(long+"/"+u, func(b *stanza.Builder) { b.Child("", "history").Attr("maxstanzas", "2").End() })
	d2.joinSequence(long, u, nil, "110")
	for _, want := range []string{"line 4", "line 5"} {
		m := d2.body(long+"/hisbob", want)
		if _, ok := m.Child("urn:xmpp:delay", "delay"); !ok {
			t.Errorf("history without delay: %s", m)
		}
		if _, ok := m.Child(room.NSStanzaID, "stanza-id"); !ok {
			t.Errorf("history without stanza-id: %s", m)
		}
	}
	got := mamQuery(t, d2, long, 2)
	want := []string{"line 1", "line 2", "line 3", "line 4", "line 5"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("MAM: %q", got)
	}
	// Another user sees none of it.
	other := h.dev(t, h.newUser(), "z")
	if got := mamQuery(t, other, roomJID, 5); len(got) != 0 {
		t.Errorf("another user's MAM: %q", got)
	}
}

// caseNoConsent: without recording agreed to, nothing is kept.
func caseNoConsent(t *testing.T, h *host) {
	bob := ircPeer(t, h.irc.Addr, "ncbob")
	bob.send("JOIN #nc")
	bob.expect("366 ncbob #nc")
	u := h.newUser()
	d := h.dev(t, u, "x")
	d.join("#nc@irc.localhost/" + u)
	if self := d.joinSequence("#nc@irc.localhost", u, nil, "110"); hasStatus(self, "170") {
		t.Errorf("status 170 without consent: %s", self)
	}
	bob.send("PRIVMSG #nc :not kept")
	d.body("#nc@irc.localhost/ncbob", "not kept")
	if got := mamQuery(t, d, "#nc@irc.localhost", 5); len(got) != 0 {
		t.Errorf("kept without consent: %q", got)
	}
}

// casePersistent: a persistent channel stays joined on IRC while the
// user's devices are gone, and what was said meanwhile comes back on join
// and through MAM.
func casePersistent(t *testing.T, h *host) {
	bob := ircPeer(t, h.irc.Addr, "perbob")
	bob.send("JOIN #per")
	bob.expect("366 perbob #per")
	u := h.newUser()
	d := h.dev(t, u, "x")
	roomJID := "#per@irc.localhost"
	configure(t, d, roomJID, map[string][]string{setPersistent: {"1"}})
	d.join(roomJID + "/" + u)
	d.joinSequence(roomJID, u, []string{"perbob"}, "110", "170")
	bob.expect(" JOIN :#per")
	d.presence(stanza.TypeUnavailable, roomJID+"/"+u)
	d.from(stanza.Presence, stanza.TypeUnavailable, roomJID+"/"+u)
	bob.send("PRIVMSG #per :said while you were away")
	bob.send("NAMES #per")
	if l := bob.expect("353 perbob"); !strings.Contains(l, u) {
		t.Errorf("the user left IRC: %s", l)
	}
	d2 := h.dev(t, u, "back")
	d2.join(roomJID + "/" + u)
	d2.joinSequence(roomJID, u, []string{"perbob"}, "110")
	d2.body(roomJID+"/perbob", "said while you were away")
	if got := mamQuery(t, d2, roomJID, 10); len(got) != 1 || got[0] != "said while you were away" {
		t.Errorf("MAM after return: %q", got)
	}
}

// casePaste: a 30-line paste reaches IRC whole and in order, paced by the
// throttle (5 lines at once, then one each 100 ms on the "paced" network),
// and the user stays connected.
func casePaste(t *testing.T, h *host) {
	bob := ircPeer(t, h.irc.Addr, "flbob")
	bob.send("JOIN #fl")
	bob.expect("366 flbob #fl")
	u := h.newUser()
	d := h.dev(t, u, "x")
	roomJID := "#fl%paced@irc.localhost"
	d.join(roomJID + "/" + u)
	d.joinSequence(roomJID, u, []string{"flbob"}, "110")
	bob.expect(" JOIN :#fl")
	var lines []string
	for i := 1; i <= 30; i++ {
		lines = append(lines, fmt.Sprintf("line %02d of the paste", i))
	}
	start := time.Now()
	d.groupchat(roomJID, strings.Join(lines, "\n"))
	for _, want := range lines {
		if l := bob.expect("PRIVMSG #fl :"); !strings.HasSuffix(l, ":"+want) {
			t.Fatalf("out of order: got %q, want %q", l, want)
		}
	}
	if el := time.Since(start); el < 2*time.Second {
		t.Errorf("30 lines in %v: not paced (25 lines at 100 ms need 2.5 s)", el)
	}
	bob.send("ISON " + u)
	if l := bob.expect(" 303 flbob "); !strings.HasSuffix(l, u) {
		t.Errorf("disconnected after the paste: %s", l)
	}
}
