package component

import (
	"context"
	"sync"

	"xmppkit.dev/session"
	"xmppkit.dev/stanza"
)

// Send sends st to the server (RFC 6120 §8, XEP-0114 §3), adding from (the
// component's domain) when st has none and an id when an IQ get or set has
// none; st itself is not modified. It returns nil once the stanza is
// written, or queued behind a write in progress: a queued stanza that then
// cannot be written (the link dies, Run ends) is passed to SendFailed and
// counted in Stats.SendFailed. It returns an error wrapping ErrNotSent when
// the stanza was not written: the component is closed, or ctx ended while
// the queue was full (see the package documentation). While disconnected,
// stanzas are queued for the next link. With ConfirmSends it is
// SendConfirmed.
func (c *Component) Send(ctx context.Context, st *stanza.Stanza) error {
	if err := c.init(); err != nil {
		return session.NotSent(err)
	}
	return c.sess.Send(ctx, st)
}

// SendIQ sends an IQ get or set (RFC 6120 §8.2.3) and waits for its answer:
// an iq of type result or error with the same id, from the address the
// request went to. It returns the result stanza, or for an error answer a
// nil stanza and the *stanza.Error. An answer from another address is not a
// match and goes to the Handler. It fails with ErrDisconnected when the link
// drops while waiting, and with ctx's error when ctx ends. iq itself is not
// modified; when it has no id, one is generated. See session.Session.SendIQ.
func (c *Component) SendIQ(ctx context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
	if err := c.init(); err != nil {
		return nil, session.NotSent(err)
	}
	return c.sess.SendIQ(ctx, iq)
}

// transport is the Component as its session's session.Transport.
type transport Component

// Deliver writes through the Writer of the stanza's link (session.Transport;
// links.go).
func (t *transport) Deliver(ctx context.Context, out session.Outgoing, sync bool) (uint64, error) {
	return (*Component)(t).deliver(ctx, out, sync)
}

// Confirm runs a barrier ping (session.Transport; confirm.go).
func (t *transport) Confirm(ctx context.Context, link uint64) error {
	return (*Component)(t).confirmLink(ctx, link)
}

// Shutdown ends the component gracefully (session.Transport): no new
// link; the live ones are drained and closed; Run's loops end.
func (t *transport) Shutdown(ctx context.Context) error {
	c := (*Component)(t)
	c.stopOnce.Do(func() { close(c.closing) })
	c.mu.Lock()
	var ls []*link
	for _, s := range c.slots {
		if s.link != nil {
			ls = append(ls, s.link)
		}
	}
	running := c.running
	c.mu.Unlock()
	errs := make([]error, len(ls))
	var wg sync.WaitGroup
	for i, l := range ls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.shutdown(ctx)
		}()
	}
	wg.Wait()
	var err error
	for _, e := range errs {
		if e != nil {
			err = e
			break
		}
	}
	if running {
		select {
		case <-c.dead:
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
		}
	}
	c.terminate(ErrClosed)
	return err
}

// Drop logs a received stanza abandoned on abort (session.Transport).
func (t *transport) Drop(st *stanza.Stanza, err error) {
	t.log.Debug("component: stanza not handled", "domain", t.Domain, "kind", st.Kind.String(),
		"from", st.From.String(), "id", st.ID, "err", err)
}
