package gateway

import (
	"strings"
	"testing"
	"time"

	"xmppkit.dev/servertest"
	"xmppkit.dev/stanza"
	"xmppkit.dev/xmpptest"
)

func newEnv(t *testing.T, ircAddr string, store Store) (*Gateway, *xmpptest.Env) {
	t.Helper()
	gw, err := New(Config{
		Domain:       "irc.localhost",
		Networks:     map[string]Network{"irc.test.local": testNetwork(ircAddr)},
		Default:      "irc.test.local",
		Store:        store,
		Logger:       quietLogger(),
		ReconnectMin: 50 * time.Millisecond,
		ReconnectMax: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	env := xmpptest.New(t, "irc.localhost", gw, xmpptest.WithLogger(quietLogger()))
	t.Cleanup(gw.Close)
	return gw, env
}

// TestNgircd runs the whole bridge against a real ngircd: an XMPP user
// registers, comes online, joins a channel, sees the occupants and the
// topic, exchanges groupchat and private messages with a plain IRC client,
// changes nick, meets IRC errors, and leaves.
func TestNgircd(t *testing.T) {
	checkNoLeaks(t)
	srv := servertest.Ngircd(t, servertest.NgircdOptions{})
	_, env := newEnv(t, srv.Addr, nil)
	alice := env.Client("alice")
	alice.Available(0) // so that subscription requests reach it (RFC 6121 §3.1.3)

	// The IRC side: bob opens #test and sets a topic.
	bob := dialIRC(t, srv.Addr, "bob")
	bob.send("JOIN #test")
	bob.expect("366 bob #test")
	bob.send("TOPIC #test :Hello topic world")
	bob.expect("TOPIC #test")

	t.Run("register", func(t *testing.T) {
		if _, err := alice.IQ("set", "<query xmlns='jabber:iq:register'><nick>alice</nick></query>"); err != nil {
			t.Fatal(err)
		}
		sub := next(t, alice)
		if sub.Kind != stanza.Presence || sub.Type != stanza.TypeSubscribe || sub.From.String() != "irc.localhost" {
			t.Fatalf("after registration: %s", sub)
		}
		res, err := alice.IQ("get", "<query xmlns='jabber:iq:register'/>")
		if err != nil || !strings.Contains(res.Payload(), "<registered/>") || !strings.Contains(res.Payload(), "<nick>alice</nick>") {
			t.Fatalf("registration get: %v %v", res, err)
		}
	})

	t.Run("online", func(t *testing.T) {
		presenceTo(t, alice, "", "irc.localhost")
		p := next(t, alice)
		if p.Kind != stanza.Presence || p.Type != "" || p.From.String() != "irc.localhost" || !strings.Contains(p.Payload(), "Connected to irc.test.local as alice") {
			t.Fatalf("gateway presence: %s", p)
		}
	})

	t.Run("join", func(t *testing.T) {
		presenceTo(t, alice, "", "#test@irc.localhost/alice")
		occ := expectStanza(t, alice, stanza.Presence, "", "#test@irc.localhost/bob")
		if !strings.Contains(occ.Payload(), "affiliation='admin' role='moderator'") {
			t.Errorf("bob's item: %s", occ)
		}
		self := expectStanza(t, alice, stanza.Presence, "", "#test@irc.localhost/alice")
		if !hasStatus(self, "110") || !strings.Contains(self.Payload(), "affiliation='none' role='participant'") {
			t.Errorf("self-presence: %s", self)
		}
		subj := expectStanza(t, alice, stanza.Message, stanza.TypeGroupchat, "#test@irc.localhost/bob")
		if !strings.Contains(subj.Payload(), "<subject>Hello topic world</subject>") {
			t.Errorf("subject: %s", subj)
		}
		bob.expect(":alice!~alice@127.0.0.1 JOIN :#test")
	})

	t.Run("groupchat", func(t *testing.T) {
		bob.send("PRIVMSG #test :hello from irc")
		m := expectStanza(t, alice, stanza.Message, stanza.TypeGroupchat, "#test@irc.localhost/bob")
		if m.Body() != "hello from irc" {
			t.Errorf("body %q", m.Body())
		}
		out := groupchat(t, alice, "#test@irc.localhost", "hello from xmpp")
		echo := expectStanza(t, alice, stanza.Message, stanza.TypeGroupchat, "#test@irc.localhost/alice")
		if echo.ID != out.ID || echo.Body() != "hello from xmpp" {
			t.Errorf("reflection: %s (sent id %s)", echo, out.ID)
		}
		bob.expect(":alice!~alice@127.0.0.1 PRIVMSG #test :hello from xmpp")
	})

	t.Run("multiline and long", func(t *testing.T) {
		groupchat(t, alice, "#test@irc.localhost", "first line\nsecond line")
		expectStanza(t, alice, stanza.Message, stanza.TypeGroupchat, "#test@irc.localhost/alice")
		bob.expect("PRIVMSG #test :first line")
		bob.expect("PRIVMSG #test :second line")
		long := strings.Repeat("é€x", 300) // 1800 bytes
		groupchat(t, alice, "#test@irc.localhost", long)
		expectStanza(t, alice, stanza.Message, stanza.TypeGroupchat, "#test@irc.localhost/alice")
		var got strings.Builder
		for got.Len() < len(long) {
			l := bob.expect("PRIVMSG #test :")
			if len(l)+2 > 512 || strings.HasSuffix(l, "[CUT]") {
				t.Fatalf("relayed line of %d bytes: %q", len(l)+2, l)
			}
			got.WriteString(l[strings.Index(l, " :")+2:])
		}
		if got.String() != long {
			t.Errorf("long text came back different: %d bytes", got.Len())
		}
	})

	t.Run("action and formatting", func(t *testing.T) {
		groupchat(t, alice, "#test@irc.localhost", "/me waves")
		expectStanza(t, alice, stanza.Message, stanza.TypeGroupchat, "#test@irc.localhost/alice")
		bob.expect("PRIVMSG #test :\x01ACTION waves\x01")
		bob.send("PRIVMSG #test :\x01ACTION dances\x01")
		if m := expectStanza(t, alice, stanza.Message, stanza.TypeGroupchat, "#test@irc.localhost/bob"); m.Body() != "/me dances" {
			t.Errorf("action: %q", m.Body())
		}
		bob.send("PRIVMSG #test :\x02bold\x02 \x0304red\x03 caf\xe9 \x01\x07bell")
		if m := expectStanza(t, alice, stanza.Message, stanza.TypeGroupchat, "#test@irc.localhost/bob"); m.Body() != "bold red café bell" {
			t.Errorf("sanitized: %q", m.Body())
		}
		bob.send("NOTICE #test :a notice")
		if m := expectStanza(t, alice, stanza.Message, stanza.TypeGroupchat, "#test@irc.localhost/bob"); m.Body() != "a notice" {
			t.Errorf("notice: %q", m.Body())
		}
	})

	t.Run("topic change", func(t *testing.T) {
		bob.send("TOPIC #test :New topic")
		m := expectStanza(t, alice, stanza.Message, stanza.TypeGroupchat, "#test@irc.localhost/bob")
		if !strings.Contains(m.Payload(), "<subject>New topic</subject>") {
			t.Errorf("topic: %s", m)
		}
	})

	t.Run("others join and leave", func(t *testing.T) {
		carol := dialIRC(t, srv.Addr, "carol")
		carol.send("JOIN #test")
		expectStanza(t, alice, stanza.Presence, "", "#test@irc.localhost/carol")
		bob.send("MODE #test +v carol")
		if p := expectStanza(t, alice, stanza.Presence, "", "#test@irc.localhost/carol"); !strings.Contains(p.Payload(), "affiliation='member' role='participant'") {
			t.Errorf("voice: %s", p)
		}
		carol.send("NICK carol2")
		p := expectStanza(t, alice, stanza.Presence, stanza.TypeUnavailable, "#test@irc.localhost/carol")
		if !hasStatus(p, "303") || !strings.Contains(p.Payload(), "nick='carol2'") || hasStatus(p, "110") {
			t.Errorf("303: %s", p)
		}
		expectStanza(t, alice, stanza.Presence, "", "#test@irc.localhost/carol2")
		carol.send("PART #test :bye now")
		if p := expectStanza(t, alice, stanza.Presence, stanza.TypeUnavailable, "#test@irc.localhost/carol2"); !strings.Contains(p.Payload(), "<status>bye now</status>") {
			t.Errorf("part: %s", p)
		}
		carol.send("JOIN #test")
		expectStanza(t, alice, stanza.Presence, "", "#test@irc.localhost/carol2")
		bob.send("KICK #test carol2 :behave")
		if p := expectStanza(t, alice, stanza.Presence, stanza.TypeUnavailable, "#test@irc.localhost/carol2"); !hasStatus(p, "307") {
			t.Errorf("kick: %s", p)
		}
		carol.send("JOIN #test")
		expectStanza(t, alice, stanza.Presence, "", "#test@irc.localhost/carol2")
		carol.send("QUIT :gone fishing")
		if p := expectStanza(t, alice, stanza.Presence, stanza.TypeUnavailable, "#test@irc.localhost/carol2"); !strings.Contains(p.Payload(), "gone fishing") {
			t.Errorf("quit: %s", p)
		}
	})

	t.Run("nick change", func(t *testing.T) {
		presenceTo(t, alice, "", "#test@irc.localhost/alice2")
		p := expectStanza(t, alice, stanza.Presence, stanza.TypeUnavailable, "#test@irc.localhost/alice")
		if !hasStatus(p, "303", "110") || !strings.Contains(p.Payload(), "nick='alice2'") {
			t.Errorf("own 303: %s", p)
		}
		if p := expectStanza(t, alice, stanza.Presence, "", "#test@irc.localhost/alice2"); !hasStatus(p, "110") {
			t.Errorf("own new nick: %s", p)
		}
		bob.expect(":alice!~alice@127.0.0.1 NICK :alice2")
		// Taking bob's nick is refused with conflict (IRC 433).
		presenceTo(t, alice, "", "#test@irc.localhost/bob")
		e := expectStanza(t, alice, stanza.Presence, stanza.TypeError, "#test@irc.localhost/bob")
		if !strings.Contains(e.Payload(), "<conflict") || !strings.Contains(e.Payload(), "code='409'") {
			t.Errorf("conflict: %s", e)
		}
	})

	t.Run("private", func(t *testing.T) {
		alice.Message("bob@irc.localhost", "psst")
		bob.expect(":alice2!~alice@127.0.0.1 PRIVMSG bob :psst")
		bob.send("PRIVMSG alice2 :hi back")
		m := expectStanza(t, alice, stanza.Message, stanza.TypeChat, "bob@irc.localhost")
		if m.Body() != "hi back" {
			t.Errorf("private reply %q", m.Body())
		}
		// Written to the in-room address, answers come from it.
		alice.Message("#test@irc.localhost/bob", "in room")
		bob.expect("PRIVMSG bob :in room")
		bob.send("PRIVMSG alice2 :\x01ACTION nods\x01")
		if m := expectStanza(t, alice, stanza.Message, stanza.TypeChat, "#test@irc.localhost/bob"); m.Body() != "/me nods" {
			t.Errorf("in-room private action %q", m.Body())
		}
		bob.send("NOTICE alice2 :a private notice")
		if m := expectStanza(t, alice, stanza.Message, stanza.TypeChat, "#test@irc.localhost/bob"); m.Body() != "a private notice" {
			t.Errorf("notice %q", m.Body())
		}
	})

	t.Run("errors", func(t *testing.T) {
		msg := stanza.NewMessage(stanza.TypeChat, env.Service, "")
		msg.To = mustJID(t, "nosuchnick@irc.localhost")
		msg.SetPayload("<body>anyone?</body>")
		alice.MustSend(msg)
		e := expectStanza(t, alice, stanza.Message, stanza.TypeError, "nosuchnick@irc.localhost")
		if e.ID != msg.ID || e.Err() == nil || e.Err().Condition != stanza.RecipientUnavailable {
			t.Errorf("401: %s", e)
		}
		// A message to a room one is not in.
		out := groupchat(t, alice, "#other@irc.localhost", "x")
		e = expectStanza(t, alice, stanza.Message, stanza.TypeError, "#other@irc.localhost")
		if e.ID != out.ID || e.Err().Condition != stanza.NotAcceptable {
			t.Errorf("not in room: %s", e)
		}
		// Joining with a nick in use by someone else, from a fresh account.
		dave := env.Client("dave")
		presenceTo(t, dave, "", "#test@irc.localhost/bob")
		e = expectStanza(t, dave, stanza.Presence, stanza.TypeError, "#test@irc.localhost/bob")
		if e.Err().Condition != stanza.Conflict {
			t.Errorf("join conflict: %s", e)
		}
		// A channel name the server does not know (ngircd has no '!' channels).
		presenceTo(t, dave, "", "!bad@irc.localhost/dave")
		e = expectStanza(t, dave, stanza.Presence, stanza.TypeError, "!bad@irc.localhost/dave")
		if e.Err().Condition != stanza.ItemNotFound {
			t.Errorf("403: %s", e)
		}
		// Presence to the gateway without registration.
		presenceTo(t, dave, "", "irc.localhost")
		e = expectStanza(t, dave, stanza.Presence, stanza.TypeError, "irc.localhost")
		if e.Err().Condition != stanza.RegistrationRequired {
			t.Errorf("unregistered: %s", e)
		}
	})

	t.Run("registered nick in use", func(t *testing.T) {
		erin := env.Client("erin")
		if _, err := erin.IQ("set", "<query xmlns='jabber:iq:register'><nick>bob</nick></query>"); err != nil {
			t.Fatal(err)
		}
		presenceTo(t, erin, "", "irc.localhost")
		p := expectStanza(t, erin, stanza.Presence, "", "irc.localhost")
		if !strings.Contains(p.Payload(), "as bob_") {
			t.Errorf("fallback nick: %s", p)
		}
		// Changing the registered nick renames the live connection.
		if _, err := erin.IQ("set", "<query xmlns='jabber:iq:register'><nick>erin</nick></query>"); err != nil {
			t.Fatal(err)
		}
		waitOn(t, bob, "erin", true)
		presenceTo(t, erin, stanza.TypeUnavailable, "irc.localhost")
		expectStanza(t, erin, stanza.Presence, stanza.TypeUnavailable, "irc.localhost")
		waitOn(t, bob, "erin", false)
	})

	t.Run("leave", func(t *testing.T) {
		presenceTo(t, alice, stanza.TypeUnavailable, "#test@irc.localhost/alice2")
		p := expectStanza(t, alice, stanza.Presence, stanza.TypeUnavailable, "#test@irc.localhost/alice2")
		if !hasStatus(p, "110") {
			t.Errorf("self unavailable: %s", p)
		}
		bob.expect(":alice2!~alice@127.0.0.1 PART #test")
		presenceTo(t, alice, stanza.TypeUnavailable, "irc.localhost")
		expectStanza(t, alice, stanza.Presence, stanza.TypeUnavailable, "irc.localhost")
		// The connection ends with QUIT: alice2 is no longer on IRC.
		waitOn(t, bob, "alice2", false)
	})
}

// TestSessionEnds: once a user has left every room and gone offline at the
// gateway, the session and its goroutines are gone (not only at Close).
func TestSessionEnds(t *testing.T) {
	srv := servertest.Ngircd(t, servertest.NgircdOptions{})
	gw, env := newEnv(t, srv.Addr, nil)
	alice := env.Client("alice")
	presenceTo(t, alice, "", "#s@irc.localhost/alice")
	expectStanza(t, alice, stanza.Presence, "", "#s@irc.localhost/alice")
	if n := sessionCount(gw); n != 1 {
		t.Fatalf("%d sessions", n)
	}
	presenceTo(t, alice, stanza.TypeUnavailable, "#s@irc.localhost/alice")
	for {
		st := next(t, alice)
		if st.Kind == stanza.Presence && st.Type == stanza.TypeUnavailable {
			break
		}
	}
	deadline := time.Now().Add(waitFor)
	for sessionCount(gw) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the session outlived its last room")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func sessionCount(g *Gateway) int { return len(g.sessions.Keys()) }
