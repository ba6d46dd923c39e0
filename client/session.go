package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

// readLoop reads stanzas until the stream ends: IQ answers go to the
// SendIQ waiting for them, everything else to the receive queue.
func (c *Client) readLoop() {
	var err error
	for {
		var el *stream.Element
		el, err = c.r.Next()
		if err != nil {
			break
		}
		if !el.IsStanza() {
			continue // stream-level elements of extensions not negotiated here
		}
		st, _ := el.Stanza()
		if st == nil {
			continue
		}
		if st.Kind == stanza.IQ && (st.Type == stanza.TypeResult || st.Type == stanza.TypeError) && c.answer(st) {
			continue
		}
		select {
		case c.recv <- st:
		case <-c.quit:
		}
	}
	c.finish(err)
}

// finish records why the stream ended, answers the server's closing tag
// with ours (RFC 6120 §4.4) and releases everyone waiting.
func (c *Client) finish(err error) {
	var se *stream.Error
	if errors.As(err, &se) && !se.Remote {
		c.w.WriteError(se)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	c.w.Close(ctx) // the peer's stream is over: this does not wait for it
	cancel()
	c.mu.Lock()
	select {
	case <-c.quit:
		if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
			err = nil // we closed; what the server did afterwards does not matter
		}
	default:
		if err == io.EOF {
			err = fmt.Errorf("%w: the server closed the stream", ErrClosed)
		}
	}
	c.err = err
	for id, p := range c.pending {
		close(p.ch)
		delete(c.pending, id)
	}
	c.mu.Unlock()
	close(c.recv)
	c.cancel()
	close(c.done)
}

// answer hands an IQ result or error to the SendIQ that waits for it: the
// same id, from the entity the request went to (RFC 6120 §8.2.3). It
// reports false for an answer nobody waits for.
func (c *Client) answer(st *stanza.Stanza) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.pending[st.ID]
	if !ok || !replyFromOK(p.to, st.From, c.jid) {
		return false
	}
	delete(c.pending, st.ID)
	p.ch <- st
	return true
}

// replyFromOK reports whether an IQ answer from got may answer a request
// sent to to by self. A request without to, or to the account's bare JID,
// is answered by the server on behalf of the account (RFC 6120 §10.3.3,
// §8.1.2.1): with no from, the bare or full JID, or the domain.
func replyFromOK(to, got, self jid.JID) bool {
	if got == to {
		return true
	}
	if to.IsZero() || to == self.Bare() {
		return got.IsZero() || got == self.Bare() || got == self || got == self.DomainJID()
	}
	return false
}

// serve runs Config.Handler on each received stanza, in order.
func (c *Client) serve() {
	defer c.handlerWG.Done()
	for st := range c.recv {
		err := c.cfg.Handler.HandleStanza(c.ctx, c, st)
		var se *stanza.Error
		if st.Kind == stanza.IQ && (st.Type == stanza.TypeGet || st.Type == stanza.TypeSet) && errors.As(err, &se) {
			if r := st.ErrorReply(se); r != nil {
				c.Send(c.ctx, r)
			}
		}
	}
}

// Send writes st to the server (RFC 6120 §8); st is not modified. An IQ get
// or set without id gets one. The server stamps from itself (§8.1.2.1), so
// from is usually left zero. It returns ErrClosed once the stream is over.
func (c *Client) Send(ctx context.Context, st *stanza.Stanza) error {
	if st == nil || st.Kind < stanza.Message || st.Kind > stanza.IQ {
		return errors.New("client: Send: not a message, presence or iq")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-c.done:
		return c.closedErr()
	default:
	}
	cp := *st
	if stanza.IsContentNS(cp.NS) {
		cp.NS = ""
	}
	if cp.Kind == stanza.IQ && cp.ID == "" && (cp.Type == stanza.TypeGet || cp.Type == stanza.TypeSet) {
		cp.ID = stanza.NewID()
	}
	if err := c.w.WriteStanza(&cp); err != nil {
		if errors.Is(err, stream.ErrClosed) {
			return c.closedErr()
		}
		return err
	}
	return nil
}

// SendIQ sends an IQ get or set and waits for its answer, matched by id and
// sender (RFC 6120 §8.2.3): the result stanza, or the error stanza's
// *stanza.Error, or ctx's error, or ErrClosed.
func (c *Client) SendIQ(ctx context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
	if iq == nil || iq.Kind != stanza.IQ || (iq.Type != stanza.TypeGet && iq.Type != stanza.TypeSet) {
		return nil, errors.New("client: SendIQ: not an iq get or set")
	}
	cp := *iq
	if cp.ID == "" {
		cp.ID = stanza.NewID()
	}
	p := &pendingIQ{to: cp.To, ch: make(chan *stanza.Stanza, 1)}
	c.mu.Lock()
	select {
	case <-c.done:
		c.mu.Unlock()
		return nil, c.closedErr()
	default:
	}
	if _, dup := c.pending[cp.ID]; dup {
		c.mu.Unlock()
		return nil, fmt.Errorf("client: SendIQ: id %q already waits for an answer", cp.ID)
	}
	c.pending[cp.ID] = p
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		if c.pending[cp.ID] == p {
			delete(c.pending, cp.ID)
		}
		c.mu.Unlock()
	}
	if err := c.Send(ctx, &cp); err != nil {
		forget()
		return nil, err
	}
	select {
	case st, ok := <-p.ch:
		if !ok {
			return nil, c.closedErr()
		}
		if st.Type == stanza.TypeError {
			return nil, st.Err()
		}
		return st, nil
	case <-ctx.Done():
		forget()
		return nil, ctx.Err()
	}
}

// Recv returns the next received stanza that is not an answer to SendIQ,
// or ErrClosed once the stream is over and everything received was read.
// Do not use it with Config.Handler.
func (c *Client) Recv(ctx context.Context) (*stanza.Stanza, error) {
	select {
	case st, ok := <-c.recv:
		if !ok {
			return nil, c.closedErr()
		}
		return st, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// SendPresence sends initial presence (RFC 6121 §4.2): the server then
// treats the session as available and delivers presence and messages to
// it.
func (c *Client) SendPresence(ctx context.Context) error {
	return c.Send(ctx, stanza.NewPresence("", jid.JID{}))
}

// Close ends the stream (RFC 6120 §4.4): it sends </stream:stream>, waits
// until the server's closing tag arrives or ctx ends, and closes the
// connection. It returns nil on a clean close, and may be called again.
func (c *Client) Close(ctx context.Context) error {
	c.quitOnce.Do(func() { close(c.quit) })
	var err error
	select {
	case <-c.done: // already over: the read loop closed the connection
	default:
		if err = c.w.Close(ctx); err != nil {
			c.conn.Close()
		}
	}
	<-c.done
	c.handlerWG.Wait()
	if errors.Is(err, stream.ErrClosed) || errors.Is(err, net.ErrClosed) {
		err = nil
	}
	if err != nil && ctx.Err() == nil && c.Err() == nil {
		// Both closing tags were exchanged; an error from closing the
		// transport (a TLS close_notify the server no longer reads)
		// changes nothing.
		err = nil
	}
	if err == nil {
		err = c.Err()
	}
	return err
}

// Done returns a channel closed when the stream has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the stream ended: nil while it runs and after a clean
// Close, otherwise the cause (a *stream.Error from the server, a read
// error, or ErrClosed when the server closed the stream).
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Client) closedErr() error {
	if err := c.Err(); err != nil && !errors.Is(err, ErrClosed) {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	} else if err != nil {
		return err
	}
	return ErrClosed
}
