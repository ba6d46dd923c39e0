package router

import (
	"context"

	"xmppkit.dev/jid"
	"xmppkit.dev/session"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

// Client is an in-memory client session (no socket, no serialization) bound
// to a full JID at one of the router's domains (RFC 6120 §7). Stanzas it
// sends are stamped with its full JID and routed by the same rules as a c2s
// client's (RFC 6120 §10, RFC 6121 §8.5); stanzas for it queue, up to
// Config.InProcessQueue, for Recv. It runs on a session.Session (a client
// session: its SendIQ matches answers by RFC 6120 §10.3.3) and implements
// mux.Sender. Package xmpptest builds its test clients on it.
type Client struct {
	r    *Router
	c    *client
	sess *session.Session
}

// Connect binds an in-memory client to full, a JID with a localpart, one of
// the router's domains and a resource. A resource that is bound already is
// handled by Config.Conflict. The client is not available (RFC 6121 §4.2)
// until it sends presence: before that, messages to its bare JID do not
// reach it, messages to its full JID do.
func (r *Router) Connect(full jid.JID) (*Client, error) {
	mc := &Client{r: r}
	mc.sess = session.New(session.Config{
		Addr:        full,
		Client:      true,
		Logger:      r.log,
		RecvQueue:   r.cfg.InProcessQueue,
		ReceiveWait: r.cfg.SlowTimeout,
	}, (*clientTransport)(mc))
	mc.sess.LinkUp(1)
	c, err := r.bindClient(full, mc)
	if err != nil {
		return nil, err
	}
	mc.c = c
	return mc, nil
}

// JID returns the client's full JID.
func (m *Client) JID() jid.JID { return m.sess.Addr() }

// Session returns the client's session.
func (m *Client) Session() *session.Session { return m.sess }

func (m *Client) deliver(p *packet) error {
	st, err := p.stanza()
	if st == nil {
		return err
	}
	return receiveError(m.sess.Receive(context.Background(), st, nil))
}

// kick ends the client's session: it was replaced (conflict) or the router
// closes. What is queued can still be received.
func (m *Client) kick(*stream.Error) { m.sess.Terminate(session.ErrClosed) }

// Send routes st from the client (mux.Sender); from is set to the client's
// full JID. An undeliverable stanza comes back as an error stanza.
func (m *Client) Send(ctx context.Context, st *stanza.Stanza) error { return m.sess.Send(ctx, st) }

// SendIQ sends an IQ get or set and waits for its answer (mux.Sender): the
// result, the error reply as a *stanza.Error, or ctx's error.
func (m *Client) SendIQ(ctx context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
	return m.sess.SendIQ(ctx, iq)
}

// Recv returns the next stanza for the client, in the order the router
// delivered them; answers to SendIQ are not included. After Close it
// returns what was queued, then ErrDetached (session.ErrClosed).
func (m *Client) Recv(ctx context.Context) (*stanza.Stanza, error) { return m.sess.Recv(ctx) }

// Close unbinds the client (its other resources see it go unavailable, if
// it was available). It is idempotent.
func (m *Client) Close() error {
	m.sess.Close(context.Background())
	return nil
}

// clientTransport is the Client as its session's session.Transport.
type clientTransport Client

// Deliver routes a stanza from the client by the client rules.
func (t *clientTransport) Deliver(ctx context.Context, out session.Outgoing, sync bool) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, session.NotSent(err)
	}
	t.r.fromClientStanza(t.c, out.Final())
	return 1, nil
}

// Confirm: routing is synchronous.
func (t *clientTransport) Confirm(context.Context, uint64) error { return nil }

// Shutdown unbinds the client.
func (t *clientTransport) Shutdown(context.Context) error {
	if t.c != nil {
		t.r.unbindClient(t.c)
	}
	return nil
}

// Drop: an in-memory client has no handler, nothing is dropped.
func (t *clientTransport) Drop(*stanza.Stanza, error) {}
