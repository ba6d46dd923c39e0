package router

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"runtime/debug"
	"sync"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

// ErrBadFrom is returned by an in-process Sender's Send for a stanza whose
// from is outside the attachment's domain (XEP-0114 §3: a component sends
// from its domain and the addresses at it).
var ErrBadFrom = errors.New("router: from address outside the component's domain")

// ErrBadStanza is returned by Send and SendIQ for a stanza that cannot be
// sent: no kind, or a SendIQ of something other than an IQ get or set.
var ErrBadStanza = errors.New("router: stanza cannot be sent")

// ErrDetached is returned by an in-process Sender after its attachment was
// detached or the router closed.
var ErrDetached = errors.New("router: detached")

// Attach mounts h on domain as an in-process component: every stanza to
// domain (or an address at it) reaches h with no socket and no
// serialization, on one of Config.Workers goroutines chosen by the sender's
// bare JID (stanzas of one sender are handled in order). h answers through a
// mux.Sender whose Send routes a *stanza.Stanza as is, stamping from with
// the domain when it is missing. A *stanza.Error returned by h is sent as
// the error reply where RFC 6120 §8.3 owes one; a panic is recovered and
// logged. detach removes the route (the domain then answers
// service-unavailable), lets the workers bounce what is still queued with
// service-unavailable, and is idempotent; Close waits for the workers.
func (r *Router) Attach(domain string, h mux.Handler) (detach func(), err error) {
	d, err := domainJID(domain)
	if err != nil {
		return nil, err
	}
	if r.isLocal(d.Domain()) {
		return nil, fmt.Errorf("router: %q is a local domain", domain)
	}
	a := &attachment{r: r, domain: d, h: h, shards: make([]chan *stanza.Stanza, r.cfg.Workers)}
	a.ctx, a.cancel = context.WithCancel(r.ctx)
	a.sender = &inprocSender{r: r, self: d, pend: &a.pend, done: a.ctx.Done()}
	per := max(1, r.cfg.InProcessQueue/r.cfg.Workers)
	for i := range a.shards {
		a.shards[i] = make(chan *stanza.Stanza, per)
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	if r.comps[d.Domain()] != nil {
		r.mu.Unlock()
		return nil, fmt.Errorf("router: domain %q already has a route", domain)
	}
	r.comps[d.Domain()] = a
	r.known[d.Domain()] = true
	r.wg.Add(len(a.shards))
	r.mu.Unlock()
	for _, ch := range a.shards {
		go a.work(ch)
	}
	r.grantLinkUp(d) // XEP-0356/0355 advertisements (grants.go)
	var once sync.Once
	return func() { once.Do(a.detach) }, nil
}

// Sender returns the mux.Sender of the in-process component attached on
// domain, for stanzas it sends on its own initiative (notifications, IQs to
// other entities): the same Sender its handlers receive. It fails when no
// in-process component is attached there.
func (r *Router) Sender(domain string) (mux.Sender, error) {
	d, err := domainJID(domain)
	if err != nil {
		return nil, err
	}
	r.mu.RLock()
	a, ok := r.comps[d.Domain()].(*attachment)
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("router: no in-process component on %q", domain)
	}
	return a.sender, nil
}

// attachment is an in-process component route.
type attachment struct {
	r      *Router
	domain jid.JID
	h      mux.Handler
	ctx    context.Context
	cancel context.CancelFunc
	pend   pending
	sender *inprocSender

	mu     sync.RWMutex // guards closed and sends on shards
	closed bool
	shards []chan *stanza.Stanza
}

var seed = maphash.MakeSeed()

// shardOf picks a shard by the sender's bare JID.
func shardOf(from jid.JID, n int) int {
	b := from.Bare().String()
	return int(maphash.String(seed, b) % uint64(n))
}

func (a *attachment) deliver(p *packet) error {
	st, err := p.stanza()
	if st == nil {
		return err
	}
	if a.pend.resolve(st) {
		return nil
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.closed {
		return errGone
	}
	return enqueue(a.shards[shardOf(st.From, len(a.shards))], st, a.r.cfg.SlowTimeout, a.ctx.Done())
}

// enqueue puts st on ch, waiting up to wait for room (which slows the
// sender, as for sockets), and fails with errQueueFull after that or with
// errGone when done is closed.
func enqueue(ch chan *stanza.Stanza, st *stanza.Stanza, wait time.Duration, done <-chan struct{}) error {
	select {
	case ch <- st:
		return nil
	default:
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case ch <- st:
		return nil
	case <-t.C:
		return errQueueFull
	case <-done:
		return errGone
	}
}

func (a *attachment) kick(*stream.Error) { a.detach() }

// detach removes the route and stops the workers after they finish what is
// queued (with a canceled context).
func (a *attachment) detach() {
	a.r.mu.Lock()
	if a.r.comps[a.domain.Domain()] == a {
		delete(a.r.comps, a.domain.Domain())
	}
	a.r.mu.Unlock()
	a.cancel() // first: releases deliveries waiting for room
	a.mu.Lock()
	if !a.closed {
		a.closed = true
		for _, ch := range a.shards {
			close(ch)
		}
	}
	a.mu.Unlock()
	a.cancel()
	a.pend.abort()
}

func (a *attachment) work(ch chan *stanza.Stanza) {
	defer a.r.wg.Done()
	s := a.sender
	for st := range ch {
		if a.ctx.Err() != nil {
			if st.Type != stanza.TypeError && st.Kind != stanza.Presence {
				a.r.bounce(stanzaPacket(st), errGone)
			}
			continue
		}
		serveHandler(a.ctx, a.r, a.h, s, st)
	}
}

// serveHandler runs h on st, answering a returned *stanza.Error (and, for an
// IQ get or set, any error or panic as internal-server-error) as RFC 6120
// §8.3 asks; nothing is answered twice and errors are never answered.
func serveHandler(ctx context.Context, r *Router, h mux.Handler, s mux.Sender, st *stanza.Stanza) {
	err := func() (err error) {
		defer func() {
			if v := recover(); v != nil {
				r.log.Error("router: handler panic", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				err = errPanic
			}
		}()
		return h.HandleStanza(ctx, s, st)
	}()
	if err == nil || st.Type == stanza.TypeError || errors.Is(err, mux.ErrUnhandled) {
		return
	}
	owed := st.Kind == stanza.IQ && (st.Type == stanza.TypeGet || st.Type == stanza.TypeSet)
	var se *stanza.Error
	switch {
	case errors.As(err, &se):
	case owed:
		se = stanza.ErrInternalServerError
	default:
		r.log.Error("router: handler error", "kind", st.Kind.String(), "id", st.ID, "err", err)
		return
	}
	if st.Kind == stanza.IQ && !owed {
		return
	}
	if reply := st.ErrorReply(se); reply != nil {
		_ = s.Send(ctx, reply)
	}
}

var errPanic = errors.New("router: handler panicked")

// inprocSender is the mux.Sender of in-process attachments and in-memory
// clients: Send routes the stanza as is (no serialization).
type inprocSender struct {
	r    *Router
	self jid.JID // domain of an attachment, or full JID of a client
	pend *pending
	done <-chan struct{}
	// client is set for an in-memory client: its stanzas go through
	// the client rules (fromClient).
	client *client
}

// Send routes st from the attachment (mux.Sender). A missing from becomes
// the attachment's domain; a from at another domain is ErrBadFrom. It
// returns nil once the router took the stanza: an undeliverable stanza comes
// back as an error reply, as it would over a socket.
func (s *inprocSender) Send(ctx context.Context, st *stanza.Stanza) error {
	if st == nil || st.Kind == 0 {
		return ErrBadStanza
	}
	select {
	case <-s.done:
		return ErrDetached
	default:
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.client != nil {
		s.r.fromClientStanza(s.client, st)
		return nil
	}
	if st.From.IsZero() {
		cp := *st
		cp.From = s.self
		st = &cp
	} else if st.From.Domain() != s.self.Domain() {
		return ErrBadFrom
	}
	// Routing is synchronous and no route keeps the packet (only p.st), so
	// packets are recycled: an in-process send allocates nothing itself.
	p := packetPool.Get().(*packet)
	p.raw, p.st = nil, st
	stanzaHeader(st, &p.h)
	s.r.route(p)
	*p = packet{}
	packetPool.Put(p)
	return nil
}

var packetPool = sync.Pool{New: func() any { return new(packet) }}

// SendIQ sends an IQ get or set and waits for the answer (mux.Sender): the
// result, or the error reply as a *stanza.Error, or ctx's error.
func (s *inprocSender) SendIQ(ctx context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
	if iq == nil || iq.Kind != stanza.IQ || (iq.Type != stanza.TypeGet && iq.Type != stanza.TypeSet) {
		return nil, ErrBadStanza
	}
	if iq.ID == "" {
		cp := *iq
		cp.ID = stanza.NewID()
		iq = &cp
	}
	ch, ok := s.pend.add(iq.ID, iq.To)
	if !ok {
		return nil, ErrDetached
	}
	defer s.pend.remove(iq.ID)
	if err := s.Send(ctx, iq); err != nil {
		return nil, err
	}
	select {
	case res, ok := <-ch:
		if !ok {
			return nil, ErrDetached
		}
		if res.Type == stanza.TypeError {
			return nil, res.Err()
		}
		return res, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.done:
		return nil, ErrDetached
	}
}

// pending tracks the IQs an in-process sender waits for, by id and the
// address asked (RFC 6120 §8.2.3: the answer comes from it).
type pending struct {
	mu      sync.Mutex
	m       map[string]waiter
	aborted bool
}

type waiter struct {
	to jid.JID
	ch chan *stanza.Stanza
}

func (p *pending) add(id string, to jid.JID) (chan *stanza.Stanza, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.aborted {
		return nil, false
	}
	if p.m == nil {
		p.m = map[string]waiter{}
	}
	ch := make(chan *stanza.Stanza, 1)
	p.m[id] = waiter{to, ch}
	return ch, true
}

func (p *pending) remove(id string) {
	p.mu.Lock()
	delete(p.m, id)
	p.mu.Unlock()
}

// resolve hands an IQ result or error to its waiter, reporting whether one
// was waiting.
func (p *pending) resolve(st *stanza.Stanza) bool {
	if st.Kind != stanza.IQ || (st.Type != stanza.TypeResult && st.Type != stanza.TypeError) {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	w, ok := p.m[st.ID]
	if !ok || w.to != st.From {
		return false
	}
	delete(p.m, st.ID)
	w.ch <- st
	return true
}

func (p *pending) abort() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.aborted = true
	for id, w := range p.m {
		close(w.ch)
		delete(p.m, id)
	}
}
