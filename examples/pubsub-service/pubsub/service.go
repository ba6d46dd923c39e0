package pubsub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"xmppkit.dev/command"
	"xmppkit.dev/component"
	"xmppkit.dev/delegation"
	"xmppkit.dev/disco"
	"xmppkit.dev/form"
	"xmppkit.dev/jid"
	"xmppkit.dev/mam"
	"xmppkit.dev/mux"
	"xmppkit.dev/privilege"
	"xmppkit.dev/stanza"
)

// Options configures a Service.
type Options struct {
	// Store persists the nodes, items, subscriptions and affiliations;
	// nil keeps them in memory only (NewMemoryStore).
	Store Store
	// Logger receives errors of the store and of sending; nil means
	// slog.Default().
	Logger *slog.Logger
	// Queue is the number of answers and notification batches waiting to
	// be sent (default 4096); a full queue makes requests wait.
	Queue int
	// MayCreate says whether an entity may create nodes at the service
	// (XEP-0060 §8.1.3.1: forbidden otherwise); nil lets everyone. PEP
	// nodes are created by their account only, whatever it says.
	MayCreate func(from jid.JID) bool
	// AutoCreate makes a publish to a missing node create it with the
	// default configuration, or the publish-options (XEP-0060 §7.1.4,
	// #auto-create), for those MayCreate lets create nodes. PEP nodes are
	// always auto-created (XEP-0163 §3).
	AutoCreate bool
	// Admins are the service's administrators (bare JIDs): they act as
	// owners of every node and run the admin commands (list nodes, delete
	// a node, purge a user; see Commands).
	Admins []jid.JID
	// Bounds on the whole service's state: a request that would exceed
	// one gets resource-constraint (RFC 6120 §8.3.3.18: the service is
	// full, whoever asks). Zero means the default. MaxNodes: nodes (default
	// DefaultMaxNodes); MaxItemBytes: bytes of all stored items, payloads
	// and ids (default DefaultMaxItemBytes); MaxSubscriptions:
	// subscriptions over all nodes (default DefaultMaxSubscriptions).
	// Limits.MaxStoreBytes bounds them all together.
	MaxNodes         int
	MaxItemBytes     int64
	MaxSubscriptions int
	// Limits are the quotas of one user or node (policy-violation and
	// not-acceptable) and the store's size; the zero value means
	// DefaultLimits, and each zero field its default.
	Limits Limits
	// Privileges, when set, is the XEP-0356 privileged entity of the
	// component: with the roster permission it enables the presence and
	// roster access models (the owners' rosters are read on their
	// behalf), with the message permission PEP notifications from the
	// accounts' addresses, with the presence permission
	// send_last_published_item on presence and PEP's filtered
	// notifications. The Service sets its Presence handler. Handler mounts
	// it; with Register, mount it yourself.
	Privileges *privilege.Entity
	// Delegation, when set, is the XEP-0355 manager through which the
	// server delegates http://jabber.org/protocol/pubsub (and #owner) to
	// the component: the service then serves its users' PEP (XEP-0163).
	// The Service sets its DiscoFeatures and, with Privileges, its Sender.
	// Handler mounts it; with Register, mount it yourself.
	Delegation *delegation.Manager
	// Commands, when set, is the ad-hoc command registry (XEP-0050) the
	// service adds its commands to (get-pending, manage-pending and the
	// admin commands); the program mounts it. Nil: the service mounts one
	// of its own in Register.
	Commands *command.Registry
	// RosterTTL is how long a roster read through XEP-0356 is believed
	// (servers send the component no roster pushes); default 30 s.
	RosterTTL time.Duration
	// ExpireEvery is how often items past their node's pubsub#item_expire
	// are removed (they are never served once expired); default 1 s.
	ExpireEvery time.Duration
	// Now returns the current time (for tests); nil means time.Now.
	Now func() time.Time
}

// Defaults of the Options bounds. Payloads live in the store (on disk with
// FileStore), so the memory they bound is the index: a node costs about
// 1 KB, a subscription 300 bytes, an item 200 bytes (see the Cost
// constants, which Limits.MaxStoreBytes counts).
const (
	DefaultMaxNodes         = 10000
	DefaultMaxItemBytes     = 256 << 20
	DefaultMaxSubscriptions = 100000
)

// MaxResultBytes bounds the payload bytes of one items answer (XEP-0060
// §6.5): the newest items that fit are returned (at least one), with an
// RSM set (XEP-0059) giving the count and the place to page on, so that
// the answer stays below the stanza size servers pass on a component link.
const MaxResultBytes = 384 << 10

// MaxPayloadBytes is the default limit of one item's payload
// (Limits.MaxItemBytes); a larger publish gets not-acceptable with
// <payload-too-big/> (XEP-0060 §7.1.3.4). With MaxIDBytes it keeps every
// stanza that carries an item within the 512 KiB stanza limit of servers
// and of xmppkit's router.
const MaxPayloadBytes = 448 << 10

// MaxIDBytes bounds node and item ids (a longer one is not-acceptable).
const MaxIDBytes = 1 << 10

// ErrClosed is returned by Close when called twice.
var ErrClosed = errors.New("pubsub: service closed")

// Service is a XEP-0060 publish-subscribe service. It is a mux.Handler for
// iq stanzas in the pubsub and pubsub#owner namespaces, and a disco provider
// (disco.FeatureProvider, IdentityProvider, ItemPager, FormProvider).
// Mount it with Register next to other services and one disco.Handler, or
// serve Handler for the service alone.
//
// Every request runs in one Store transaction. Changes are committed one
// at a time, and their answers and notifications queued, in commit order,
// for one sending goroutine that sends them once the Store says the change
// is durable. A request's HandleStanza returns when its answer has been
// sent, so concurrent requests share one fsync (group commit) while each
// caller sees a finished request.
type Service struct {
	store      Store
	log        *slog.Logger
	mayCreate  func(jid.JID) bool
	autoCreate bool
	admins     map[string]bool
	adminList  []jid.JID
	limits     Limits
	maxNodes   int
	maxItems   int64 // Options.MaxItemBytes
	maxSubs    int
	priv       *privilege.Entity
	deleg      *delegation.Manager
	commands   *command.Registry
	ownCmds    bool
	archive    *mam.Handler
	now        func() time.Time

	rosters     *rosterCache
	presence    *presenceTable
	presenceSem chan struct{}

	mu     sync.Mutex // serializes commits and their place in the queue
	closed bool

	out  chan *outbound
	done chan struct{}
	stop chan struct{}
	bg   sync.WaitGroup
}

// outbound is what one request sends: its answer and its notifications,
// once wait says the change is durable.
type outbound struct {
	wait   func() error
	sender mux.Sender
	reply  *stanza.Stanza
	onFail *stanza.Stanza
	notes  []*stanza.Stanza
	done   chan struct{} // closed once sent
}

// New starts the service's sending goroutine and its item expiry; Close
// stops them and closes the store.
func New(opts Options) (*Service, error) {
	s := &Service{
		store: opts.Store, log: opts.Logger, mayCreate: opts.MayCreate, autoCreate: opts.AutoCreate,
		limits: opts.Limits.withDefaults(), priv: opts.Privileges, deleg: opts.Delegation,
		commands: opts.Commands, now: opts.Now, admins: map[string]bool{},
		maxNodes: opts.MaxNodes, maxItems: opts.MaxItemBytes, maxSubs: opts.MaxSubscriptions,
		done: make(chan struct{}), stop: make(chan struct{}),
	}
	if s.store == nil {
		s.store = NewMemoryStore()
	}
	if s.maxNodes <= 0 {
		s.maxNodes = DefaultMaxNodes
	}
	if s.maxItems <= 0 {
		s.maxItems = DefaultMaxItemBytes
	}
	if s.maxSubs <= 0 {
		s.maxSubs = DefaultMaxSubscriptions
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	for _, a := range opts.Admins {
		s.admins[a.Bare().String()] = true
		s.adminList = append(s.adminList, a.Bare())
	}
	ttl := opts.RosterTTL
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	s.rosters = newRosterCache(ttl, s.now)
	s.presence = newPresenceTable()
	s.presenceSem = make(chan struct{}, presenceWorkers)
	q := opts.Queue
	if q <= 0 {
		q = 4096
	}
	s.out = make(chan *outbound, q)
	if s.commands == nil {
		s.commands, s.ownCmds = &command.Registry{}, true
	}
	s.addCommands(s.commands)
	s.archive = &mam.Handler{Archive: nodeArchive{s}, Allow: s.mayQueryArchive}
	if s.priv != nil {
		s.priv.Presence = mux.HandlerFunc(s.handlePresence)
	}
	if s.deleg != nil {
		s.deleg.DiscoFeatures = s.delegatedFeatures
		s.deleg.DiscoIdentities = s.delegatedIdentities
		if s.priv != nil && s.deleg.Sender == nil {
			s.deleg.Sender = s.priv.OnBehalf
		}
	}
	go s.dispatch()
	every := opts.ExpireEvery
	if every <= 0 {
		every = time.Second
	}
	s.bg.Add(1)
	go s.expireLoop(every)
	return s, nil
}

// Register mounts the service on m: XEP-0060 requests (and, delegated,
// PEP), the authorization form submissions (§8.6), available presence
// (send_last_published_item, unless Options.Privileges receives them), the
// XEP-0313 archive of each node (XEP-0442) and the ad-hoc commands (unless
// Options.Commands is set). It mounts no disco handler: the service
// advertises through the disco provider interfaces, so that one
// disco.Handler on m answers for it and every other service there (mount
// that once, disco.New(m).Register(m)).
func (s *Service) Register(m *mux.ServeMux) {
	// One route per XEP-0060 action (the first child of <pubsub/>); what
	// none takes (an unknown action, an empty request) reaches the
	// service's HandleStanza, which says what is wrong.
	for k, h := range actions {
		typ, ns := stanza.TypeSet, NS
		if k.get {
			typ = stanza.TypeGet
		}
		if k.owner {
			ns = NSOwner
		}
		m.HandleIQAction(typ, ns, "pubsub", k.act, actionRoute{s, h})
	}
	m.HandleIQ("", NS, "pubsub", s)
	m.HandleIQ("", NSOwner, "pubsub", s)
	m.HandleMessage(mux.AnyType, form.NS, mux.HandlerFunc(s.handleAuthorization))
	if s.priv == nil {
		m.HandlePresence("", mux.HandlerFunc(s.handlePresence))
		m.HandlePresence(stanza.TypeUnavailable, mux.HandlerFunc(s.handlePresence))
	}
	s.archive.Register(m)
	if s.ownCmds {
		s.commands.Register(m)
	}
}

// Handler returns a new ServeMux serving the service alone: the service
// registered, Options.Privileges and Options.Delegation when set, and a
// disco handler (XEP-0030) answering from them.
func (s *Service) Handler() *mux.ServeMux {
	m := mux.New()
	s.Register(m)
	s.RegisterEntities(m)
	disco.New(m).Register(m)
	return m
}

// RegisterEntities mounts Options.Privileges and Options.Delegation on m,
// when set (Handler does; a program composing several services mounts
// them once).
func (s *Service) RegisterEntities(m *mux.ServeMux) {
	if s.priv != nil {
		s.priv.Register(m)
	}
	if s.deleg != nil {
		s.deleg.Register(m)
	}
}

// OnLink is the component's OnLink hook (component.Component.OnLink):
// servers revoke privileges and delegations with the link and grant them
// again after the next handshake, and what the service learned of its
// users' presence and rosters through them goes too. Only a link's loss
// resets them: with several links (component.Component.Links) ejabberd
// revokes the domain's grants when any one link closes and advertises them
// again when a link logs in, possibly on another link before the returning
// link's Up event, and it does not announce a delegation again to a second
// link while the first holds it.
func (s *Service) OnLink(ev component.LinkEvent) {
	if ev.Up {
		return
	}
	if s.priv != nil {
		s.priv.Reset()
	}
	if s.deleg != nil {
		s.deleg.Reset()
	}
	s.presence.reset()
	s.rosters.reset()
}

// Close stops taking requests, sends what is queued, and closes the store.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	close(s.stop)
	close(s.out)
	s.mu.Unlock()
	<-s.done
	s.bg.Wait()
	return s.store.Close()
}

func (s *Service) dispatch() {
	defer close(s.done)
	ctx := context.Background()
	for ob := range s.out {
		if err := ob.wait(); err != nil {
			s.log.Error("pubsub: store failed; change not acknowledged", "err", err)
			if ob.onFail != nil {
				s.send(ctx, ob.sender, ob.onFail)
			}
			close(ob.done)
			continue
		}
		if ob.reply != nil {
			s.send(ctx, ob.sender, ob.reply)
		}
		for _, n := range ob.notes {
			s.send(ctx, ob.sender, n)
		}
		close(ob.done)
	}
}

func (s *Service) send(ctx context.Context, snd mux.Sender, st *stanza.Stanza) {
	if err := snd.Send(ctx, st); err != nil {
		s.log.Warn("pubsub: send failed", "to", st.To.String(), "id", st.ID, "err", err)
	}
}

// errNeedRoster asks for a roster read outside the transaction: the
// request runs again once it is cached.
type errNeedRoster struct{ owner jid.JID }

func (e errNeedRoster) Error() string { return "pubsub: roster of " + e.owner.String() + " needed" }

// write runs fn in a write transaction and queues its answer and the
// notifications it added behind the commit's durability; it returns once
// they are sent (or ctx ended).
func (s *Service) write(rc *reqCtx, fn func(tx Tx) (*stanza.Stanza, error)) error {
	ob, err := s.commit(rc, fn)
	if err != nil {
		return err
	}
	select {
	case <-ob.done:
	case <-rc.ctx.Done():
	}
	return nil
}

// commit is write without waiting for the answer to go out.
func (s *Service) commit(rc *reqCtx, fn func(tx Tx) (*stanza.Stanza, error)) (*outbound, error) {
	for attempt := 0; ; attempt++ {
		ob, err := s.tryCommit(rc, fn)
		var need errNeedRoster
		switch {
		case errors.As(err, &need) && attempt < 4:
			s.fetchRoster(rc.ctx, rc.snd, need.owner)
			continue
		case errors.Is(err, ErrConflict) && attempt < 4:
			continue
		}
		return ob, s.storeError(err)
	}
}

func (s *Service) tryCommit(rc *reqCtx, fn func(tx Tx) (*stanza.Stanza, error)) (*outbound, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, stanza.NewError(stanza.ServiceUnavailable, "shutting down")
	}
	var reply *stanza.Stanza
	wait, err := s.store.Write(rc.ctx, func(tx Tx) error {
		rc.notes = rc.notes[:0]
		r, err := fn(tx)
		reply = r
		return err
	})
	if err != nil {
		return nil, err
	}
	ob := &outbound{
		wait:   wait,
		sender: rc.sender(),
		reply:  reply,
		notes:  rc.notes,
		done:   make(chan struct{}),
	}
	if rc.iq != nil && rc.iq.Kind == stanza.IQ {
		ob.onFail = rc.iq.ErrorReply(stanza.NewError(stanza.InternalServerError, "storage failed"))
	}
	rc.notes = nil
	s.out <- ob
	return ob, nil
}

// read runs fn in a read transaction and sends its answer.
func (s *Service) read(rc *reqCtx, fn func(tx Tx) (*stanza.Stanza, error)) error {
	for attempt := 0; ; attempt++ {
		var reply *stanza.Stanza
		err := s.store.Read(rc.ctx, func(tx Tx) error {
			r, err := fn(tx)
			reply = r
			return err
		})
		var need errNeedRoster
		if errors.As(err, &need) && attempt < 4 {
			s.fetchRoster(rc.ctx, rc.snd, need.owner)
			continue
		}
		if err != nil {
			return s.storeError(err)
		}
		if reply != nil {
			return rc.snd.Send(rc.ctx, reply)
		}
		return nil
	}
}

// storeError turns what a transaction returned into the error to answer.
func (s *Service) storeError(err error) error {
	var se *stanza.Error
	var need errNeedRoster
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return se
	case errors.As(err, &need):
		return stanza.NewError(stanza.RemoteServerTimeout, "the owner's roster could not be read")
	case errors.Is(err, ErrNotFound):
		return itemNotFound("")
	case errors.Is(err, ErrExists):
		return stanza.NewError(stanza.Conflict, "node exists")
	case errors.Is(err, ErrUnavailable), errors.Is(err, ErrConflict):
		s.log.Error("pubsub: store unavailable", "err", err)
		e := stanza.NewError(stanza.ResourceConstraint, "storage unavailable; try again later")
		e.Type = stanza.Wait
		return e
	case errors.Is(err, ErrStoreClosed):
		return stanza.NewError(stanza.ServiceUnavailable, "shutting down")
	}
	s.log.Error("pubsub: store", "err", err)
	return stanza.NewError(stanza.InternalServerError, "storage failed")
}

func (s *Service) isAdmin(bare string) bool { return s.admins[bare] }

func (s *Service) timeNow() time.Time { return s.now() }

// reqCtx is one request being handled.
type reqCtx struct {
	ctx   context.Context
	iq    *stanza.Stanza
	snd   mux.Sender
	from  jid.JID
	bare  string
	svc   jid.JID // the address that answers: the service's, or the PEP account's
	key   string  // Key.Service of the nodes addressed
	pep   bool
	req   *request
	notes []*stanza.Stanza
	s     *Service
}

func (rc *reqCtx) k(node string) Key { return Key{rc.key, node} }

// sender is what notifications go through: for PEP, on behalf of the
// account (XEP-0356 message permission).
func (rc *reqCtx) sender() mux.Sender { return rc.snd }

func (rc *reqCtx) admin() bool { return rc.s.isAdmin(rc.bare) }

// result returns the iq result with <pubsub xmlns=ns> holding children.
func (rc *reqCtx) result(ns string, children ...stanza.Element) *stanza.Stanza {
	return rc.iq.Result(stanza.NewBuilder(ns, "pubsub").Append(children...).Element())
}

func (rc *reqCtx) note(m *stanza.Stanza) { rc.notes = append(rc.notes, m) }

// HandleStanza answers an iq in the pubsub or pubsub#owner namespace
// (XEP-0060 §6-§8), at the service's address or, delegated (XEP-0355), at
// an account's (PEP, XEP-0163). Refusals are returned as *stanza.Error with
// the XEP's condition and pubsub#errors element; a success is answered
// (and notified) before it returns.
func (s *Service) HandleStanza(ctx context.Context, snd mux.Sender, iq *stanza.Stanza) error {
	return s.serve(ctx, snd, iq, nil)
}

// actionRoute serves one action's route; it advertises nothing itself
// (the Service's providers say what the service offers).
type actionRoute struct {
	s *Service
	h func(*Service, *reqCtx) error
}

func (a actionRoute) HandleStanza(ctx context.Context, snd mux.Sender, iq *stanza.Stanza) error {
	return a.s.serve(ctx, snd, iq, a.h)
}

func (actionRoute) Features(disco.Query) []string { return nil }

// serve reads the request and runs h, or, when h is nil, the handler of
// its action (actions).
func (s *Service) serve(ctx context.Context, snd mux.Sender, iq *stanza.Stanza, h func(*Service, *reqCtx) error) error {
	el, ok := iq.PayloadElement()
	if !ok {
		return badRequest("no payload", "")
	}
	req, err := parseRequest([]byte(el.XML()))
	if err != nil {
		return err
	}
	rc := &reqCtx{ctx: ctx, iq: iq, snd: snd, from: iq.From, bare: iq.From.Bare().String(), svc: iq.To.DomainJID(), req: req, s: s}
	if _, delegated := delegation.FromContext(ctx); delegated {
		if iq.To.Local() == "" {
			return stanza.NewError(stanza.ServiceUnavailable, "no pubsub service at the server itself")
		}
		rc.pep, rc.svc, rc.key = true, iq.To.Bare(), iq.To.Bare().String()
	} else if iq.To.Local() != "" {
		return stanza.NewError(stanza.ServiceUnavailable, "")
	}
	act := req.action()
	if h == nil {
		h = actions[actionKey{el.Space == NSOwner, iq.Type == stanza.TypeGet, act}]
	}
	if h == nil {
		return s.unknownAction(rc, el.Space == NSOwner, act)
	}
	return h(s, rc)
}

type actionKey struct {
	owner, get bool
	act        string
}

// actions maps each XEP-0060 request to its handler: the child of
// <pubsub/> (its first), the namespace and the iq type.
var actions = map[actionKey]func(*Service, *reqCtx) error{
	{false, false, "create"}:       (*Service).create,
	{false, false, "publish"}:      (*Service).publish,
	{false, false, "retract"}:      (*Service).retract,
	{false, false, "subscribe"}:    (*Service).subscribe,
	{false, false, "unsubscribe"}:  (*Service).unsubscribe,
	{false, true, "items"}:         (*Service).items,
	{false, true, "subscriptions"}: (*Service).ownSubscriptions,
	{false, true, "affiliations"}:  (*Service).ownAffiliations,
	{false, true, "options"}:       (*Service).optionsGet,
	{false, false, "options"}:      (*Service).optionsSet,
	{false, true, "default"}:       (*Service).defaultSubOptions,
	{true, true, "configure"}:      (*Service).configureGet,
	{true, false, "configure"}:     (*Service).configureSet,
	{true, true, "default"}:        (*Service).defaultConfig,
	{true, false, "delete"}:        (*Service).deleteNode,
	{true, false, "purge"}:         (*Service).purge,
	{true, true, "subscriptions"}:  (*Service).manageSubscriptionsGet,
	{true, false, "subscriptions"}: (*Service).manageSubscriptionsSet,
	{true, true, "affiliations"}:   (*Service).manageAffiliationsGet,
	{true, false, "affiliations"}:  (*Service).manageAffiliationsSet,
}

func (s *Service) unknownAction(rc *reqCtx, owner bool, act string) error {
	if act == "" {
		return badRequest("empty pubsub request", "")
	}
	for k := range actions {
		if k.act == act && k.owner == owner {
			return badRequest(fmt.Sprintf("%s is not a %s request", act, rc.iq.Type), "")
		}
	}
	return unsupported(act)
}
