package session

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// item is one received stanza for a worker, with the RFC 6120 §8 violation
// found decoding it (then it is answered, not handled) and the link it came
// on.
type item struct {
	st        *stanza.Stanza
	decodeErr error
	link      uint64
	// h and via, set by Dispatch, serve st instead of the session's
	// handler and the session.
	h   mux.Handler
	via mux.Sender
}

// workers runs the handler in a fixed pool, sharded by the sender's bare
// JID so that stanzas from one sender are handled in the order received.
//
// Each worker takes its stanzas from a channel of Config.WorkerQueue; when
// that is full, later stanzas for the worker wait in its overflow list, up
// to Workers×WorkerQueue stanzas over all workers, so that one busy worker
// does not stop the reader: it reads on, and iq answers that handlers wait
// for (SendIQ, SendConfirmed) keep arriving. Only when the overflow is full
// too does Receive wait (TCP then pushes back on the peer).
type workers struct {
	s        *Session
	shards   []shard
	cur      []atomic.Pointer[callCtx] // each worker's context, for the watchdog
	inflight atomic.Int64              // received and not yet handled
	wg       sync.WaitGroup
	stopDog  chan struct{}

	overMax int          // bound of the stanzas in all overflow lists
	over    atomic.Int64 // stanzas in all overflow lists
	room    signal       // notified when the overflow shrinks
}

// shard is one worker's queue.
type shard struct {
	ch     chan item
	mu     sync.Mutex // guards over and closed, and sends on ch once over is used
	over   []item
	n      atomic.Int32 // len(over)
	closed bool
}

var seed = maphash.MakeSeed()

// shard picks the worker of a sender: a hash of its bare JID.
func (wk *workers) shard(st *stanza.Stanza) *shard {
	return &wk.shards[maphash.String(seed, st.From.Bare().String())%uint64(len(wk.shards))]
}

func newWorkers(s *Session, n, depth int) *workers {
	wk := &workers{s: s, shards: make([]shard, n), cur: make([]atomic.Pointer[callCtx], n), overMax: n * depth}
	for i := range wk.shards {
		wk.shards[i].ch = make(chan item, depth)
	}
	wk.wg.Add(n)
	for i := range wk.shards {
		go wk.run(i)
	}
	if to := s.cfg.HandlerTimeout; to > 0 {
		wk.stopDog = make(chan struct{})
		wk.wg.Add(1)
		go wk.watchdog(to)
	}
	return wk
}

// put queues it for its worker: on the channel, or in the overflow list
// when the channel is full or the list is in use (so that order holds). It
// reports false when the overflow is full: the caller waits for room.
func (wk *workers) put(sh *shard, it item) bool {
	if sh.n.Load() == 0 {
		select {
		case sh.ch <- it: // the common case, without the lock
			return true
		default:
		}
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.over) == 0 {
		select {
		case sh.ch <- it:
			return true
		default:
		}
	}
	if wk.over.Load() >= int64(wk.overMax) {
		return false
	}
	sh.over = append(sh.over, it)
	sh.n.Store(int32(len(sh.over)))
	wk.over.Add(1)
	return true
}

// popOver takes the oldest overflowed stanza, under the shard's lock; the
// worker calls it when its channel is empty. ok is false when the overflow
// is empty too: then no put can overflow until the channel is full again
// (put overflows only onto a full channel or a non-empty list, both under
// the lock), so the worker may sleep on the channel without missing one.
func (wk *workers) popOver(sh *shard) (it item, ok bool) {
	sh.mu.Lock()
	if len(sh.over) == 0 || sh.closed {
		sh.mu.Unlock()
		return item{}, false
	}
	it = sh.over[0]
	sh.over[0] = item{}
	sh.over = sh.over[1:]
	if len(sh.over) == 0 {
		sh.over = nil
	}
	sh.n.Store(int32(len(sh.over)))
	sh.mu.Unlock()
	wk.over.Add(-1)
	wk.room.notify()
	return it, true
}

// stop closes the queues (no more sends on them: see Session.mu) and stops
// the watchdog; the workers finish their queues and end.
func (wk *workers) stop() {
	for i := range wk.shards {
		sh := &wk.shards[i]
		sh.mu.Lock()
		sh.closed = true
		close(sh.ch)
		sh.mu.Unlock()
	}
	if wk.stopDog != nil {
		close(wk.stopDog)
	}
}

func (wk *workers) run(i int) {
	defer wk.wg.Done()
	s := wk.s
	sh := &wk.shards[i]
	for {
		var it item
		var ok bool
		select {
		case it, ok = <-sh.ch:
		default:
			if it, ok = wk.popOver(sh); !ok {
				it, ok = <-sh.ch
			}
		}
		if !ok {
			break
		}
		if s.base.Err() != nil {
			// Aborted: nothing can be answered any more.
			s.drop(it.st, ErrClosed)
		} else {
			wk.handle(i, it)
		}
		wk.inflight.Add(-1)
	}
	// Closed: what overflowed is dropped too.
	sh.mu.Lock()
	over := sh.over
	sh.over = nil
	sh.n.Store(0)
	sh.mu.Unlock()
	for _, it := range over {
		s.drop(it.st, ErrClosed)
		wk.inflight.Add(-1)
	}
	if cc := wk.cur[i].Swap(nil); cc != nil {
		cc.release()
	}
}

// handle runs the handler for one stanza under its deadline, measures it,
// and answers its error by ReplyError.
func (wk *workers) handle(i int, it item) {
	s := wk.s
	if it.decodeErr != nil {
		// A stanza that breaks RFC 6120 §8 is answered with what decoding
		// found (bad-request, jid-malformed), never handled.
		s.log.Warn("session: malformed stanza", append(stanzaAttrs(s, it.st), "err", it.decodeErr)...)
		s.answer(s.base, it.st, it.decodeErr)
		return
	}
	cc := wk.cur[i].Load()
	if cc == nil {
		cc = newCallCtx(s.base)
		wk.cur[i].Store(cc)
	}
	t0 := time.Now()
	cc.begin(t0, s.cfg.HandlerTimeout, it.link)
	h, via := wk.s.h, mux.Sender(wk.s)
	if it.h != nil {
		h, via = it.h, it.via
	}
	err := wk.call(cc, h, via, it.st)
	if !cc.end() {
		// Its deadline fired: the next call needs a fresh context.
		wk.cur[i].Store(nil)
		cc.release()
	}
	d := time.Since(t0)
	s.stats.observeHandler(d, err)
	s.m.handled(d, err)
	s.answerVia(cc, via, it.st, err)
}

// call runs the handler, turning a panic into an error.
func (wk *workers) call(ctx context.Context, h mux.Handler, via mux.Sender, st *stanza.Stanza) error {
	err := Call(ctx, h, via, st)
	if err != nil && IsPanic(err) {
		wk.s.stats.handlerPanics.Add(1)
		wk.s.m.panicked()
	}
	return err
}

// watchdog ends the contexts of handler calls past their deadline. It
// checks every to/16 (at least every millisecond, at most every second),
// so a deadline fires that much late at most; Deadline reports it exactly.
func (wk *workers) watchdog(to time.Duration) {
	defer wk.wg.Done()
	tick := min(max(to/16, time.Millisecond), time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-wk.stopDog:
			return
		case now := <-t.C:
			n := now.UnixNano()
			for i := range wk.cur {
				if cc := wk.cur[i].Load(); cc != nil {
					cc.expire(n)
				}
			}
		}
	}
}

// waitIdle waits until every received stanza has been handled, or ctx
// ends.
func (wk *workers) waitIdle(ctx context.Context) error {
	if wk.inflight.Load() == 0 {
		return nil
	}
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for wk.inflight.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// callCtx is a worker's handler context, reused from call to call so that
// a call allocates nothing: Value comes from the session's base context;
// Done closes when the call's deadline passes (DeadlineExceeded, found by
// the watchdog) or when the session is aborted (Canceled). A call's
// context is therefore not cancelled when the handler returns; work that
// outlives the handler needs a context of its own.
type callCtx struct {
	parent   context.Context
	deadline atomic.Int64  // Unix ns of the current call's deadline; 0: none
	armed    atomic.Int64  // the deadline the watchdog may fire: 0 idle or none, -1 fired
	link     atomic.Uint64 // the link the current call's stanza came on
	done     chan struct{}
	stop     func() bool

	mu  sync.Mutex
	err error
}

func newCallCtx(parent context.Context) *callCtx {
	cc := &callCtx{parent: parent, done: make(chan struct{})}
	cc.stop = context.AfterFunc(parent, func() { cc.finish(context.Canceled) })
	return cc
}

func (cc *callCtx) begin(t0 time.Time, to time.Duration, link uint64) {
	cc.link.Store(link)
	if to <= 0 {
		cc.deadline.Store(0)
		return
	}
	d := t0.UnixNano() + int64(to)
	cc.deadline.Store(d)
	cc.armed.Store(d)
}

// end closes a call; false means the context ended (or is ending) and must
// not be reused.
func (cc *callCtx) end() bool {
	if cc.armed.Swap(0) == -1 {
		return false
	}
	select {
	case <-cc.done:
		return false
	default:
		return true
	}
}

// expire fires the current call's deadline if it passed by now.
func (cc *callCtx) expire(now int64) {
	d := cc.armed.Load()
	if d > 0 && now >= d && cc.armed.CompareAndSwap(d, -1) {
		cc.finish(context.DeadlineExceeded)
	}
}

// release ends the context for good.
func (cc *callCtx) release() {
	cc.stop()
	cc.finish(context.Canceled)
}

func (cc *callCtx) finish(err error) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.err == nil {
		cc.err = err
		close(cc.done)
	}
}

// Deadline returns the current call's deadline, if it has one.
func (cc *callCtx) Deadline() (time.Time, bool) {
	d := cc.deadline.Load()
	if d == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, d), true
}

// Done is closed when the context ends.
func (cc *callCtx) Done() <-chan struct{} { return cc.done }

// Err is nil until the context ends, then why it ended.
func (cc *callCtx) Err() error {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.err
}

// Value looks key up in the parent, except for the link number.
func (cc *callCtx) Value(key any) any {
	if key == (linkKey{}) {
		return cc.link.Load()
	}
	return cc.parent.Value(key)
}

type linkKey struct{}

// LinkID returns the number of the link on which the stanza a handler is
// serving arrived (a component's links are numbered from 1, one per
// handshake; see component.LinkEvent), given the handler's context or one
// derived from it; 0 when ctx is not a handler's.
func LinkID(ctx context.Context) uint64 {
	n, _ := ctx.Value(linkKey{}).(uint64)
	return n
}
