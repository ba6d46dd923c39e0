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
	"xmppkit.dev/metrics"
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
	// Metrics, when set, receives the component's metrics (package
	// metrics: the session's, labelled with Domain, and link up, handshake
	// latency, reconnects, failed connection attempts, queued bytes).
	Metrics metrics.Registry
	// MaxQueue bounds the bytes queued for the server; Send waits while
	// that much is queued. A stanza of any size is admitted into a queue
	// holding less. Default 1 MiB.
	MaxQueue int

	Workers        int           // handler goroutines; default 16
	WorkerQueue    int           // received stanzas queued per worker; default 64
	HandlerTimeout time.Duration // deadline of each handler call's context; default 60 s, negative: none
	Limits         stream.Limits // limits on what the server may send (stream.Limits defaults)

	// Links is the number of connections kept open to the server for
	// Domain, each reconnecting on its own (default 1). A server that
	// balances a domain over several connections (ejabberd's
	// domain_balancing) then spreads the component's load over them, and
	// the component survives the loss of one: see "Several links" in the
	// package documentation for what the server must be told (ejabberd:
	// component_number equal to Links; Prosody takes one link only).
	Links int

	// OnLink, when set, is told each time a link to the server comes up or
	// goes down (see LinkEvent). It is called from the link's goroutine,
	// never concurrently with itself: Up after the handshake and before any
	// stanza received on that link reaches the Handler, so that state tied
	// to the link (XEP-0356 privileges, which the server advertises in a
	// message right after every handshake) can be reset before the server's
	// first stanzas are handled; Down after the link's reader stopped and
	// before that link's next connection attempt. It must return quickly:
	// the link waits for it. It must not call Close.
	OnLink func(LinkEvent)

	initOnce sync.Once
	domain   jid.JID
	initErr  error
	m        *componentMetrics // nil without Metrics (metrics.go)
	log      *slog.Logger
	sess     *session.Session
	slots    []*slot    // one per link kept up (Links); links.go
	rt       routeTable // which slot's Writer a stanza goes to (links.go)

	mu       sync.Mutex
	running  bool
	ran      bool
	closing  chan struct{} // closed by Shutdown: no new link, the live ones are being drained
	stopOnce sync.Once
	dead     chan struct{} // closed when Run's loops are over
	deadOnce sync.Once
	lastGen  uint64
	linkMu   sync.Mutex // serializes OnLink calls

	stats counters

	dialHook func(ctx context.Context) (net.Conn, error) // tests: in-memory connections
}

// LinkEvent reports a change of a Component's link to the server (see
// Component.OnLink).
type LinkEvent struct {
	// Up is true when the link came up (handshake done), false when it went
	// down.
	Up bool
	// Link numbers the links of the Component from 1, one per successful
	// handshake (over all its slots); the Down event of a link carries the
	// number of its Up. session.LinkID(ctx) gives a handler the number of
	// the link its stanza arrived on.
	Link uint64
	// Slot is which of the Component's Links the link fills, from 0: a
	// slot's Down always precedes its next Up.
	Slot int
	// LinksUp is the number of the Component's links up after this event.
	LinksUp int
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
			h = mux.New()
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
			Metrics:        c.Metrics,
		}, (*transport)(c))
		ka := c.KeepAlive
		if ka == 0 {
			ka = DefaultKeepAlive
		}
		n := c.Links
		if n <= 0 {
			n = 1
		}
		if n > MaxLinks && c.initErr == nil {
			c.initErr = configError("Links %d is more than %d", n, MaxLinks)
			n = 1
		}
		c.slots = make([]*slot, n)
		for i := range c.slots {
			c.slots[i] = &slot{c: c, idx: i, w: session.NewWriter(c.sess, session.WriterConfig{
				MaxQueue:     c.MaxQueue,
				WriteTimeout: orDefault(c.WriteTimeout, DefaultWriteTimeout),
				KeepAlive:    ka,
				Dead:         c.writeFailed,
			})}
		}
		c.rt.init(c.slots)
		if c.initErr != nil {
			c.terminate(c.initErr)
		} else {
			c.m = newComponentMetrics(c, c.Metrics)
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
// returns nil once the stop is complete. With Links above 1, each link
// connects and reconnects on its own. It returns an error only for a
// failure: a configuration error, or the server rejecting the component
// permanently (IsPermanent: wrong secret, unknown domain), which ends every
// link. Run may be called once; a second call returns ErrRunning while the
// first runs and ErrClosed after.
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
	defer c.m.close() // the gauges go with the component

	stopWatch := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), orDefault(c.StopTimeout, DefaultStopTimeout))
		defer cancel()
		if err := c.Close(sctx); err != nil {
			c.log.Warn("component: stop incomplete", "domain", c.Domain, "err", err)
		}
	})
	err := c.runSlots(ctx)
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

// runSlots runs the connect–serve–backoff cycle of every slot and returns
// once all have ended: ErrClosed after a requested stop, or the first
// permanent error (which stops the other slots).
func (c *Component) runSlots(ctx context.Context) error {
	if len(c.slots) == 1 {
		return c.loop(ctx, c.slots[0])
	}
	errs := make(chan error, len(c.slots))
	for _, s := range c.slots {
		go func() { errs <- c.loop(ctx, s) }()
	}
	var first error
	for range c.slots {
		err := <-errs
		if err != nil && !errors.Is(err, ErrClosed) && first == nil {
			first = err
			c.abort(err)
		}
	}
	if first != nil {
		return first
	}
	return ErrClosed
}

// abort ends every link at once and stops reconnecting (a permanent error
// on one link: the server refuses the domain on all of them).
func (c *Component) abort(err error) {
	c.stopOnce.Do(func() { close(c.closing) })
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.slots {
		if s.link != nil {
			s.link.die(err)
		}
	}
}

// loop is one slot's connect–serve–backoff cycle. It returns ErrClosed
// once a stop was requested (Shutdown), or the permanent error.
func (c *Component) loop(ctx context.Context, s *slot) error {
	attempt := 0
	for {
		if c.stopping() {
			return ErrClosed
		}
		c.stats.setState(StateConnecting)
		l, err := c.connect(s)
		if err != nil {
			if c.stopping() {
				return ErrClosed
			}
			c.m.failed()
			c.stats.setLastError(err)
			if IsPermanent(err) {
				c.log.ErrorContext(ctx, "component: server rejected the component", "domain", c.Domain, "addr", c.Addr, "err", err)
				return err
			}
			if !c.backoff(s, &attempt, err) {
				return ErrClosed
			}
			continue
		}
		up := time.Now()
		err = c.serve(l)
		if c.stopping() || errors.Is(err, ErrClosed) {
			return ErrClosed
		}
		c.stats.setLastError(err)
		if IsPermanent(err) {
			c.log.ErrorContext(ctx, "component: server ended the stream", "domain", c.Domain, "err", err)
			return err
		}
		c.stats.reconnects.Add(1)
		c.m.lost()
		if time.Since(up) > orDefault(c.BackoffMax, DefaultBackoffMax) {
			attempt = 0
		}
		if !c.backoff(s, &attempt, err) {
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

// backoff waits before s's next attempt; false if a stop was requested.
func (c *Component) backoff(s *slot, attempt *int, cause error) bool {
	d := backoffDelay(orDefault(c.BackoffBase, DefaultBackoffBase), orDefault(c.BackoffMax, DefaultBackoffMax), *attempt, rand.Int64N)
	*attempt++
	c.stats.setState(StateBackoff)
	attrs := []any{"domain", c.Domain, "addr", c.Addr, "err", cause, "attempt", *attempt, "delay", d}
	if len(c.slots) > 1 {
		attrs = append(attrs, "slot", s.idx)
		if errors.Is(cause, stream.ErrConflict) {
			attrs = append(attrs, "hint", "the server takes one link per domain (Prosody does): set Links to 1, or configure its balancing (ejabberd: domain_balancing with component_number)")
		}
	}
	c.log.Warn("component: connection failed, retrying", attrs...)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.closing:
		return false
	}
}

// connect dials and authenticates for slot s, returning a live link.
func (c *Component) connect(s *slot) (*link, error) {
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
	c.m.connected(time.Since(t0))
	attrs := []any{"domain", c.Domain, "addr", c.Addr, "stream_id", id, "took", time.Since(t0)}
	if len(c.slots) > 1 {
		attrs = append(attrs, "slot", s.idx)
	}
	c.log.Info("component: connected", attrs...)
	c.mu.Lock()
	c.lastGen++
	gen := c.lastGen
	c.mu.Unlock()
	return newLink(c, s, cc, rd, gen, id), nil
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
	for _, s := range c.slots {
		s.w.Terminate(reason)
	}
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
	for _, sl := range c.slots {
		s.QueueBytes += sl.w.Queued()
	}
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
