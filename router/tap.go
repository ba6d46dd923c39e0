package router

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// Traffic is one stanza the router routed, as a tap sees it (Router.Tap).
// Its fields are the tap's own: they share no memory with the router.
type Traffic struct {
	Time     time.Time
	Kind     stanza.Kind
	Type, ID string
	// From and To are the addresses as routed: from is stamped by then
	// (RFC 6120 §8.1.2.1; XEP-0114 §3). To is empty for a client's stanza
	// that the server handles for the account (RFC 6120 §10.3).
	From, To string
	// XML is the stanza as the router routes it.
	XML []byte
}

// taps are the functions given to Router.Tap.
type taps struct {
	mu   sync.Mutex
	next int
	fs   map[int]func(*Traffic)
	cur  atomic.Pointer[[]func(*Traffic)] // a copy of fs for the routing path; nil when empty
}

// Tap adds f to the functions the router calls with every stanza it routes:
// the stanzas of its components, services and clients (after stamping
// their from), and those it sends itself (its answers, error bounces,
// presence it generates), each once, before delivery; copies of one
// broadcast presence to a user's own resources are not repeated. It returns
// a function that removes f.
//
// f runs on the goroutine that routes the stanza, so it must be quick and
// must not block (hand the Traffic to a channel without waiting, and drop
// what does not fit); it must not route stanzas itself. A router without
// taps pays one atomic load per stanza for this. Taps are for development
// tools such as package router/console: a tap sees every payload.
func (r *Router) Tap(f func(*Traffic)) (remove func()) {
	t := &r.taps
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fs == nil {
		t.fs = map[int]func(*Traffic){}
	}
	id := t.next
	t.next++
	t.fs[id] = f
	t.publish()
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		delete(t.fs, id)
		t.publish()
	}
}

// publish refreshes cur from fs; mu is held.
func (t *taps) publish() {
	if len(t.fs) == 0 {
		t.cur.Store(nil)
		return
	}
	ids := make([]int, 0, len(t.fs))
	for id := range t.fs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	fs := make([]func(*Traffic), len(ids))
	for i, id := range ids {
		fs[i] = t.fs[id]
	}
	t.cur.Store(&fs)
}

// observe reports p, about to be routed, to the metrics and the taps. It
// is called from dispatch (every routed stanza) and for a client's stanza
// without to (handled for the account, never dispatched).
func (r *Router) observe(p *packet) {
	if m := r.m; m != nil && int(p.h.kind) < len(m.stanzas) {
		m.stanzas[p.h.kind].Add(1)
	}
	if fs := r.taps.cur.Load(); fs != nil {
		r.tap(*fs, p)
	}
}

func (r *Router) tap(fs []func(*Traffic), p *packet) {
	tr := &Traffic{
		Time: time.Now(), Kind: p.h.kind,
		Type: strings.Clone(p.h.typ), ID: strings.Clone(p.h.id),
		From: strings.Clone(p.h.from.String()), To: strings.Clone(p.h.to.String()),
	}
	if p.raw != nil {
		tr.XML = slices.Clone(p.raw)
	} else if p.st != nil {
		tr.XML = p.st.AppendXML(nil)
	}
	for _, f := range fs {
		f(tr)
	}
}

// Peer is one session of the router, as Router.Peers lists them.
type Peer struct {
	// Kind is "component" (XEP-0114 over TCP), "service" (attached in
	// process) or "client" (a bound resource: a c2s stream or an in-memory
	// client).
	Kind string
	// Addr is the component's or service's domain, or the client's full
	// JID.
	Addr jid.JID
	// Remote is the peer's network address; empty in process.
	Remote string
	// Since is when a socket peer connected; zero in process.
	Since time.Time
	// Available reports whether a client has sent available presence (RFC
	// 6121 §4.2); false for components and services.
	Available bool
	// Queued is the number of bytes queued for a socket peer and not yet
	// written.
	Queued int64
}

// Peers lists the router's sessions now: components and services by
// domain, then clients by full JID.
func (r *Router) Peers() []Peer {
	var comps, clients []Peer
	r.mu.RLock()
	for d, crt := range r.comps {
		for _, rt := range linksOf(crt) {
			p := Peer{Kind: "service", Addr: jid.MustParse(d)}
			if c, ok := rt.(*conn); ok {
				p.Kind = "component"
				c.peerInfo(&p)
			}
			comps = append(comps, p)
		}
	}
	for _, a := range r.users {
		for _, cl := range a.res {
			p := Peer{Kind: "client", Addr: cl.full, Available: cl.available}
			if c, ok := cl.rt.(*conn); ok {
				c.peerInfo(&p)
			}
			clients = append(clients, p)
		}
	}
	r.mu.RUnlock()
	byAddr := func(a, b Peer) int { return strings.Compare(a.Addr.String(), b.Addr.String()) }
	slices.SortFunc(comps, byAddr)
	slices.SortFunc(clients, byAddr)
	return append(comps, clients...)
}

func (c *conn) peerInfo(p *Peer) {
	if a := c.nc.RemoteAddr(); a != nil {
		p.Remote = a.String()
	}
	p.Since = c.accepted
	p.Queued = max(0, c.queued.Load()-c.written.Load())
}
