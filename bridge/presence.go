package bridge

import (
	"context"
	"slices"

	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// handlePresence serves every presence to the gateway, its puppets and its
// rooms (RFC 6121 §3, §4; XEP-0100 §4.1; XEP-0045 §7.2 for rooms).
func (g *Gateway) handlePresence(ctx context.Context, s mux.Sender, p *stanza.Stanza) error {
	from, to := p.From, p.To
	if from.Domain() == g.domain.Domain() || from.IsZero() {
		return nil
	}
	id, atPuppet := g.resolve(from, to)
	if atPuppet && g.isRoomJID(from, id, to) {
		return g.handleRoomPresence(ctx, p, id)
	}
	switch p.Type {
	case stanza.TypeError:
		g.log.Debug("bridge: presence error", "from", from, "to", to, "err", p.Err())
		return nil
	case "", stanza.TypeUnavailable:
		if from.Resource() == "" {
			return nil
		}
		u := g.user(from, false)
		if u == nil {
			return nil
		}
		if p.Type == "" {
			u.deviceOnline(from)
		} else {
			u.deviceOffline(from)
		}
		return nil
	case stanza.TypeProbe:
		return g.handleProbe(ctx, from, to, id, atPuppet)
	case stanza.TypeSubscribe:
		if !atPuppet {
			// XEP-0100 §4.1.1: the gateway approves and asks back.
			if err := g.send(ctx, g.presence(stanza.TypeSubscribed, to, from.Bare())); err != nil {
				return err
			}
			if u := g.user(from, false); u != nil {
				// RFC 6121 §3.1.5: the current presence follows the approval.
				u.gatewayPresence(ctx, from.Bare())
				return g.send(ctx, g.presence(stanza.TypeSubscribe, to, from.Bare()))
			}
			return nil
		}
		return g.handleSubscribe(ctx, from, to, id)
	case stanza.TypeSubscribed:
		if atPuppet {
			if u := g.user(from, false); u != nil {
				u.markSubscribed(id)
			}
		}
		return nil
	case stanza.TypeUnsubscribe, stanza.TypeUnsubscribed:
		if !atPuppet {
			return nil
		}
		u := g.user(from, false)
		if u == nil {
			return nil
		}
		u.mu.Lock()
		i := slices.Index(u.acct.Subscribed, id)
		if i >= 0 {
			u.acct.Subscribed = slices.Delete(u.acct.Subscribed, i, i+1)
		}
		acct := u.acct.clone()
		c := u.contacts[id]
		if c != nil {
			c.inRoster = false
		}
		live := u.state == online && c != nil && !c.hidden && p.Type == stanza.TypeUnsubscribe
		u.mu.Unlock()
		if i >= 0 {
			_ = g.cfg.Store.Put(acct)
		}
		if live {
			u.post(func(ctx context.Context) { u.sendToNetwork(ctx, &Subscribe{Contact: id, Remove: true}, nil) })
		}
		return nil
	}
	return nil
}

// presence builds a presence of the type from an address at the gateway.
func (g *Gateway) presence(typ string, from, to jid.JID, payload ...stanza.Element) *stanza.Stanza {
	p := stanza.NewPresence(typ, to)
	p.From = from
	p.SetPayloadElements(payload...)
	return p
}

// handleProbe answers a presence probe (RFC 6121 §4.3): the user's server
// asks for the current presence of the gateway or of a puppet. A probe
// means the user is subscribed, so it also stops the kit from asking.
func (g *Gateway) handleProbe(ctx context.Context, from, to jid.JID, id string, atPuppet bool) error {
	u := g.user(from, false)
	if u == nil {
		return g.send(ctx, g.presence(stanza.TypeUnsubscribed, to, from.Bare()))
	}
	if !atPuppet {
		u.gatewayPresence(ctx, from.Bare())
		return nil
	}
	u.markSubscribed(id)
	u.mu.Lock()
	c := u.contacts[id]
	var p *stanza.Stanza
	if c != nil && u.state == online {
		p = u.puppetPresence(c, from.Bare())
	}
	u.mu.Unlock()
	if p == nil {
		p = g.presence(stanza.TypeUnavailable, to, from.Bare())
	}
	return g.send(ctx, p)
}

// handleSubscribe answers a user's subscription request to a puppet: a
// contact the network has is approved (and asked back, for presence both
// ways); another is asked of the network (Subscribe), approved if it takes
// it.
func (g *Gateway) handleSubscribe(ctx context.Context, from, to jid.JID, id string) error {
	u := g.user(from, false)
	if u == nil {
		return g.send(ctx, g.presence(stanza.TypeUnsubscribed, to, from.Bare()))
	}
	u.mu.Lock()
	c := u.contacts[id]
	known := c != nil && !c.hidden
	live := u.state != offline
	u.mu.Unlock()
	approve := func(ctx context.Context) error {
		u.markSubscribed(id)
		if err := g.send(ctx, g.presence(stanza.TypeSubscribed, to, from.Bare())); err != nil {
			return err
		}
		return g.send(ctx, g.presence(stanza.TypeSubscribe, to, from.Bare()))
	}
	if known {
		return approve(ctx)
	}
	if !live {
		return g.send(ctx, g.presence(stanza.TypeUnsubscribed, to, from.Bare()))
	}
	if !u.post(func(ctx context.Context) {
		if _, err := u.sendToNetwork(ctx, &Subscribe{Contact: id}, nil); err != nil {
			_ = g.send(ctx, g.presence(stanza.TypeUnsubscribed, to, from.Bare()))
			return
		}
		_ = approve(ctx)
	}) {
		return g.send(ctx, g.presence(stanza.TypeUnsubscribed, to, from.Bare()))
	}
	return nil
}
