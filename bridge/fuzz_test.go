package bridge

import (
	"context"
	"log/slog"
	"testing"
	"unicode/utf8"

	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

func fuzzGateway(t testing.TB) (*Gateway, *user) {
	g, err := New(Config{Domain: "gw.example", Network: nopNetwork{}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	u := newUser(g, jid.MustParse("alice@example.org"))
	u.state = online
	return g, u
}

type nopNetwork struct{}

func (nopNetwork) Login(context.Context, Account, *Events) (Session, error) { return nil, ErrAuth }

// FuzzParseMessage feeds arbitrary messages from a user's client to the
// parser that turns them into events: it must never panic, and what it
// returns must name the chat it was sent to.
func FuzzParseMessage(f *testing.F) {
	for _, s := range []string{
		`<message type='chat' id='a'><body>hi</body><request xmlns='urn:xmpp:receipts'/></message>`,
		`<message><body>x</body><replace xmlns='urn:xmpp:message-correct:0' id='1'/></message>`,
		`<message><reactions xmlns='urn:xmpp:reactions:0' id='1'><reaction>👍</reaction><reaction/></reactions></message>`,
		`<message><body>&gt; q&#10;a</body><reply xmlns='urn:xmpp:reply:0' to='bob@gw.example' id='1'/><fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'><body start='0' end='4'/></fallback></message>`,
		`<message><body/><fallback xmlns='urn:xmpp:feature-fallback:0' for='urn:xmpp:reply:0'><body start='9' end='2'/></fallback></message>`,
		`<message><retract xmlns='urn:xmpp:message-retract:1' id='9'/></message>`,
		`<message><apply-to xmlns='urn:xmpp:fasten:0' id='9'><retract xmlns='urn:xmpp:message-retract:0'/></apply-to></message>`,
		`<message><displayed xmlns='urn:xmpp:chat-markers:0' id='5'/><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`,
		`<message><body>http://x/y</body><x xmlns='jabber:x:oob'><url>http://x/y</url></x><origin-id xmlns='urn:xmpp:sid:0' id='o'/></message>`,
		`<message><received xmlns='urn:xmpp:receipts' id=''/><reactions xmlns='urn:xmpp:reactions:0'/></message>`,
	} {
		f.Add([]byte(s), false)
	}
	_, u := fuzzGateway(f)
	f.Fuzz(func(t *testing.T, raw []byte, group bool) {
		st, err := stanza.Decode(raw)
		if err != nil || st.Kind != stanza.Message {
			return
		}
		u.mu.Lock()
		p, err := u.parseMessage(st, "bob", group)
		u.mu.Unlock()
		if err != nil {
			return
		}
		for _, ev := range p.events {
			if chatOf(ev) != "bob" {
				t.Fatalf("%T for chat %q", ev, chatOf(ev))
			}
			if m, ok := ev.(*Message); ok && !utf8.ValidString(m.Body) {
				t.Fatalf("body not UTF-8: %q", m.Body)
			}
		}
	})
}

// FuzzEmitMessage builds the stanzas of arbitrary messages from the
// network: whatever passes validation must encode to stanzas that decode
// again (the builders escape everything), and nothing may panic.
func FuzzEmitMessage(f *testing.F) {
	f.Add("bob", "bob", "id1", "hello <b>&amp;</b>", "", "", "")
	f.Add("bob", "", "own", "mine", "r1", "q1", "> quoted")
	f.Add("b\x00b", "b", "\xff", "\x00\x01 ]]>", "\x7f", "", "")
	f.Add("Team Room", "carol", "g1", "x", "", "", "")
	_, u := fuzzGateway(f)
	f.Fuzz(func(t *testing.T, chat, from, id, body, replaces, reply, quote string) {
		m := &Message{Chat: chat, From: from, ID: id, Body: body, Replaces: replaces}
		if reply != "" {
			m.ReplyTo = &Reply{ID: reply, Quote: quote}
		}
		if validate(m) != nil {
			return
		}
		u.mu.Lock()
		ops, err := u.chatEvent(m)
		u.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		_ = ops
		u.mu.Lock()
		c := u.contactFor(chat)
		sts, _ := u.buildMessages(m, c.jid, u.jid, stanza.TypeChat, c.jid, true)
		u.mu.Unlock()
		for _, st := range sts {
			raw := st.AppendXML(nil)
			back, err := stanza.Decode(raw)
			if err != nil {
				t.Fatalf("%s does not decode: %v", raw, err)
			}
			if back.ID != st.ID {
				t.Fatalf("id %q became %q", st.ID, back.ID)
			}
		}
	})
}
