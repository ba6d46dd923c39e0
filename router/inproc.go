package router

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/session"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

// The session's error values, the same on every transport (errors.Is works
// across the router's attached services and clients, components and
// xmpptest).
var (
	// ErrBadFrom is returned by an attached service's Send for a stanza
	// whose from is outside its domain (XEP-0114 §3: a component sends from
	// its domain and the addresses at it).
	ErrBadFrom = session.ErrBadFrom
	// ErrBadStanza is returned by Send and SendIQ for a stanza that cannot
	// be sent (see session.ErrBadStanza).
	ErrBadStanza = session.ErrBadStanza
	// ErrDetached is the ErrClosed of an attached service or in-memory
	// client after Close, or after the router closed.
	ErrDetached = session.ErrClosed
)

// Attach mounts h on domain as an in-process service and returns its
// session: the mux.Sender its handlers receive, to send on its own
// initiative too (notifications, IQs to other entities), and the handle
// to stop it. Every stanza to domain (or an address at it) reaches h with
// no socket and no serialization, on the session's workers (Config.Workers,
// sharded by the sender's bare JID: one sender's stanzas are handled in
// order), under the same rules as a component's handlers (package session:
// deadlines, panics, error replies). The session's Send routes a
// *stanza.Stanza as is, stamping from with the domain when it is missing.
// A nil h is an empty mux.ServeMux.
//
// The session's Close detaches gracefully: the domain stops taking stanzas
// (senders get service-unavailable), the handlers finish what is queued,
// then the route goes. Router.Close closes every attached service the same
// way.
//
// A domain of Config.Links may be attached several times (and take TCP
// component links besides): each Attach is one of its links, with a
// session of its own, balanced as the package documentation describes.
// Otherwise a domain that has a route already is refused.
func (r *Router) Attach(domain string, h mux.Handler) (*session.Session, error) {
	d, err := domainJID(domain)
	if err != nil {
		return nil, err
	}
	if r.isLocal(d.Domain()) {
		return nil, fmt.Errorf("router: %q is a local domain", domain)
	}
	if h == nil {
		h = mux.New()
	}
	a := &attachment{r: r, domain: d}
	a.sess = session.New(session.Config{
		Addr:           d,
		Handler:        h,
		Logger:         r.log,
		Workers:        r.cfg.Workers,
		WorkerQueue:    r.cfg.WorkerQueue,
		HandlerTimeout: r.cfg.HandlerTimeout,
		ReceiveWait:    r.cfg.SlowTimeout,
		Metrics:        r.cfg.Metrics, // the service's session metrics, by its domain
	}, a)
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	if r.links(d.Domain()) > 1 {
		g, _ := r.comps[d.Domain()].(*group)
		if g != nil && !g.isDead() && !g.hasRoom() {
			r.mu.Unlock()
			return nil, fmt.Errorf("router: all %d links of domain %q are taken", g.max, domain)
		}
		a.sess.LinkUp(1) // starts the workers
		a.member, _ = r.addMember(d, a)
		r.known[d.Domain()] = true
		r.mu.Unlock()
		r.grantLinkUpOn(d, a)
		return a.sess, nil
	}
	if r.comps[d.Domain()] != nil {
		r.mu.Unlock()
		return nil, fmt.Errorf("router: domain %q already has a route", domain)
	}
	r.comps[d.Domain()] = a
	r.known[d.Domain()] = true
	a.sess.LinkUp(1) // starts the workers
	r.mu.Unlock()
	r.grantLinkUp(d) // XEP-0356/0355 advertisements (grants.go)
	return a.sess, nil
}

// attachment is an in-process service's route and its session's
// transport.
type attachment struct {
	r      *Router
	domain jid.JID
	sess   *session.Session
	member *member // its place in the domain's group (Config.Links), or nil
}

// deliver hands p to the session (route).
func (a *attachment) deliver(p *packet) error {
	st, err := p.stanza()
	if st == nil {
		return err
	}
	var derr error
	if p.invalid != nil {
		derr = p.invalid
	}
	return receiveError(a.sess.Receive(context.Background(), st, derr))
}

// receiveError maps Session.Receive's refusals to the stanza errors the
// router bounces with.
func receiveError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, session.ErrQueueFull):
		return errQueueFull
	}
	return errGone
}

// kick ends the attachment at once (the router shuts down without time
// for a graceful stop).
func (a *attachment) kick(*stream.Error) {
	a.unroute()
	a.sess.Terminate(session.ErrClosed)
}

// unroute removes the route, if it is still the attachment's.
func (a *attachment) unroute() {
	if m := a.member; m != nil {
		m.g.leave(m)
		return
	}
	a.r.mu.Lock()
	if a.r.comps[a.domain.Domain()] == a {
		delete(a.r.comps, a.domain.Domain())
	}
	a.r.mu.Unlock()
}

// Deliver routes a stanza of the service (session.Transport): in process,
// synchronously; an undeliverable stanza comes back as an error stanza, as
// it would over a socket.
func (a *attachment) Deliver(ctx context.Context, out session.Outgoing, sync bool) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, session.NotSent(err)
	}
	st := out.Final()
	if m := a.member; m != nil && st.Kind == stanza.IQ && (st.Type == stanza.TypeGet || st.Type == stanza.TypeSet) {
		var p packet
		stanzaHeader(st, &p.h)
		m.g.noteAsk(m, &p)
	}
	a.r.routeStanza(st)
	return 1, nil
}

// Confirm: routing is synchronous, so a routed stanza is processed.
func (a *attachment) Confirm(context.Context, uint64) error { return nil }

// Shutdown removes the route once the handlers are done (session.Transport).
func (a *attachment) Shutdown(context.Context) error {
	a.unroute()
	return nil
}

// Drop bounces a stanza the service will not handle (session.Transport).
func (a *attachment) Drop(st *stanza.Stanza, _ error) {
	if st.Type != stanza.TypeError && st.Kind != stanza.Presence {
		a.r.bounce(stanzaPacket(st), errGone)
	}
}

// routeStanza routes a decoded stanza. Routing is synchronous and no route
// keeps the packet (only its st), so packets are recycled: an in-process
// send allocates nothing itself.
func (r *Router) routeStanza(st *stanza.Stanza) {
	p := packetPool.Get().(*packet)
	p.raw, p.st = nil, st
	stanzaHeader(st, &p.h)
	r.route(p)
	*p = packet{}
	packetPool.Put(p)
}

var packetPool = sync.Pool{New: func() any { return new(packet) }}
