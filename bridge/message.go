package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"xmppkit.dev/internal/elem"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// Namespaces of the message XEPs the kit maps.
const (
	NSCorrect         = "urn:xmpp:message-correct:0"            // XEP-0308
	NSRetract         = "urn:xmpp:message-retract:1"            // XEP-0424 v0.4
	NSRetract0        = "urn:xmpp:message-retract:0"            // XEP-0424 v0.3, with XEP-0422
	NSFasten          = "urn:xmpp:fasten:0"                     // XEP-0422
	NSReactions       = "urn:xmpp:reactions:0"                  // XEP-0444
	NSReply           = "urn:xmpp:reply:0"                      // XEP-0461
	NSFallback        = "urn:xmpp:fallback:0"                   // XEP-0428
	NSFeatureFallback = "urn:xmpp:feature-fallback:0"           // XEP-0461 before XEP-0428
	NSReceipts        = "urn:xmpp:receipts"                     // XEP-0184
	NSMarkers         = "urn:xmpp:chat-markers:0"               // XEP-0333
	NSChatStates      = "http://jabber.org/protocol/chatstates" // XEP-0085
	NSOOB             = "jabber:x:oob"                          // XEP-0066
	NSSID             = "urn:xmpp:sid:0"                        // XEP-0359
	NSDelay           = "urn:xmpp:delay"                        // XEP-0203
	NSCarbons         = "urn:xmpp:carbons:2"                    // XEP-0280
	NSForward         = "urn:xmpp:forward:0"                    // XEP-0297
)

// MaxBody is the longest body the kit puts in one stanza (bytes); a longer
// text from the network is split over several messages on character
// boundaries, so that no stanza exceeds what servers accept (Prosody and
// ejabberd cut streams at 256-512 KiB) and nothing is lost.
const MaxBody = 60 << 10

// maxID bounds a legacy id (bytes).
const maxID = 1024

// validate checks an event from the network before anything is shown.
func validate(ev Event) error {
	bad := func(what, v string) error {
		return fmt.Errorf("%w: %s %q", ErrMalformed, what, truncate(v, 40))
	}
	id := func(what, v string, required bool) error {
		switch {
		case v == "" && required:
			return fmt.Errorf("%w: empty %s", ErrMalformed, what)
		case len(v) > maxID, !utf8.ValidString(v), strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f || r == utf8.RuneError }):
			return bad(what, v)
		}
		return nil
	}
	switch e := ev.(type) {
	case *Message:
		if err := id("chat", e.Chat, true); err != nil {
			return err
		}
		if err := id("message id", e.ID, false); err != nil {
			return err
		}
		if err := id("replaced id", e.Replaces, false); err != nil {
			return err
		}
		if e.ReplyTo != nil {
			if err := id("reply id", e.ReplyTo.ID, true); err != nil {
				return err
			}
		}
		if e.Body == "" && len(e.Attachments) == 0 {
			return fmt.Errorf("%w: a message without body or attachment", ErrMalformed)
		}
		return id("sender", e.From, false)
	case *Retraction:
		return firstErr(id("chat", e.Chat, true), id("message id", e.ID, true), id("sender", e.From, false))
	case *Reaction:
		return firstErr(id("chat", e.Chat, true), id("message id", e.ID, true), id("sender", e.From, false))
	case *Receipt:
		return firstErr(id("chat", e.Chat, true), id("message id", e.ID, true), id("sender", e.From, false))
	case *Displayed:
		return firstErr(id("chat", e.Chat, true), id("message id", e.ID, true), id("sender", e.From, false))
	case *ChatState:
		switch e.State {
		case Active, Composing, Paused, Inactive, Gone:
		default:
			return bad("chat state", string(e.State))
		}
		return firstErr(id("chat", e.Chat, true), id("sender", e.From, false))
	case *Contact:
		switch e.Show {
		case Available, Away, Chat, DND, XA, Offline:
		default:
			return bad("show", string(e.Show))
		}
		return id("contact id", e.ID, true)
	case *ContactGone:
		return id("contact id", e.ID, true)
	case *Group:
		return id("group id", e.ID, true)
	case *Participant:
		if e.Nick == "" && !e.Left {
			return fmt.Errorf("%w: participant without nick", ErrMalformed)
		}
		return firstErr(id("group id", e.Group, true), id("participant id", e.ID, false))
	case *Subject:
		return id("group id", e.Group, true)
	case *Notice, *Disconnected:
		return nil
	case *Join, *Leave, *Subscribe:
		return fmt.Errorf("%w: %T is what the user asks of the network, not an event of it", ErrMalformed, ev)
	}
	return fmt.Errorf("%w: unknown event %T", ErrMalformed, ev)
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// apply updates the user's state for an event of the network and returns
// what to send. Under u.mu.
func (u *user) apply(ctx context.Context, ev Event) ([]op, error) {
	switch e := ev.(type) {
	case *Contact:
		return u.applyContact(e), nil
	case *ContactGone:
		return u.applyContactGone(e.ID), nil
	case *Disconnected:
		return u.disconnected(e), nil
	case *Notice:
		m := stanza.NewMessage(stanza.TypeChat, u.jid, e.Text)
		m.From = u.g.domain
		return []op{u.sendOp(m)}, nil
	case *Group:
		return u.applyGroup(e), nil
	case *Participant:
		return u.applyParticipant(e), nil
	case *Subject:
		return u.applySubject(e), nil
	}
	chat := chatOf(ev)
	if u.isGroup(chat, ev) {
		return u.groupEvent(ev)
	}
	return u.chatEvent(ev)
}

func chatOf(ev Event) string {
	switch e := ev.(type) {
	case *Message:
		return e.Chat
	case *Retraction:
		return e.Chat
	case *Reaction:
		return e.Chat
	case *Receipt:
		return e.Chat
	case *Displayed:
		return e.Chat
	case *ChatState:
		return e.Chat
	}
	return ""
}

func senderOf(ev Event) string {
	switch e := ev.(type) {
	case *Message:
		return e.From
	case *Retraction:
		return e.From
	case *Reaction:
		return e.From
	case *Receipt:
		return e.From
	case *Displayed:
		return e.From
	case *ChatState:
		return e.From
	}
	return ""
}

// chatEvent shows a one-to-one chat event: from the puppet to the user, or,
// for the user's own (From ""), from the user to the puppet through the
// message privilege. Under u.mu.
func (u *user) chatEvent(ev Event) ([]op, error) {
	chat := chatOf(ev)
	c := u.contactFor(chat)
	own := senderOf(ev) == ""
	var sts []*stanza.Stanza
	var uploads []op
	switch e := ev.(type) {
	case *Message:
		sts, uploads = u.buildMessages(e, c.jid, u.jid, stanza.TypeChat, c.jid, c.hidden && !own)
	case *Retraction:
		sts = []*stanza.Stanza{u.buildRetraction(chat, e.ID, c.jid, u.jid, stanza.TypeChat)}
	case *Reaction:
		sts = []*stanza.Stanza{u.buildReaction(chat, e.ID, e.Emojis, c.jid, u.jid, stanza.TypeChat)}
	case *Receipt:
		if own {
			return nil, nil // the user's own devices: nothing to show
		}
		m := u.bare(c.jid, u.jid, stanza.TypeChat)
		m.SetPayloadElements(stanza.NewBuilder(NSReceipts, "received").Attr("id", u.ids.xmpp(chat, e.ID)).Element())
		sts = []*stanza.Stanza{m}
	case *Displayed:
		m := u.bare(c.jid, u.jid, stanza.TypeChat)
		m.SetPayloadElements(stanza.NewBuilder(NSMarkers, "displayed").Attr("id", u.ids.xmpp(chat, e.ID)).Element(), hint("store"))
		sts = []*stanza.Stanza{m}
	case *ChatState:
		if own {
			return nil, nil
		}
		m := u.bare(c.jid, u.jid, stanza.TypeChat)
		m.SetPayloadElements(stanza.Element{Space: NSChatStates, Local: string(e.State)}, hint("no-store"))
		sts = []*stanza.Stanza{m}
	default:
		return nil, fmt.Errorf("%w: %T", ErrMalformed, ev)
	}
	if own {
		return u.ownOps(ev, c, sts), nil
	}
	ops := make([]op, 0, len(sts)+len(uploads))
	for _, st := range sts {
		ops = append(ops, u.sendOp(st))
	}
	return append(ops, uploads...), nil
}

// bare starts a message without body.
func (u *user) bare(from, to jid.JID, typ string) *stanza.Stanza {
	m := stanza.NewMessage(typ, to, "")
	m.From = from
	return m
}

func hint(local string) stanza.Element { return stanza.Element{Space: NSHints, Local: local} }

// ownOps turns stanzas built as from the contact into the user's own: from
// the user's bare JID to the puppet, sent on the user's behalf with the
// XEP-0356 message privilege, so that the user's server carbons and
// archives them as the user's (XEP-0280, XEP-0313). Without the
// privilege, a message is shown from the contact as a note; other events
// (reactions, markers of the user's own) are dropped. Under u.mu.
func (u *user) ownOps(ev Event, c *contact, sts []*stanza.Stanza) []op {
	g := u.g
	server := u.jid.DomainJID()
	if g.canSendAs(server) {
		ops := make([]op, 0, len(sts))
		carbons := g.ownAsCarbons(server)
		for _, st := range sts {
			st.From, st.To = u.jid, c.jid
			if !carbons {
				u.reflected[st.ID] = time.Now()
				ops = append(ops, func(ctx context.Context) error {
					return g.priv.SendMessage(ctx, g.sender0(), st)
				})
				continue
			}
			// ejabberd 23.01 routes a privileged message without its c2s
			// hooks: no carbons, no archive. The gateway then sends the
			// XEP-0280 carbon itself, from the user's bare JID to each
			// online client.
			st.NS = stanza.NSClient
			inner := st.AsElement()
			for _, d := range u.devices {
				w := stanza.NewMessage("", d, "")
				w.From = u.jid
				w.ID = st.ID
				w.SetPayloadElements(stanza.NewBuilder(NSCarbons, "sent").Child(NSForward, "forwarded").Append(inner).End().Element())
				ops = append(ops, func(ctx context.Context) error {
					return g.priv.SendMessage(ctx, g.sender0(), w)
				})
			}
		}
		u.pruneReflected()
		return ops
	}
	m, ok := ev.(*Message)
	if !ok {
		return nil
	}
	var ops []op
	ops = append(ops, func(ctx context.Context) error {
		u.tellOnceStored(ctx, "own", "Your server does not let this gateway show the messages you send from the network's other clients as your own (the XEP-0356 message privilege is "+g.messageWhy(server)+"): they are shown as notes from the contact instead.")
		return nil
	})
	note := u.bare(c.jid, u.jid, stanza.TypeChat)
	note.ID = stanza.NewID()
	note.SetPayloadElements(stanza.TextElement("", "body", "[you, from another client] "+m.Body))
	return append(ops, u.sendOp(note))
}

func (u *user) pruneReflected() {
	if len(u.reflected) < 1024 {
		return
	}
	cut := time.Now().Add(-10 * time.Minute)
	for id, t := range u.reflected {
		if t.Before(cut) {
			delete(u.reflected, id)
		}
	}
}

// buildMessages makes the stanzas of a message: its text (split if longer
// than MaxBody) and one message per attachment (a XEP-0066 link; an
// attachment without URL goes through the Uploader, as an op run later).
// by is the JID that assigns stanza ids (the puppet, or the room). Under
// u.mu.
func (u *user) buildMessages(m *Message, from, to jid.JID, typ string, by jid.JID, withNick bool) ([]*stanza.Stanza, []op) {
	chat := m.Chat
	id := m.ID
	if id == "" {
		id = stanza.NewID()
	}
	var sts []*stanza.Stanza
	var uploads []op
	parts := splitBody(m.Body, MaxBody)
	for i, part := range parts {
		st := u.bare(from, to, typ)
		st.ID = id
		if i > 0 {
			st.ID = id + "#" + strconv.Itoa(i+1)
		}
		body := part
		var els []stanza.Element
		var fallback stanza.Element
		if i == 0 && m.ReplyTo != nil {
			r := m.ReplyTo
			els = append(els, ReplyElement(u.ids.xmpp(chat, r.ID), u.authorJID(m, r.Author, from, to)))
			if r.Quote != "" {
				q := quote(r.Quote)
				fallback = stanza.NewBuilder(NSFallback, "fallback").Attr("for", NSReply).
					Child("", "body").Attr("start", "0").Attr("end", strconv.Itoa(utf8.RuneCountInString(q))).End().Element()
				body = q + body
			}
		}
		els = append([]stanza.Element{stanza.TextElement("", "body", body)}, els...)
		if fallback.Local != "" {
			els = append(els, fallback)
		}
		if i == 0 && m.Replaces != "" && u.g.cfg.Features&Corrections != 0 {
			els = append(els, ReplaceElement(u.ids.xmpp(chat, m.Replaces)))
		}
		els = append(els, u.messageMeta(st.ID, by, m.Time, withNick && i == 0, from)...)
		st.SetPayloadElements(els...)
		sts = append(sts, st)
	}
	for i, a := range m.Attachments {
		aid := id + "/" + strconv.Itoa(i+1)
		if len(sts) == 0 && i == 0 {
			aid = id
		}
		if a.URL != "" {
			sts = append(sts, u.linkMessage(a, a.URL, aid, from, to, typ, by, m.Time))
			continue
		}
		if a.Open == nil || u.g.cfg.Uploader == nil {
			note := u.bare(from, to, typ)
			note.ID = aid
			note.SetPayloadElements(stanza.TextElement("", "body", "[a file the gateway cannot pass on: "+a.Name+"]"))
			sts = append(sts, note)
			continue
		}
		uploads = append(uploads, u.uploadOp(a, aid, from, to, typ, by, m.Time))
	}
	return sts, uploads
}

// messageMeta are the elements every message from the network carries: its
// XEP-0359 ids, XEP-0333 markable, a XEP-0184 request, a XEP-0203 delay for
// an old message, and a XEP-0172 nick for a stranger's first message.
func (u *user) messageMeta(id string, by jid.JID, t time.Time, nick bool, from jid.JID) []stanza.Element {
	els := []stanza.Element{
		stanza.NewBuilder(NSSID, "origin-id").Attr("id", id).Element(),
		stanza.NewBuilder(NSSID, "stanza-id").Attr("id", id).Attr("by", by.String()).Element(),
	}
	if u.g.cfg.Features&Markers != 0 {
		els = append(els, stanza.Element{Space: NSMarkers, Local: "markable"})
	}
	els = append(els, stanza.Element{Space: NSReceipts, Local: "request"})
	if !t.IsZero() && time.Since(t) > 10*time.Second {
		els = append(els, stanza.NewBuilder(NSDelay, "delay").Attr("stamp", t.UTC().Format(time.RFC3339Nano)).Attr("from", u.g.domain.String()).Element())
	}
	if nick {
		if c := u.contacts[u.idLocked(from)]; c != nil && c.name != "" {
			els = append(els, stanza.TextElement(NSNick, "nick", c.name))
		}
	}
	return els
}

// authorJID is the XEP-0461 'to' of a reply: the author's address.
func (u *user) authorJID(m *Message, author string, from, to jid.JID) jid.JID {
	if author == "" {
		return u.jid
	}
	if g := u.groups[m.Chat]; g != nil {
		return g.occupantJID(author)
	}
	return u.g.puppet(author)
}

func quote(text string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		b.WriteString("> ")
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// splitBody splits s into pieces of at most n bytes on character boundaries,
// preferring line breaks.
func splitBody(s string, n int) []string {
	if s == "" {
		return nil
	}
	var out []string
	for len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		if nl := strings.LastIndexByte(s[:cut], '\n'); nl > cut/2 {
			cut = nl + 1
		}
		out = append(out, s[:cut])
		s = s[cut:]
	}
	return append(out, s)
}

func (u *user) linkMessage(a Attachment, link, id string, from, to jid.JID, typ string, by jid.JID, t time.Time) *stanza.Stanza {
	st := u.bare(from, to, typ)
	st.ID = id
	oob := stanza.NewBuilder(NSOOB, "x").TextElement("url", link).OptTextElement("desc", a.Name).Element()
	els := append([]stanza.Element{stanza.TextElement("", "body", link), oob}, u.messageMeta(id, by, t, false, from)...)
	st.SetPayloadElements(els...)
	return st
}

func (u *user) buildRetraction(chat, legacyID string, from, to jid.JID, typ string) *stanza.Stanza {
	id := u.ids.xmpp(chat, legacyID)
	m := u.bare(from, to, typ)
	m.SetPayloadElements(append(RetractElements(id),
		stanza.NewBuilder(NSFallback, "fallback").Attr("for", NSRetract).Element(),
		stanza.TextElement("", "body", "This message was retracted; your client does not show retractions."),
		hint("store"),
	)...)
	return m
}

func (u *user) buildReaction(chat, legacyID string, emojis []string, from, to jid.JID, typ string) *stanza.Stanza {
	m := u.bare(from, to, typ)
	m.SetPayloadElements(ReactionsElement(u.ids.xmpp(chat, legacyID), emojis), hint("store"))
	return m
}

// --- from XMPP ------------------------------------------------------------

// parsed is a message from a user's client, as events for the network.
type parsed struct {
	id      string // the client's id for it: origin-id, else the stanza id
	events  []Event
	receipt bool // the client asked for a XEP-0184 receipt
}

// Parsed is what a message from a user's client says, in the kit's model
// (see ParseMessage).
type Parsed struct {
	// ID is the client's id for the message: its XEP-0359 origin-id, else
	// the stanza's id.
	ID string
	// Events are what the message carries, in this order: a Retraction or
	// a Reaction (which then stand alone) or a Message (text, XEP-0066
	// links as Attachments, XEP-0308 Replaces, XEP-0461 ReplyTo with the
	// XEP-0428 fallback cut from the body), then a Receipt, a Displayed and
	// a ChatState (only without a body).
	Events []Event
	// Receipt reports a XEP-0184 request.
	Receipt bool
}

// ParseOptions are the hooks of ParseMessage.
type ParseOptions struct {
	// Legacy maps an XMPP id the message names (the corrected message, the
	// one replied or reacted to, retracted, marked) to the id the bridge
	// uses; nil keeps the XMPP ids.
	Legacy func(xmppID string) string
	// Author maps the XEP-0461 'to' of a reply (the author's address) to
	// the bridge's id for the author; nil leaves Reply.Author "".
	Author func(to jid.JID) string
	// Fetch opens the XEP-0066 links as Attachment.Open does; nil leaves
	// Open nil.
	Fetch func(ctx context.Context, link string) (io.ReadCloser, error)
}

// ParseMessage reads a message from a user's client (to a contact or, with
// group, a room) as the kit's events for chat: what a gateway that keeps
// its own sessions (the IRC transport) shares with the Gateway. It returns a
// bad-request *stanza.Error for extensions it cannot read.
func ParseMessage(st *stanza.Stanza, chat string, group bool, o ParseOptions) (Parsed, error) {
	p := Parsed{ID: st.ID}
	legacy := o.Legacy
	if legacy == nil {
		legacy = func(x string) string { return x }
	}
	var (
		body, hasBody               = "", false
		replace, reactTo, retractID string
		reactions                   []string
		hasReact, hasRetract        bool
		reply                       *Reply
		replyTo                     string
		fallbacks                   []span
		state                       State
		receivedID, displayedID     string
		oobs                        []string
	)
	for _, c := range st.Children() {
		n, err := elem.Parse(c.XML(), c.Space)
		if err != nil {
			return p, stanza.NewError(stanza.BadRequest, "unreadable "+c.Local+": "+err.Error())
		}
		attr := func(name string) string { v, _, _ := n.Attr(name); return v }
		switch {
		case c.Space == "" && c.Local == "body" && !hasBody:
			body, _ = n.Text()
			hasBody = true
		case c.Space == NSSID && c.Local == "origin-id":
			if v := attr("id"); v != "" {
				p.ID = v
			}
		case c.Space == NSCorrect && c.Local == "replace":
			replace = attr("id")
		case c.Space == NSReactions && c.Local == "reactions":
			hasReact = true
			reactTo = attr("id")
			for _, k := range n.Kids {
				if k.Local == "reaction" {
					kn, err := n.Child(k)
					if err == nil {
						if t, err := kn.Text(); err == nil && t != "" {
							reactions = append(reactions, t)
						}
					}
				}
			}
		case c.Space == NSRetract && c.Local == "retract":
			hasRetract, retractID = true, attr("id")
		case c.Space == NSFasten && c.Local == "apply-to":
			for _, k := range n.Kids {
				if k.Space == NSRetract0 && k.Local == "retract" {
					hasRetract, retractID = true, attr("id")
				}
			}
		case c.Space == NSReply && c.Local == "reply":
			reply, replyTo = &Reply{ID: attr("id")}, attr("to")
		case (c.Space == NSFallback || c.Space == NSFeatureFallback) && c.Local == "fallback":
			if attr("for") != NSReply {
				continue
			}
			whole := true
			for _, k := range n.Kids {
				if k.Local != "body" {
					continue
				}
				whole = false
				kn, err := n.Child(k)
				if err != nil {
					continue
				}
				s, _, _ := kn.Attr("start")
				e, _, _ := kn.Attr("end")
				a, err1 := strconv.Atoi(s)
				b, err2 := strconv.Atoi(e)
				if err1 == nil && err2 == nil && 0 <= a && a <= b {
					fallbacks = append(fallbacks, span{a, b})
				} else if s == "" && e == "" {
					whole = true // a <body/> without range: all of it (XEP-0428 §4)
				}
			}
			if whole {
				fallbacks = append(fallbacks, span{0, 1 << 30})
			}
		case c.Space == NSChatStates:
			state = State(c.Local)
		case c.Space == NSReceipts && c.Local == "request":
			p.Receipt = true
		case c.Space == NSReceipts && c.Local == "received":
			receivedID = attr("id")
		case c.Space == NSMarkers && c.Local == "displayed":
			displayedID = attr("id")
		case c.Space == NSOOB && c.Local == "x":
			for _, k := range n.Kids {
				if k.Local == "url" {
					if kn, err := n.Child(k); err == nil {
						if t, err := kn.Text(); err == nil && t != "" {
							oobs = append(oobs, t)
						}
					}
				}
			}
		}
	}
	switch {
	case hasRetract:
		if retractID == "" {
			return p, stanza.NewError(stanza.BadRequest, "a retraction without id")
		}
		p.Events = append(p.Events, &Retraction{Chat: chat, ID: legacy(retractID)})
	case hasReact:
		if reactTo == "" {
			return p, stanza.NewError(stanza.BadRequest, "reactions without id")
		}
		p.Events = append(p.Events, &Reaction{Chat: chat, ID: legacy(reactTo), Emojis: reactions})
	case hasBody || len(oobs) > 0:
		m := &Message{Chat: chat, ID: p.ID, Body: cutSpans(body, fallbacks), Group: group}
		if replace != "" {
			m.Replaces = legacy(replace)
		}
		if reply != nil && reply.ID != "" {
			reply.ID = legacy(reply.ID)
			if j, err := jid.Parse(replyTo); err == nil && replyTo != "" && o.Author != nil {
				reply.Author = o.Author(j)
			}
			m.ReplyTo = reply
		}
		for _, link := range oobs {
			a := attachmentOf(link)
			if o.Fetch != nil {
				a.Open = func(ctx context.Context) (io.ReadCloser, error) { return o.Fetch(ctx, link) }
			}
			m.Attachments = append(m.Attachments, a)
			if strings.TrimSpace(m.Body) == link {
				m.Body = ""
			}
		}
		p.Events = append(p.Events, m)
	}
	if receivedID != "" {
		p.Events = append(p.Events, &Receipt{Chat: chat, ID: legacy(receivedID)})
	}
	if displayedID != "" {
		p.Events = append(p.Events, &Displayed{Chat: chat, ID: legacy(displayedID)})
	}
	if state != "" && !hasBody {
		switch state {
		case Active, Composing, Paused, Inactive, Gone:
			p.Events = append(p.Events, &ChatState{Chat: chat, State: state})
		}
	}
	return p, nil
}

// parseMessage reads a message from the user to a chat (contact or group)
// with the user's id tables. Under u.mu.
func (u *user) parseMessage(st *stanza.Stanza, chat string, group bool) (parsed, error) {
	legacy := func(x string) string {
		if group {
			if l := u.sids.legacy(chat, x); l != x {
				return l
			}
		}
		return u.ids.legacy(chat, x)
	}
	author := func(j jid.JID) string {
		if j.Bare().Equal(u.jid) {
			return ""
		}
		if group {
			if gr := u.groups[chat]; gr != nil {
				return gr.participantID(j.Resource())
			}
			return ""
		}
		return u.idLocked(j)
	}
	P, err := ParseMessage(st, chat, group, ParseOptions{Legacy: legacy, Author: author, Fetch: u.g.fetch})
	return parsed{id: P.ID, events: P.Events, receipt: P.Receipt}, err
}

type span struct{ start, end int }

// cutSpans removes the fallback spans (in characters, XEP-0428 §4) from s.
func cutSpans(s string, spans []span) string {
	if len(spans) == 0 {
		return s
	}
	rs := []rune(s)
	keep := make([]bool, len(rs))
	for i := range keep {
		keep[i] = true
	}
	for _, sp := range spans {
		for i := sp.start; i < sp.end && i < len(rs); i++ {
			keep[i] = false
		}
	}
	var b strings.Builder
	for i, r := range rs {
		if keep[i] {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// attachmentOf is an attachment from a user's client: its link, named
// after the last element of its path.
func attachmentOf(link string) Attachment {
	name := link
	if pu, err := url.Parse(link); err == nil {
		if b := path.Base(pu.Path); b != "" && b != "/" && b != "." {
			name = b
		}
	}
	return Attachment{Name: name, URL: link, Size: -1}
}

// handleMessage serves a message from a user's client to a puppet, a room
// or the gateway.
func (g *Gateway) handleMessage(ctx context.Context, s mux.Sender, st *stanza.Stanza) error {
	from := st.From
	if from.Domain() == g.domain.Domain() {
		return nil
	}
	id, atPuppet := g.resolve(from, st.To)
	u := g.user(from, false)
	if u == nil {
		if atPuppet || st.Body() != "" {
			return stanza.NewError(stanza.RegistrationRequired, "register with "+g.domain.String()+" first (XEP-0077)")
		}
		return nil
	}
	if from.Resource() == "" {
		// A message from the user's bare JID: the server, routing back a
		// message the gateway sent on the user's behalf.
		u.mu.Lock()
		_, ours := u.reflected[st.ID]
		u.mu.Unlock()
		if ours {
			return nil
		}
	}
	if !atPuppet {
		if st.Body() != "" {
			u.notice(ctx, "This is the gateway to "+g.cfg.Name+". Write to your contacts at their addresses here; the commands (status, settings) are in your client's ad-hoc commands.")
		}
		return nil
	}
	if st.Type == stanza.TypeGroupchat || u.isRoom(id) {
		return g.handleRoomMessage(ctx, u, st, id)
	}
	u.mu.Lock()
	p, err := u.parseMessage(st, id, false)
	live := u.state != offline
	u.mu.Unlock()
	if err != nil {
		return err
	}
	if len(p.events) == 0 {
		return nil
	}
	if !live {
		if hasMessage(p.events) {
			return stanza.NewError(stanza.RecipientUnavailable, "not connected to "+g.cfg.Name+" (come online to log in)")
		}
		return nil
	}
	if !u.post(func(ctx context.Context) { u.deliver(ctx, st, id, p) }) {
		return stanza.NewError(stanza.ResourceConstraint, "too many messages waiting for "+g.cfg.Name+"; try again shortly")
	}
	return nil
}

func hasMessage(evs []Event) bool {
	for _, e := range evs {
		switch e.(type) {
		case *Message, *Reaction, *Retraction:
			return true
		}
	}
	return false
}

// deliver sends a parsed message's events to the network, on the user's
// goroutine, and answers the client: a XEP-0184 receipt once the network
// took the message, an error when it did not.
func (u *user) deliver(ctx context.Context, st *stanza.Stanza, chat string, p parsed) {
	for _, ev := range p.events {
		lid, err := u.sendToNetwork(ctx, ev, st)
		if err != nil {
			if quietEvent(ev) {
				continue
			}
			u.replyError(ctx, st, err, ev)
			return
		}
		if m, ok := ev.(*Message); ok {
			u.mu.Lock()
			u.ids.add(chat, p.id, lid)
			if st.ID != p.id {
				u.ids.add(chat, st.ID, lid)
			}
			u.mu.Unlock()
			if p.receipt && !u.g.cfg.NetworkReceipts && !m.Group {
				r := u.bare(st.To.Bare(), st.From, stanza.TypeChat)
				r.SetPayloadElements(stanza.NewBuilder(NSReceipts, "received").Attr("id", st.ID).Element())
				_ = u.g.send(ctx, r)
			}
		}
	}
}

// quietEvent reports whether a failure of the event is not worth an error
// to the client (clients send these on their own).
func quietEvent(ev Event) bool {
	switch ev.(type) {
	case *ChatState, *Receipt, *Displayed:
		return true
	}
	return false
}

// sendToNetwork calls Session.Send on the user's goroutine.
func (u *user) sendToNetwork(ctx context.Context, ev Event, st *stanza.Stanza) (id string, err error) {
	u.mu.Lock()
	sess := u.sess
	u.mu.Unlock()
	if sess == nil {
		return "", stanza.NewError(stanza.RecipientUnavailable, "not connected to "+u.g.cfg.Name)
	}
	sctx, cancel := context.WithTimeout(ctx, u.g.cfg.SendTimeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			u.g.log.Error("bridge: Session.Send panicked", "user", u.jid, "panic", r)
			id, err = "", stanza.NewError(stanza.InternalServerError, "the gateway failed to pass this on")
		}
	}()
	id, err = sess.Send(sctx, ev)
	if err == nil && id == "" {
		if m, ok := ev.(*Message); ok {
			id = m.ID
		}
	}
	return id, err
}

// replyError answers the client's stanza with the error of the network.
func (u *user) replyError(ctx context.Context, st *stanza.Stanza, err error, ev Event) {
	var se *stanza.Error
	switch {
	case errors.As(err, &se):
	case errors.Is(err, ErrUnsupported):
		se = stanza.NewError(stanza.FeatureNotImplemented, u.g.cfg.Name+" cannot carry "+eventName(ev))
	case errors.Is(err, ErrNotFound):
		se = stanza.NewError(stanza.ItemNotFound, u.g.cfg.Name+" does not know this chat or message")
	case errors.Is(err, context.DeadlineExceeded):
		se = stanza.NewError(stanza.RemoteServerTimeout, u.g.cfg.Name+" did not answer in time")
	default:
		se = stanza.NewError(stanza.RecipientUnavailable, u.g.cfg.Name+": "+err.Error())
	}
	if r := st.ErrorReply(se); r != nil {
		_ = u.g.send(ctx, r)
	}
}

func eventName(ev Event) string {
	switch ev.(type) {
	case *Message:
		return "this message"
	case *Retraction:
		return "retractions"
	case *Reaction:
		return "reactions"
	case *Join:
		return "group chats"
	}
	return strings.TrimPrefix(fmt.Sprintf("%T", ev), "*bridge.")
}

// handleMessageError handles a message error: a bounce of something the
// gateway sent (the server refused a privileged message, a user's client
// refused a puppet's message).
func (g *Gateway) handleMessageError(ctx context.Context, s mux.Sender, st *stanza.Stanza) error {
	e := st.Err()
	g.log.Info("bridge: message bounced", "from", st.From, "to", st.To, "id", st.ID, "err", e)
	if st.From.Local() == "" && st.From.Domain() != g.domain.Domain() && (errors.Is(e, stanza.ErrForbidden) || errors.Is(e, stanza.ErrItemNotFound)) {
		// The server refused a message sent on a user's behalf.
		g.refuse(st.From.DomainJID(), "message", e)
	}
	return nil
}
