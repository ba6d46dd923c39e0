package component

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// item is one received stanza for a worker, with the error decoding it
// reported (a stanza that breaks RFC 6120 §8 is answered, not handled).
type item struct {
	st        *stanza.Stanza
	decodeErr error
}

// workers runs the handler in a fixed pool, sharded by the sender's bare
// JID so that stanzas from one sender are handled in order.
type workers struct {
	c        *Component
	h        mux.Handler
	qs       []chan item
	wg       sync.WaitGroup
	inflight atomic.Int64 // dispatched and not yet handled
	busy     atomic.Int32 // handlers running now
	ctx      context.Context
	cancel   context.CancelFunc
}

func newWorkers(c *Component, h mux.Handler, n, depth int) *workers {
	wp := &workers{c: c, h: h, qs: make([]chan item, n)}
	wp.ctx, wp.cancel = context.WithCancel(context.Background())
	for i := range wp.qs {
		q := make(chan item, depth)
		wp.qs[i] = q
		wp.wg.Add(1)
		go wp.run(q)
	}
	return wp
}

// shard picks the worker for a sender: FNV-1a of the bare JID.
func (wp *workers) shard(st *stanza.Stanza) int {
	b := st.From.Bare().String()
	h := uint32(2166136261)
	for i := 0; i < len(b); i++ {
		h ^= uint32(b[i])
		h *= 16777619
	}
	return int(h % uint32(len(wp.qs)))
}

// dispatch queues it for its worker, blocking while that worker's queue is
// full. It returns false if ctx ended first (the stanza is dropped).
func (wp *workers) dispatch(ctx context.Context, it item) bool {
	wp.inflight.Add(1)
	q := wp.qs[wp.shard(it.st)]
	select {
	case q <- it: // the common case, without the cost of a full select
		return true
	default:
	}
	select {
	case q <- it:
		return true
	case <-ctx.Done():
		wp.inflight.Add(-1)
		return false
	}
}

// waitIdle waits until every dispatched stanza has been handled, or ctx or
// the session ends.
func (wp *workers) waitIdle(ctx, sess context.Context) error {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for wp.inflight.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-sess.Done():
			return context.Cause(sess)
		case <-t.C:
		}
	}
	return nil
}

// stop cancels the handlers' contexts, lets the workers finish their queues
// and waits for them.
func (wp *workers) stop() {
	wp.cancel()
	for _, q := range wp.qs {
		close(q)
	}
	wp.wg.Wait()
}

func (wp *workers) run(q chan item) {
	defer wp.wg.Done()
	var hc handlerCtx
	defer hc.release()
	for it := range q {
		wp.handle(&hc, it)
		wp.inflight.Add(-1)
	}
}

// handle runs the handler for one stanza, measures it, and applies the
// error rules of RFC 6120 §8.3 for what the handler returns.
func (wp *workers) handle(hc *handlerCtx, it item) {
	c := wp.c
	st := it.st
	if it.decodeErr != nil {
		var se *stanza.Error
		if errors.As(it.decodeErr, &se) {
			wp.reply(st, se)
		}
		c.log.Warn("component: malformed stanza from server", "domain", c.Domain,
			"kind", st.Kind.String(), "from", st.From.String(), "id", st.ID, "err", it.decodeErr)
		return
	}
	ctx := wp.ctx
	if ctx.Err() != nil {
		// Run is over: nothing can be answered any more.
		c.stats.inboundDropped.Add(1)
		return
	}
	t0 := time.Now()
	if to := orDefault(c.HandlerTimeout, DefaultHandlerTimeout); to > 0 {
		ctx = hc.begin(wp.ctx, t0, to)
	}
	wp.busy.Add(1)
	err := wp.call(ctx, st)
	wp.busy.Add(-1)
	hc.end()
	c.stats.observeHandler(time.Since(t0), err)
	if err == nil {
		return
	}
	var se *stanza.Error
	if errors.As(err, &se) {
		wp.reply(st, se)
		return
	}
	c.log.Error("component: handler error", "domain", c.Domain, "kind", st.Kind.String(),
		"from", st.From.String(), "id", st.ID, "err", err)
	if st.Kind == stanza.IQ && (st.Type == stanza.TypeGet || st.Type == stanza.TypeSet) {
		wp.reply(st, stanza.ErrInternalServerError) // an IQ request is always answered (RFC 6120 §8.2.3)
	}
}

// call runs the handler, turning a panic into an error.
func (wp *workers) call(ctx context.Context, st *stanza.Stanza) (err error) {
	defer func() {
		if v := recover(); v != nil {
			wp.c.stats.handlerPanics.Add(1)
			wp.c.log.Error("component: handler panic", "domain", wp.c.Domain, "panic", fmt.Sprint(v),
				"stack", string(debug.Stack()))
			err = fmt.Errorf("component: handler panic: %v", v)
		}
	}()
	return wp.h.HandleStanza(ctx, wp.c, st)
}

// reply sends the error reply to st, unless st is an error or an IQ answer
// (RFC 6120 §8.3.1).
func (wp *workers) reply(st *stanza.Stanza, se *stanza.Error) {
	if st.Type == stanza.TypeError || (st.Kind == stanza.IQ && st.Type != stanza.TypeGet && st.Type != stanza.TypeSet) {
		return
	}
	r := st.ErrorReply(se)
	if r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(wp.ctx, orDefault(wp.c.WriteTimeout, DefaultWriteTimeout))
	defer cancel()
	if err := wp.c.Send(ctx, r); err != nil {
		wp.c.log.Warn("component: error reply not sent", "domain", wp.c.Domain, "to", st.From.String(),
			"condition", string(se.Condition), "err", err)
	}
}

// handlerCtx gives one worker's handler calls their contexts without
// allocating per call: a context that ends at the call's deadline
// (HandlerTimeout after the call started) or when Run is over, reused for
// the next call as long as it has not ended. A handler's context is
// therefore not cancelled when the handler returns; work that outlives the
// handler needs a context of its own.
type handlerCtx struct {
	cur *callCtx
}

// begin returns the context for a call started at t0 with timeout to.
func (hc *handlerCtx) begin(parent context.Context, t0 time.Time, to time.Duration) context.Context {
	if hc.cur == nil {
		hc.cur = newCallCtx(parent, t0.Add(to), to)
		return hc.cur
	}
	hc.cur.deadline.Store(t0.Add(to).UnixNano())
	hc.cur.timer.Reset(to)
	return hc.cur
}

// end closes the call: the context is kept for the next call unless it
// ended (or is ending) meanwhile.
func (hc *handlerCtx) end() {
	if hc.cur == nil {
		return
	}
	if !hc.cur.timer.Stop() || hc.cur.Err() != nil {
		hc.release()
	}
}

// release drops the current context, ending it.
func (hc *handlerCtx) release() {
	if hc.cur == nil {
		return
	}
	hc.cur.timer.Stop()
	hc.cur.stopParent()
	hc.cur.finish(context.Canceled)
	hc.cur = nil
}

// callCtx is the context.Context of handlerCtx: Value comes from the
// parent; Done closes at the deadline (DeadlineExceeded) or when the parent
// ends (its error).
type callCtx struct {
	parent     context.Context
	deadline   atomic.Int64 // Unix nanoseconds
	done       chan struct{}
	timer      *time.Timer
	stopParent func() bool

	mu  sync.Mutex
	err error
}

func newCallCtx(parent context.Context, deadline time.Time, to time.Duration) *callCtx {
	cc := &callCtx{parent: parent, done: make(chan struct{})}
	cc.deadline.Store(deadline.UnixNano())
	cc.timer = time.AfterFunc(to, func() { cc.finish(context.DeadlineExceeded) })
	cc.stopParent = context.AfterFunc(parent, func() { cc.finish(parent.Err()) })
	return cc
}

func (cc *callCtx) finish(err error) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.err == nil {
		cc.err = err
		close(cc.done)
	}
}

// Deadline returns the current call's deadline.
func (cc *callCtx) Deadline() (time.Time, bool) {
	return time.Unix(0, cc.deadline.Load()), true
}

// Done is closed when the context ends.
func (cc *callCtx) Done() <-chan struct{} { return cc.done }

// Err is nil until the context ends, then why it ended.
func (cc *callCtx) Err() error {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.err
}

// Value looks key up in the parent.
func (cc *callCtx) Value(key any) any { return cc.parent.Value(key) }
