package bridge

import (
	"context"
	"encoding/base64"
	"strconv"

	"xmppkit.dev/internal/elem"
	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// avatarOf returns the requester's contact at the puppet address, or nil.
func (g *Gateway) contactOf(st *stanza.Stanza) (*user, *contact) {
	id, ok := g.resolve(st.From, st.To)
	if !ok {
		return nil, nil
	}
	u := g.user(st.From, false)
	if u == nil {
		return nil, nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u, u.contacts[id]
}

// handleVCard answers vcard-temp at a puppet (XEP-0054, with the XEP-0153
// photo): the contact's nick and avatar as the requester's contact list
// has them.
func (g *Gateway) handleVCard(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
	if iq.To.Local() == "" {
		return s.Send(ctx, iq.Result(stanza.Element{Space: NSVCard, Local: "vCard"}))
	}
	u, c := g.contactOf(iq)
	if c == nil {
		return stanza.NewError(stanza.ItemNotFound, "no such contact")
	}
	u.mu.Lock()
	name, av := c.name, c.avatar
	u.mu.Unlock()
	b := stanza.NewBuilder(NSVCard, "vCard").TextElement("FN", name).TextElement("NICKNAME", name)
	if av != nil {
		b.Child("", "PHOTO").TextElement("TYPE", av.ctype).TextElement("BINVAL", base64.StdEncoding.EncodeToString(av.data)).End()
	}
	return s.Send(ctx, iq.Result(b.Element()))
}

// handleAvatarItems answers XEP-0084 (and the XEP-0172 nick node) at a
// puppet, which the gateway serves as the contact's PEP service (XEP-0163):
// items of urn:xmpp:avatar:metadata, urn:xmpp:avatar:data and the nick.
func (g *Gateway) handleAvatarItems(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
	if iq.To.Local() == "" {
		return stanza.ErrServiceUnavailable
	}
	el, _ := iq.PayloadElement()
	n, err := elem.Parse(el.XML(), NSPubSub)
	if err != nil {
		return stanza.NewError(stanza.BadRequest, err.Error())
	}
	var node string
	for _, k := range n.Kids {
		if k.Local == "items" {
			kn, err := n.Child(k)
			if err != nil {
				return stanza.ErrBadRequest
			}
			node, _, _ = kn.Attr("node")
		}
	}
	u, c := g.contactOf(iq)
	if c == nil || g.cfg.Features&Avatars == 0 && node != NSNick {
		return stanza.NewError(stanza.ItemNotFound, "no such node")
	}
	u.mu.Lock()
	name, av := c.name, c.avatar
	u.mu.Unlock()
	b := stanza.NewBuilder(NSPubSub, "pubsub").Child("", "items").Attr("node", node)
	switch node {
	case NSAvatarMeta:
		id := ""
		if av != nil {
			id = av.hash
		}
		b.Child("", "item").OptAttr("id", id).Append(avatarMetadata(av)).End()
	case NSAvatarData:
		if av == nil {
			return stanza.NewError(stanza.ItemNotFound, "no avatar")
		}
		b.Child("", "item").Attr("id", av.hash).Append(stanza.TextElement(NSAvatarData, "data", base64.StdEncoding.EncodeToString(av.data))).End()
	case NSNick:
		b.Child("", "item").Attr("id", "current").Append(stanza.TextElement(NSNick, "nick", name)).End()
	default:
		return stanza.NewError(stanza.ItemNotFound, "no such node")
	}
	return s.Send(ctx, iq.Result(b.End().Element()))
}

// avatarMetadata is the XEP-0084 §4.2 metadata of an avatar (empty: none).
func avatarMetadata(av *avatarInfo) stanza.Element {
	b := stanza.NewBuilder(NSAvatarMeta, "metadata")
	if av != nil {
		b.Child("", "info").Attr("bytes", strconv.Itoa(len(av.data))).Attr("id", av.hash).Attr("type", av.ctype)
		if av.width > 0 && av.height > 0 {
			b.Attr("width", strconv.Itoa(av.width)).Attr("height", strconv.Itoa(av.height))
		}
		b.End()
	}
	return b.Element()
}

// avatarNotify sends the XEP-0084 §4.2 metadata notification from the
// puppet's PEP (XEP-0163 §4.3) to the user. Under u.mu.
func (u *user) avatarNotify(c *contact) op {
	av := c.avatar
	id := ""
	if av != nil {
		id = av.hash
	}
	m := u.bare(c.jid, u.jid, stanza.TypeHeadline)
	m.SetPayloadElements(stanza.NewBuilder(NSPubSubEvent, "event").Child("", "items").Attr("node", NSAvatarMeta).
		Child("", "item").OptAttr("id", id).Append(avatarMetadata(av)).End().End().Element())
	return u.sendOp(m)
}
