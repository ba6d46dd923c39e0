package router

import (
	"context"
	"sync"

	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

// Client is an in-memory client session (no socket, no serialization) bound
// to a full JID at one of the router's domains (RFC 6120 §7). Stanzas it
// sends are stamped with its full JID and routed by the same rules as a c2s
// client's (RFC 6120 §10, RFC 6121 §8.5); stanzas for it queue, up to
// Config.InProcessQueue, for Recv. It implements mux.Sender. Package xmpptest
// builds its test clients on it.
type Client struct {
	r    *Router
	c    *client
	s    *inprocSender
	pend pending
	done chan struct{}

	mu     sync.RWMutex // guards closed and sends on in
	closed bool
	in     chan *stanza.Stanza
	once   sync.Once
}

// Connect binds an in-memory client to full, a JID with a localpart, one of
// the router's domains and a resource. A resource that is bound already is
// handled by Config.Conflict. The client is not available (RFC 6121 §4.2)
// until it sends presence: before that, messages to its bare JID do not
// reach it, messages to its full JID do.
func (r *Router) Connect(full jid.JID) (*Client, error) {
	mc := &Client{r: r, done: make(chan struct{}), in: make(chan *stanza.Stanza, r.cfg.InProcessQueue)}
	c, err := r.bindClient(full, mc)
	if err != nil {
		return nil, err
	}
	mc.c = c
	mc.s = &inprocSender{r: r, self: full, pend: &mc.pend, done: mc.done, client: c}
	return mc, nil
}

// JID returns the client's full JID.
func (m *Client) JID() jid.JID { return m.c.full }

func (m *Client) deliver(p *packet) error {
	st, err := p.stanza()
	if st == nil {
		return err
	}
	if m.pend.resolve(st) {
		return nil
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return errGone
	}
	return enqueue(m.in, st, m.r.cfg.SlowTimeout, m.done)
}

func (m *Client) kick(*stream.Error) { m.shut() }

// shut stops taking stanzas; what is queued can still be received.
func (m *Client) shut() {
	m.once.Do(func() {
		close(m.done) // first: releases deliveries waiting for room
		m.mu.Lock()
		m.closed = true
		close(m.in)
		m.mu.Unlock()
		m.pend.abort()
	})
}

// Send routes st from the client (mux.Sender); from is set to the client's
// full JID. An undeliverable stanza comes back as an error stanza.
func (m *Client) Send(ctx context.Context, st *stanza.Stanza) error { return m.s.Send(ctx, st) }

// SendIQ sends an IQ get or set and waits for its answer (mux.Sender): the
// result, the error reply as a *stanza.Error, or ctx's error.
func (m *Client) SendIQ(ctx context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
	return m.s.SendIQ(ctx, iq)
}

// Recv returns the next stanza for the client, in the order the router
// delivered them; answers to SendIQ are not included. After Close it
// returns what was queued, then ErrDetached.
func (m *Client) Recv(ctx context.Context) (*stanza.Stanza, error) {
	select {
	case st, ok := <-m.in:
		if !ok {
			return nil, ErrDetached
		}
		return st, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close unbinds the client (its other resources see it go unavailable, if
// it was available). It is idempotent.
func (m *Client) Close() error {
	m.shut()
	m.r.unbindClient(m.c)
	return nil
}
