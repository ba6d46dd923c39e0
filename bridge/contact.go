package bridge

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"slices"

	"xmppkit.dev/jid"
	"xmppkit.dev/privilege"
	"xmppkit.dev/stanza"
)

// Namespaces of the XEPs the puppets speak.
const (
	NSNick        = "http://jabber.org/protocol/nick" // XEP-0172
	NSVCard       = "vcard-temp"                      // XEP-0054
	NSVCardUpdate = "vcard-temp:x:update"             // XEP-0153
	NSAvatarData  = "urn:xmpp:avatar:data"            // XEP-0084
	NSAvatarMeta  = "urn:xmpp:avatar:metadata"        // XEP-0084
	NSPubSub      = "http://jabber.org/protocol/pubsub"
	NSPubSubEvent = "http://jabber.org/protocol/pubsub#event"
	NSHints       = "urn:xmpp:hints" // XEP-0334
)

// op is something to do for an event once the user's state is updated:
// send a stanza, set a roster item. It runs outside the user's lock.
type op func(ctx context.Context) error

// contact is a puppet: one legacy contact of one user.
type contact struct {
	id       string
	jid      jid.JID
	name     string
	show     Show
	status   string
	avatar   *avatarInfo
	groups   []string
	hidden   bool
	inRoster bool // pushed with the roster privilege
	asked    bool // a subscription request was sent in this session
}

type avatarInfo struct {
	hash   string // SHA-1, hex (XEP-0084 §4.2 id, XEP-0153 photo)
	data   []byte
	ctype  string
	width  int
	height int
}

func newAvatar(a *Avatar) *avatarInfo {
	if a == nil || len(a.Data) == 0 {
		return nil
	}
	sum := sha1.Sum(a.Data)
	ct := a.ContentType
	if ct == "" {
		ct = "image/png"
	}
	return &avatarInfo{hash: hex.EncodeToString(sum[:]), data: a.Data, ctype: ct, width: a.Width, height: a.Height}
}

func (a *avatarInfo) sameAs(b *avatarInfo) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.hash == b.hash
}

// contactFor returns the contact with the id, creating a hidden one (a
// stranger who wrote to the user) when the network never announced it.
// Under u.mu.
func (u *user) contactFor(id string) *contact {
	if c := u.contacts[id]; c != nil {
		return c
	}
	c := &contact{id: id, jid: u.g.puppet(id), name: id, show: Available, hidden: true}
	u.contacts[id] = c
	u.known[c.jid.Local()] = id
	return c
}

// applyContact updates a contact and returns what to send. Under u.mu.
func (u *user) applyContact(ev *Contact) []op {
	c, known := u.contacts[ev.ID]
	if !known {
		c = &contact{id: ev.ID, jid: u.g.puppet(ev.ID), name: ev.ID}
		u.contacts[ev.ID] = c
		u.known[c.jid.Local()] = ev.ID
	}
	nameChanged := ev.Name != "" && ev.Name != c.name
	if ev.Name != "" {
		c.name = ev.Name
	}
	groupsChanged := ev.Groups != nil && !slices.Equal(ev.Groups, c.groups)
	if ev.Groups != nil {
		c.groups = slices.Clone(ev.Groups)
	}
	wasHidden := c.hidden
	c.hidden = ev.Hidden
	c.show, c.status = ev.Show, ev.Status
	var ops []op
	if ev.Avatar != nil && u.g.cfg.Features&Avatars != 0 {
		a := newAvatar(ev.Avatar)
		if !a.sameAs(c.avatar) {
			c.avatar = a
			ops = append(ops, u.avatarNotify(c))
		}
	}
	if !c.hidden && (!known || wasHidden || nameChanged || groupsChanged || !c.inRoster) {
		ops = append([]op{u.rosterOp(c.id)}, ops...)
	}
	ops = append(ops, u.sendOp(u.puppetPresence(c, u.jid)))
	return ops
}

// applyContactGone removes a contact. Under u.mu.
func (u *user) applyContactGone(id string) []op {
	c := u.contacts[id]
	if c == nil {
		return nil
	}
	delete(u.contacts, id)
	gone := stanza.NewPresence(stanza.TypeUnavailable, u.jid)
	gone.From = c.jid
	ops := []op{u.sendOp(gone)}
	if c.inRoster || slices.Contains(u.acct.Subscribed, id) {
		ops = append(ops, u.rosterRemoveOp(c))
	}
	return ops
}

// puppetPresence is the presence of a contact to the user (RFC 6121 §4.7):
// show, status, XEP-0115 caps of a puppet and the XEP-0153 photo hash.
// Under u.mu.
func (u *user) puppetPresence(c *contact, to jid.JID) *stanza.Stanza {
	if c.show == Offline {
		p := stanza.NewPresence(stanza.TypeUnavailable, to)
		p.From = c.jid
		if c.status != "" {
			p.SetPayloadElements(stanza.TextElement("", "status", c.status))
		}
		return p
	}
	p := stanza.NewPresence("", to)
	p.From = c.jid
	var els []stanza.Element
	if c.show != Available {
		els = append(els, stanza.TextElement("", "show", string(c.show)))
	}
	if c.status != "" {
		els = append(els, stanza.TextElement("", "status", c.status))
	}
	if caps, ok := u.g.puppetCaps(); ok {
		els = append(els, caps)
	}
	if u.g.cfg.Features&Avatars != 0 {
		photo := ""
		if c.avatar != nil {
			photo = c.avatar.hash
		}
		els = append(els, stanza.NewBuilder(NSVCardUpdate, "x").TextElement("photo", photo).Element())
	}
	p.SetPayloadElements(els...)
	return p
}

// contactsOffline returns the unavailable presence of every contact, for
// devices still online when the session ends. Under u.mu.
func (u *user) contactsOffline(why string) []op {
	var ops []op
	for _, c := range u.contacts {
		p := stanza.NewPresence(stanza.TypeUnavailable, u.jid)
		p.From = c.jid
		if why != "" {
			p.SetPayloadElements(stanza.TextElement("", "status", why))
		}
		ops = append(ops, u.sendOp(p))
	}
	return ops
}

func (u *user) sendOp(st *stanza.Stanza) op {
	return func(ctx context.Context) error { return u.g.send(ctx, st) }
}

// rosterOp puts the contact into the user's roster: with the XEP-0356
// roster privilege when the user's server granted it (and did not refuse
// it), else by a subscription request from the puppet, once, telling the
// user why (once per account).
func (u *user) rosterOp(id string) op {
	return func(ctx context.Context) error {
		g := u.g
		u.mu.Lock()
		c := u.contacts[id]
		if c == nil || c.hidden {
			u.mu.Unlock()
			return nil
		}
		item := privilege.RosterItem{JID: c.jid, Name: c.name, Subscription: "both", Groups: slices.Clone(c.groups)}
		subscribed := slices.Contains(u.acct.Subscribed, id)
		asked := c.asked
		u.mu.Unlock()
		server := u.jid.DomainJID()
		if g.canPushRoster(server) {
			err := g.priv.SetRosterItem(ctx, g.sender0(), u.jid, item)
			if err == nil {
				u.mu.Lock()
				if c := u.contacts[id]; c != nil {
					c.inRoster = true
				}
				u.mu.Unlock()
				return nil
			}
			var se *stanza.Error
			if !errors.Is(err, privilege.ErrNotGranted) && !errors.As(err, &se) {
				return err // the link: not acknowledged
			}
			g.refuse(server, "roster set", err)
		}
		if subscribed || asked {
			return nil
		}
		u.mu.Lock()
		if c := u.contacts[id]; c != nil {
			c.asked = true
		}
		u.mu.Unlock()
		u.tellOnceStored(ctx, "roster", "Your server does not let this gateway add your contacts to your contact list (the XEP-0356 roster privilege is "+g.rosterWhy(server)+"): each contact asks you to accept a subscription instead.")
		sub := stanza.NewPresence(stanza.TypeSubscribe, u.jid)
		sub.From = item.JID
		if item.Name != "" {
			sub.SetPayloadElements(stanza.TextElement(NSNick, "nick", item.Name))
		}
		return g.send(ctx, sub)
	}
}

// rosterRemoveOp removes a contact from the user's roster.
func (u *user) rosterRemoveOp(c *contact) op {
	j := c.jid
	id := c.id
	return func(ctx context.Context) error {
		g := u.g
		server := u.jid.DomainJID()
		if g.canPushRoster(server) {
			err := g.priv.SetRosterItem(ctx, g.sender0(), u.jid, privilege.RosterItem{JID: j, Subscription: "remove"})
			if err == nil {
				return nil
			}
			g.refuse(server, "roster set", err)
		}
		u.mu.Lock()
		if i := slices.Index(u.acct.Subscribed, id); i >= 0 {
			u.acct.Subscribed = slices.Delete(u.acct.Subscribed, i, i+1)
		}
		acct := u.acct.clone()
		u.mu.Unlock()
		_ = g.cfg.Store.Put(acct)
		for _, t := range []string{stanza.TypeUnsubscribe, stanza.TypeUnsubscribed} {
			p := stanza.NewPresence(t, u.jid)
			p.From = j
			if err := g.send(ctx, p); err != nil {
				return err
			}
		}
		return nil
	}
}

// markSubscribed records that the user accepted a contact's subscription
// (or has one: the server probes it), so that it is not asked again.
func (u *user) markSubscribed(id string) {
	u.mu.Lock()
	if !u.registered || slices.Contains(u.acct.Subscribed, id) {
		u.mu.Unlock()
		return
	}
	u.acct.Subscribed = append(u.acct.Subscribed, id)
	acct := u.acct.clone()
	u.mu.Unlock()
	if err := u.g.cfg.Store.Put(acct); err != nil {
		u.g.log.Warn("bridge: cannot store the account", "user", u.jid, "err", err)
	}
}

// tellOnceStored sends a notice the first time for the account (kept in
// the store, so a restart does not repeat it).
func (u *user) tellOnceStored(ctx context.Context, key, text string) {
	u.mu.Lock()
	if slices.Contains(u.acct.Told, key) || !u.registered {
		u.mu.Unlock()
		return
	}
	u.acct.Told = append(u.acct.Told, key)
	acct := u.acct.clone()
	u.mu.Unlock()
	if err := u.g.cfg.Store.Put(acct); err != nil {
		u.g.log.Warn("bridge: cannot store the account", "user", u.jid, "err", err)
	}
	u.notice(ctx, text)
}

// noticeOnce sends a notice the first time in this process.
func (u *user) noticeOnce(ctx context.Context, key, text string) {
	u.mu.Lock()
	if u.told[key] {
		u.mu.Unlock()
		return
	}
	u.told[key] = true
	u.mu.Unlock()
	u.notice(ctx, text)
}

// notice sends a chat message from the gateway to the user.
func (u *user) notice(ctx context.Context, text string) {
	m := stanza.NewMessage(stanza.TypeChat, u.jid, text)
	m.From = u.g.domain
	if err := u.g.send(ctx, m); err != nil {
		u.g.log.Info("bridge: notice not sent", "user", u.jid, "err", err)
	}
}

// gatewayPresence sends the gateway's presence to the user (or one
// device): available when logged in, unavailable with the reason otherwise
// (XEP-0100 §4.1.2: the gateway's presence is the state of the session).
func (u *user) gatewayPresence(ctx context.Context, to jid.JID) {
	if to.IsZero() {
		to = u.jid
	}
	u.mu.Lock()
	st, why := u.state, u.lastErr
	u.mu.Unlock()
	var p *stanza.Stanza
	switch st {
	case online:
		p = stanza.NewPresence("", to)
		p.SetPayloadElements(stanza.TextElement("", "status", "Connected"))
	case connecting:
		p = stanza.NewPresence("", to)
		p.SetPayloadElements(stanza.TextElement("", "show", "dnd"), stanza.TextElement("", "status", "Logging in"))
	default:
		p = stanza.NewPresence(stanza.TypeUnavailable, to)
		if why != "" {
			p.SetPayloadElements(stanza.TextElement("", "status", why))
		}
	}
	p.From = u.g.domain
	if err := u.g.send(ctx, p); err != nil {
		u.g.log.Info("bridge: gateway presence not sent", "user", u.jid, "err", err)
	}
}
