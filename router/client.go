package router

import (
	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

// bindClient binds the full JID to rt (RFC 6120 §7). The JID must be at a
// local domain and have a resource. When the resource is bound already,
// Config.Conflict decides: KickOld ends the old session with the conflict
// stream error (RFC 6120 §7.7.2.2), RefuseNew returns errConflict.
func (r *Router) bindClient(full jid.JID, rt route) (*client, error) {
	return r.bindClientWith(full, rt, nil)
}

// bindClientWith is bindClient calling pre, when not nil, under the
// router's lock just before the binding becomes visible (so that what pre
// queues on rt goes out before any stanza routed to it).
func (r *Router) bindClientWith(full jid.JID, rt route, pre func()) (*client, error) {
	if full.Resource() == "" || full.Local() == "" || !r.isLocal(full.Domain()) {
		return nil, stanza.NewError(stanza.BadRequest, "not a full JID at a local domain")
	}
	c := &client{full: full, rt: rt}
	bare := full.Bare().String()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	acc := r.users[bare]
	if acc == nil {
		acc = &account{res: map[string]*client{}}
		r.users[bare] = acc
	}
	old := acc.res[full.Resource()]
	if old != nil && r.cfg.Conflict == RefuseNew {
		r.mu.Unlock()
		return nil, errConflict
	}
	if pre != nil {
		pre()
	}
	acc.res[full.Resource()] = c
	r.seen[full.Bare()] = struct{}{}
	r.mu.Unlock()
	if old != nil {
		r.m.kicked(false)
		old.rt.kick(stream.NewError(stream.Conflict, "replaced by a new session for the same resource"))
		r.presenceGone(old, nil)
	}
	return c, nil
}

// unbindClient removes c's binding; if c was available, its other
// resources and those it sent directed presence to get unavailable presence
// (RFC 6121 §4.5.2, §4.6.3).
func (r *Router) unbindClient(c *client) {
	bare := c.full.Bare().String()
	r.mu.Lock()
	acc := r.users[bare]
	if acc != nil && acc.res[c.full.Resource()] == c {
		delete(acc.res, c.full.Resource())
		if len(acc.res) == 0 {
			delete(r.users, bare)
		}
	}
	r.mu.Unlock()
	r.presenceGone(c, nil)
}

// fromClient routes one stanza element read from client c's stream (el is
// valid during the call); its header comes from what the scanner already
// parsed, as on the component path. It stamps from with c's full JID (RFC
// 6120 §8.1.2.1), whenever the stanza has no from or one that is not
// written in that exact form (ALICE@LOCALHOST/a1 is alice@localhost/a1, but
// is not forwarded as written), and the stream's xml:lang on a stanza
// without one (§4.7.4); only the start tag is rewritten. It returns a
// *stream.Error when the stream must end: invalid-from for a from that is
// not c's, malformed or not (RFC 6120 §4.9.3.9), unsupported-stanza-type
// for an element that is not a stanza of the stream's jabber:client
// namespace (§4.9.3.22: a <message xmlns='jabber:server'/> included, as
// Prosody closes it; invalid-namespace, §4.9.3.10, is about the stream
// header's namespaces).
func (r *Router) fromClient(c *client, el *stream.Element, scratch *[]byte) error {
	p := &c.pkt // reused: routing is synchronous and nothing keeps p
	raw := el.Raw()
	*p = packet{raw: raw}
	if !el.Is(stream.NSClient, "message") && !el.Is(stream.NSClient, "presence") && !el.Is(stream.NSClient, "iq") ||
		!elementHeader(el, &p.h) {
		space, local := el.Name()
		return stream.NewError(stream.UnsupportedStanzaType, "<"+local+" xmlns='"+space+"'/> is not a stanza of this stream")
	}
	// A malformed from (parsed as the zero JID) is not the session's address
	// either: it ends the stream too (RFC 6120 §8.1.2.1, §4.9.3.9).
	if p.h.hasFrom && p.h.from != c.full && p.h.from != c.full.Bare() {
		r.denied(ReasonInvalidFrom, packetAttrs(&p.h)...)
		return stream.NewError(stream.InvalidFrom, "from is not the session's address")
	}
	if !p.h.hasFrom || p.h.from != c.full || !p.h.fromExact || (c.lang != "" && !p.h.hasLang) {
		*scratch = stampFromLang((*scratch)[:0], raw, &p.h, c.full, c.lang)
		p.raw = *scratch
	}
	r.clientPacket(c, p)
	return nil
}

// fromClientStanza is fromClient for a decoded stanza (in-memory clients).
func (r *Router) fromClientStanza(c *client, st *stanza.Stanza) {
	if st.From != c.full {
		cp := *st
		cp.From = c.full
		st = &cp
	}
	r.clientPacket(c, stanzaPacket(st))
}

// clientPacket applies the server rules to a stanza from a client whose
// from is stamped: a stanza without to is handled for the account (RFC 6120
// §10.3), presence updates availability and is broadcast to the user's other
// resources (RFC 6121 §4.2, §4.4), the rest is routed.
func (r *Router) clientPacket(c *client, p *packet) {
	if p.h.to.IsZero() && p.h.badAddr == nil {
		r.observe(p) // handled for the account, never dispatched
	}
	if p.h.badAddr != nil {
		r.bounce(p, p.h.badAddr)
		return
	}
	if p.h.kind == stanza.Presence {
		r.clientPresence(c, p)
		return
	}
	if p.h.to.IsZero() {
		switch p.h.kind {
		case stanza.IQ:
			if err := r.ownIQ(p, false); err != nil {
				r.bounce(p, err)
			}
			return
		case stanza.Message:
			p.h.to = c.full.Bare() // RFC 6120 §10.3.1: as if to the bare JID
			if err := r.deliverLocal(p); err != nil {
				r.bounce(p, err)
			}
			return
		}
	}
	r.route(p)
}

// deliverLocal delivers a stanza to an account at a local domain by the
// rules of RFC 6121 §8.5 (no offline storage); subscription stanzas and
// probes go to the account's roster (presence.go).
func (r *Router) deliverLocal(p *packet) error {
	to := p.h.to
	if p.h.kind == stanza.Presence && isSubscription(p.h.typ) {
		return r.inboundPresence(p)
	}
	if res := to.Resource(); res != "" {
		r.mu.RLock()
		var rt route
		if acc := r.users[to.Bare().String()]; acc != nil {
			if c := acc.res[res]; c != nil {
				rt = c.rt
			}
		}
		r.mu.RUnlock()
		if rt != nil {
			return rt.deliver(p)
		}
		// §8.5.3.2: the full JID has no session.
		if p.h.typ == stanza.TypeError {
			r.dropped(ReasonUnboundResource, packetAttrs(&p.h)...)
			return nil
		}
		switch p.h.kind {
		case stanza.IQ:
			return stanza.ErrServiceUnavailable
		case stanza.Presence:
			if !isSubscription(p.h.typ) {
				r.dropped(ReasonUnboundResource, packetAttrs(&p.h)...)
				return nil
			}
		case stanza.Message:
			switch p.h.typ {
			case stanza.TypeGroupchat:
				return stanza.ErrServiceUnavailable
			case stanza.TypeHeadline:
				r.dropped(ReasonUnboundResource, packetAttrs(&p.h)...)
				return nil
			}
		}
	}
	return r.deliverBare(p)
}

func isSubscription(typ string) bool {
	switch typ {
	case stanza.TypeSubscribe, stanza.TypeSubscribed, stanza.TypeUnsubscribe, stanza.TypeUnsubscribed, stanza.TypeProbe:
		return true
	}
	return false
}

// deliverBare applies RFC 6121 §8.5.2 to a stanza for the bare JID of p's to.
func (r *Router) deliverBare(p *packet) error {
	if p.h.kind == stanza.IQ {
		// §8.5.2.1.3: the server answers on the account's behalf.
		return r.ownIQ(p, false)
	}
	if p.h.kind == stanza.Message && p.h.typ == stanza.TypeGroupchat {
		return stanza.ErrServiceUnavailable
	}
	if p.h.typ == stanza.TypeError && p.h.kind != stanza.Presence {
		// A message error to the bare JID is discarded, as Prosody does:
		// no resource sent the message it answers.
		r.dropped(ReasonErrorToBare, packetAttrs(&p.h)...)
		return nil
	}
	var buf [8]route
	targets := buf[:0]
	best := -1 << 31
	r.mu.RLock()
	if acc := r.users[p.h.to.Bare().String()]; acc != nil {
		for _, c := range acc.res {
			if !c.available {
				continue
			}
			switch {
			case p.h.kind == stanza.Presence && !isSubscription(p.h.typ):
				// Available, unavailable and error presence go to every
				// available resource (§8.5.2.1.2; an error presence, such as
				// a MUC or gateway join error to the bare JID, too, as
				// Prosody delivers it).
				targets = append(targets, c.rt)
			case c.priority < 0:
			case p.h.kind == stanza.Message && p.h.typ != stanza.TypeHeadline:
				// normal and chat: the resources of highest priority.
				if c.priority > best {
					best, targets = c.priority, targets[:0]
				}
				if c.priority == best {
					targets = append(targets, c.rt)
				}
			default:
				targets = append(targets, c.rt)
			}
		}
	}
	r.mu.RUnlock()
	if len(targets) == 0 {
		if p.h.kind == stanza.Message && p.h.typ != stanza.TypeHeadline {
			return stanza.ErrServiceUnavailable // §8.5.2.2.1 without offline storage
		}
		r.dropped(ReasonNoAvailableResource, packetAttrs(&p.h)...)
		return nil
	}
	var first error
	ok := false
	for _, rt := range targets {
		if err := rt.deliver(p); err != nil {
			if first == nil {
				first = err
			}
		} else {
			ok = true
		}
	}
	if ok {
		return nil
	}
	return first
}
