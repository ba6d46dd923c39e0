package component

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"xmppkit.dev/ping"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

// session is one authenticated connection: a reader, a writer and an
// optional pinger goroutine.
type session struct {
	c   *Component
	gen uint64
	// streamID is the server's stream id, for LinkEvent.
	streamID string
	conn     *countingConn
	rd       *stream.Reader
	wp       *workers

	ctx    context.Context // ends when the link is dead
	cancel context.CancelCauseFunc

	wg        sync.WaitGroup
	readDone  chan struct{}
	closeSent atomic.Bool // we wrote </stream:stream>
	taken     []*outReq   // writer's scratch: the requests of one write
	ends      []int       // writer's scratch: where each taken request ends
	noInbound atomic.Bool // shutting down: received stanzas are no longer dispatched
	wmu       sync.Mutex  // serializes writes on conn (the writer's, and fail's stream error)
	errSent   bool        // under wmu: fail wrote a stream error, nothing may follow it
}

func newSession(c *Component, conn *countingConn, rd *stream.Reader, wp *workers) *session {
	s := &session{c: c, gen: c.lastGen.Add(1), conn: conn, rd: rd, wp: wp, readDone: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancelCause(context.Background())
	return s
}

// die declares the link dead with the given cause (the first cause wins).
func (s *session) die(err error) { s.cancel(err) }

// serve runs the session until the link dies, ctx ends, or Close is called
// (then it shuts down gracefully). It returns why it ended.
func (c *Component) serve(ctx context.Context, s *session) error {
	c.mu.Lock()
	c.sess = s
	c.mu.Unlock()
	c.linkUp(s.gen)
	c.stats.linkUp()
	if c.OnLink != nil {
		c.OnLink(LinkEvent{Up: true, Link: s.gen, StreamID: s.streamID})
	}

	s.wg.Add(2)
	go s.readLoop()
	go s.writeLoop()
	if c.PingInterval > 0 {
		s.wg.Add(1)
		go s.pingLoop()
	}

	var err error
	select {
	case <-s.ctx.Done():
		err = context.Cause(s.ctx)
	case <-ctx.Done():
		err = ctx.Err()
	case <-c.closing:
		cerr := s.shutdown(c.closeContext())
		c.setCloseErr(cerr)
		err = ErrClosed
	}
	s.die(err)
	s.conn.Close()
	s.wg.Wait()

	c.mu.Lock()
	c.sess = nil
	c.mu.Unlock()
	c.linkDown(s.gen, fmt.Errorf("%w: link lost while waiting for the answer: %w", ErrDisconnected, err))
	if c.OnLink != nil {
		var cause error
		if !errors.Is(err, ErrClosed) && ctx.Err() == nil {
			cause = err
		}
		c.OnLink(LinkEvent{Link: s.gen, StreamID: s.streamID, Err: cause})
	}
	if !errors.Is(err, ErrClosed) && ctx.Err() == nil {
		c.log.WarnContext(ctx, "component: link lost", "domain", c.Domain, "err", err)
	}
	return err
}

// shutdown is the graceful part of Close: no more inbound dispatch, wait
// for the handlers, drain the queue, exchange </stream:stream>.
func (s *session) shutdown(ctx context.Context) error {
	c := s.c
	s.noInbound.Store(true)
	if err := s.wp.waitIdle(ctx, s.ctx); err != nil {
		c.closeOutShut()
		return err
	}
	c.closeOutShut()
	marker := &outReq{closing: true, done: make(chan error, 1)}
	// ended reports the session's end as the shutdown's outcome: the
	// server closing its stream after ours is the expected end.
	ended := func() error {
		if err := context.Cause(s.ctx); !errors.Is(err, ErrClosed) {
			return err
		}
		return nil
	}
	select {
	case c.queue <- marker:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.ctx.Done():
		return ended()
	}
	select {
	case err := <-marker.done:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		return ctx.Err()
	case <-s.ctx.Done():
		return ended()
	}
	t := time.NewTimer(DefaultCloseWait)
	defer t.Stop()
	select {
	case <-s.readDone:
	case <-t.C:
		c.log.DebugContext(ctx, "component: server did not close its stream in time", "domain", c.Domain)
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// readLoop reads stanzas, matches IQ answers, and hands the rest to the
// workers. A full worker queue blocks it, which is the inbound backpressure.
func (s *session) readLoop() {
	defer s.wg.Done()
	defer close(s.readDone)
	c := s.c
	for {
		el, err := s.rd.Next()
		if err != nil {
			s.fail(err)
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
		c.stats.stanzasIn.Add(1)
		if st.Kind == stanza.IQ && (st.Type == stanza.TypeResult || st.Type == stanza.TypeError) && derr == nil {
			if c.deliver(st) {
				continue
			}
		}
		if s.noInbound.Load() {
			c.stats.inboundDropped.Add(1)
			c.log.Info("component: shutting down, stanza not handled", "domain", c.Domain,
				"kind", st.Kind.String(), "from", st.From.String(), "id", st.ID)
			continue
		}
		if !s.wp.dispatch(s.ctx, item{st: st, decodeErr: derr}) {
			c.stats.inboundDropped.Add(1)
			return
		}
	}
}

// readError turns the Reader's final error into the session's cause.
func (s *session) readError(err error) error {
	var se *stream.Error
	switch {
	case errors.Is(err, io.EOF):
		if s.closeSent.Load() {
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

// maxBatch bounds how much the writer puts in one write call.
const maxBatch = 64 << 10

// writeLoop writes queued stanzas, in batches under load, and whitespace
// keepalives when idle.
func (s *session) writeLoop() {
	defer s.wg.Done()
	c := s.c
	ka := c.KeepAlive
	if ka == 0 {
		ka = DefaultKeepAlive
	}
	var kaC <-chan time.Time
	var kaT *time.Timer
	if ka > 0 {
		kaT = time.NewTimer(ka)
		defer kaT.Stop()
		kaC = kaT.C
	}
	var batch []*outReq
	var out []byte

	// Requests a previous writer took but could not write go first.
	c.mu.Lock()
	batch = append(batch, c.carry...)
	c.carry = nil
	c.mu.Unlock()

	for {
		if len(batch) == 0 {
			select {
			case <-s.ctx.Done():
				return
			case r := <-c.queue:
				batch = append(batch, r)
			case <-kaC:
				if err := s.write([]byte{' '}); err != nil {
					s.die(err)
					return
				}
				kaT.Reset(ka)
				continue
			}
		}
		// Under load, the workers that the last write released are about
		// to queue their next answers: let them run first (they are
		// runnable on this thread), so that they share this write. Stop
		// as soon as every running handler has something queued, or the
		// queue stops growing.
		// Under load, the handlers that the last write released are about
		// to queue their next stanzas, and they are runnable on this
		// thread: yield to them so that they share this write, as long as
		// the queue grows and some running handler has nothing queued.
		for i, n := 0, len(c.queue); !c.AsyncSend && i < 4 && len(batch)+n < int(s.wp.busy.Load()); i++ {
			runtime.Gosched()
			m := len(c.queue)
			if m == n {
				break
			}
			n = m
		}
		// Gather what else is queued now (not what arrives meanwhile, so
		// that the writer never holds more than one queue's worth), up to
		// maxBatch bytes.
		size := 0
		for _, r := range batch {
			size += len(r.buf)
		}
		more := len(c.queue)
	gather:
		for ; more > 0 && size < maxBatch && !batch[len(batch)-1].closing; more-- {
			select {
			case r := <-c.queue:
				batch = append(batch, r)
				size += len(r.buf)
			default:
				break gather
			}
		}
		if s.ctx.Err() != nil {
			// Dead before writing: these were never attempted.
			c.mu.Lock()
			c.carry = append(c.carry, batch...)
			c.mu.Unlock()
			return
		}
		stop := s.writeBatch(batch, &out)
		batch = batch[:0]
		if stop {
			return
		}
		if kaT != nil {
			kaT.Reset(ka)
		}
	}
}

// writeBatch writes the taken requests of batch in one write call and
// reports each outcome. It returns true when the writer must stop (write
// error, or the closing marker was written).
func (s *session) writeBatch(batch []*outReq, out *[]byte) bool {
	c := s.c
	buf := (*out)[:0]
	taken := s.taken[:0]
	ends := s.ends[:0]
	var marker *outReq
	for _, r := range batch {
		if r.closing {
			marker = r
			break
		}
		if !r.take() {
			continue // its Send gave up
		}
		buf = append(buf, r.buf...)
		taken = append(taken, r)
		ends = append(ends, len(buf))
	}
	if marker != nil {
		// The gather loop stops at the marker: nothing follows it here.
		// Stanzas queued after it are reported as not sent by terminate.
		buf = append(buf, stream.CloseTag...)
		s.closeSent.Store(true)
	}
	*out = buf
	var err error
	n := 0
	if len(buf) > 0 {
		n, err = s.writeN(buf)
	}
	for i, r := range taken {
		if ends[i] <= n {
			r.gen = s.gen
			c.stats.stanzasOut.Add(1)
			c.report(r, nil)
		} else {
			c.report(r, notSent(fmt.Errorf("%w: %w", ErrDisconnected, err)))
		}
	}
	clear(taken) // the requests belong to their Sends again
	s.taken, s.ends = taken[:0], ends[:0]
	if err != nil {
		if marker != nil {
			marker.done <- err
		}
		s.die(err)
		return true
	}
	if marker != nil {
		marker.done <- nil
		return true
	}
	return false
}

func (s *session) write(b []byte) error {
	_, err := s.writeN(b)
	return err
}

// writeN writes b under the write timeout and wraps a failure as
// ErrDisconnected.
func (s *session) writeN(b []byte) (int, error) {
	to := s.c.WriteTimeout
	if to == 0 {
		to = DefaultWriteTimeout
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.errSent {
		return 0, fmt.Errorf("%w: the stream ended with a stream error", ErrDisconnected)
	}
	if to > 0 {
		_ = s.conn.SetWriteDeadline(time.Now().Add(to))
	}
	n, err := s.conn.Write(b)
	if err != nil {
		return n, netErr("write", err)
	}
	return n, nil
}

// pingLoop sends XEP-0199 pings and declares the link dead when one goes
// unanswered.
func (s *session) pingLoop() {
	defer s.wg.Done()
	c := s.c
	to := c.PingTo
	if to.IsZero() {
		to = defaultPingTo(c.domain)
	}
	timeout := orDefault(c.PingTimeout, DefaultPingTimeout)
	t := time.NewTicker(c.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(s.ctx, timeout)
		t0 := time.Now()
		err := ping.Send(ctx, c, to)
		cancel()
		var se *stanza.Error
		switch {
		case err == nil || errors.As(err, &se):
			c.stats.pings.Add(1)
			c.log.Debug("component: ping answered", "domain", c.Domain, "to", to.String(), "rtt", time.Since(t0))
		case s.ctx.Err() != nil:
			return
		case errors.Is(err, context.DeadlineExceeded):
			c.stats.pingTimeouts.Add(1)
			s.die(fmt.Errorf("%w: no answer to ping from %s within %v", ErrDisconnected, to, timeout))
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
