package router

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"xmppkit.dev/internal/xmlscan"
	"xmppkit.dev/stream"
)

// closeWait bounds the time spent closing a stream: flushing the last bytes
// and waiting for the peer's </stream:stream>.
const closeWait = 2 * time.Second

// conn is one socket stream of the router (component or client): one
// goroutine reads it (the one that called newConn and serves it), and a
// stream.Writer batches what routes deliver to it. Its write queue is
// bounded by Config.MaxQueue bytes: a delivery that would exceed it waits
// for room up to Config.SlowTimeout, which slows the sender (its reading
// goroutine, hence TCP flow control on its socket); a peer that stays behind
// that long is disconnected with resource-constraint and the delivery is
// refused with errQueueFull (the slow-consumer policy). The queue admits a
// stanza whenever the backlog is below the bound, so one stanza of any size
// the limits allow always fits. A stuck peer costs bounded memory (MaxQueue
// plus one stanza) and delays its senders by at most SlowTimeout.
type conn struct {
	r  *Router
	nc net.Conn
	rd *stream.Reader
	w  *stream.Writer
	ns string // content namespace of the stream

	accepted time.Time // when newConn was called

	written atomic.Int64 // bytes handed to nc
	queued  atomic.Int64 // bytes handed to w
	max     int64

	kicked atomic.Pointer[stream.Error] // set once: the stream error to end with
	dead   atomic.Bool
	mu     sync.Mutex // serializes slow-path encodings into enc
	enc    []byte
	pkt    packet // the packet being routed, owned by the reading goroutine
	// unroute, set by the reading goroutine once the stream has a route,
	// removes that route; finish calls it first, so that stanzas for a
	// peer being closed (a slow consumer draining its last bytes) bounce at
	// once instead of waiting for the close.
	unroute func()
	// member is the connection's place in its domain's group, for a
	// component domain of Config.Links (group.go); nil otherwise.
	member *member
	roomMu sync.Mutex
	room   chan struct{} // closed when bytes were written; nil when nobody waits
}

// countingWriter counts the bytes written to the connection, so that the
// queue length is queued - written.
type countingWriter struct{ c *conn }

func (w countingWriter) Write(b []byte) (int, error) {
	n, err := w.c.nc.Write(b)
	w.c.written.Add(int64(n))
	w.c.wrote()
	return n, err
}

// newConn wraps nc for a stream in namespace ns (stream.NSComponent or
// stream.NSClient) and registers it for Close. It returns nil when the
// router is closed (nc is then closed).
func (r *Router) newConn(nc net.Conn, ns string) *conn {
	c := &conn{r: r, nc: nc, ns: ns, max: int64(r.cfg.MaxQueue), accepted: time.Now()}
	c.rd = stream.NewReader(nc, stream.ReaderOptions{Limits: r.unauthLimits(), NS: ns})
	c.w = stream.NewWriter(countingWriter{c}, nil)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		nc.Close()
		return nil
	}
	r.conns[c] = struct{}{}
	return c
}

// unauthLimits are the limits on a peer that has not authenticated:
// Config.Limits with elements of at most Config.UnauthMaxElement.
func (r *Router) unauthLimits() stream.Limits {
	l := r.cfg.Limits
	max := l.MaxElement
	if max <= 0 {
		max = xmlscan.DefaultMaxElement
	}
	l.MaxElement = min(max, r.cfg.UnauthMaxElement)
	return l
}

// authenticated raises the limits on c's peer to Config.Limits; the
// reading goroutine calls it once the peer has authenticated.
func (c *conn) authenticated() { c.rd.SetLimits(c.r.cfg.Limits) }

// release unregisters c and closes its socket.
func (c *conn) release() {
	c.dead.Store(true)
	c.r.mu.Lock()
	delete(c.r.conns, c)
	c.r.mu.Unlock()
	c.nc.Close()
}

// write queues b (a whole element). The queue admits b whenever the bytes
// queued and not yet written are below Config.MaxQueue, whatever b's size,
// so that every stanza the limits allow fits an idle queue: the queue holds
// at most MaxQueue plus one stanza. When the backlog is at MaxQueue, write
// waits for room up to Config.SlowTimeout (pushing back on the sender),
// then gives up on the peer: a peer whose backlog stayed full that long is
// too slow, and is disconnected with resource-constraint.
func (c *conn) write(b []byte) error {
	n := int64(len(b))
	var timer *time.Timer
	for {
		if c.dead.Load() || c.kicked.Load() != nil {
			return errGone
		}
		if c.admit(n) {
			break
		}
		c.roomMu.Lock()
		if c.room == nil {
			c.room = make(chan struct{})
		}
		room := c.room
		c.roomMu.Unlock()
		// Check again: a write may have completed before room was set.
		if c.admit(n) {
			break
		}
		if timer == nil {
			timer = time.NewTimer(c.r.cfg.SlowTimeout)
			defer timer.Stop()
		}
		select {
		case <-room:
		case <-timer.C:
			c.r.m.kicked(true)
			c.kick(stream.NewError(stream.ResourceConstraint, "too slow reading stanzas: write queue full"))
			return errQueueFull
		}
	}
	if err := c.w.WriteRaw(b); err != nil {
		return errGone
	}
	return nil
}

// admit counts n more bytes as queued when the backlog is below the bound.
// Concurrent senders are admitted one at a time, so that the backlog never
// exceeds the bound by more than one stanza.
func (c *conn) admit(n int64) bool {
	for {
		q := c.queued.Load()
		if q-c.written.Load() >= c.max {
			return false
		}
		if c.queued.CompareAndSwap(q, q+n) {
			return true
		}
	}
}

// wrote wakes the writers waiting for room after bytes were written (or the
// connection failed).
func (c *conn) wrote() {
	c.roomMu.Lock()
	if c.room != nil {
		close(c.room)
		c.room = nil
	}
	c.roomMu.Unlock()
}

// deliver implements route: raw elements are copied as is when the stream
// namespaces allow it, other stanzas are encoded.
func (c *conn) deliver(p *packet) error {
	if p.raw != nil && !p.h.prefixed && (p.h.xmlns == "" || p.h.xmlns == c.ns) {
		return c.write(p.raw)
	}
	st, err := p.stanza()
	if st == nil {
		return err
	}
	if st.NS != "" && st.NS != c.ns {
		cp := *st
		cp.NS = ""
		st = &cp
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.enc = st.AppendXML(c.enc[:0])
	err = c.write(c.enc)
	if cap(c.enc) > 64<<10 {
		c.enc = nil
	}
	return err
}

// kick makes the reading goroutine end the stream with e (the first kick
// wins): it sets e and interrupts the read.
func (c *conn) kick(e *stream.Error) {
	if c.kicked.CompareAndSwap(nil, e) {
		c.nc.SetReadDeadline(time.Now())
		c.wrote() // release writers waiting for room
	}
}

// isTimeout reports whether err is a read deadline expiring.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// finish ends the stream after the reading loop stopped with err: it sends
// the stream error owed (a kick, or bad input the Reader reported) and
// </stream:stream>, waits briefly for the peer's close, and releases c.
func (c *conn) finish(err error) {
	defer c.release()
	if c.unroute != nil {
		c.unroute()
		c.unroute = nil
	}
	var se *stream.Error
	switch k := c.kicked.Load(); {
	case k != nil:
		se = k
	case errors.As(err, &se):
		if se.Remote {
			se = nil // the peer ended the stream with an error: just close
		}
	case isTimeout(err):
		se = stream.NewError(stream.ConnectionTimeout, "")
	case err == io.EOF:
	default:
		// The connection broke (reset, unexpected EOF): no error to send,
		// and no close to wait for.
		c.nc.SetWriteDeadline(time.Now().Add(closeWait))
		ctx, cancel := context.WithTimeout(context.Background(), closeWait)
		c.w.Close(ctx)
		cancel()
		return
	}
	// What is queued, then the error and </stream:stream>, get closeWait to
	// be written: a peer that does not read them in that time (a slow
	// consumer) has its connection cut, and is not waited for.
	c.nc.SetWriteDeadline(time.Now().Add(closeWait))
	var werr error
	if se != nil {
		werr = c.w.WriteError(se)
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeWait)
	if cerr := c.w.Close(ctx); werr == nil {
		werr = cerr
	}
	cancel()
	if err != io.EOF && werr == nil {
		// Wait for the peer's </stream:stream> (RFC 6120 §4.4), discarding
		// what it still sends.
		c.nc.SetReadDeadline(time.Now().Add(closeWait))
		_, _ = io.Copy(io.Discard, io.LimitReader(c.nc, 1<<20))
	}
}

// answerNoHeader prepares the answer to a peer whose stream header could not
// be read (err from Reader.ReadHeader), for both listeners: on bad input, a
// kick (the router's Close) or the negotiation deadline, it writes our header
// h (a stream error needs one, RFC 6120 §4.9.1.3) and sets the stream error
// that finish sends after it. It reports false when the peer went away or
// ended the stream itself, with nothing to answer.
func (c *conn) answerNoHeader(h stream.Header, err error) bool {
	var se *stream.Error
	switch {
	case errors.As(err, &se) && !se.Remote:
	case c.kicked.Load() != nil:
		se = c.kicked.Load()
	case isTimeout(err):
		se = stream.NewError(stream.ConnectionTimeout, "no stream header in time")
	default:
		return false
	}
	c.nc.SetWriteDeadline(time.Now().Add(closeWait))
	c.w.WriteHeader(h)
	c.kicked.CompareAndSwap(nil, se)
	return true
}

// headerError answers a connection whose header was bad or refused: our
// header (a stream error needs one, RFC 6120 §4.9.1.3), then the error.
func (c *conn) headerError(h stream.Header, se *stream.Error) {
	c.answerNoHeader(h, se)
	c.finish(se)
}
