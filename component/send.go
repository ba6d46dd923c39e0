package component

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// Request states: a request is queued until the writer takes it or its Send
// gives up (cancelled); exactly one of the two wins.
const (
	reqQueued uint32 = iota
	reqTaken
	reqCancelled
)

// outReq is one stanza on the outbound queue, or the closing marker.
type outReq struct {
	buf     []byte
	state   atomic.Uint32
	done    chan error // receives the outcome once, for a taken request
	closing bool       // the marker: write </stream:stream> after everything before it
	gen     uint64     // the session that wrote it, set before done is signalled
	async   bool       // no Send waits: the writer reports the outcome (AsyncSend) and recycles it
}

// reqPool recycles requests, with their done channel and encode buffer:
// a request goes back only once its Send has received the outcome, when
// the writer is done with it.
var reqPool = sync.Pool{New: func() any { return &outReq{buf: make([]byte, 0, 512), done: make(chan error, 1)} }}

// getReq returns a fresh request with an empty buffer.
func getReq() *outReq {
	r := reqPool.Get().(*outReq)
	r.buf = r.buf[:0]
	r.state.Store(reqQueued)
	r.gen = 0
	r.async = false
	return r
}

// putReq recycles r, whose outcome its Send has received.
func putReq(r *outReq) {
	if cap(r.buf) > 64<<10 {
		r.buf = make([]byte, 0, 512)
	}
	reqPool.Put(r)
}

// take claims the request for writing; false if its Send gave up.
func (r *outReq) take() bool { return r.state.CompareAndSwap(reqQueued, reqTaken) }

// fail reports the request as not sent, unless its Send gave up already.
func (c *Component) fail(r *outReq, cause error) {
	if r.take() {
		c.report(r, notSent(cause))
	}
}

// report delivers the outcome of a taken request: to its waiting Send, or
// for an AsyncSend request to the counters and the log.
func (c *Component) report(r *outReq, err error) {
	if !r.async {
		r.done <- err
		return
	}
	if err != nil {
		c.stats.sendFailed.Add(1)
		c.log.Warn("component: queued stanza not sent", "domain", c.Domain, "bytes", len(r.buf), "err", err)
	}
	putReq(r)
}

// Send writes st to the server (RFC 6120 §8, XEP-0114 §3), adding from (the
// component's domain) when st has none and an id when an IQ get or set has
// none; st itself is not modified. It returns nil once the stanza's bytes
// were accepted by the connection, and an error wrapping ErrNotSent
// otherwise (see the package documentation). It blocks while the outbound
// queue is full or the component is disconnected, up to ctx.
func (c *Component) Send(ctx context.Context, st *stanza.Stanza) error {
	if err := c.init(); err != nil {
		return notSent(err)
	}
	if c.ConfirmSends {
		return c.sendConfirmed(ctx, st)
	}
	_, err := c.send(ctx, st, c.AsyncSend)
	return err
}

// send is Send, also returning the generation of the session that wrote the
// stanza (0 for async: the stanza is queued, not yet written).
func (c *Component) send(ctx context.Context, st *stanza.Stanza, async bool) (uint64, error) {
	r := getReq()
	buf, err := c.encode(r.buf, st)
	if err != nil {
		putReq(r)
		return 0, err
	}
	r.buf = buf
	r.async = async
	err = c.enqueue(ctx, r)
	if async && err == nil {
		return 0, nil // r belongs to the writer now
	}
	gen := r.gen
	if r.state.Load() != reqCancelled {
		// The outcome was received: the writer is done with r.
		putReq(r)
	}
	if err != nil {
		return 0, err
	}
	return gen, nil
}

// encode checks st against the rules for outgoing stanzas and appends its
// XML, with the from and id filled in, to dst.
func (c *Component) encode(dst []byte, st *stanza.Stanza) ([]byte, error) {
	if st == nil || st.Kind < stanza.Message || st.Kind > stanza.IQ {
		return nil, fmt.Errorf("%w: not a message, presence or iq", ErrBadStanza)
	}
	cp := *st
	if cp.From.IsZero() {
		cp.From = c.domain
	} else if cp.From.Domain() != c.domain.Domain() {
		return nil, fmt.Errorf("%w: from %s, component domain %s", ErrBadFrom, cp.From, c.domain)
	}
	if cp.Kind == stanza.IQ {
		switch cp.Type {
		case stanza.TypeGet, stanza.TypeSet:
			if cp.ID == "" {
				cp.ID = stanza.NewID()
			}
		case stanza.TypeResult, stanza.TypeError:
			if cp.ID == "" {
				return nil, fmt.Errorf("%w: iq %s without id", ErrBadStanza, cp.Type)
			}
		default:
			return nil, fmt.Errorf("%w: iq type %q", ErrBadStanza, cp.Type)
		}
	}
	if stanza.IsContentNS(cp.NS) {
		cp.NS = "" // the stream's namespace applies
	}
	return cp.AppendXML(dst), nil
}

// enqueue puts r on the outbound queue and waits for its outcome.
func (c *Component) enqueue(ctx context.Context, r *outReq) error {
	// Once queued, an async r belongs to the writer, which may recycle it
	// at any time: read it before.
	async := r.async
	if err := ctx.Err(); err != nil {
		return c.sendFailed(notSent(err))
	}
	select {
	case <-c.outShut:
		return c.sendFailed(notSent(ErrClosed))
	default:
	}
	select {
	case c.queue <- r: // the common case, without the cost of a full select
	default:
		select {
		case c.queue <- r:
		case <-ctx.Done():
			return c.sendFailed(notSent(ctx.Err()))
		case <-c.outShut:
			return c.sendFailed(notSent(ErrClosed))
		}
	}
	if async {
		return nil
	}
	select {
	case err := <-r.done:
		if err != nil {
			c.stats.sendFailed.Add(1)
		}
		return err
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqQueued, reqCancelled) {
			return c.sendFailed(notSent(ctx.Err()))
		}
	case <-c.dead:
		if r.state.CompareAndSwap(reqQueued, reqCancelled) {
			return c.sendFailed(notSent(ErrClosed))
		}
	}
	// The writer took it: its outcome follows shortly (writes have a
	// deadline).
	err := <-r.done
	if err != nil {
		c.stats.sendFailed.Add(1)
	}
	return err
}

func (c *Component) sendFailed(err error) error {
	c.stats.sendFailed.Add(1)
	return err
}

// iqWaiter is a SendIQ waiting for its answer.
type iqWaiter struct {
	to  jid.JID
	ch  chan iqAnswer
	gen uint64 // session that wrote the request; 0 until known
}

type iqAnswer struct {
	st  *stanza.Stanza
	err error
}

// SendIQ sends an IQ get or set (RFC 6120 §8.2.3) and waits for its answer:
// an iq of type result or error with the same id, from the address the
// request went to. It returns the result stanza, or for an error answer a
// nil stanza and the *stanza.Error. An answer from another address is not a
// match and goes to the Handler. It fails with ErrDisconnected when the link
// drops while waiting, and with ctx's error when ctx ends. iq itself is not
// modified; when it has no id, one is generated.
func (c *Component) SendIQ(ctx context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
	if err := c.init(); err != nil {
		return nil, notSent(err)
	}
	if iq == nil || iq.Kind != stanza.IQ || (iq.Type != stanza.TypeGet && iq.Type != stanza.TypeSet) {
		return nil, fmt.Errorf("%w: SendIQ takes an iq get or set", ErrBadStanza)
	}
	if iq.To.IsZero() {
		return nil, fmt.Errorf("%w: iq without to", ErrBadStanza)
	}
	cp := *iq
	if cp.ID == "" {
		cp.ID = stanza.NewID()
	}
	w := &iqWaiter{to: cp.To, ch: make(chan iqAnswer, 1)}
	c.pendMu.Lock()
	if _, dup := c.pending[cp.ID]; dup {
		c.pendMu.Unlock()
		return nil, fmt.Errorf("%w: an iq with id %q is already waiting for its answer", ErrBadStanza, cp.ID)
	}
	c.pending[cp.ID] = w
	c.pendMu.Unlock()
	defer func() {
		c.pendMu.Lock()
		if c.pending[cp.ID] == w {
			delete(c.pending, cp.ID)
		}
		c.pendMu.Unlock()
	}()
	gen, err := c.send(ctx, &cp, false)
	if err != nil {
		return nil, err
	}
	c.pendMu.Lock()
	w.gen = gen
	lost := c.liveGen != gen
	c.pendMu.Unlock()
	if lost {
		// The link that carried the request is gone already: the answer,
		// if one came, is in w.ch; otherwise it never will come.
		select {
		case a := <-w.ch:
			return answer(a)
		default:
			return nil, fmt.Errorf("%w: link lost after the iq was sent", ErrDisconnected)
		}
	}
	select {
	case a := <-w.ch:
		return answer(a)
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.dead:
		return nil, ErrClosed
	}
}

func answer(a iqAnswer) (*stanza.Stanza, error) {
	if a.err != nil {
		return nil, a.err
	}
	if a.st.Type == stanza.TypeError {
		return nil, a.st.Err()
	}
	return a.st, nil
}

// deliver hands a received IQ result or error to the SendIQ waiting for it:
// same id, from the address the request was sent to. It reports whether
// there was one.
func (c *Component) deliver(st *stanza.Stanza) bool {
	c.pendMu.Lock()
	w := c.pending[st.ID]
	if w == nil || !w.to.Equal(st.From) {
		c.pendMu.Unlock()
		return false
	}
	delete(c.pending, st.ID)
	c.pendMu.Unlock()
	w.ch <- iqAnswer{st: st}
	return true
}

// linkUp records gen as the live session.
func (c *Component) linkUp(gen uint64) {
	c.pendMu.Lock()
	c.liveGen = gen
	c.pendMu.Unlock()
}

// linkDown ends the SendIQ calls whose request went out on session gen:
// their answer can no longer arrive. Requests not yet written stay.
func (c *Component) linkDown(gen uint64, err error) {
	c.pendMu.Lock()
	c.liveGen = 0
	var ws []*iqWaiter
	for id, w := range c.pending {
		if w.gen == gen {
			ws = append(ws, w)
			delete(c.pending, id)
		}
	}
	c.pendMu.Unlock()
	for _, w := range ws {
		w.ch <- iqAnswer{err: err}
	}
}

// failPending ends every waiting SendIQ with err.
func (c *Component) failPending(err error) {
	c.pendMu.Lock()
	ws := c.pending
	c.pending = make(map[string]*iqWaiter)
	c.liveGen = 0
	c.pendMu.Unlock()
	for _, w := range ws {
		w.ch <- iqAnswer{err: err}
	}
}
