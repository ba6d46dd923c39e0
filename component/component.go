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
	"time"

	"xmppkit.dev/dial"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/session"
	"xmppkit.dev/stanza"
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
	DefaultStopTimeout      = 10 * time.Second
	DefaultCloseWait        = 2 * time.Second

	DefaultWorkers        = session.DefaultWorkers
	DefaultWorkerQueue    = session.DefaultWorkerQueue
	DefaultHandlerTimeout = session.DefaultHandlerTimeout
	DefaultMaxQueue       = session.DefaultMaxQueue
)

// Component is an XMPP external component (XEP-0114). Set the exported
// fields, then call Run. The fields must not change once Run has started.
// Component implements mux.Sender: it sends through its session, the same
// *session.Session its handlers receive as their Sender.
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
	// StopTimeout bounds the graceful stop that the end of Run's context
	// starts (see Run); default 10 s.
	StopTimeout time.Duration

	// ConfirmSends makes Send behave as SendConfirmed: it returns nil only
	// once a barrier ping written after the stanza was answered, proving
	// the server processed it, and an error wrapping ErrUnconfirmed when
	// the link died first.
	ConfirmSends bool
	// SendFailed, when set, is called with each stanza that Send queued
	// (returned nil for) but that could not be written: the link died
	// during its write, or Run ended first. Every such stanza is also
	// counted in Stats.SendFailed and logged. See session.Config.SendFailed.
	SendFailed func(st *stanza.Stanza, err error)
	// MaxQueue bounds the bytes queued for the server; Send waits while
	// that much is queued. A stanza of any size is admitted into a queue
	// holding less. Default 1 MiB.
	MaxQueue int

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
	sess     *session.Session
	w        *session.Writer

	mu       sync.Mutex
	running  bool
	ran      bool
	link     *link         // the connected link, or nil
	closing  chan struct{} // closed by Shutdown: no new link, the live one is being drained
	stopOnce sync.Once
	dead     chan struct{} // closed when Run's loop is over
	deadOnce sync.Once
	lastGen  uint64

	stats   counters
	confirm confirmState // barrier pings for confirmed sends (confirm.go)

	dialHook func(ctx context.Context) (net.Conn, error) // tests: in-memory connections
}

// LinkEvent reports a change of a Component's link to the server (see
// Component.OnLink).
type LinkEvent struct {
	// Up is true when the link came up (handshake done), false when it went
	// down.
	Up bool
	// Link numbers the links of the Component from 1, one per successful
	// handshake; the Down event of a link carries the number of its Up.
	// session.LinkID(ctx) gives a handler the number of the link its
	// stanza arrived on.
	Link uint64
	// StreamID is the id of the server's stream header (XEP-0114 §3).
	StreamID string
	// Err, for Down, says why the link ended: nil after Close or when Run's
	// context ended, otherwise an error wrapping ErrDisconnected,
	// ErrBadServer or the server's *stream.Error.
	Err error
}

func (c *Component) init() error {
	c.initOnce.Do(func() {
		c.log = c.Logger
		if c.log == nil {
			c.log = slog.Default()
		}
		c.closing = make(chan struct{})
		c.dead = make(chan struct{})
		if c.Domain == "" {
			c.initErr = configError("no Domain")
		} else if d, err := jid.Parse(c.Domain); err != nil || !d.IsBare() || d.Local() != "" {
			c.initErr = configError("Domain %q is not a domain JID: %v", c.Domain, err)
		} else {
			c.domain = d
			if c.Addr == "" {
				c.initErr = configError("no Addr")
			}
		}
		h := c.Handler
		if h == nil {
			h = mux.New(mux.WithLogger(c.log))
		}
		c.sess = session.New(session.Config{
			Addr:           c.domain,
			Handler:        h,
			Logger:         c.log,
			Workers:        c.Workers,
			WorkerQueue:    c.WorkerQueue,
			HandlerTimeout: c.HandlerTimeout,
			ConfirmSends:   c.ConfirmSends,
			SendFailed:     c.SendFailed,
		}, (*transport)(c))
		ka := c.KeepAlive
		if ka == 0 {
			ka = DefaultKeepAlive
		}
		c.w = session.NewWriter(c.sess, session.WriterConfig{
			MaxQueue:     c.MaxQueue,
			WriteTimeout: orDefault(c.WriteTimeout, DefaultWriteTimeout),
			KeepAlive:    ka,
			Dead:         c.writeFailed,
		})
		if c.initErr != nil {
			c.terminate(c.initErr)
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

// DomainJID returns the component's domain as a JID (zero before Run or Send
// validated Domain).
func (c *Component) DomainJID() jid.JID {
	if c.init() != nil {
		return jid.JID{}
	}
	return c.domain
}

// Session returns the component's session: the Sender its handlers
// receive.
func (c *Component) Session() *session.Session {
	c.init()
	return c.sess
}

// Run connects to the server, authenticates (XEP-0114 §3) and serves
// Handler, reconnecting with backoff whenever the connection fails, until
// ctx ends or Close is called: both stop the component gracefully (see
// Close; at the end of ctx the stop is bounded by StopTimeout), and Run then
// returns nil once the stop is complete. It returns an error only for a
// failure: a configuration error, or the server rejecting the component
// permanently (IsPermanent: wrong secret, unknown domain). Run may be
// called once; a second call returns ErrRunning while the first runs and
// ErrClosed after.
func (c *Component) Run(ctx context.Context) error {
	if err := c.init(); err != nil {
		return err
	}
	c.mu.Lock()
	switch {
	case c.running:
		c.mu.Unlock()
		return ErrRunning
	case c.ran || isDone(c.closing):
		c.mu.Unlock()
		return ErrClosed
	}
	c.running, c.ran = true, true
	c.mu.Unlock()

	stopWatch := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), orDefault(c.StopTimeout, DefaultStopTimeout))
		defer cancel()
		if err := c.Close(sctx); err != nil {
			c.log.Warn("component: stop incomplete", "domain", c.Domain, "err", err)
		}
	})
	err := c.loop(ctx)
	c.mu.Lock()
	c.running = false
	c.mu.Unlock()
	c.deadOnce.Do(func() { close(c.dead) })
	if errors.Is(err, ErrClosed) {
		// A requested stop: Close finishes it (the session waits for the
		// handlers); Run returns once it is complete.
		<-c.sess.Done()
		stopWatch()
		return nil
	}
	stopWatch()
	c.terminate(err)
	return err
}

// loop is Run's connect–serve–backoff cycle. It returns ErrClosed once a
// stop was requested (Shutdown), or the permanent error.
func (c *Component) loop(ctx context.Context) error {
	attempt := 0
	for {
		if c.stopping() {
			return ErrClosed
		}
		c.stats.setState(StateConnecting)
		l, err := c.connect()
		if err != nil {
			if c.stopping() {
				return ErrClosed
			}
			c.stats.setLastError(err)
			if IsPermanent(err) {
				c.log.ErrorContext(ctx, "component: server rejected the component", "domain", c.Domain, "addr", c.Addr, "err", err)
				return err
			}
			if !c.backoff(&attempt, err) {
				return ErrClosed
			}
			continue
		}
		up := time.Now()
		err = c.serve(l)
		c.stats.linkDown()
		if c.stopping() || errors.Is(err, ErrClosed) {
			return ErrClosed
		}
		c.stats.setLastError(err)
		if IsPermanent(err) {
			c.log.ErrorContext(ctx, "component: server ended the stream", "domain", c.Domain, "err", err)
			return err
		}
		c.stats.reconnects.Add(1)
		if time.Since(up) > orDefault(c.BackoffMax, DefaultBackoffMax) {
			attempt = 0
		}
		if !c.backoff(&attempt, err) {
			return ErrClosed
		}
	}
}

// stopping reports whether a stop was requested (Shutdown).
func (c *Component) stopping() bool { return isDone(c.closing) }

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
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

// backoff waits before the next attempt; false if a stop was requested.
func (c *Component) backoff(attempt *int, cause error) bool {
	d := backoffDelay(orDefault(c.BackoffBase, DefaultBackoffBase), orDefault(c.BackoffMax, DefaultBackoffMax), *attempt, rand.Int64N)
	*attempt++
	c.stats.setState(StateBackoff)
	c.log.Warn("component: connection failed, retrying", "domain", c.Domain, "addr", c.Addr,
		"err", cause, "attempt", *attempt, "delay", d)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.closing:
		return false
	}
}

// connect dials and authenticates, returning a live link.
func (c *Component) connect() (*link, error) {
	d := c.Dialer
	if d == nil {
		d = &dial.Dialer{Timeout: orDefault(c.DialTimeout, DefaultDialTimeout)}
	}
	// A stop must interrupt the dial and the handshake.
	ctx, cancel := context.WithCancel(context.Background())
	stopClose := afterClose(c.closing, cancel)
	defer stopClose()
	defer cancel()
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
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	deadline := time.Now().Add(orDefault(c.HandshakeTimeout, DefaultHandshakeTimeout))
	rd, id, err := handshake(cc, c.Domain, c.Secret, deadline, c.Limits)
	stop()
	if err != nil {
		conn.Close()
		return nil, err
	}
	c.stats.connects.Add(1)
	c.log.Info("component: connected", "domain", c.Domain, "addr", c.Addr, "stream_id", id,
		"took", time.Since(t0))
	c.lastGen++
	return newLink(c, cc, rd, c.lastGen, id), nil
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

// terminate ends the component for good: nothing will be written any more;
// what is queued is reported as not sent, waiting SendIQ calls fail.
func (c *Component) terminate(cause error) {
	c.stats.setState(StateClosed)
	reason := ErrClosed
	if cause != nil && !errors.Is(cause, ErrClosed) {
		reason = fmt.Errorf("%w: %w", ErrClosed, cause)
	}
	c.w.Terminate(reason)
	c.sess.Terminate(reason)
}

// Close stops the component gracefully: it stops taking stanzas from the
// server (those that arrive meanwhile are dropped, counted in
// Stats.InboundDropped), waits until the handlers have handled what was
// queued (they may still send), writes what is queued for the server,
// exchanges </stream:stream> with it and closes the connection; Run then
// returns nil. While disconnected there is nothing to write to: what is
// queued is reported as not sent at once (SendFailed). When ctx ends first
// the rest is abandoned (handlers' contexts cancelled, queued stanzas
// reported as not sent) and Close returns ctx.Err(). Close waits for the
// handlers, so a handler that wants to stop the component calls Close in a
// new goroutine. Close on a component that is not running just marks it
// closed.
func (c *Component) Close(ctx context.Context) error {
	c.init()
	c.stats.setState(StateClosing)
	return c.sess.Close(ctx)
}

// Stats returns a snapshot of the component's counters.
func (c *Component) Stats() Stats {
	if c.init() != nil {
		return Stats{State: StateClosed}
	}
	s := c.stats.snapshot()
	s.Stats = c.sess.Stats()
	s.QueueBytes = c.w.Queued()
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
