package component

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"xmppkit.dev/ping"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

// link is one authenticated connection: a reader goroutine, an optional
// pinger, and the session's Writer attached to it.
type link struct {
	c        *Component
	s        *slot // the slot it fills
	gen      uint64
	streamID string
	conn     *countingConn
	rd       *stream.Reader

	ctx    context.Context // ends when the link is dead
	cancel context.CancelCauseFunc

	wg        sync.WaitGroup
	readDone  chan struct{}
	closeSent atomic.Bool // we wrote </stream:stream>
}

func newLink(c *Component, s *slot, conn *countingConn, rd *stream.Reader, gen uint64, id string) *link {
	l := &link{c: c, s: s, gen: gen, streamID: id, conn: conn, rd: rd, readDone: make(chan struct{})}
	l.ctx, l.cancel = context.WithCancelCause(context.Background())
	return l
}

// die declares the link dead with the given cause (the first cause wins).
func (l *link) die(err error) { l.cancel(err) }

// serve runs the link until it dies (Shutdown ends it with ErrClosed) and
// returns why it ended.
func (c *Component) serve(l *link) error {
	s := l.s
	multi := len(c.slots) > 1
	c.mu.Lock()
	s.link = l
	c.mu.Unlock()
	c.sess.LinkUp(l.gen)
	up := c.stats.linkUp()
	c.onLink(LinkEvent{Up: true, Link: l.gen, Slot: s.idx, LinksUp: up, StreamID: l.streamID})
	if !multi {
		s.w.Attach(l.conn, l.gen)
	}
	if isDone(c.closing) {
		// A stop was requested during the handshake: Shutdown may have
		// missed this link.
		l.die(ErrClosed)
	}
	l.wg.Add(1)
	go l.readLoop()
	if c.PingInterval > 0 {
		l.wg.Add(1)
		go l.pingLoop()
	}
	if multi {
		// The reader runs: the answers to the join's barrier pings may
		// come on this link.
		c.join(l)
	}

	<-l.ctx.Done()
	err := context.Cause(l.ctx)
	l.conn.Close()
	l.wg.Wait()
	s.w.Detach()

	c.mu.Lock()
	s.link = nil
	c.mu.Unlock()
	if multi {
		c.leave(s)
	}
	c.sess.LinkDown(l.gen, fmt.Errorf("%w: link lost while waiting for the answer: %w", ErrDisconnected, err))
	up = c.stats.linkDown()
	var cause error
	if !errors.Is(err, ErrClosed) {
		cause = err
		attrs := []any{"domain", c.Domain, "err", err}
		if multi {
			attrs = append(attrs, "slot", s.idx, "links_up", up)
		}
		c.log.Warn("component: link lost", attrs...)
	}
	c.onLink(LinkEvent{Link: l.gen, Slot: s.idx, LinksUp: up, StreamID: l.streamID, Err: cause})
	return err
}

// onLink calls OnLink, one call at a time.
func (c *Component) onLink(ev LinkEvent) {
	if c.OnLink == nil {
		return
	}
	c.linkMu.Lock()
	defer c.linkMu.Unlock()
	c.OnLink(ev)
}

// shutdown ends the link gracefully (Close, after the handlers are done):
// everything queued is written, then </stream:stream>; the server's close
// is awaited for DefaultCloseWait.
func (l *link) shutdown(ctx context.Context) error {
	c := l.c
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(l.ctx, cancel)
	defer stop()
	l.closeSent.Store(true)
	err := l.s.w.Drain(dctx, []byte(stream.CloseTag))
	if err != nil {
		l.closeSent.Store(false)
		if l.ctx.Err() != nil {
			// The link died meanwhile: what it did not write is reported
			// by terminate.
			if cause := context.Cause(l.ctx); !errors.Is(cause, ErrClosed) {
				err = cause
			}
		}
		l.die(ErrClosed)
		return err
	}
	t := time.NewTimer(DefaultCloseWait)
	defer t.Stop()
	select {
	case <-l.readDone:
	case <-t.C:
		c.log.Debug("component: server did not close its stream in time", "domain", c.Domain)
	case <-ctx.Done():
		err = ctx.Err()
	}
	l.die(ErrClosed)
	return err
}

// readLoop reads stanzas and hands them to the session (iq answers to
// their SendIQ, the rest to the workers). A full worker queue blocks it,
// which is the inbound backpressure.
func (l *link) readLoop() {
	defer l.wg.Done()
	defer close(l.readDone)
	c := l.c
	for {
		el, err := l.rd.Next()
		if err != nil {
			l.fail(err)
			return
		}
		if !el.IsStanza() {
			// Ignored and counted (Stats.IgnoredElements); Debug, so that a
			// server cannot flood the log. See doc.go for why this is no
			// unsupported-stanza-type stream error.
			c.stats.ignoredElements.Add(1)
			space, local := el.Name()
			c.log.Debug("component: ignoring unexpected element from server", "domain", c.Domain,
				"element", "{"+space+"}"+local)
			continue
		}
		st, derr := el.Stanza()
		if st == nil {
			c.log.Warn("component: undecodable stanza from server", "domain", c.Domain, "err", derr)
			continue
		}
		switch err := c.sess.ReceiveOn(l.ctx, l.gen, st, derr); {
		case err == nil:
		case l.ctx.Err() != nil:
			return
		default:
			c.log.Info("component: shutting down, stanza not handled", "domain", c.Domain,
				"kind", st.Kind.String(), "from", st.From.String(), "id", st.ID)
		}
	}
}

// readError turns the Reader's final error into the link's cause.
func (l *link) readError(err error) error {
	var se *stream.Error
	switch {
	case errors.Is(err, io.EOF):
		if l.closeSent.Load() {
			return ErrClosed
		}
		return fmt.Errorf("%w: server closed the stream", ErrDisconnected)
	case errors.As(err, &se) && se.Remote:
		return fmt.Errorf("component: %w", se)
	case errors.As(err, &se):
		return fmt.Errorf("%w: %w", ErrBadServer, se)
	}
	return netErr("read", err)
}

// writeFailed is the Writer's report of a failed write: the link is dead.
func (c *Component) writeFailed(gen uint64, err error) {
	if l := c.linkOf(gen); l != nil {
		l.die(netErr("write", err))
	}
}

// linkOf returns the live link numbered gen, or nil.
func (c *Component) linkOf(gen uint64) *link {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.slots {
		if s.link != nil && s.link.gen == gen {
			return s.link
		}
	}
	return nil
}

// pingLoop sends XEP-0199 pings and declares the link dead when one goes
// unanswered.
func (l *link) pingLoop() {
	defer l.wg.Done()
	c := l.c
	to := c.PingTo
	if to.IsZero() {
		to = defaultPingTo(c.domain)
	}
	timeout := orDefault(c.PingTimeout, DefaultPingTimeout)
	t := time.NewTicker(c.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(onSlot(l.ctx, l.s), timeout)
		t0 := time.Now()
		err := ping.Send(ctx, c.sess, to)
		cancel()
		var se *stanza.Error
		switch {
		case err == nil || errors.As(err, &se):
			c.stats.pings.Add(1)
			c.log.Debug("component: ping answered", "domain", c.Domain, "to", to.String(), "rtt", time.Since(t0))
		case l.ctx.Err() != nil:
			return
		case errors.Is(err, context.DeadlineExceeded):
			c.stats.pingTimeouts.Add(1)
			l.die(fmt.Errorf("%w: no answer to ping from %s within %v", ErrDisconnected, to, timeout))
			return
		default:
			c.log.Debug("component: ping failed", "domain", c.Domain, "err", err)
		}
	}
}

// countingConn counts the bytes read and written for Stats.
type countingConn struct {
	net.Conn
	c *counters
}

func (cc *countingConn) Read(p []byte) (int, error) {
	n, err := cc.Conn.Read(p)
	cc.c.bytesIn.Add(uint64(n))
	return n, err
}

func (cc *countingConn) Write(p []byte) (int, error) {
	n, err := cc.Conn.Write(p)
	cc.c.bytesOut.Add(uint64(n))
	cc.c.writes.Add(1)
	return n, err
}
