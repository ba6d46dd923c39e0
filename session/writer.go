package session

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"xmppkit.dev/stanza"
)

// WriterConfig configures a Writer.
type WriterConfig struct {
	// MaxQueue is the number of queued bytes beyond which Deliver waits
	// for the link to take them; a stanza is admitted whenever less is
	// queued, so one stanza of any size always fits. Default
	// DefaultMaxQueue.
	MaxQueue int
	// WriteTimeout bounds one write; past it the link is dead. Zero means
	// none.
	WriteTimeout time.Duration
	// KeepAlive is the idle time after which a single space is written
	// (RFC 6120 §4.6.1); zero or negative: none.
	KeepAlive time.Duration
	// Dead is called, outside the Writer's lock, when a write on link
	// failed: the link must be given up. It must not call Detach.
	Dead func(link uint64, err error)
}

// Writer is the send path of a byte-stream transport (a component's or a
// client's connection); see the package documentation. It encodes each
// stanza into one shared buffer and writes that buffer to the live link:
// in the sender's goroutine when the link is idle, by the link's flusher
// goroutine while a write is in progress or the session is busy, so that
// under load many stanzas share one write call. It outlives links: what is
// queued while no link is up goes out on the next one. Its methods are safe
// for concurrent use.
type Writer struct {
	s   *Session
	cfg WriterConfig

	mu      sync.Mutex
	cond    sync.Cond // signalled when the writing role is given up
	pend    []byte    // encoded, not yet taken for a write
	marks   []mark    // where each queued piece ends in pend
	spare   []byte    // the other buffer, while pend's last batch is written
	spareM  []mark
	owner   int // who writes now: ownerNone, ownerCaller, ownerFlusher
	conn    net.Conn
	link    uint64
	wake    chan struct{} // the live link's flusher: there is work (cap 1)
	stop    chan struct{} // closed by Detach: the flusher ends
	room    chan struct{} // closed when pend was taken (waiting senders), lazily made
	broken  bool          // a write on conn failed: nothing more is written to it
	refuse  error         // non-nil: Deliver refuses new stanzas with it
	fence   uint64        // DeliverAt with an older epoch gets ErrMoved (Fence, Take)
	flushWG sync.WaitGroup

	lastWrite atomic.Int64 // Unix ns of the last write, for keepalives
}

const (
	ownerNone = iota
	ownerCaller
	ownerFlusher
)

// mark ends one queued piece of pend: a stanza, or raw bytes (raw).
type mark struct {
	end int
	w   *syncWait // the sync Deliver waiting for the outcome, or nil
	raw bool
}

// syncWait is a sync Deliver waiting for its stanza's outcome.
type syncWait struct {
	done chan error // the outcome, once
	link uint64     // the link that wrote it, set before done
}

var waitPool = sync.Pool{New: func() any { return &syncWait{done: make(chan error, 1)} }}

// NewWriter returns a Writer for s's transport.
func NewWriter(s *Session, cfg WriterConfig) *Writer {
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = DefaultMaxQueue
	}
	w := &Writer{s: s, cfg: cfg}
	w.cond.L = &w.mu
	return w
}

// Attach makes conn the live link, numbered link, and starts its flusher;
// what is queued goes out first.
func (w *Writer) Attach(conn net.Conn, link uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.conn, w.link, w.broken = conn, link, false
	w.wake = make(chan struct{}, 1)
	w.stop = make(chan struct{})
	w.lastWrite.Store(time.Now().UnixNano())
	w.flushWG.Add(1)
	go w.flushLoop(conn, link, w.wake, w.stop)
	if len(w.pend) > 0 && w.owner == ownerNone {
		w.owner = ownerFlusher
		w.wake <- struct{}{}
	}
}

// Detach gives up the live link (after its connection was closed, so that
// a write in progress returns) and waits for its flusher. What is queued
// stays for the next link.
func (w *Writer) Detach() {
	w.mu.Lock()
	if w.conn == nil {
		w.mu.Unlock()
		return
	}
	w.conn, w.link = nil, 0
	close(w.stop)
	w.wake, w.stop = nil, nil
	w.mu.Unlock()
	w.flushWG.Wait()
}

// Deliver queues out's XML and writes it (Transport.Deliver): at once in
// this goroutine when the link is idle and the session is not busy; else
// it leaves the write to the write in progress or to the flusher and, with
// sync false, returns nil at once. With sync true it returns once the
// stanza was written, with the link that wrote it. It waits while MaxQueue
// bytes are queued, up to ctx.
func (w *Writer) Deliver(ctx context.Context, out Outgoing, sync bool) (uint64, error) {
	return w.DeliverAt(ctx, out, sync, math.MaxUint64)
}

// DeliverAt is Deliver for a transport that spreads its stanzas over
// several Writers (a component with several links for its domain): epoch
// is the version of the transport's routing table the caller chose this
// Writer by. When the table changed since (Fence raised this Writer's
// epoch above it, or Take moved its queue away), DeliverAt returns an
// error wrapping ErrMoved without queuing anything, also to a caller that
// was waiting for room: the caller chooses again by the new table. The
// check and the queuing are one step, so a stanza queued before a Fence
// is ahead of everything queued after it.
func (w *Writer) DeliverAt(ctx context.Context, out Outgoing, sync bool, epoch uint64) (uint64, error) {
	return w.queue(ctx, func(dst []byte) []byte { return out.AppendXML(dst) }, sync, false, false, epoch)
}

// ErrMoved is wrapped by the error of DeliverAt on a Writer whose routing
// epoch moved past the caller's (see DeliverAt): the stanza was not
// queued, and the caller picks a Writer again.
var ErrMoved = errors.New("session: the link's share moved to other links")

// queue is Deliver for the XML that app appends (raw: not a stanza).
// force queues even when new stanzas are refused (Drain's tail).
func (w *Writer) queue(ctx context.Context, app func([]byte) []byte, sync, raw, force bool, epoch uint64) (uint64, error) {
	w.mu.Lock()
	for !force && w.refuse == nil && epoch >= w.fence && len(w.pend) >= w.cfg.MaxQueue {
		if w.room == nil {
			w.room = make(chan struct{})
		}
		room := w.room
		w.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return 0, NotSent(ctx.Err())
		}
		w.mu.Lock()
	}
	if w.refuse != nil && !force {
		err := w.refuse
		w.mu.Unlock()
		return 0, NotSent(err)
	}
	if epoch < w.fence && !force {
		w.mu.Unlock()
		return 0, NotSent(ErrMoved)
	}
	if err := ctx.Err(); err != nil {
		w.mu.Unlock()
		return 0, NotSent(err)
	}
	w.pend = app(w.pend)
	m := mark{end: len(w.pend), raw: raw}
	if w.owner == ownerNone && w.conn != nil && !w.broken && !w.s.Busy() {
		// Idle: write in this goroutine, no handoff.
		w.marks = append(w.marks, m)
		w.owner = ownerCaller
		conn, link := w.conn, w.link
		buf, marks := w.take()
		err := w.write(conn, link, buf, marks, len(marks)-1)
		w.releaseLocked()
		w.mu.Unlock()
		if err != nil {
			return 0, err
		}
		return link, nil
	}
	var sw *syncWait
	if sync {
		sw = waitPool.Get().(*syncWait)
		m.w = sw
	}
	w.marks = append(w.marks, m)
	if w.owner == ownerNone && w.conn != nil && !w.broken {
		// Busy: the flusher writes, this goroutine goes on handling.
		w.owner = ownerFlusher
		w.wake <- struct{}{}
	}
	w.mu.Unlock()
	if !sync {
		return 0, nil
	}
	return w.wait(ctx, sw)
}

// wait waits for a queued sync piece's outcome; when ctx ends while it is
// still queued, it is taken out of the queue.
func (w *Writer) wait(ctx context.Context, sw *syncWait) (uint64, error) {
	select {
	case err := <-sw.done:
		link := sw.link
		waitPool.Put(sw)
		return link, err
	case <-ctx.Done():
	}
	w.mu.Lock()
	removed := w.unqueue(sw)
	w.mu.Unlock()
	if removed {
		waitPool.Put(sw)
		return 0, NotSent(ctx.Err())
	}
	// Taken for a write: its outcome follows (writes have deadlines).
	err := <-sw.done
	link := sw.link
	waitPool.Put(sw)
	return link, err
}

// unqueue removes sw's piece from pend if it is still there; w.mu is held.
func (w *Writer) unqueue(sw *syncWait) bool {
	start := 0
	for i, m := range w.marks {
		if m.w != sw {
			start = m.end
			continue
		}
		n := m.end - start
		w.pend = append(w.pend[:start], w.pend[m.end:]...)
		w.marks = append(w.marks[:i], w.marks[i+1:]...)
		for j := i; j < len(w.marks); j++ {
			w.marks[j].end -= n
		}
		return true
	}
	return false
}

// take hands the queued bytes to the writer and starts an empty queue in
// the other buffer; w.mu is held.
func (w *Writer) take() ([]byte, []mark) {
	buf, marks := w.pend, w.marks
	w.pend, w.marks = w.spare[:0], w.spareM[:0]
	w.spare, w.spareM = nil, nil
	if w.room != nil {
		close(w.room)
		w.room = nil
	}
	return buf, marks
}

// write writes buf (taken with marks) to conn, with w.mu held on entry and
// on return but not during the write, and reports each piece's outcome:
// to its sync waiter, or for a stanza queued without one to Session.Failed.
// The piece at index own belongs to the caller: its outcome is returned.
func (w *Writer) write(conn net.Conn, link uint64, buf []byte, marks []mark, own int) error {
	w.mu.Unlock()
	n, err := w.writeConn(conn, buf)
	var ownErr error
	var failed []*stanza.Stanza
	written, start := 0, 0
	for i, m := range marks {
		var r error
		if m.end <= n {
			if !m.raw {
				written++
			}
		} else {
			r = NotSent(fmt.Errorf("%w: %w", ErrDisconnected, err))
		}
		switch {
		case i == own:
			ownErr = r
		case m.w != nil:
			m.w.link = link
			m.w.done <- r
		case r != nil && !m.raw:
			if st, _ := stanza.Decode(buf[start:m.end]); st != nil {
				failed = append(failed, st)
			}
		}
		start = m.end
	}
	if written > 0 {
		w.s.Wrote(written)
	}
	if err != nil {
		w.s.Failed(failed, err)
		if w.cfg.Dead != nil {
			w.cfg.Dead(link, err)
		}
	}
	clear(marks)
	w.mu.Lock()
	if err != nil && w.conn == conn {
		w.broken = true
	}
	if w.spare == nil && cap(buf) <= 4*w.cfg.MaxQueue {
		w.spare, w.spareM = buf[:0], marks[:0]
	}
	return ownErr
}

// writeConn writes b under the write timeout.
func (w *Writer) writeConn(conn net.Conn, b []byte) (int, error) {
	now := time.Now()
	if to := w.cfg.WriteTimeout; to > 0 {
		_ = conn.SetWriteDeadline(now.Add(to))
	}
	n, err := conn.Write(b)
	w.lastWrite.Store(now.UnixNano())
	if err == nil && n < len(b) {
		err = fmt.Errorf("short write (%d of %d bytes)", n, len(b))
	}
	return n, err
}

// releaseLocked gives up the writing role: to the live link's flusher when
// more is queued, otherwise for good; w.mu is held.
func (w *Writer) releaseLocked() {
	if len(w.pend) > 0 && w.conn != nil && !w.broken {
		if w.owner != ownerFlusher {
			w.owner = ownerFlusher
			w.wake <- struct{}{}
		}
		return
	}
	w.owner = ownerNone
	w.cond.Broadcast()
}

// flushLoop is the flusher of one link: it writes what others queued while
// a write was in progress or the session was busy, and keepalives.
func (w *Writer) flushLoop(conn net.Conn, link uint64, wake, stop chan struct{}) {
	defer w.flushWG.Done()
	ka := w.cfg.KeepAlive
	var kaC <-chan time.Time
	var t *time.Timer
	if ka > 0 {
		t = time.NewTimer(ka)
		defer t.Stop()
		kaC = t.C
	}
	for {
		select {
		case <-stop:
			w.mu.Lock()
			if w.owner == ownerFlusher {
				w.owner = ownerNone // a wake-up it was owed goes with it
				w.cond.Broadcast()
			}
			w.mu.Unlock()
			return
		case <-wake:
			w.flush(conn, link)
		case <-kaC:
			idle := time.Duration(time.Now().UnixNano() - w.lastWrite.Load())
			if idle < ka {
				t.Reset(ka - idle)
				continue
			}
			w.mu.Lock()
			if w.owner == ownerNone && w.live(conn) {
				w.owner = ownerFlusher
				w.pend = append(w.pend, ' ')
				w.marks = append(w.marks, mark{end: len(w.pend), raw: true})
				w.mu.Unlock()
				w.flush(conn, link)
			} else {
				w.mu.Unlock()
			}
			t.Reset(ka)
		}
	}
}

// live reports whether conn is the live link and no write on it failed;
// w.mu is held.
func (w *Writer) live(conn net.Conn) bool { return w.conn == conn && !w.broken }

// flush writes pend until it is empty or the link changed; the flusher
// owns the writing role on entry.
func (w *Writer) flush(conn net.Conn, link uint64) {
	w.mu.Lock()
	for len(w.pend) > 0 && w.live(conn) {
		buf, marks := w.take()
		w.write(conn, link, buf, marks, -1)
	}
	w.owner = ownerNone
	w.releaseLocked()
	w.mu.Unlock()
}

// Flush waits until everything queued before the call has been written (or
// failed), or ctx ends.
func (w *Writer) Flush(ctx context.Context) error {
	w.mu.Lock()
	empty := len(w.pend) == 0 && w.owner == ownerNone
	w.mu.Unlock()
	if empty {
		return nil
	}
	_, err := w.queue(ctx, func(dst []byte) []byte { return dst }, true, true, false, math.MaxUint64)
	return err
}

// Drain refuses new stanzas from now on (Deliver fails with ErrClosed),
// then queues tail (e.g. the stream's closing tag) after everything queued
// and waits until it is written, or ctx ends.
func (w *Writer) Drain(ctx context.Context, tail []byte) error {
	w.mu.Lock()
	if w.refuse == nil {
		w.refuse = ErrClosed
	}
	w.mu.Unlock()
	_, err := w.queue(ctx, func(dst []byte) []byte { return append(dst, tail...) }, true, true, true, math.MaxUint64)
	return err
}

// Terminate ends the Writer: what is still queued is reported as not sent
// (to sync waiters, and queued stanzas to Session.Failed) with cause, and
// Deliver refuses everything from now on.
func (w *Writer) Terminate(cause error) {
	w.mu.Lock()
	if w.refuse == nil || w.refuse == ErrClosed {
		w.refuse = cause
	}
	buf, marks := w.take()
	w.mu.Unlock()
	r := NotSent(cause)
	var failed []*stanza.Stanza
	start := 0
	for _, m := range marks {
		switch {
		case m.w != nil:
			m.w.done <- r
		case !m.raw:
			if st, _ := stanza.Decode(buf[start:m.end]); st != nil {
				failed = append(failed, st)
			}
		}
		start = m.end
	}
	w.s.Failed(failed, cause)
}

// Final writes b (a stream error and the closing tag) on conn as the last
// bytes of that link: nothing queued is written to it afterwards (it stays
// queued for the next link). A write in progress is given until wait to
// finish (its deadline is shortened), then b is written within wait.
func (w *Writer) Final(conn net.Conn, b []byte, wait time.Duration) {
	w.mu.Lock()
	if w.conn == conn {
		w.broken = true
	}
	if w.owner != ownerNone {
		_ = conn.SetWriteDeadline(time.Now().Add(wait))
	}
	for w.owner != ownerNone {
		w.cond.Wait()
	}
	w.owner = ownerCaller
	w.mu.Unlock()
	_ = conn.SetWriteDeadline(time.Now().Add(wait))
	_, _ = conn.Write(b)
	w.mu.Lock()
	w.owner = ownerNone
	w.cond.Broadcast()
	w.mu.Unlock()
}

// Queued returns the number of bytes queued and not yet taken for a write.
func (w *Writer) Queued() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pend)
}

// Piece is one stanza taken out of a Writer's queue by Take, on its way to
// another Writer (Put): its XML as queued and, for a sync Deliver, the
// caller waiting for its outcome, which follows the piece.
type Piece struct {
	// XML is the stanza as it was queued (it stays valid: the Writer does
	// not reuse the buffer it was taken from).
	XML []byte
	sw  *syncWait
}

// Stanza decodes the piece, for a transport that routes it again.
func (p Piece) Stanza() (*stanza.Stanza, error) { return stanza.Decode(p.XML) }

// Fence makes epoch the Writer's routing epoch (see DeliverAt): callers
// that chose it by an older table get ErrMoved, at once or when they were
// waiting for room, and choose again. It may lower the epoch of a Writer
// whose queue was taken (Take), which takes stanzas again.
func (w *Writer) Fence(epoch uint64) {
	w.mu.Lock()
	w.fence = epoch
	if w.room != nil {
		close(w.room)
		w.room = nil
	}
	w.mu.Unlock()
}

// Take moves the queue out of the Writer, for a transport whose link
// behind it is gone while others carry on: it returns the stanzas queued
// and not yet taken for a write, in order, and fences the Writer (every
// DeliverAt gets ErrMoved until Fence lowers its epoch again). Keepalives
// are dropped; a Flush waiting for what moved returns nil. A write in
// progress is not affected: its stanzas' outcome is reported as usual.
func (w *Writer) Take() []Piece {
	w.mu.Lock()
	w.fence = math.MaxUint64
	buf, marks := w.take()
	// buf is not handed back as the spare: the pieces keep pointing into
	// it.
	w.mu.Unlock()
	var ps []Piece
	start := 0
	for _, m := range marks {
		switch {
		case m.raw && m.w != nil:
			m.w.link = 0
			m.w.done <- nil
		case !m.raw:
			ps = append(ps, Piece{XML: buf[start:m.end:m.end], sw: m.w})
		}
		start = m.end
	}
	return ps
}

// Put queues pieces taken from another Writer (Take), whatever MaxQueue
// says (they were admitted once): ahead of what is queued and not yet
// taken for a write when front is true, after it otherwise. A Writer that
// refuses stanzas (Drain, Terminate) reports them as not sent.
func (w *Writer) Put(ps []Piece, front bool) {
	if len(ps) == 0 {
		return
	}
	w.mu.Lock()
	if err := w.refuse; err != nil {
		w.mu.Unlock()
		w.failPieces(ps, err)
		return
	}
	if front && len(w.pend) > 0 {
		n := 0
		for _, p := range ps {
			n += len(p.XML)
		}
		pend := make([]byte, 0, n+len(w.pend))
		marks := make([]mark, 0, len(ps)+len(w.marks))
		for _, p := range ps {
			pend = append(pend, p.XML...)
			marks = append(marks, mark{end: len(pend), w: p.sw})
		}
		pend = append(pend, w.pend...)
		for _, m := range w.marks {
			m.end += n
			marks = append(marks, m)
		}
		w.pend, w.marks = pend, marks
	} else {
		for _, p := range ps {
			w.pend = append(w.pend, p.XML...)
			w.marks = append(w.marks, mark{end: len(w.pend), w: p.sw})
		}
	}
	if w.owner == ownerNone && w.conn != nil && !w.broken {
		w.owner = ownerFlusher
		w.wake <- struct{}{}
	}
	w.mu.Unlock()
}

// failPieces reports pieces that will not be written.
func (w *Writer) failPieces(ps []Piece, cause error) {
	r := NotSent(cause)
	var failed []*stanza.Stanza
	for _, p := range ps {
		if p.sw != nil {
			p.sw.done <- r
			continue
		}
		if st, _ := stanza.Decode(p.XML); st != nil {
			failed = append(failed, st)
		}
	}
	w.s.Failed(failed, cause)
}
