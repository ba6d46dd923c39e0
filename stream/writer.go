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
func (w *Writer) queue(fn func([]byte) []byte, close bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.err == nil && !w.closed && len(w.buf) >= DefaultMaxPending {
		w.cond.Wait()
	}
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return ErrClosed
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
	for len(w.buf) > 0 && w.err == nil {
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
			w.err = err
			w.buf = nil
		}
		if cap(b) <= 4*DefaultMaxPending {
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
	return w.queue(s.AppendXML, false)
}

// WriteRaw queues b as is: the bytes of elements to forward. The caller
// vouches that b is well-formed.
func (w *Writer) WriteRaw(b []byte) error {
	return w.queue(func(dst []byte) []byte { return append(dst, b...) }, false)
}

// WriteHeader queues a stream header (RFC 6120 §4.7).
func (w *Writer) WriteHeader(h Header) error {
	return w.queue(h.AppendXML, false)
}

// WriteError queues the stream error and the stream's closing tag (RFC 6120
// §4.9.1.1) and waits until they are written. Close the Writer afterwards to
// close the connection.
func (w *Writer) WriteError(e *Error) error {
	err := w.queue(func(dst []byte) []byte { return append(e.AppendXML(dst), CloseTag...) }, true)
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
	err := w.queue(func(dst []byte) []byte { return append(dst, CloseTag...) }, true)
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
