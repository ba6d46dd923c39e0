package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/ping"
	"xmppkit.dev/session"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

// writeTimeout bounds one write to the server; past it the stream is dead.
const writeTimeout = 30 * time.Second

// closeWait bounds the wait for the server's closing tag after ours when
// the server ended the stream first.
const closeWait = time.Second

// readLoop reads stanzas until the stream ends and hands them to the
// session: iq answers to the SendIQ waiting for them, everything else to
// the Handler or the receive queue.
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
		st, derr := el.Stanza()
		if st == nil {
			continue
		}
		if derr == nil && c.cfg.Handler == nil && isPing(st) {
			// No Handler: Recv would leave the server's ping unanswered
			// until it gives the session up (XEP-0199 §5). Sent off the
			// read loop, which must not wait on the socket's write side.
			go c.sess.Send(c.ctx, pingResult(st))
			continue
		}
		if rerr := c.sess.Receive(c.ctx, st, derr); rerr != nil && c.ctx.Err() != nil {
			break // Close: stop delivering
		}
	}
	c.finish(err)
}

// finish records why the stream ended, answers a stream error the client
// detected and the server's closing tag with ours (RFC 6120 §4.4), and
// ends the session, releasing everyone waiting.
func (c *Client) finish(err error) {
	var se *stream.Error
	if errors.As(err, &se) && !se.Remote {
		c.out.Final(c.conn, append(se.AppendXML(nil), stream.CloseTag...), closeWait)
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), closeWait)
		c.out.Drain(ctx, []byte(stream.CloseTag)) // the peer's stream is over: no wait for it
		cancel()
	}
	c.conn.Close()
	c.out.Detach()
	c.mu.Lock()
	select {
	case <-c.quit:
		if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || c.ctx.Err() != nil {
			err = nil // we closed; what the server did afterwards does not matter
		}
	default:
		if err == io.EOF {
			err = fmt.Errorf("%w: the server closed the stream", ErrClosed)
		}
	}
	c.err = err
	c.mu.Unlock()
	cause := ErrClosed
	if err != nil && !errors.Is(err, ErrClosed) {
		cause = fmt.Errorf("%w: %w", ErrClosed, err)
	} else if err != nil {
		cause = err
	}
	c.out.Terminate(cause)
	c.sess.Terminate(cause)
	close(c.done)
}

// Send writes st to the server (RFC 6120 §8); st is not modified. An IQ get
// or set without id gets one. The server stamps from itself (§8.1.2.1), so
// from is left zero or set to the client's own JID (ErrBadFrom otherwise).
// It returns nil once the stanza is written or queued behind a write in
// progress (see package session), and an error wrapping ErrClosed once the
// stream is over.
func (c *Client) Send(ctx context.Context, st *stanza.Stanza) error {
	return c.sess.Send(ctx, st)
}

// SendIQ sends an IQ get or set and waits for its answer, matched by id and
// sender (RFC 6120 §8.2.3; a request without to, or to the account's bare
// JID, is answered by the server on the account's behalf, §10.3.3): the
// result stanza, or the error stanza's *stanza.Error, or ctx's error, or an
// error wrapping ErrClosed (and why the stream ended).
func (c *Client) SendIQ(ctx context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
	return c.sess.SendIQ(ctx, iq)
}

// Session returns the client's session: the Sender a Handler receives.
func (c *Client) Session() *session.Session { return c.sess }

// Recv returns the next received stanza that is not an answer to SendIQ,
// or ErrClosed once the stream is over and everything received was read.
// Do not use it with Config.Handler.
func (c *Client) Recv(ctx context.Context) (*stanza.Stanza, error) {
	st, err := c.sess.Recv(ctx)
	if errors.Is(err, ErrClosed) {
		return nil, c.closedErr()
	}
	return st, err
}

// SendPresence sends initial presence (RFC 6121 §4.2): the server then
// treats the session as available and delivers presence and messages to
// it.
func (c *Client) SendPresence(ctx context.Context) error {
	return c.Send(ctx, stanza.NewPresence("", jid.JID{}))
}

// Close ends the stream (RFC 6120 §4.4): it lets the Handler finish what it
// has, sends </stream:stream> after what is queued, waits until the
// server's closing tag arrives or ctx ends, and closes the connection. It
// returns nil on a clean close, and may be called again.
func (c *Client) Close(ctx context.Context) error {
	first := false
	c.quitOnce.Do(func() { first = true; close(c.quit) })
	var err error
	if first {
		select {
		case <-c.done: // already over: the read loop closed the connection
		default:
			err = c.sess.Close(ctx)
		}
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		c.conn.Close()
		<-c.done
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

// transport is the Client as its session's session.Transport.
type transport Client

// Deliver writes through the session's Writer.
func (t *transport) Deliver(ctx context.Context, out session.Outgoing, sync bool) (uint64, error) {
	return t.out.Deliver(ctx, out, sync)
}

// Confirm: a client stream has no cheaper proof than an iq round trip to
// its server, which a caller can make itself; SendConfirmed is not offered.
func (t *transport) Confirm(context.Context, uint64) error {
	return errors.New("client: confirmed sends are not supported")
}

// Shutdown writes what is queued and the closing tag, then waits for the
// server's closing tag (the read loop ends), or ctx.
func (t *transport) Shutdown(ctx context.Context) error {
	c := (*Client)(t)
	err := c.out.Drain(ctx, []byte(stream.CloseTag))
	if err != nil {
		c.conn.Close()
		return err
	}
	t2 := time.NewTimer(closeWait * 5)
	defer t2.Stop()
	select {
	case <-c.done:
	case <-t2.C:
		c.conn.Close()
	case <-ctx.Done():
		c.conn.Close()
		return ctx.Err()
	}
	return nil
}

// Drop: a stanza the Handler did not get because the client closed.
func (t *transport) Drop(*stanza.Stanza, error) {}

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

// isPing reports whether st is a XEP-0199 ping (§4: an iq get whose
// payload is <ping xmlns='urn:xmpp:ping'/>).
func isPing(st *stanza.Stanza) bool {
	if st.Kind != stanza.IQ || st.Type != stanza.TypeGet {
		return false
	}
	space, local := st.PayloadName()
	return space == ping.NS && local == "ping"
}

// pingResult is the empty result answering ping (XEP-0199 §4), with no
// from: the server stamps the session's full JID (RFC 6120 §8.1.2.1),
// whatever address the ping was sent to.
func pingResult(ping *stanza.Stanza) *stanza.Stanza {
	r := ping.Result()
	r.From = jid.JID{}
	return r
}

// answerPings wraps h so that a ping h does not route (it returns
// stanza.ErrServiceUnavailable) is answered with a result; nil stays nil.
func answerPings(h mux.Handler) mux.Handler {
	if h == nil {
		return nil
	}
	return mux.HandlerFunc(func(ctx context.Context, s mux.Sender, st *stanza.Stanza) error {
		err := h.HandleStanza(ctx, s, st)
		if err != nil && isPing(st) && errors.Is(err, stanza.ErrServiceUnavailable) {
			return s.Send(ctx, pingResult(st))
		}
		return err
	})
}
