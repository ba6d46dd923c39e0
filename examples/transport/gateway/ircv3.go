package gateway

import (
	"strings"
	"time"
	"unicode/utf8"
	"xmppkit.dev/bridge"

	"xmppkit.dev/bridge/room"
	"xmppkit.dev/examples/transport/irc"
	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// Namespaces of the message extensions the gateway maps.
const (
	NSReply      = "urn:xmpp:reply:0"           // XEP-0461
	NSFallback   = "urn:xmpp:fallback:0"        // XEP-0428
	NSCorrection = "urn:xmpp:message-correct:0" // XEP-0308
	NSReactions  = "urn:xmpp:reactions:0"       // XEP-0444
	NSHints      = "urn:xmpp:hints"             // XEP-0334
	NSOriginID   = room.NSStanzaID              // XEP-0359 origin-id lives in the same namespace
)

// IRCv3 tags (message-tags, server-time, msgid, reply and react client tags).
const (
	tagTime  = "time"
	tagMsgID = "msgid"
	tagLabel = "label"
	tagReply = "+draft/reply"
	tagReact = "+draft/react"
)

// recentMsg is one message of a channel remembered for replies, reactions
// and corrections: its ids on both sides and what it said.
type recentMsg struct {
	stanzaID string // the id the room gave it (XEP-0359), "" without one
	xmppID   string // the XMPP id of the user's own message
	legacy   string // the IRC msgid
	nick     string
	body     string
	reacts   map[string][]string // nick -> reactions, for XEP-0444's full sets
}

const maxRecent = 256

func (ch *channel) remember(m recentMsg) *recentMsg {
	if len(ch.recent) >= maxRecent {
		copy(ch.recent, ch.recent[1:])
		ch.recent = ch.recent[:maxRecent-1]
	}
	ch.recent = append(ch.recent, m)
	return &ch.recent[len(ch.recent)-1]
}

// find returns the remembered message with the id on any side.
func (ch *channel) find(id string) *recentMsg {
	if id == "" {
		return nil
	}
	for i := len(ch.recent) - 1; i >= 0; i-- {
		r := &ch.recent[i]
		if r.stanzaID == id || r.legacy == id || r.xmppID == id {
			return r
		}
	}
	return nil
}

// pendingEcho is the user's message sent to a channel whose server echoes
// messages back (IRCv3 echo-message): the echo is its reflection.
type pendingEcho struct {
	label  string // labeled-response label of the first line, "" without
	xmppID string
	body   string // as the room shows it
	lines  int    // echoes still to come
	extra  []stanza.Element
	done   bool // reflected already (by the echo of an earlier line)
}

// serverTime reads the IRCv3 server-time tag, or the zero time.
func serverTime(m *irc.Message) time.Time {
	v := m.Tags[tagTime]
	if v == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}
	}
	return t
}

// channelMessage bridges a PRIVMSG or NOTICE (or, with reactions, a
// TAGMSG) to a channel.
func (s *session) channelMessage(ch *channel, m *irc.Message, body string) {
	nick := irc.Text(m.Nick())
	t := serverTime(m)
	msg := room.Message{Nick: nick, Body: body, Time: t, Delayed: !t.IsZero(), Legacy: m.Tags[tagMsgID], StanzaID: m.Tags[tagMsgID]}
	if ch.room.Self().Nick != "" && s.fold(m.Nick()) == s.fold(ch.room.Self().Nick) && s.conn.HasCap("echo-message") {
		s.ownEcho(ch, m, msg)
		return
	}
	if r := ch.find(m.Tags[tagReply]); r != nil {
		msg.Extra = append(msg.Extra, replyElement(r))
	}
	e := ch.room.Say(msg)
	ch.remember(recentMsg{stanzaID: stanzaIDOf(e, msg), legacy: msg.Legacy, nick: nick, body: body})
}

// stanzaIDOf is the XEP-0359 id the room gave a message: its archive id,
// else the IRC msgid (the room then passes that through).
func stanzaIDOf(e room.Entry, m room.Message) string {
	if e.ID != "" {
		return e.ID
	}
	return m.StanzaID
}

// ownEcho turns the server's echo of the user's message into its
// reflection (XEP-0045 §7.4) with the XMPP id the device gave it, the
// server's time and the server's msgid.
func (s *session) ownEcho(ch *channel, m *irc.Message, msg room.Message) {
	var p *pendingEcho
	label := m.Tags[tagLabel]
	for i := range ch.echoes {
		if label != "" && ch.echoes[i].label == label || label == "" && i == 0 {
			p = &ch.echoes[i]
			break
		}
	}
	if p == nil {
		if len(ch.echoes) == 0 {
			// Sent from elsewhere (a raw command): show it.
			e := ch.room.Say(msg)
			ch.remember(recentMsg{stanzaID: stanzaIDOf(e, msg), legacy: msg.Legacy, nick: msg.Nick, body: msg.Body})
			return
		}
		p = &ch.echoes[0]
	}
	if !p.done {
		msg.Body, msg.ID, msg.Extra = p.body, p.xmppID, p.extra
		if msg.StanzaID == "" {
			msg.StanzaID = msg.Legacy
		}
		e := ch.room.Say(msg)
		ch.remember(recentMsg{stanzaID: stanzaIDOf(e, msg), xmppID: p.xmppID, legacy: msg.Legacy, nick: msg.Nick, body: p.body})
		p.done = true // later lines of the same message are part of it
	}
	p.lines--
	if p.lines <= 0 {
		i := 0
		for i < len(ch.echoes) && &ch.echoes[i] != p {
			i++
		}
		if i < len(ch.echoes) {
			ch.echoes = append(ch.echoes[:i:i], ch.echoes[i+1:]...)
		}
	}
}

// replyElement is the XEP-0461 <reply/> naming a remembered message.
func replyElement(r *recentMsg) stanza.Element {
	id := r.stanzaID
	if id == "" {
		id = r.legacy
	}
	return bridge.ReplyElement(id, jid.JID{})
}

// reaction bridges an IRC TAGMSG with +draft/react (IRCv3 react client
// tag) to a XEP-0444 reactions message: the nick's full set of reactions
// to the message.
func (s *session) reaction(ch *channel, m *irc.Message) {
	emoji := m.Tags[tagReact]
	r := ch.find(m.Tags[tagReply])
	if emoji == "" || r == nil || utf8.RuneCountInString(emoji) > 8 {
		return
	}
	nick := irc.Text(m.Nick())
	if r.reacts == nil {
		r.reacts = map[string][]string{}
	}
	set := r.reacts[nick]
	for _, e := range set {
		if e == emoji {
			return
		}
	}
	if len(r.reacts) < 64 && len(set) < 16 {
		r.reacts[nick] = append(set, emoji)
	}
	id := r.stanzaID
	if id == "" {
		id = r.legacy
	}
	t := serverTime(m)
	ch.room.Say(room.Message{Nick: nick, Time: t, Delayed: !t.IsZero(), Legacy: m.Tags[tagMsgID], StanzaID: m.Tags[tagMsgID],
		Extra: []stanza.Element{bridge.ReactionsElement(id, r.reacts[nick]), {Space: NSHints, Local: "store"}}})
}

// outgoing is a groupchat message from XMPP as IRC should carry it.
type outgoing struct {
	text  string            // what goes in PRIVMSG
	tags  map[string]string // client tags, when the server takes them
	react bool              // a reaction only: TAGMSG when possible
}

// renderOutgoing maps a groupchat message from XMPP to IRC, read in the
// gateway kit's model (bridge.ParseMessage): a XEP-0461 reply (its quoted
// fallback cut) is addressed "nick: ", with +draft/reply where the server
// takes message tags; a XEP-0308 correction is sent as "* new text";
// XEP-0444 reactions become a +draft/react TAGMSG, or a readable line where
// tags are not carried. A retraction, which IRC cannot carry, sends its
// fallback text.
func (s *session) renderOutgoing(ch *channel, m *stanza.Stanza) (outgoing, bool) {
	tagsOK := s.conn.HasCap("message-tags")
	p, err := bridge.ParseMessage(m, ch.name, true, bridge.ParseOptions{})
	if err != nil || len(p.Events) == 0 {
		return outgoing{}, false
	}
	switch e := p.Events[0].(type) {
	case *bridge.Reaction:
		if len(e.Emojis) == 0 {
			return outgoing{}, false // a reaction removed: IRC cannot say it
		}
		r := ch.find(e.ID)
		if tagsOK && r != nil && r.legacy != "" {
			return outgoing{tags: map[string]string{tagReact: e.Emojis[len(e.Emojis)-1], tagReply: r.legacy}, react: true}, true
		}
		target := ""
		if r != nil {
			target = " to " + r.nick + ": \"" + excerpt(r.body) + "\""
		}
		return outgoing{text: "\x01ACTION reacted " + strings.Join(e.Emojis, " ") + target + "\x01"}, true
	case *bridge.Message:
		var out outgoing
		body := e.Body
		if e.ReplyTo != nil {
			body = strings.TrimSpace(body)
			if r := ch.find(e.ReplyTo.ID); r != nil {
				if !strings.HasPrefix(body, r.nick+":") && !strings.HasPrefix(body, r.nick+",") {
					body = r.nick + ": " + body
				}
				if tagsOK && r.legacy != "" {
					out.tags = map[string]string{tagReply: r.legacy}
				}
			}
		}
		if e.Replaces != "" && body != "" {
			body = "* " + body
		}
		out.text = body
		return out, body != ""
	}
	if body := m.Body(); body != "" {
		return outgoing{text: body}, true
	}
	return outgoing{}, false
}

// excerpt shortens text for a readable reference on IRC.
func excerpt(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if utf8.RuneCountInString(s) <= 40 {
		return s
	}
	r := []rune(s)
	return string(r[:40]) + "…"
}
