package component

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"xmppkit.dev/dial"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/stream"
)

// Defaults for the zero fields of a Component.
const (
	DefaultDialTimeout      = 10 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultWriteTimeout     = 30 * time.Second
	DefaultKeepAlive        = 60 * time.Second
	DefaultPingTimeout      = 10 * time.Second
	DefaultBackoffBase      = 250 * time.Millisecond
	DefaultBackoffMax       = 30 * time.Second
	DefaultQueueSize        = 256
	DefaultWorkers          = 16
	DefaultWorkerQueue      = 64
	DefaultHandlerTimeout   = 60 * time.Second
	DefaultCloseWait        = 2 * time.Second
)

// Component is an XMPP external component (XEP-0114). Set the exported
// fields, then call Run. The fields must not change once Run has started.
// Component implements mux.Sender; a handler receives it as its Sender.
type Component struct {
	// Addr is the host:port of the server's component listener.
	Addr string
	// Domain is the component's domain (XEP-0114 §3: the to of the stream
	// header and the from of everything it sends), e.g. "pubsub.example.net".
	Domain string
	// Secret is the shared secret configured on the server.
	Secret string
	// Handler serves received stanzas. Nil means an empty mux.ServeMux:
	// IQ get/set are answered with service-unavailable, other stanzas are
	// dropped.
	Handler mux.Handler
	// Logger receives the component's logs; nil means slog.Default(). The
	// secret is never logged.
	Logger *slog.Logger
	// Dialer dials Addr. Nil means a dial.Dialer with DialTimeout.
	Dialer *dial.Dialer

	DialTimeout      time.Duration // per connection attempt; default 10 s
	HandshakeTimeout time.Duration // header exchange and handshake; default 10 s
	WriteTimeout     time.Duration // one write to the socket; default 30 s; past it the link is dead
	// KeepAlive is the idle time after which a whitespace keepalive is sent
	// (RFC 6120 §4.6.1); default 60 s, negative disables.
	KeepAlive time.Duration
	// PingInterval enables XEP-0199 pings to PingTo at this interval; a
	// ping unanswered within PingTimeout (default 10 s) declares the link
	// dead. Zero disables.
	PingInterval time.Duration
	PingTimeout  time.Duration
	// PingTo is the address pinged; default: Domain without its first
	// label (the host server, "example.net" for "pubsub.example.net").
	PingTo jid.JID

	BackoffBase time.Duration // first reconnect delay; default 250 ms
	BackoffMax  time.Duration // cap of the reconnect delay; default 30 s

	// AsyncSend makes Send return once the stanza is on the outbound
	// queue of a running component, instead of once its bytes were
	// written. A handler then no longer waits for the socket, so that under
	// load many stanzas share one write (the echo benchmark: about 10x more
	// stanzas per write and half the CPU per stanza). The price: a stanza
	// that is queued but then cannot be written (the link dies, Run ends)
	// is not reported to its caller; it is counted in Stats.SendFailed and
	// logged. SendIQ and Close are unaffected.
	AsyncSend bool
	// ConfirmSends makes Send behave as SendConfirmed: it returns nil only
	// once a barrier ping written after the stanza was answered, proving
	// the server processed it, and an error wrapping ErrUnconfirmed when
	// the link died first. It takes precedence over AsyncSend.
	ConfirmSends bool

	QueueSize      int           // outbound queue, in stanzas; default 256
	Workers        int           // handler goroutines; default 16
	WorkerQueue    int           // received stanzas queued per worker; default 64
	HandlerTimeout time.Duration // deadline of each handler call's context; default 60 s, negative: none
	Limits         stream.Limits // limits on what the server may send (stream.Limits defaults)

	// OnLink, when set, is told each time a link to the server comes up or
	// goes down (see LinkEvent). It is called from Run's goroutine: Up after
	// the handshake and before any stanza received on that link reaches the
	// Handler, so that state tied to the link (XEP-0356 privileges, which
	// the server advertises in a message right after every handshake) can
	// be reset before the server's first stanzas are handled; Down after the
	// link's reader stopped and before the next connection attempt. It must
	// return quickly: the link waits for it. It must not call Close.
	OnLink func(LinkEvent)

	initOnce sync.Once
	domain   jid.JID
	initErr  error
	log      *slog.Logger
	queue    chan *outReq  // outbound, survives reconnects
	outShut  chan struct{} // closed: Send refuses new stanzas
	dead     chan struct{} // closed: Run is over, nothing will be written any more
	deadOnce sync.Once

	mu      sync.Mutex
	running bool
	closing chan struct{} // closed by Close
	closeMu sync.Once
	sess    *session  // the connected session, or nil
	carry   []*outReq // taken from queue by a writer whose link died before writing them

	closeCtxMu sync.Mutex
	closeCtx   context.Context // Close's context, for the session's graceful shutdown
	closeErr   error           // what the graceful shutdown ended with

	pendMu  sync.Mutex
	pending map[string]*iqWaiter
	liveGen uint64 // generation of the live session, 0 when none (under pendMu)
	lastGen atomic.Uint64

	stats   counters
	confirm confirmState // barrier pings for confirmed sends (confirm.go)

	dialHook func(ctx context.Context) (net.Conn, error) // tests: in-memory connections
}

func (c *Component) init() error {
	c.initOnce.Do(func() {
		c.log = c.Logger
		if c.log == nil {
			c.log = slog.Default()
		}
		c.queue = make(chan *outReq, orDefault(c.QueueSize, DefaultQueueSize))
		c.outShut = make(chan struct{})
		c.dead = make(chan struct{})
		c.closing = make(chan struct{})
		c.pending = make(map[string]*iqWaiter)
		if c.Domain == "" {
			c.initErr = configError("no Domain")
			return
		}
		d, err := jid.Parse(c.Domain)
		if err != nil || !d.IsBare() || d.Local() != "" {
			c.initErr = configError("Domain %q is not a domain JID: %v", c.Domain, err)
			return
		}
		c.domain = d
		if c.Addr == "" {
			c.initErr = configError("no Addr")
		}
	})
	return c.initErr
}

func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// LinkEvent reports a change of a Component's link to the server (see
// Component.OnLink).
type LinkEvent struct {
	// Up is true when the link came up (handshake done), false when it went
	// down.
	Up bool
	// Link numbers the links of the Component from 1, one per successful
	// handshake; the Down event of a link carries the number of its Up.
	Link uint64
	// StreamID is the id of the server's stream header (XEP-0114 §3).
	StreamID string
	// Err, for Down, says why the link ended: nil after Close or when Run's
	// context ended, otherwise an error wrapping ErrDisconnected,
	// ErrBadServer or the server's *stream.Error.
	Err error
}

// DomainJID returns the component's domain as a JID (zero before Run or Send
// validated Domain).
func (c *Component) DomainJID() jid.JID {
	if c.init() != nil {
		return jid.JID{}
	}
	return c.domain
}

// Run connects to the server, authenticates (XEP-0114 §3) and serves
// Handler, reconnecting with backoff whenever the connection fails, until ctx
// ends, Close is called, or the server rejects the component permanently
// (IsPermanent). It returns ErrClosed after Close, ctx.Err() when ctx ends,
// and the permanent error otherwise. Run may be called once.
func (c *Component) Run(ctx context.Context) error {
	if err := c.init(); err != nil {
		c.terminate(err)
		return err
	}
	c.mu.Lock()
	select {
	case <-c.dead:
		c.mu.Unlock()
		return ErrClosed
	default:
	}
	if c.running {
		c.mu.Unlock()
		return ErrRunning
	}
	c.running = true
	c.mu.Unlock()

	h := c.Handler
	if h == nil {
		h = mux.New(mux.WithLogger(c.log))
	}
	wp := newWorkers(c, h, orDefault(c.Workers, DefaultWorkers), orDefault(c.WorkerQueue, DefaultWorkerQueue))
	defer wp.stop()

	err := c.loop(ctx, wp)
	if !errors.Is(err, ErrClosed) && c.stopReason(context.Background()) != nil {
		// A Close waiting for the graceful path learns why it did not
		// happen.
		c.closeCtxMu.Lock()
		if c.closeErr == nil {
			c.closeErr = err
		}
		c.closeCtxMu.Unlock()
	}
	c.terminate(err)
	return err
}

// loop is Run's connect–serve–backoff cycle.
func (c *Component) loop(ctx context.Context, wp *workers) error {
	attempt := 0
	for {
		if err := c.stopReason(ctx); err != nil {
			return err
		}
		c.stats.setState(StateConnecting)
		s, err := c.connect(ctx, wp)
		if err != nil {
			if err := c.stopReason(ctx); err != nil {
				return err
			}
			if IsPermanent(err) {
				c.log.ErrorContext(ctx, "component: server rejected the component", "domain", c.Domain, "addr", c.Addr, "err", err)
				c.stats.setLastError(err)
				return err
			}
			c.stats.setLastError(err)
			if !c.backoff(ctx, &attempt, err) {
				return c.stopReason(ctx)
			}
			continue
		}
		up := time.Now()
		err = c.serve(ctx, s)
		c.stats.linkDown()
		if err := c.stopReason(ctx); err != nil {
			return err
		}
		if errors.Is(err, ErrClosed) {
			return ErrClosed
		}
		if IsPermanent(err) {
			c.log.ErrorContext(ctx, "component: server ended the stream", "domain", c.Domain, "err", err)
			c.stats.setLastError(err)
			return err
		}
		c.stats.setLastError(err)
		c.stats.reconnects.Add(1)
		if time.Since(up) > orDefault(c.BackoffMax, DefaultBackoffMax) {
			attempt = 0
		}
		if !c.backoff(ctx, &attempt, err) {
			return c.stopReason(ctx)
		}
	}
}

// stopReason returns why Run must stop (ctx ended, Close called), or nil.
func (c *Component) stopReason(ctx context.Context) error {
	select {
	case <-c.closing:
		return ErrClosed
	default:
	}
	return ctx.Err()
}

// backoffDelay returns the delay before reconnect attempt n (0-based):
// base·2ⁿ capped at max, drawn uniformly from [d/2, d].
func backoffDelay(base, max time.Duration, n int, r func(int64) int64) time.Duration {
	d := base
	for i := 0; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	half := d / 2
	return half + time.Duration(r(int64(d-half)+1))
}

// backoff waits before the next attempt; false if Run must stop instead.
func (c *Component) backoff(ctx context.Context, attempt *int, cause error) bool {
	d := backoffDelay(orDefault(c.BackoffBase, DefaultBackoffBase), orDefault(c.BackoffMax, DefaultBackoffMax), *attempt, rand.Int64N)
	*attempt++
	c.stats.setState(StateBackoff)
	c.log.WarnContext(ctx, "component: connection failed, retrying", "domain", c.Domain, "addr", c.Addr,
		"err", cause, "attempt", *attempt, "delay", d)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-c.closing:
	}
	return false
}

// connect dials and authenticates, returning a live session.
func (c *Component) connect(ctx context.Context, wp *workers) (*session, error) {
	d := c.Dialer
	if d == nil {
		d = &dial.Dialer{Timeout: orDefault(c.DialTimeout, DefaultDialTimeout)}
	}
	t0 := time.Now()
	var conn net.Conn
	var err error
	if c.dialHook != nil {
		conn, err = c.dialHook(ctx)
	} else {
		conn, err = d.DialContext(ctx, "tcp", c.Addr)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDisconnected, err)
	}
	cc := &countingConn{Conn: conn, c: &c.stats}
	// A cancelled ctx or Close must interrupt the handshake.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	stopClose := afterClose(c.closing, func() { conn.Close() })
	deadline := time.Now().Add(orDefault(c.HandshakeTimeout, DefaultHandshakeTimeout))
	rd, id, err := handshake(cc, c.Domain, c.Secret, deadline, c.Limits)
	stop()
	stopClose()
	if err != nil {
		conn.Close()
		if cerr := c.stopReason(ctx); cerr != nil {
			return nil, cerr
		}
		return nil, err
	}
	c.stats.connects.Add(1)
	c.log.InfoContext(ctx, "component: connected", "domain", c.Domain, "addr", c.Addr, "stream_id", id,
		"took", time.Since(t0))
	s := newSession(c, cc, rd, wp)
	s.streamID = id
	return s, nil
}

// afterClose runs f when ch is closed, until the returned stop is called.
func afterClose(ch <-chan struct{}, f func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ch:
			f()
		case <-done:
		}
	}()
	return func() { close(done); wg.Wait() }
}

// terminate marks the component dead: no stanza will be written any more.
// Queued Sends fail with ErrNotSent+ErrClosed (or the permanent error).
func (c *Component) terminate(cause error) {
	c.deadOnce.Do(func() {
		c.stats.setState(StateClosed)
		if c.outShut != nil {
			c.closeOutShut()
		}
		if c.dead != nil {
			close(c.dead)
		}
	})
	if c.queue == nil {
		return
	}
	reason := ErrClosed
	if cause != nil && !errors.Is(cause, ErrClosed) {
		reason = fmt.Errorf("%w: %w", ErrClosed, cause)
	}
	c.mu.Lock()
	carry := c.carry
	c.carry = nil
	c.mu.Unlock()
	for _, r := range carry {
		c.fail(r, reason)
	}
	for {
		select {
		case r := <-c.queue:
			c.fail(r, reason)
		default:
			c.failPending(reason)
			return
		}
	}
}

func (c *Component) closeOutShut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.outShut:
	default:
		close(c.outShut)
	}
}

// Close shuts the component down gracefully (see the package
// documentation): it stops taking stanzas from the server, waits for the
// handlers, drains the outbound queue, exchanges </stream:stream> with the
// server and closes the connection. When ctx ends first, what is left is
// abandoned (queued stanzas are reported as not sent) and Close returns
// ctx.Err(). Run then returns ErrClosed. While disconnected there is nothing
// to drain to: queued stanzas are reported as not sent at once. Close on a
// component that is not running just marks it closed.
func (c *Component) Close(ctx context.Context) error {
	if err := c.init(); err != nil {
		c.terminate(ErrClosed)
		return nil
	}
	c.closeMu.Do(func() {
		c.closeCtxMu.Lock()
		c.closeCtx = ctx
		c.closeCtxMu.Unlock()
		c.stats.setState(StateClosing)
		close(c.closing)
	})
	c.mu.Lock()
	running := c.running
	c.mu.Unlock()
	if !running {
		c.terminate(ErrClosed)
		return nil
	}
	select {
	case <-c.dead:
		c.closeCtxMu.Lock()
		defer c.closeCtxMu.Unlock()
		return c.closeErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// closeContext returns the context Close was called with.
func (c *Component) closeContext() context.Context {
	c.closeCtxMu.Lock()
	defer c.closeCtxMu.Unlock()
	if c.closeCtx == nil {
		return context.Background()
	}
	return c.closeCtx
}

func (c *Component) setCloseErr(err error) {
	c.closeCtxMu.Lock()
	c.closeErr = err
	c.closeCtxMu.Unlock()
}

// Stats returns a snapshot of the component's counters.
func (c *Component) Stats() Stats {
	if c.init() != nil {
		return Stats{State: StateClosed}
	}
	s := c.stats.snapshot()
	s.QueueDepth = len(c.queue)
	s.QueueCap = cap(c.queue)
	c.pendMu.Lock()
	s.PendingIQs = len(c.pending)
	c.pendMu.Unlock()
	return s
}

// defaultPingTo returns domain without its first label.
func defaultPingTo(domain jid.JID) jid.JID {
	d := domain.Domain()
	if i := strings.IndexByte(d, '.'); i >= 0 && i < len(d)-1 {
		if j, err := jid.Parse(d[i+1:]); err == nil {
			return j
		}
	}
	return domain
}

var _ mux.Sender = (*Component)(nil)
