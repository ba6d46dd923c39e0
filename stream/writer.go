package stream

import (
	"context"
	"errors"
	"io"
	"sync"

	"xmppkit.dev/stanza"
)

// ErrClosed is returned by writes on a Writer after its stream was closed
// (Close or WriteError).
var ErrClosed = errors.New("stream: writer closed")

// ErrAbandoned is returned by writes of stanzas (WriteStanza, WriteRaw) on
// a Writer whose queue was taken away by Abandon.
var ErrAbandoned = errors.New("stream: writer abandoned")

// DefaultMaxPending is the number of queued bytes beyond which writers wait
// for the connection to take them.
const DefaultMaxPending = 1 << 20

// Writer writes an XML stream (RFC 6120 §4) to a connection. It is safe for
// concurrent use.
//
// Each write appends to a queue and returns without waiting for the
// connection; a flusher goroutine, started on demand and gone when the queue
// is empty, writes the queue out. Everything queued while one write call is
// in progress goes out in the next one, so under load many stanzas share a
// system call, and when idle a stanza is written at once. Writers block
// while more than DefaultMaxPending bytes are queued.
//
// A write error is sticky: it is returned by every later call. Flush waits
// until what was queued has been written.
type Writer struct {
	w       io.Writer
	peer    *Reader
	flusher func() // w.flushLoop, bound once so that starting it allocates nothing

	mu      sync.Mutex
	cond    sync.Cond
	buf     []byte // queued, not yet handed to the flusher
	spare   []byte
	queued  uint64 // bytes ever queued
	written uint64 // bytes ever written
	running bool   // a flusher goroutine is active
	closed  bool   // the close tag was queued
	shut    bool   // Close has run
	gone    bool   // Abandon ran: stanzas are refused
	failed  []byte // the batch whose write failed (kept for Abandon)
	failedN int    // how much of failed was written
	err     error  // first write error
}

// NewWriter returns a Writer on w. If peer is not nil, Close waits (within
// its context) for peer to see the end of the peer's stream before closing w.
func NewWriter(w io.Writer, peer *Reader) *Writer {
	wr := &Writer{w: w, peer: peer}
	wr.cond.L = &wr.mu
	wr.flusher = wr.flushLoop
	return wr
}

// queue appends to the buffer under the lock; fn does the appending.
// stanza marks a stanza (refused once the Writer is abandoned).
func (w *Writer) queue(fn func([]byte) []byte, close, stanza bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.err == nil && !w.closed && !(stanza && w.gone) && len(w.buf) >= DefaultMaxPending {
		w.cond.Wait()
	}
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return ErrClosed
	}
	if stanza && w.gone {
		return ErrAbandoned
	}
	n := len(w.buf)
	w.buf = fn(w.buf)
	w.queued += uint64(len(w.buf) - n)
	w.closed = close
	if !w.running && len(w.buf) > 0 {
		w.running = true
		go w.flusher()
	}
	return nil
}

// flushLoop writes the queue out until it is empty or a write fails.
func (w *Writer) flushLoop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.buf) > 0 && w.err == nil && (!w.gone || w.closed) {
		b := w.buf
		w.buf = w.spare[:0]
		w.mu.Unlock()
		n, err := w.w.Write(b)
		if err == nil && n < len(b) {
			err = io.ErrShortWrite
		}
		w.mu.Lock()
		w.written += uint64(n)
		if err != nil {
			// What failed and what queued behind it stay for Abandon.
			w.err = err
			w.failed, w.failedN = b, n
		} else if cap(b) <= 4*DefaultMaxPending {
			w.spare = b[:0]
		}
		w.cond.Broadcast()
	}
	w.running = false
	w.cond.Broadcast()
}

// WriteStanza queues the stanza's XML (stanza.Stanza.AppendXML). It
// allocates nothing in the steady state.
func (w *Writer) WriteStanza(s *stanza.Stanza) error {
	return w.queue(s.AppendXML, false, true)
}

// WriteRaw queues b as is: the bytes of elements to forward. The caller
// vouches that b is well-formed.
func (w *Writer) WriteRaw(b []byte) error {
	return w.queue(func(dst []byte) []byte { return append(dst, b...) }, false, true)
}

// WriteHeader queues a stream header (RFC 6120 §4.7).
func (w *Writer) WriteHeader(h Header) error {
	return w.queue(h.AppendXML, false, false)
}

// WriteError queues the stream error and the stream's closing tag (RFC 6120
// §4.9.1.1) and waits until they are written. Close the Writer afterwards to
// close the connection.
func (w *Writer) WriteError(e *Error) error {
	err := w.queue(func(dst []byte) []byte { return append(e.AppendXML(dst), CloseTag...) }, true, false)
	if err != nil {
		return err
	}
	return w.Flush()
}

// Flush waits until everything queued before the call has been written, and
// returns the write error if one happened.
func (w *Writer) Flush() error {
	return w.flush(context.Background())
}

func (w *Writer) flush(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	target := w.queued
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() {
			w.mu.Lock()
			w.cond.Broadcast()
			w.mu.Unlock()
		})
		defer stop()
	}
	for w.err == nil && w.written < target {
		if err := ctx.Err(); err != nil {
			return err
		}
		w.cond.Wait()
	}
	return w.err
}

// Close ends the stream (RFC 6120 §4.4): it writes </stream:stream> unless
// WriteError already did, waits until it is written, then, when the Writer
// has a peer Reader, waits until that Reader sees the end of the peer's
// stream (someone must be reading it), and finally closes the underlying
// writer if it is an io.Closer. When ctx ends first, the connection is
// closed at once and ctx's error returned. Later writes return ErrClosed;
// a second Close does nothing and returns nil.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	shut := w.shut
	w.shut = true
	w.mu.Unlock()
	if shut {
		return nil
	}
	err := w.queue(func(dst []byte) []byte { return append(dst, CloseTag...) }, true, false)
	if err == ErrClosed {
		err = nil
	}
	if err == nil {
		err = w.flush(ctx)
	}
	if err == nil && w.peer != nil {
		select {
		case <-w.peer.Closed():
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if c, ok := w.w.(io.Closer); ok {
		if cerr := c.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// Abandon takes away what the connection did not take, for a router that
// moves a dying link's backlog to another link, and refuses stanzas from
// then on (ErrAbandoned): nothing queued after the call can end up behind
// what it returns. It waits for a write in progress to end (the caller
// makes it end soon, with a write deadline). b is the batch whose write
// failed, if one did, followed by everything queued behind it: whole
// elements, in order; written is how many of b's first bytes the
// connection took (the element they end in reached the peer cut short).
// Stream errors and the closing tag may still be written afterwards.
func (w *Writer) Abandon() (b []byte, written int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.gone = true
	for w.running {
		w.cond.Wait()
	}
	b, written = w.failed, w.failedN
	w.failed, w.failedN = nil, 0
	if len(b) > 0 {
		b = append(b, w.buf...)
	} else {
		b = w.buf
	}
	w.queued -= uint64(len(w.buf)) // never to be written: Flush does not wait for it
	w.buf = nil
	w.cond.Broadcast()
	return b, written
}
