package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/metrics"
	"xmppkit.dev/mux"
	"xmppkit.dev/router/internal/limit"
	"xmppkit.dev/session"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

// String returns "refuse-new" or "kick-old".
func (c Conflict) String() string {
	if c == KickOld {
		return "kick-old"
	}
	return "refuse-new"
}

// Conflict says what the router does when a second connection authenticates
// for a component domain, or binds a client resource, that is already
// connected (XEP-0114 §3 leaves it open; RFC 6120 §7.7.2.2 for resources).
type Conflict int

const (
	// RefuseNew keeps the connected route and refuses the newcomer with the
	// conflict stream error (Prosody's default, kick_new).
	RefuseNew Conflict = iota
	// KickOld closes the connected route with the conflict stream error and
	// installs the newcomer.
	KickOld
)

// Defaults for the zero fields of Config.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultMaxUnauthPerIP   = 16
	DefaultMaxUnauth        = 1000
	DefaultMaxQueue         = 256 << 10
	DefaultUnauthMaxElement = 16 << 10
	DefaultSlowTimeout      = 5 * time.Second
	DefaultInProcessQueue   = 1024
	DefaultIdleTimeout      = 5 * time.Minute
	DefaultMaxRosterItems   = 1000

	DefaultWorkers        = session.DefaultWorkers
	DefaultWorkerQueue    = session.DefaultWorkerQueue
	DefaultHandlerTimeout = session.DefaultHandlerTimeout
)

// Config configures a Router.
type Config struct {
	// Domains are the server's own domains (RFC 6120 §2.1): local client
	// accounts live there, and the router answers stanzas to them.
	// Default: "localhost".
	Domains []string
	// Secrets maps each component domain accepted over TCP (XEP-0114) to its
	// shared secret. A domain with no secret gets host-unknown.
	Secrets map[string]string
	// Users maps a local account's bare JID (user@domain) to its password,
	// for the c2s listener's SASL.
	Users map[string]string
	// Logger receives connection events and dropped stanzas; default
	// slog.Default().
	Logger *slog.Logger
	// Conflict is the policy for a second connection of a connected
	// component domain or client resource; default RefuseNew. For a
	// domain of Links it applies once all its links are taken (KickOld
	// then replaces the oldest).
	Conflict Conflict
	// Links lets each component domain listed have up to that many links
	// at once: XEP-0114 connections (several processes, or a
	// component.Component with Links) and in-process services (Attach), in
	// any mix. Stanzas to the domain are balanced by a consistent
	// (rendezvous) hash of the sender's bare JID over the links' slots, so
	// one sender's stanzas go to one link in order, and an iq answer goes
	// to the link that sent the request; a lost link's senders and what it
	// had queued move to the others, ahead of later stanzas; a link
	// joining takes its senders only after the others answered a ping
	// behind what they carried. A domain not listed (or listed with 1) has
	// one link. See the package documentation.
	Links map[string]int
	// HandshakeTimeout bounds the time from accepting a connection to its
	// authentication (connection-timeout stream error).
	HandshakeTimeout time.Duration
	// Limits bound what one peer can make the router buffer (RFC 6120
	// §13.12); exceeding them is a policy-violation stream error.
	Limits stream.Limits
	// UnauthMaxElement bounds one element from a peer that has not
	// authenticated yet (the XEP-0114 handshake; STARTTLS, SASL and
	// resource binding on client streams), so that MaxUnauth connections
	// cannot make the router buffer MaxUnauth stanzas of the full size;
	// default DefaultUnauthMaxElement (16 KiB), never above
	// Limits.MaxElement.
	UnauthMaxElement int
	// MaxUnauthPerIP bounds the connections from one source address that
	// have not authenticated yet; more are refused with policy-violation.
	MaxUnauthPerIP int
	// MaxUnauth bounds the connections, from all addresses and on all
	// listeners together, that have not authenticated yet; more are refused
	// with policy-violation (RFC 6120 §13.12: many addresses must not add up
	// to unbounded memory). Default DefaultMaxUnauth. MaxUnauthPerIP and
	// MaxUnauth count an IPv6 source by its /64.
	MaxUnauth int
	// UnauthReserve is room above MaxUnauth kept for the sources (IPv4
	// addresses, IPv6 /64s) that authenticated in the last 24 hours, so
	// that a flood of unauthenticated connections from many addresses does
	// not lock out returning users. Default MaxUnauth/10, at least 8.
	UnauthReserve int
	// MaxQueue bounds the bytes queued for one connection (default
	// DefaultMaxQueue); it must stay below stream.DefaultMaxPending. A
	// stanza is queued whenever the backlog is below MaxQueue, whatever its
	// size, so a connection holds at most MaxQueue plus one stanza. A
	// stanza for a connection whose backlog is at MaxQueue waits for room
	// up to SlowTimeout, slowing its sender; then the connection is closed
	// with resource-constraint (the error follows what is queued; a peer
	// that does not read it within 2 s has its connection cut) and the
	// stanza bounced to its sender with resource-constraint.
	MaxQueue int
	// SlowTimeout is how long a connection's backlog may stay at MaxQueue
	// (see there) before the peer counts as too slow; default
	// DefaultSlowTimeout.
	SlowTimeout time.Duration
	// InProcessQueue bounds the stanzas queued for one in-memory client
	// (Connect); a stanza that finds it full waits up to SlowTimeout, then
	// is bounced with resource-constraint.
	InProcessQueue int
	// IdleTimeout ends authenticated client streams that go silent: after
	// IdleTimeout without input (whitespace keepalives count, RFC 6120
	// §4.6.1) the router sends an XEP-0199 ping; a stream still silent
	// min(IdleTimeout, 1 min) later is closed with connection-timeout.
	// Default DefaultIdleTimeout; negative disables it.
	IdleTimeout time.Duration
	// MaxRosterItems bounds each account's roster (a roster set beyond it
	// gets resource-constraint; subscriptions that would add an item are
	// dropped, counted); a quarter of it bounds the subscription requests
	// an account has not answered. Default DefaultMaxRosterItems.
	MaxRosterItems int
	// RosterDir, when set, is a directory where the accounts' rosters (RFC
	// 6121 §2, with their subscription states and pending requests) are
	// kept in a journal (package journal), loaded by New and synced on
	// every change; when empty, rosters live in memory only.
	RosterDir string
	// Metrics, when set, receives the router's metrics (package metrics'
	// Router* catalogue: stanzas routed, undelivered by reason, sessions
	// and queued bytes by kind, handshake latency, kicked sessions).
	Metrics metrics.Registry
	// Privileges grants XEP-0356 permissions to components (see
	// Privileges): each gets the advertisement as soon as it is attached
	// or has completed its handshake.
	Privileges []Privileges
	// Delegations delegates namespaces to components (XEP-0355, see
	// Delegation).
	Delegations []Delegation
	// ForwardTimeout bounds the wait for a component's answer to a
	// delegated IQ, and for the answer to a privileged IQ run for a
	// component; the requester then gets remote-server-timeout. Default
	// DefaultForwardTimeout.
	ForwardTimeout time.Duration
	// Workers, WorkerQueue and HandlerTimeout configure the session of each
	// in-process service (Attach), as the same fields of a
	// component.Component do (see package session): handler goroutines,
	// sharded by the sender's bare JID (default 16); stanzas queued per
	// worker (default 64; a stanza that finds its worker's queue full waits
	// up to SlowTimeout, then is bounced with resource-constraint); the
	// deadline of each handler call (default 60 s, negative: none).
	Workers        int
	WorkerQueue    int
	HandlerTimeout time.Duration
}

// Router routes stanzas between components and clients (see the package
// documentation). Its methods are safe for concurrent use.
type Router struct {
	cfg      Config
	log      *slog.Logger
	accounts *Accounts
	stats    counters
	rosters  rosters
	local    map[string]bool
	ctx      context.Context // ends at Close: handlers' base context
	cancel   context.CancelFunc

	mu        sync.RWMutex
	comps     map[string]route // component domain → its route
	known     map[string]bool  // component domains that are served when up
	users     map[string]*account
	seen      map[jid.JID]struct{} // accounts that have bound a resource
	conns     map[*conn]struct{}
	listeners map[net.Listener]struct{}
	unauth    map[string]int // source key (limit.Key) → connections not yet authenticated
	trusted   limit.Recent   // source keys that authenticated lately
	unauthAll int            // connections not yet authenticated, in all
	closed    bool

	grants grants // XEP-0356 privileges and XEP-0355 delegations (grants.go)

	own *mux.ServeMux // answers IQs for the local domains and accounts (own.go)

	m    *routerMetrics // nil without Config.Metrics (metrics.go)
	taps taps           // Router.Tap (tap.go)

	wg sync.WaitGroup // every goroutine the router started
}

// ErrClosed is returned by the Router's methods after Close, and by the
// sessions of its attached services and in-memory clients once closed
// (session.ErrClosed).
var ErrClosed = session.ErrClosed

// errConflict is returned when a domain or resource is taken and the policy
// refuses the newcomer.
var errConflict = stream.NewError(stream.Conflict, "already connected")

// New returns a Router for cfg. It fails when a domain is malformed, a
// component domain is also a local domain, or a Config.Users key is not a
// bare JID with a localpart.
func New(cfg Config) (*Router, error) {
	if len(cfg.Domains) == 0 {
		cfg.Domains = []string{"localhost"}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.MaxUnauthPerIP <= 0 {
		cfg.MaxUnauthPerIP = DefaultMaxUnauthPerIP
	}
	if cfg.MaxUnauth <= 0 {
		cfg.MaxUnauth = DefaultMaxUnauth
	}
	if cfg.UnauthMaxElement <= 0 {
		cfg.UnauthMaxElement = DefaultUnauthMaxElement
	}
	if cfg.UnauthReserve <= 0 {
		cfg.UnauthReserve = max(8, cfg.MaxUnauth/10)
	}
	if cfg.MaxQueue <= 0 || cfg.MaxQueue >= stream.DefaultMaxPending {
		cfg.MaxQueue = DefaultMaxQueue
	}
	if cfg.SlowTimeout <= 0 {
		cfg.SlowTimeout = DefaultSlowTimeout
	}
	if cfg.InProcessQueue <= 0 {
		cfg.InProcessQueue = DefaultInProcessQueue
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxRosterItems <= 0 {
		cfg.MaxRosterItems = DefaultMaxRosterItems
	}
	r := &Router{
		cfg: cfg, log: cfg.Logger, local: map[string]bool{},
		comps: map[string]route{}, known: map[string]bool{}, users: map[string]*account{}, seen: map[jid.JID]struct{}{},
		conns: map[*conn]struct{}{}, listeners: map[net.Listener]struct{}{}, unauth: map[string]int{},
		trusted: limit.Recent{TTL: trustTTL},
		stats:   counters{log: limit.Log{Rate: logRate, Burst: logBurst}},
	}
	r.own = r.newOwnMux()
	for _, d := range cfg.Domains {
		j, err := domainJID(d)
		if err != nil {
			return nil, err
		}
		r.local[j.Domain()] = true
	}
	secrets := make(map[string]string, len(cfg.Secrets))
	for d, s := range cfg.Secrets {
		j, err := domainJID(d)
		if err != nil {
			return nil, err
		}
		if r.local[j.Domain()] {
			return nil, fmt.Errorf("router: component domain %q is a local domain", d)
		}
		secrets[j.Domain()] = s
		r.known[j.Domain()] = true
	}
	r.cfg.Secrets = secrets
	acc, err := newAccounts(cfg.Users)
	if err != nil {
		return nil, err
	}
	r.accounts = acc
	r.cfg.Users = nil // only the salted passwords are kept
	r.rosters.maxItems, r.rosters.maxPending = cfg.MaxRosterItems, max(1, cfg.MaxRosterItems/4)
	if cfg.RosterDir != "" {
		store, err := openRosterStore(cfg.RosterDir, &r.rosters, r.log)
		if err != nil {
			return nil, err
		}
		r.rosters.store = store
	}
	if err := r.initGrants(cfg); err != nil {
		return nil, err
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.m = newRouterMetrics(r, cfg.Metrics)
	context.AfterFunc(r.ctx, r.stopGrants)
	return r, nil
}

func domainJID(d string) (jid.JID, error) {
	j, err := jid.Parse(d)
	if err != nil {
		return jid.JID{}, fmt.Errorf("router: domain %q: %w", d, err)
	}
	if j.Local() != "" || j.Resource() != "" {
		return jid.JID{}, fmt.Errorf("router: %q is not a domain", d)
	}
	return j, nil
}

// Domains returns the router's own domains, the first being the primary.
func (r *Router) Domains() []string {
	out := make([]string, len(r.cfg.Domains))
	for i, d := range r.cfg.Domains {
		j, _ := domainJID(d)
		out[i] = j.Domain()
	}
	return out
}

// Close shuts the router down gracefully: it stops the listeners, closes
// the sessions of the in-process services (each stops taking stanzas and
// finishes what its handlers have queued, see Attach), sends the
// system-shutdown stream error and </stream:stream> to every connection
// (waiting up to 2 s for each peer's own close), and waits for every
// goroutine it started. When ctx ends first, connections are closed at once
// and Close returns ctx.Err() (a handler that ignores its context may
// outlive it).
func (r *Router) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		r.wg.Wait()
		return nil
	}
	r.closed = true
	r.m.close()
	lns := make([]net.Listener, 0, len(r.listeners))
	for ln := range r.listeners {
		lns = append(lns, ln)
	}
	var routes []route
	var attached []*attachment
	for _, crt := range r.comps {
		for _, rt := range linksOf(crt) {
			if a, ok := rt.(*attachment); ok {
				attached = append(attached, a)
				continue
			}
			routes = append(routes, rt)
		}
	}
	for _, a := range r.users {
		for _, c := range a.res {
			routes = append(routes, c.rt)
		}
	}
	conns := make([]*conn, 0, len(r.conns))
	for c := range r.conns {
		conns = append(conns, c)
	}
	r.mu.Unlock()
	for _, ln := range lns {
		ln.Close()
	}
	// In-process services stop gracefully first, while the connections
	// they may still send to are up.
	var awg sync.WaitGroup
	for _, a := range attached {
		awg.Add(1)
		go func() {
			defer awg.Done()
			if err := a.sess.Close(ctx); err != nil {
				a.kick(nil)
			}
		}()
	}
	awg.Wait()
	shutdown := stream.NewError(stream.SystemShutdown, "router shutting down")
	for _, rt := range routes {
		rt.kick(shutdown)
	}
	for _, c := range conns {
		c.kick(shutdown)
	}
	r.cancel()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
		return r.closeStore()
	case <-ctx.Done():
		r.mu.Lock()
		for c := range r.conns {
			c.nc.Close()
		}
		r.mu.Unlock()
		// Connection goroutines end at once now; a handler that ignores
		// its canceled context may not, and is not waited for long.
		select {
		case <-done:
		case <-time.After(time.Second):
		}
		r.closeStore()
		return ctx.Err()
	}
}

// closeStore closes the roster journal, once.
func (r *Router) closeStore() error {
	rs := &r.rosters
	rs.mu.Lock()
	defer rs.mu.Unlock()
	err := rs.store.close()
	rs.store = nil
	return err
}

// isLocal reports whether domain is one of the router's own domains.
func (r *Router) isLocal(domain string) bool { return r.local[domain] }

// errNoTo answers a component stanza without to (XEP-0114 gives components
// no account to address on their behalf).
var errNoTo = stanza.NewError(stanza.BadRequest, "a component stanza needs a 'to' address")

// dispatch delivers p to its destination, returning the stanza error to
// bounce with when it cannot be delivered.
func (r *Router) dispatch(p *packet) error {
	r.observe(p)
	if p.h.badAddr != nil {
		return p.h.badAddr
	}
	to := p.h.to
	if to.IsZero() {
		return errNoTo
	}
	domain := to.Domain()
	// Components first: the common case of a router, one map lookup.
	// (Component and local domains are disjoint, see New and Attach.)
	r.mu.RLock()
	rt := r.comps[domain]
	r.mu.RUnlock()
	if rt != nil {
		return rt.deliver(p)
	}
	if r.local[domain] {
		if to.Local() == "" {
			return r.serveServer(p)
		}
		return r.deliverLocal(p)
	}
	r.mu.RLock()
	known := r.known[domain]
	r.mu.RUnlock()
	if known {
		return errComponentDown
	}
	return errNoRoute
}

var (
	errComponentDown = &stanza.Error{Type: stanza.Wait, Condition: stanza.ServiceUnavailable, Text: "component not connected"}
	errNoRoute       = stanza.NewError(stanza.RemoteServerNotFound, "no route to this domain (the router has no server-to-server links)")
	errQueueFull     = &stanza.Error{Type: stanza.Wait, Condition: stanza.ResourceConstraint, Text: "recipient's queue is full"}
	errGone          = &stanza.Error{Type: stanza.Wait, Condition: stanza.ServiceUnavailable, Text: "recipient disconnected"}
)

// route delivers p and bounces it to its sender when that fails.
func (r *Router) route(p *packet) {
	if err := r.dispatch(p); err != nil {
		r.bounce(p, err)
	}
}

// bounce answers p with an error reply (RFC 6120 §8.3) routed to its sender.
// An error stanza is never answered (§8.3.1): it is dropped with a log
// record, as is a reply that cannot be delivered either.
func (r *Router) bounce(p *packet, err error) {
	var se *stanza.Error
	if !errors.As(err, &se) {
		se = stanza.NewError(stanza.InternalServerError, "")
	}
	if p.h.typ == stanza.TypeError || (p.h.kind == stanza.IQ && p.h.typ == stanza.TypeResult) || p.h.from.IsZero() {
		r.dropped(ReasonErrorNoRecipient, packetAttrs(&p.h, "condition", string(se.Condition))...)
		return
	}
	st, derr := p.stanza()
	if st == nil {
		r.dropped(ReasonUndecodable, packetAttrs(&p.h, "err", derr)...)
		return
	}
	reply := st.ErrorReply(se)
	if reply == nil {
		return
	}
	r.stats.bounced.Add(1)
	r.m.countUndelivered("bounced", string(se.Condition))
	rp := stanzaPacket(reply)
	if err := r.dispatch(rp); err != nil {
		r.dropped(ReasonReplyUndeliverable, packetAttrs(&rp.h, "err", err)...)
	}
}

// packetAttrs returns the log attributes that describe a stanza by its
// header (never its payload), followed by more.
func packetAttrs(h *header, more ...any) []any {
	return append([]any{"kind", h.kind.String(), "type", h.typ, "id", h.id,
		"from", h.from.String(), "to", h.to.String()}, more...)
}

// serveServer answers a stanza addressed to a local domain itself: disco#info
// and disco#items (XEP-0030; the items are the connected component domains)
// and ping (XEP-0199); any other IQ get or set gets service-unavailable (RFC
// 6120 §8.4), a malformed IQ bad-request (see ownIQ). Messages get
// service-unavailable; IQ results and presence are dropped and counted.
func (r *Router) serveServer(p *packet) error {
	switch {
	case p.h.kind == stanza.IQ:
		return r.ownIQ(p, true)
	case p.h.kind == stanza.Message && p.h.typ != stanza.TypeError:
		if handled, err := r.privilegedMessage(p); handled {
			return err
		}
		return stanza.ErrServiceUnavailable
	case p.h.kind == stanza.Presence && (p.h.typ == stanza.TypeProbe || p.h.typ == stanza.TypeSubscribe) && !p.h.from.IsZero():
		// The server is always online and lets anyone see it, as Prosody:
		// a probe gets its presence, a subscription request is approved.
		server, from := ownJID(p.h.to.DomainJID()), ownJID(p.h.from)
		if p.h.typ == stanza.TypeSubscribe {
			r.routeSubscription(server, from.Bare(), stanza.TypeSubscribed)
		}
		avail := stanza.NewPresence("", from)
		avail.From = server
		r.route(stanzaPacket(avail))
		return nil
	}
	r.dropped(ReasonToServer, packetAttrs(&p.h)...)
	return nil
}

// ownIQ handles an IQ the router answers itself, for the server (server
// true) or on behalf of an account (RFC 6121 §8.5.2.1.3). Results and errors
// are dropped and counted (but for answers to the router's own idle pings).
// An IQ that breaks RFC 6120 §8.2.3 (no id,
// no type or an unknown one, a get or set without exactly one payload
// element) gets the bad-request that stanza decoding reported. Without an
// id, the error reply has none either (§8.1.3 copies the id only when the
// request had one): the sender cannot match it by id, but its log shows
// what it did wrong. Other IQs go to answerIQ. It returns the stanza error
// to bounce with.
func (r *Router) ownIQ(p *packet, server bool) error {
	if p.h.typ == stanza.TypeResult || p.h.typ == stanza.TypeError {
		switch {
		case r.grantAnswer(p):
		case isOwnAnswer(p.h.id):
		case server:
			r.dropped(ReasonToServer, packetAttrs(&p.h)...)
		default:
			r.dropped(ReasonErrorToBare, packetAttrs(&p.h)...)
		}
		return nil
	}
	st, err := p.stanza()
	if st == nil {
		return err
	}
	if p.invalid != nil {
		return p.invalid
	}
	if handled, err := r.grantIQ(st, server); handled {
		return err
	}
	if !server {
		return r.accountIQ(st)
	}
	return r.answerIQ(st, server)
}

// accountIQ answers an IQ get or set to an account's bare JID (or, from a
// client, without to: its own account) on the account's behalf (RFC 6121
// §8.5.2.1.3, §8.5.2.2.3). The roster (RFC 6121 §2) is for the account's
// own resources only (forbidden for anyone else). Other queries (disco,
// ping) are answered for the account itself and for the contacts
// subscribed to its presence, as Prosody's mod_disco does; anyone else, and
// any query to an account that does not exist (§8.5.1), gets
// service-unavailable, so that a stranger cannot tell an existing account,
// online or offline, from one that does not exist.
func (r *Router) accountIQ(st *stanza.Stanza) error {
	account := st.To.Bare()
	if st.To.IsZero() {
		account = st.From.Bare()
	}
	requester := st.From.Bare()
	if isRosterIQ(st) {
		if requester != account {
			return stanza.NewError(stanza.Forbidden, "a roster is its account's own")
		}
		c := r.clientOf(st.From)
		if c == nil {
			return stanza.ErrServiceUnavailable
		}
		return r.rosterIQ(c, st)
	}
	if !r.accountExists(account) || requester != account && !r.subscription(account, requester).from() {
		return stanza.ErrServiceUnavailable
	}
	return r.answerIQ(st, false)
}

// clientOf returns the bound client of the full JID full, or nil.
func (r *Router) clientOf(full jid.JID) *client {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if acc := r.users[full.Bare().String()]; acc != nil {
		return acc.res[full.Resource()]
	}
	return nil
}
