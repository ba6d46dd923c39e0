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
	select {
	case wp.qs[wp.shard(it.st)] <- it:
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
	for it := range q {
		wp.handle(it)
		wp.inflight.Add(-1)
	}
}

// handle runs the handler for one stanza, measures it, and applies the
// error rules of RFC 6120 §8.3 for what the handler returns.
func (wp *workers) handle(it item) {
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
	var cancel context.CancelFunc
	if to := orDefault(c.HandlerTimeout, DefaultHandlerTimeout); to > 0 {
		ctx, cancel = context.WithTimeout(ctx, to)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	t0 := time.Now()
	err := wp.call(ctx, st)
	cancel()
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
