package router

import (
	"strconv"
	"strings"

	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// Presence (RFC 6121 §4) and presence subscriptions (§3) of local
// accounts, on the rosters of roster.go.

// accountExists reports whether bare is a local account: one of
// Config.Users, or an account that has bound a resource (an in-memory
// client of xmpptest creates its account by connecting) or has a roster.
func (r *Router) accountExists(bare jid.JID) bool {
	if r.accounts.Exists(bare) {
		return true
	}
	r.mu.RLock()
	_, seen := r.seen[bare]
	r.mu.RUnlock()
	if seen {
		return true
	}
	exists := false
	r.rosters.read(bare, func(ro *roster) { exists = ro != nil })
	return exists
}

// ownJID returns a copy of j that shares no memory with it: the JIDs of a
// packet's header point into its bytes, which are valid only while it is
// routed.
func ownJID(j jid.JID) jid.JID {
	c, _ := jid.Parse(strings.Clone(j.String()))
	return c
}

// clientPresence handles presence from a client (RFC 6121 §3, §4).
func (r *Router) clientPresence(c *client, p *packet) {
	user := c.full.Bare()
	if !p.h.to.IsZero() {
		switch {
		case isSubscription(p.h.typ) && p.h.typ != stanza.TypeProbe:
			r.clientSubscription(user, p)
			return
		case p.h.typ == stanza.TypeProbe:
			// §4.3: probes are the server's business.
			r.dropped(ReasonBadPresence, packetAttrs(&p.h)...)
			return
		case p.h.typ == "" || p.h.typ == stanza.TypeUnavailable:
			// Directed presence (§4.6), remembered to send unavailable
			// presence when the client goes, unless the addressee gets
			// the user's presence anyway through a subscription.
			if !r.subscription(user, p.h.to.Bare()).from() || p.h.to.Resource() != "" {
				r.mu.Lock()
				if p.h.typ == "" {
					if c.directed == nil {
						c.directed = map[jid.JID]struct{}{}
					}
					c.directed[ownJID(p.h.to)] = struct{}{}
				} else {
					delete(c.directed, p.h.to)
				}
				r.mu.Unlock()
			}
		}
		r.route(p)
		return
	}
	switch p.h.typ {
	case "", stanza.TypeUnavailable:
	default:
		r.dropped(ReasonBadPresence, packetAttrs(&p.h)...)
		return
	}
	st, err := p.stanza()
	if st == nil {
		r.dropped(ReasonUndecodable, packetAttrs(&p.h, "err", err)...)
		return
	}
	if p.h.typ == stanza.TypeUnavailable {
		r.presenceGone(c, st)
		return
	}
	prio := 0
	if el, ok := st.Child("", "priority"); ok {
		if t, err := el.Text(); err == nil {
			if n, err := strconv.Atoi(strings.TrimSpace(t)); err == nil {
				prio = min(127, max(-128, n))
			}
		}
	}
	r.mu.Lock()
	initial := !c.available
	c.available, c.priority, c.last = true, prio, st
	r.mu.Unlock()
	r.broadcastPresence(c, st, initial)
}

// peer is another resource of a user, as broadcasts need it.
type peer struct {
	full jid.JID
	rt   route
	last *stanza.Stanza
}

// availablePeers returns the available resources of user other than
// except.
func (r *Router) availablePeers(user jid.JID, except *client) []peer {
	var peers []peer
	r.mu.RLock()
	if acc := r.users[user.String()]; acc != nil {
		for _, o := range acc.res {
			if o != except && o.available {
				peers = append(peers, peer{o.full, o.rt, o.last})
			}
		}
	}
	r.mu.RUnlock()
	return peers
}

// sendPresence routes a copy of st from from to to.
func (r *Router) sendPresence(st *stanza.Stanza, from, to jid.JID) {
	cp := *st
	cp.From, cp.To = from, to
	r.route(stanzaPacket(&cp))
}

// broadcastPresence sends st, c's available or unavailable presence (RFC
// 6121 §4.2.2, §4.4.2, §4.5.2): back to c itself (an entity is implicitly
// subscribed to its own presence), to the user's other available resources
// and to the contacts subscribed to the user (from or both). On initial
// presence (initial true) c also gets the presence of the user's other
// resources, the server probes the contacts the user is subscribed to (to
// or both, §4.3.1; from c's full JID, so that the answers reach c), and
// the subscription requests still unanswered are delivered again (§3.1.3).
func (r *Router) broadcastPresence(c *client, st *stanza.Stanza, initial bool) {
	r.presenceToPrivileged(c.full, st) // XEP-0356 §6 (grants.go)
	user := c.full.Bare()
	if st.Type != stanza.TypeUnavailable {
		self := *st
		self.From, self.To = c.full, c.full
		_ = c.rt.deliver(stanzaPacket(&self))
	}
	for _, o := range r.availablePeers(user, c) {
		cp := *st
		cp.From, cp.To = c.full, o.full
		_ = o.rt.deliver(stanzaPacket(&cp))
		if initial && o.last != nil {
			back := *o.last
			back.From, back.To = o.full, c.full
			_ = c.rt.deliver(stanzaPacket(&back))
		}
	}
	for _, contact := range r.contacts(user, Subscription.from) {
		r.sendPresence(st, c.full, contact)
	}
	if !initial {
		return
	}
	probe := stanza.NewPresence(stanza.TypeProbe, jid.JID{})
	for _, contact := range r.contacts(user, Subscription.to) {
		r.sendPresence(probe, c.full, contact)
	}
	for _, req := range r.pendingIn(user) {
		cp := *req
		cp.To = user
		_ = c.rt.deliver(stanzaPacket(&cp))
	}
}

// presenceGone sends unavailable presence from c (un, or a plain one when un
// is nil): to its user's other resources and subscribed contacts if c was
// available (RFC 6121 §4.5.2), and to the addresses it sent directed
// presence to, available or not (§4.6.3).
func (r *Router) presenceGone(c *client, un *stanza.Stanza) {
	r.mu.Lock()
	was := c.available
	c.available, c.last = false, nil
	directed := c.directed
	c.directed = nil
	r.mu.Unlock()
	if !was && len(directed) == 0 {
		return
	}
	if un == nil {
		un = stanza.NewPresence(stanza.TypeUnavailable, jid.JID{})
	}
	if was {
		r.broadcastPresence(c, un, false)
	}
	for to := range directed {
		r.sendPresence(un, c.full, to)
	}
}

// presenceTo sends the presence of user's available resources to to (RFC
// 6121 §3.1.4, §4.3.2): each one's last presence when available is set,
// else unavailable presence from each; with no available resource,
// unavailable presence from the bare JID.
func (r *Router) presenceTo(user, to jid.JID, available bool) {
	peers := r.availablePeers(user, nil)
	un := stanza.NewPresence(stanza.TypeUnavailable, jid.JID{})
	if len(peers) == 0 {
		if available {
			r.sendPresence(un, user, to)
		}
		return
	}
	for _, o := range peers {
		st := un
		if available && o.last != nil {
			st = o.last
		}
		r.sendPresence(st, o.full, to)
	}
}

// routeSubscription routes a subscription stanza of type typ from user's
// bare JID to contact's (RFC 6121 §3: the server stamps the bare JID).
func (r *Router) routeSubscription(user, contact jid.JID, typ string) {
	st := stanza.NewPresence(typ, contact)
	st.From = user
	r.route(stanzaPacket(st))
}

// clientSubscription applies a subscription stanza a client of user sent
// (RFC 6121 §3) and routes it, from the user's bare JID to the contact's.
func (r *Router) clientSubscription(user jid.JID, p *packet) {
	contact := ownJID(p.h.to.Bare())
	if contact == user {
		r.dropped(ReasonBadPresence, packetAttrs(&p.h, "why", "a subscription to oneself")...)
		return
	}
	was := r.subscription(user, contact)
	if p.h.typ == stanza.TypeSubscribe && r.rosterFull(user, contact) {
		r.bounce(p, stanza.NewError(stanza.ResourceConstraint, "the roster is full"))
		return
	}
	if !r.outboundSubscription(user, p.h.typ, contact) {
		return
	}
	st, err := p.stanza()
	if st == nil {
		r.dropped(ReasonUndecodable, packetAttrs(&p.h, "err", err)...)
		return
	}
	cp := *st
	cp.From, cp.To = user, contact
	r.route(stanzaPacket(&cp))
	switch p.h.typ {
	case stanza.TypeSubscribed: // §3.1.4: the contact now gets the user's presence
		r.presenceTo(user, contact, true)
	case stanza.TypeUnsubscribed: // §3.2.2: and no longer
		if was.from() {
			r.presenceTo(user, contact, false)
		}
	}
}

// inboundPresence handles a subscription stanza or a probe to a local
// account (RFC 6121 §3.1.3, §3.1.5, §3.2.3, §3.3.3, §4.3.2), whether it
// was sent to the bare JID or a full one (treated as the bare JID).
func (r *Router) inboundPresence(p *packet) error {
	user, contact := ownJID(p.h.to.Bare()), ownJID(p.h.from.Bare())
	if contact.IsZero() || contact == user {
		r.dropped(ReasonBadPresence, packetAttrs(&p.h)...)
		return nil
	}
	if !r.accountExists(user) {
		// §3.1.3, §4.3.2: no such account, no presence to give.
		if p.h.typ == stanza.TypeSubscribe || p.h.typ == stanza.TypeProbe {
			r.routeSubscription(user, contact, stanza.TypeUnsubscribed)
		} else {
			r.dropped(ReasonNoAvailableResource, packetAttrs(&p.h, "why", "no such account")...)
		}
		return nil
	}
	if p.h.typ == stanza.TypeProbe {
		if r.subscription(user, contact).from() {
			r.presenceTo(user, ownJID(p.h.from), true)
		} else {
			r.routeSubscription(user, contact, stanza.TypeUnsubscribed)
		}
		return nil
	}
	st, err := p.stanza()
	if st == nil {
		r.dropped(ReasonUndecodable, packetAttrs(&p.h, "err", err)...)
		return nil
	}
	in := *st
	in.From, in.To = contact, user
	switch r.inboundSubscription(user, p.h.typ, contact, &in) {
	case inboundAutoApproved:
		r.routeSubscription(user, contact, stanza.TypeSubscribed)
		r.presenceTo(user, contact, true)
	case inboundDeliver:
		delivered := false
		for _, o := range r.availablePeers(user, nil) {
			if o.rt.deliver(stanzaPacket(&in)) == nil {
				delivered = true
			}
		}
		if !delivered && p.h.typ != stanza.TypeSubscribe {
			r.dropped(ReasonNoAvailableResource, packetAttrs(&p.h)...)
		}
	default:
		r.dropped(ReasonBadPresence, packetAttrs(&p.h, "why", "no subscription state to change")...)
	}
	return nil
}
