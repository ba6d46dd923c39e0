package session

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/metrics"
	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// Defaults for the zero fields of Config. Every transport uses these names
// and values for its knobs.
const (
	DefaultWorkers        = 16
	DefaultWorkerQueue    = 64
	DefaultHandlerTimeout = 60 * time.Second
	DefaultRecvQueue      = 256
	DefaultMaxQueue       = 1 << 20
)

// replyTimeout bounds the send of an error reply made by the session.
const replyTimeout = 30 * time.Second

// Config configures a Session. Transports fill it from their own fields,
// which carry the same names (Workers, WorkerQueue, HandlerTimeout, ...).
type Config struct {
	// Addr is the session's own address: a service's domain (a component,
	// a service attached to the router) or a client's full JID.
	Addr jid.JID
	// Client marks a client session (RFC 6120 §8.1.2.1, §10.3.3): from is
	// stamped by the server, and an iq without to (or to the account's bare
	// JID) is answered by the server on the account's behalf. A service
	// sends from its domain and needs a to on every iq request.
	Client bool

	// Handler serves received stanzas on Workers goroutines. Nil means no
	// handler: received stanzas wait for Recv (a client that reads its
	// stanzas itself).
	Handler mux.Handler
	// Logger receives handler errors and panics (Error), dropped stanzas
	// (Debug, Info). Nil means slog.Default().
	Logger *slog.Logger
	// Workers is the number of handler goroutines; received stanzas are
	// sharded over them by the sender's bare JID, so one sender's stanzas
	// are handled in order. Default DefaultWorkers.
	Workers int
	// WorkerQueue bounds the received stanzas queued per worker; a
	// transport's Receive waits while its worker's queue is full (TCP then
	// pushes back on the peer). Default DefaultWorkerQueue.
	WorkerQueue int
	// HandlerTimeout is the deadline of each handler call's context,
	// counted from the start of the call; default DefaultHandlerTimeout,
	// negative for none.
	HandlerTimeout time.Duration
	// ReceiveWait bounds how long Receive waits for room in a full worker
	// queue before it returns ErrQueueFull; zero means as long as its
	// context allows.
	ReceiveWait time.Duration
	// RecvQueue bounds the stanzas waiting for Recv when Handler is nil;
	// default DefaultRecvQueue.
	RecvQueue int

	// ConfirmSends makes Send behave as SendConfirmed.
	ConfirmSends bool
	// SendFailed, when set, is called with each stanza that a Send
	// accepted (returned nil for) but that could not be written after all:
	// the link died, or the session closed, before its turn. It runs on
	// the goroutine that found the failure and must not block; it may call
	// Send again. Every such stanza is also counted in Stats.SendFailed and
	// logged, whether SendFailed is set or not. Stanzas whose Send returned
	// an error are not passed to it: their caller has the error.
	SendFailed func(st *stanza.Stanza, err error)

	// Metrics, when set, receives the session's metrics (package metrics'
	// session catalogue: stanzas in and out by kind, handler latency,
	// errors and panics, iq round trips, stanzas not sent or not handled,
	// the inbound queue), labelled with Addr's domain.
	Metrics metrics.Registry
}

// Transport is what a Session runs over: a component's connection, a
// router's in-process route, a client's stream. Package component, router
// and client implement it; see the package documentation.
type Transport interface {
	// Deliver writes (or routes) a stanza the session has checked. With
	// sync false it may return once the stanza is queued behind a write in
	// progress; a queued stanza that then cannot be written must be passed
	// to Session.Failed. With sync true it returns once the stanza was
	// written, and the link that carried it. An error means the stanza was
	// not written and must wrap ErrNotSent.
	Deliver(ctx context.Context, out Outgoing, sync bool) (link uint64, err error)
	// Confirm returns nil once the peer has processed everything written
	// on link so far (SendConfirmed), or why that could not be proven.
	Confirm(ctx context.Context, link uint64) error
	// Shutdown ends the transport gracefully once the handlers are done:
	// it writes what is queued, closes the stream and the link. When ctx
	// ends first it closes at once. Session.Close calls it once.
	Shutdown(ctx context.Context) error
	// Drop is told of a received stanza that the session will not hand to
	// the handler after all, because the session was aborted first.
	Drop(st *stanza.Stanza, err error)
}

// Session is the runtime of one service or client, whatever its transport:
// ordered per-sender workers with a per-call deadline and panic recovery,
// the error-reply rule, the iq tracker and the checks of outgoing stanzas.
// It is the mux.Sender that handlers receive, and the one a transport
// hands out for sends on the service's own initiative. Its methods are
// safe for concurrent use.
type Session struct {
	cfg  Config
	addr jid.JID
	t    Transport
	h    mux.Handler
	log  *slog.Logger
	iq   tracker
	// Stats is shared with the transport, which counts writes in it.
	stats counters
	m     *sessionMetrics // nil without Config.Metrics (metrics.go)

	base   context.Context // handlers' contexts derive from it; ends at terminate
	cancel context.CancelFunc

	startOnce sync.Once
	mu        sync.RWMutex // guards sends on the inbound queues against terminate
	wk        *workers     // nil until the first Receive, or in Recv mode
	recv      chan *stanza.Stanza
	recvRoom  signal
	ended     bool // under mu: terminate ran, the queues are closed

	link      atomic.Uint64 // the live link, for items
	closed    atomic.Bool   // terminate ran: sends fail
	closing   chan struct{} // closed by Close: intake stopped
	closeOnce sync.Once     // closes closing
	closeRun  sync.Once     // the first Close
	termOnce  sync.Once
	done      chan struct{} // closed by terminate
	closeDone chan struct{} // closed when the first Close returns; closeErr is set
	closeErr  error
}

// New returns a Session for cfg over t. Its worker goroutines start with
// the first LinkUp (or Receive), and end when it is closed.
func New(cfg Config, t Transport) *Session {
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.WorkerQueue <= 0 {
		cfg.WorkerQueue = DefaultWorkerQueue
	}
	if cfg.HandlerTimeout == 0 {
		cfg.HandlerTimeout = DefaultHandlerTimeout
	}
	if cfg.RecvQueue <= 0 {
		cfg.RecvQueue = DefaultRecvQueue
	}
	s := &Session{cfg: cfg, addr: cfg.Addr, t: t, h: cfg.Handler, log: cfg.Logger,
		closing: make(chan struct{}), done: make(chan struct{}), closeDone: make(chan struct{})}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.iq.self, s.iq.client = cfg.Addr, cfg.Client
	s.m = newSessionMetrics(s, cfg.Metrics)
	s.base, s.cancel = context.WithCancel(context.WithValue(context.Background(), sessionKey{}, s))
	if s.h == nil {
		s.recv = make(chan *stanza.Stanza, cfg.RecvQueue)
	}
	return s
}

// Addr returns the session's own address (Config.Addr).
func (s *Session) Addr() jid.JID { return s.addr }

// Logger returns the session's logger.
func (s *Session) Logger() *slog.Logger { return s.log }

// Done returns a channel that is closed once the session has ended: Close
// completed, or the transport ended it (Terminate).
func (s *Session) Done() <-chan struct{} { return s.done }

// Outgoing is a stanza on its way out: as the caller gave it (never
// modified) with the from and id it must carry, which the session filled
// in where the caller left them empty.
type Outgoing struct {
	Stanza *stanza.Stanza
	From   jid.JID
	ID     string
}

// Final returns the stanza as it must be delivered: Stanza itself when it
// carries From and ID already, otherwise a shallow copy with them set.
func (o Outgoing) Final() *stanza.Stanza {
	if o.From == o.Stanza.From && o.ID == o.Stanza.ID {
		return o.Stanza
	}
	cp := *o.Stanza
	cp.From, cp.ID = o.From, o.ID
	return &cp
}

// AppendXML appends the stanza's XML as it goes on a stream: From and ID
// set, and no xmlns when it names a content namespace (the stream's
// applies). It allocates nothing beyond dst.
func (o Outgoing) AppendXML(dst []byte) []byte {
	st := o.Stanza
	if o.From == st.From && o.ID == st.ID && !stanza.IsContentNS(st.NS) {
		return st.AppendXML(dst)
	}
	cp := *st
	cp.From, cp.ID = o.From, o.ID
	if stanza.IsContentNS(cp.NS) {
		cp.NS = ""
	}
	return cp.AppendXML(dst)
}

// prepare checks st against the rules for outgoing stanzas and fills in
// from and id.
func (s *Session) prepare(st *stanza.Stanza) (Outgoing, error) {
	if st == nil || st.Kind < stanza.Message || st.Kind > stanza.IQ {
		return Outgoing{}, badStanza("not a message, presence or iq")
	}
	o := Outgoing{Stanza: st, From: st.From, ID: st.ID}
	switch {
	case s.cfg.Client:
		if !o.From.IsZero() && o.From != s.addr && o.From != s.addr.Bare() {
			return Outgoing{}, fmt.Errorf("%w: from %s, client %s", ErrBadFrom, o.From, s.addr)
		}
	case o.From.IsZero():
		o.From = s.addr
	case o.From.Domain() != s.addr.Domain():
		return Outgoing{}, fmt.Errorf("%w: from %s, service domain %s", ErrBadFrom, o.From, s.addr)
	}
	if st.Kind == stanza.IQ {
		switch st.Type {
		case stanza.TypeGet, stanza.TypeSet:
			if o.ID == "" {
				o.ID = stanza.NewID()
			}
		case stanza.TypeResult, stanza.TypeError:
			if o.ID == "" {
				return Outgoing{}, badStanza("iq %s without id", st.Type)
			}
		default:
			return Outgoing{}, badStanza("iq type %q", st.Type)
		}
	}
	return o, nil
}

// Send sends st (RFC 6120 §8): from is set to the session's address when st
// has none (a service's from must be at its domain: ErrBadFrom otherwise),
// and an iq get or set without id gets one; st itself is not modified, but
// an in-process transport may pass it on as is, so do not modify it after
// Send either.
//
// Send returns nil once the stanza is written, or queued behind a write in
// progress (see the package documentation on the send path): a queued
// stanza that then cannot be written is passed to Config.SendFailed and
// counted in Stats.SendFailed. It returns an error wrapping ErrNotSent when
// the stanza was not written: the session is closed (ErrClosed), ctx ended
// while the outbound queue was full. With Config.ConfirmSends it is
// SendConfirmed.
func (s *Session) Send(ctx context.Context, st *stanza.Stanza) error {
	if s.cfg.ConfirmSends {
		return s.SendConfirmed(ctx, st)
	}
	_, err := s.send(ctx, st, false)
	return err
}

func (s *Session) send(ctx context.Context, st *stanza.Stanza, sync bool) (uint64, error) {
	out, err := s.prepare(st)
	if err != nil {
		return 0, err
	}
	if s.closed.Load() {
		s.countSendFailed(1)
		return 0, NotSent(ErrClosed)
	}
	link, err := s.t.Deliver(ctx, out, sync)
	if err != nil {
		s.countSendFailed(1)
		return 0, NotSent(err)
	}
	s.m.sent(st.Kind)
	return link, nil
}

// SendConfirmed sends st like Send and then waits until the peer has
// processed it, as the transport can prove (Transport.Confirm): for a
// component, an XEP-0199 ping written after st and answered by the server;
// in process, routing is synchronous and the send is its own proof. It
// returns nil once confirmed; an error wrapping ErrNotSent when st was never
// written (the peer did not get it); an error wrapping ErrUnconfirmed when
// st was written but its processing could not be proven (the link died,
// the proof timed out, ctx ended): a caller that sends it again gets
// at-least-once delivery, with possible duplicates.
func (s *Session) SendConfirmed(ctx context.Context, st *stanza.Stanza) error {
	link, err := s.send(ctx, st, true)
	if err != nil {
		return err
	}
	if err := s.t.Confirm(ctx, link); err != nil {
		return unconfirmed(err)
	}
	return nil
}

// SendIQ sends an iq get or set (RFC 6120 §8.2.3) and waits for its answer:
// an iq result or error with the same id from the address the request went
// to (see the package documentation for the rules). It returns the result
// stanza, or for an error answer a nil stanza and the *stanza.Error. It
// fails with ErrBadStanza for anything but a get or set, for a service's iq
// without to and for an id that already waits; with an error wrapping
// ErrDisconnected when the link that carried the request is lost before the
// answer; with ErrClosed when the session closes; and with ctx's error. iq
// is not modified; when it has no id, one is generated.
func (s *Session) SendIQ(ctx context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
	if iq == nil || iq.Kind != stanza.IQ || (iq.Type != stanza.TypeGet && iq.Type != stanza.TypeSet) {
		return nil, badStanza("SendIQ takes an iq get or set")
	}
	if !s.cfg.Client && iq.To.IsZero() {
		return nil, badStanza("iq without to")
	}
	out, err := s.prepare(iq)
	if err != nil {
		return nil, err
	}
	w, err := s.iq.add(out.ID, iq.To)
	if err != nil {
		return nil, err
	}
	defer s.iq.remove(out.ID, w)
	if s.closed.Load() {
		s.countSendFailed(1)
		return nil, NotSent(ErrClosed)
	}
	t0 := time.Now()
	link, err := s.t.Deliver(ctx, out, true)
	if err != nil {
		s.countSendFailed(1)
		return nil, NotSent(err)
	}
	s.m.sent(stanza.IQ)
	if !s.iq.written(w, link) {
		// The link that carried the request is gone already: the answer,
		// if one came, is in w.ch; otherwise it never will come.
		select {
		case a := <-w.ch:
			s.m.answered(time.Since(t0), a.err == nil)
			return a.result()
		default:
			s.m.answered(0, false)
			return nil, fmt.Errorf("%w: link lost after the iq was sent", ErrDisconnected)
		}
	}
	select {
	case a := <-w.ch:
		s.m.answered(time.Since(t0), a.err == nil)
		return a.result()
	case <-ctx.Done():
		s.m.answered(0, false)
		return nil, ctx.Err()
	}
}

func (a answer) result() (*stanza.Stanza, error) {
	if a.err != nil {
		return nil, a.err
	}
	if a.st.Type == stanza.TypeError {
		return nil, a.st.Err()
	}
	return a.st, nil
}

// Receive hands a stanza read from the peer to the session (for
// transports): an iq result or error that a SendIQ waits for goes to it;
// anything else to the handler's worker for its sender (or, without a
// handler, to Recv), waiting while that queue is full, up to
// Config.ReceiveWait (then ErrQueueFull) or until ctx ends (its error). A
// non-nil decodeErr is the RFC 6120 §8 violation that decoding st found: st
// is then answered with it (ReplyError), not handled. After Close started
// it returns ErrClosed: the stanza is not handled.
func (s *Session) Receive(ctx context.Context, st *stanza.Stanza, decodeErr error) error {
	return s.ReceiveOn(ctx, s.link.Load(), st, decodeErr)
}

// ReceiveOn is Receive for a transport with several links up at once (a
// component with several connections for its domain): link is the one st
// was read on, which LinkID reports to its handler. The stanzas of one
// sender are handled in order whatever link they came on: the workers are
// the session's, shared by its links.
func (s *Session) ReceiveOn(ctx context.Context, link uint64, st *stanza.Stanza, decodeErr error) error {
	s.stats.stanzasIn.Add(1)
	s.m.received(st)
	if decodeErr == nil && s.iq.match(st) {
		return nil
	}
	s.startOnce.Do(s.start)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.ended || isClosed(s.closing) {
		s.countDropped()
		return ErrClosed
	}
	if s.wk == nil {
		if decodeErr != nil {
			go s.answer(s.base, st, decodeErr)
			return nil
		}
		return s.enqueue(ctx, st)
	}
	it := item{st: st, decodeErr: decodeErr, link: link}
	wk := s.wk
	wk.inflight.Add(1)
	sh := wk.shard(st)
	if wk.put(sh, it) {
		return nil
	}
	// Every overflow slot is taken: wait for room.
	if err := s.waitRoom(ctx, &wk.room, func() bool { return wk.put(sh, it) }); err != nil {
		wk.inflight.Add(-1)
		return err
	}
	return nil
}

// enqueue puts st on the Recv queue, waiting for room (Recv mode); s.mu is
// read-locked.
func (s *Session) enqueue(ctx context.Context, st *stanza.Stanza) error {
	try := func() bool {
		select {
		case s.recv <- st:
			return true
		default:
			return false
		}
	}
	if try() {
		return nil
	}
	return s.waitRoom(ctx, &s.recvRoom, try)
}

// waitRoom retries try each time room is notified, until it succeeds, ctx
// ends, Config.ReceiveWait passes (ErrQueueFull) or Close begins
// (ErrClosed); a failure counts as an inbound drop.
func (s *Session) waitRoom(ctx context.Context, room *signal, try func() bool) error {
	var timeout <-chan time.Time
	if s.cfg.ReceiveWait > 0 {
		t := time.NewTimer(s.cfg.ReceiveWait)
		defer t.Stop()
		timeout = t.C
	}
	for {
		ch := room.wait()
		if try() {
			return nil
		}
		var err error
		select {
		case <-ch:
			continue
		case <-ctx.Done():
			err = ctx.Err()
		case <-timeout:
			err = ErrQueueFull
		case <-s.closing:
			err = ErrClosed
		}
		s.countDropped()
		return err
	}
}

type sessionKey struct{}

// FromContext returns the session whose handler was given ctx (or a
// context derived from it), or nil.
func FromContext(ctx context.Context) *Session {
	s, _ := ctx.Value(sessionKey{}).(*Session)
	return s
}

// Dispatch queues st on the worker of st.From's bare JID as if it had been
// received, to be served by h with via as its Sender: in order with every
// other stanza of that sender, under Config.HandlerTimeout, its panic
// recovered and its error answered through via by ReplyError. A handler
// that unwraps a stanza carried for someone else (a XEP-0355 delegated iq,
// a XEP-0297 forward, all sent by the server) uses it so that the inner
// stanza runs on its real sender's worker: one slow inner request then
// holds up only that sender. Dispatch never waits: it fails with
// ErrQueueFull when the sender's worker and the overflow are full (the
// caller may then serve st itself), ErrClosed once Close began, and
// ErrBadStanza for a stanza without a from or a session without workers
// (one whose Config.Handler is nil).
func (s *Session) Dispatch(ctx context.Context, st *stanza.Stanza, h mux.Handler, via mux.Sender) error {
	if st == nil || st.From.IsZero() || h == nil {
		return fmt.Errorf("%w: Dispatch needs a stanza with a from and a handler", ErrBadStanza)
	}
	if via == nil {
		via = s
	}
	s.startOnce.Do(s.start)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.ended || isClosed(s.closing) {
		return ErrClosed
	}
	if s.wk == nil {
		return fmt.Errorf("%w: Dispatch on a session without a handler", ErrBadStanza)
	}
	wk := s.wk
	wk.inflight.Add(1)
	if !wk.put(wk.shard(st), item{st: st, link: LinkID(ctx), h: h, via: via}) {
		wk.inflight.Add(-1)
		return ErrQueueFull
	}
	return nil
}

// signal wakes the goroutines waiting for room in a queue.
type signal struct {
	armed atomic.Bool // someone waits: notify must close ch
	mu    sync.Mutex
	ch    chan struct{}
}

// wait returns a channel that is closed by the next notify.
func (g *signal) wait() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ch == nil {
		g.ch = make(chan struct{})
	}
	g.armed.Store(true)
	return g.ch
}

// notify wakes the waiters, cheaply when there are none.
func (g *signal) notify() {
	if !g.armed.Load() {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ch != nil {
		close(g.ch)
		g.ch = nil
	}
	g.armed.Store(false)
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// start starts the workers (handler mode); s.startOnce.
func (s *Session) start() {
	if s.h == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended {
		s.wk = newWorkers(s, s.cfg.Workers, s.cfg.WorkerQueue)
	}
}

// Recv returns the next received stanza that is not an answer to SendIQ,
// for a session without a Handler, in the order received; after the
// session ended, what was queued and then ErrClosed.
func (s *Session) Recv(ctx context.Context) (*stanza.Stanza, error) {
	if s.recv == nil {
		return nil, fmt.Errorf("session: Recv on a session with a Handler")
	}
	select {
	case st, ok := <-s.recv:
		if !ok {
			return nil, ErrClosed
		}
		s.recvRoom.notify()
		return st, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// LinkUp tells the session (for transports) that link is up: requests
// written on it wait for their answers, which may arrive on any link of
// the session (a server that balances a domain over several connections
// balances the answers too). Receive stamps the last link up on the
// stanzas it hands to handlers; ReceiveOn names the link itself.
func (s *Session) LinkUp(link uint64) {
	s.startOnce.Do(s.start)
	s.link.Store(link)
	s.iq.linkUp(link)
}

// LinkDown tells the session (for transports) that link is lost: SendIQ
// calls whose request it carried end with err (it should wrap
// ErrDisconnected).
func (s *Session) LinkDown(link uint64, err error) {
	s.iq.linkDown(link, err)
}

// Failed reports stanzas that a Send accepted (returned nil for) but that
// could not be written (for transports): each is counted in
// Stats.SendFailed, passed to Config.SendFailed when set, and the batch is
// logged once at Warn.
func (s *Session) Failed(sts []*stanza.Stanza, err error) {
	if len(sts) == 0 {
		return
	}
	s.countSendFailed(len(sts))
	s.log.Warn("session: queued stanzas not sent", "addr", s.addr.String(), "stanzas", len(sts), "err", err)
	if f := s.cfg.SendFailed; f != nil {
		for _, st := range sts {
			f(st, err)
		}
	}
}

// Wrote counts n stanzas written (for transports).
func (s *Session) Wrote(n int) { s.stats.stanzasOut.Add(uint64(n)) }

// drop is a received stanza abandoned on abort.
func (s *Session) drop(st *stanza.Stanza, err error) {
	s.countDropped()
	s.t.Drop(st, err)
}

// Busy reports whether received stanzas are waiting for or in the handlers
// besides the one calling (the send path's sign of load).
func (s *Session) Busy() bool {
	wk := s.wk
	return wk != nil && wk.inflight.Load() > 1
}

// Close stops the session gracefully: it stops taking received stanzas
// (Receive returns ErrClosed), waits until the handlers have handled what
// was queued (they may still send), lets the transport write what is
// queued and close (Transport.Shutdown), then ends the session: waiting
// SendIQ calls fail with ErrClosed, and so do later sends. When ctx ends
// first, the rest is abandoned: the handlers' contexts are cancelled,
// queued received stanzas are dropped (Transport.Drop), queued outgoing
// ones reported as not sent, and Close returns ctx's error. A second Close
// waits for the first. It returns nil when the stop went as planned.
func (s *Session) Close(ctx context.Context) error {
	first := false
	s.closeRun.Do(func() { first = true })
	if !first {
		select {
		case <-s.closeDone:
			return s.closeErr
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.closeOnce.Do(func() { close(s.closing) })
	var err error
	s.mu.RLock()
	wk := s.wk
	s.mu.RUnlock()
	if wk != nil {
		err = wk.waitIdle(ctx)
	}
	if serr := s.t.Shutdown(ctx); err == nil {
		err = serr
	}
	s.terminate(ErrClosed)
	if wk != nil {
		done := make(chan struct{})
		go func() { wk.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
		}
	}
	s.closeErr = err
	close(s.closeDone)
	return err
}

// Closing returns a channel closed when Close has started.
func (s *Session) Closing() <-chan struct{} { return s.closing }

// Terminate ends the session at once (for transports whose link ended for
// good: a component rejected by its server): the handlers' contexts are
// cancelled, queued received stanzas dropped, waiting SendIQ calls fail
// with cause, and later sends with ErrClosed.
func (s *Session) Terminate(cause error) { s.terminate(cause) }

func (s *Session) terminate(cause error) {
	s.termOnce.Do(func() {
		s.closed.Store(true)
		s.cancel()
		// Receive's slow path holds s.mu and waits on closing.
		s.closeOnce.Do(func() { close(s.closing) })
		s.mu.Lock()
		s.ended = true
		if s.wk != nil {
			s.wk.stop()
		}
		if s.recv != nil {
			close(s.recv)
		}
		s.mu.Unlock()
		s.iq.close(cause)
		s.m.close()
		close(s.done)
	})
}

var _ mux.Sender = (*Session)(nil)
