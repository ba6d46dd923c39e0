package router

// Routes: what the router delivers to, and how client streams use them.
//
// Every destination is a route (the interface below): a TCP component
// connection, an in-process attachment, a client stream (ClientStream,
// served by package router/c2s), an in-memory client. The router calls deliver from the goroutine
// of whoever sent the stanza, concurrently for different senders, so
// deliver must be safe for concurrent use and must not block for long: a
// socket route appends to its bounded write queue (conn.go), an in-process
// route to a bounded channel; when the queue is full, deliver waits up to
// Config.SlowTimeout for room (slowing the sender), then returns an error
// (a *stanza.Error, resource-constraint) and the router bounces the stanza
// to its sender; a socket route also disconnects its peer then.
//
// A packet carries the stanza as the raw bytes of the element read from a
// stream (raw, valid only during the call: copy what you keep) and/or as a
// decoded *stanza.Stanza (st, shared: never modify it), plus the header the
// router parsed (kind, type, id, to, from). A socket route writes raw when it
// has it and the element declares no other content namespace (conn.deliver),
// and encodes st otherwise; an in-process route calls
// p.stanza(), which decodes raw once (one copy) or returns st.
//
// A client stream (clientstream.go; the negotiation is package router/c2s)
// drives a client session like this, after SASL (Router.Accounts) and
// resource binding:
//
//	c, err := r.bindClient(full, rt)  // rt: the session's route (e.g. a *conn);
//	                                  // conflict: per Config.Conflict, the old
//	                                  // session is kicked (stream conflict) or
//	                                  // bindClient fails with errConflict
//	for each element el read (el.IsStanza()):
//	    r.fromClient(c, el, &scratch) // stamps from (start tag only), routes
//	                                   // by RFC 6121 §8.5 (scratch: a buffer
//	                                   // owned by the reading goroutine), answers what the
//	                                   // server owes (no to: handled for the
//	                                   // account, RFC 6120 §10.3)
//	r.unbindClient(c)                  // when the stream ends; sends
//	                                   // unavailable presence for the resource
//	                                   // to its other resources if it was available
//
// newConn (conn.go) gives a socket route with the bounded writer: it
// implements route for a client stream when built with stanza.NSClient.

import (
	"errors"

	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

// route is a destination of stanzas. See the comment at the top of this file.
type route interface {
	// deliver queues p for the route's peer, or returns why it cannot
	// (a *stanza.Error to bounce with). It must not block for long.
	deliver(p *packet) error
	// kick ends the route's stream with the stream error e (conflict when
	// replaced, system-shutdown on Close). It must not block for long.
	kick(e *stream.Error)
}

// packet is one stanza being routed. raw, when not nil, is the element's
// exact bytes (valid only during the routing call); st, when not nil, is
// the decoded stanza (shared, read-only). h is the parsed header; for a raw
// packet its strings point into raw.
type packet struct {
	raw []byte
	st  *stanza.Stanza
	h   header
	// invalid is the RFC 6120 §8 violation stanza.Decode reported with the
	// partly read stanza (bad-request, jid-malformed), set by stanza().
	invalid *stanza.Error
}

// stanza returns the packet as a decoded stanza, decoding raw (one copy)
// the first time.
func (p *packet) stanza() (*stanza.Stanza, error) {
	if p.st != nil {
		return p.st, nil
	}
	st, err := stanza.Decode(p.raw)
	if st == nil {
		return nil, err
	}
	if !p.h.from.IsZero() && st.From != p.h.from {
		st.From = p.h.from
	}
	p.st = st
	errors.As(err, &p.invalid)
	return st, nil
}

// stanzaPacket returns a packet for a decoded stanza.
func stanzaPacket(st *stanza.Stanza) *packet {
	p := &packet{st: st}
	stanzaHeader(st, &p.h)
	return p
}

// client is a bound client resource (RFC 6120 §7): a full JID, its route,
// and its presence as RFC 6121 §8.5 delivery needs it. available and
// priority are guarded by Router.mu.
type client struct {
	full jid.JID
	rt   route
	lang string // xml:lang of the client's stream (RFC 6120 §4.7.4), or ""
	// interested: it requested the roster, so it gets roster pushes (RFC
	// 6121 §2.1.6). Guarded by Router.mu.
	interested bool
	available  bool
	priority   int
	last       *stanza.Stanza // the last available presence it sent
	// directed lists the addresses the client sent directed presence to
	// (RFC 6121 §4.6), so that they get unavailable presence when it goes.
	directed map[jid.JID]struct{}
	// pkt is the packet fromClient routes, owned by the reading goroutine.
	pkt packet
}

// account is the set of bound resources of one bare JID.
type account struct {
	res map[string]*client // by resourcepart
}
