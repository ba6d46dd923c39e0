package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"xmppkit.dev/bridge/archive"
	"xmppkit.dev/command"
	"xmppkit.dev/disco"
	"xmppkit.dev/form"
	"xmppkit.dev/jid"
	"xmppkit.dev/journal"
	"xmppkit.dev/mux"
	"xmppkit.dev/ping"
	"xmppkit.dev/privilege"
	"xmppkit.dev/stanza"
)

// Feature is a set of things a network can carry; Config.Features says
// which, and the kit advertises them at puppets and rooms (XEP-0030, XEP-0115)
// so that clients offer only what works.
type Feature uint32

// The features of Config.Features.
const (
	Corrections Feature = 1 << iota // XEP-0308
	Retractions                     // XEP-0424
	Reactions                       // XEP-0444
	Replies                         // XEP-0461
	Markers                         // XEP-0333 read markers
	ChatStates                      // XEP-0085
	Attachments                     // XEP-0066 / XEP-0363
	Avatars                         // XEP-0084 / XEP-0153
	Groups                          // XEP-0045 group chats

	AllFeatures = Corrections | Retractions | Reactions | Replies | Markers | ChatStates | Attachments | Avatars | Groups
)

// Defaults of Config.
const (
	DefaultLoginTimeout  = 60 * time.Second
	DefaultSendTimeout   = 30 * time.Second
	DefaultReconnectMin  = time.Second
	DefaultReconnectMax  = 5 * time.Minute
	DefaultQueue         = 256
	DefaultEventBurst    = 200
	DefaultEventInterval = 5 * time.Millisecond
	DefaultMaxAttachment = 100 << 20
	DefaultIDs           = 10_000
)

// Config configures a Gateway. Domain and Network are required.
type Config struct {
	// Domain is the gateway's XMPP domain (the component's), e.g.
	// "telegram.example.org". Puppets and rooms are JIDs at it.
	Domain string
	// Network is the legacy network.
	Network Network
	// Name is the gateway's name in service discovery; default "Gateway".
	Name string
	// Type is its XEP-0100 identity type (gateway/<Type>: "irc", "telegram",
	// "smtp", ...; XEP-0100 §5.1 and the registry); default "generic".
	Type string
	// Registration is the registration form's fields (XEP-0077 §4 with
	// XEP-0004): what the user gives to log in (a user name, a password as
	// text-private, a phone number). Without fields the gateway needs no
	// registration data (a user registers by submitting the empty form).
	Registration []form.Field
	// Instructions are shown with the registration form.
	Instructions string
	// Store keeps the accounts. Default: a journal on disk in DataDir
	// (OpenStore, with the text-private registration fields sealed by
	// Sealer), or, without DataDir, in memory (the accounts are then lost
	// at exit, which the log says).
	Store Store
	// DataDir is where the gateway keeps its data (the accounts in
	// DataDir/accounts) when Store is nil.
	DataDir string
	// Sealer seals the secret registration values on disk (see Sealer).
	Sealer Sealer
	// Sender sends the gateway's stanzas that answer nothing (the network's
	// traffic). Default: the Sender that comes with the first stanza the
	// gateway handles (the component, or the router attachment).
	Sender mux.Sender
	// Privileges is the XEP-0356 entity the gateway asks for privileges;
	// default its own, mounted by Register. Give one when the program mounts
	// it itself (and call its Reset from the component's OnLink hook; the
	// gateway's own is reset by Gateway.LinkChanged).
	Privileges *privilege.Entity
	// Addresses maps legacy ids to JIDs; default Escaped (XEP-0106).
	Addresses Addresser
	// Features the network carries; zero means AllFeatures.
	Features Feature
	// NetworkReceipts says that the network reports delivery with Receipt
	// events; without it the kit answers a XEP-0184 request as soon as
	// Send took the message.
	NetworkReceipts bool
	// Uploader makes links for the network's attachments; nil sends only
	// attachments that come with a URL.
	Uploader Uploader
	// MaxAttachment bounds what Attachment.Open reads of a user's file;
	// default DefaultMaxAttachment.
	MaxAttachment int64
	// Admins are the bare JIDs that may run the administration commands
	// (XEP-0050, XEP-0133).
	Admins []jid.JID
	// Logger; default slog.Default().
	Logger *slog.Logger
	// LoginTimeout bounds Network.Login; SendTimeout bounds Session.Send and
	// Close. Defaults DefaultLoginTimeout and DefaultSendTimeout.
	LoginTimeout, SendTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the backoff between logins after
	// a failure or a Disconnected with Retry.
	ReconnectMin, ReconnectMax time.Duration
	// Queue bounds the user's actions waiting for the Session (a message
	// beyond it is refused with resource-constraint); default DefaultQueue.
	Queue int
	// EventBurst and EventInterval pace each user's events from the network
	// (a token bucket: a burst, then one per interval): a network that floods
	// one user slows only that user's Emit calls, and the user is told.
	EventBurst    int
	EventInterval time.Duration
	// Archive keeps the history of the group chats, replayed on join
	// (XEP-0045 §7.2.14) and served at each room with XEP-0313; nil keeps
	// none (the network's own history, if any, is all there is).
	Archive *archive.Archive
	// Open makes the gateway serve users who have not registered, for a
	// network that needs no credentials or derives them from the user's
	// JID: a user's first available presence logs them in with an Account
	// holding their JID and no Values (a user may still register to give
	// values; what the kit remembers of a user, such as the notices given,
	// is then stored as an account). Default false: XEP-0077 registration
	// first (the registration-required error otherwise).
	Open bool
	// Intercept, when set, sees every stanza the Gateway handles
	// (HandleStanza) before the kit does, and reports whether it handled
	// it (its error goes back to the sender, as a mux.Handler's): for
	// addresses or payloads the kit does not model, such as a raw
	// protocol spoken at a server's address or a network's own queries.
	// A program that mounts the gateway with Register routes such
	// stanzas on its own mux instead.
	Intercept func(ctx context.Context, s mux.Sender, st *stanza.Stanza) (handled bool, err error)
	// IDs bounds the message ids remembered per user to map XMPP ids to
	// legacy ids and back (corrections, replies, reactions); default
	// DefaultIDs.
	IDs int
}

// Gateway bridges the users of one legacy network to XMPP. It is a
// mux.Handler to attach on Config.Domain (a component's handler, or
// router.Attach); Register mounts it on a mux of the program's instead.
// Close logs every user out.
type Gateway struct {
	cfg     Config
	domain  jid.JID
	addr    Addresser
	log     *slog.Logger
	priv    *privilege.Entity
	ownPriv bool
	mux     *mux.ServeMux
	cmds    command.Registry
	disco   *disco.Handler

	capsOnce sync.Once
	caps     capsCache

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	sender   mux.Sender
	users    map[string]*user
	closed   bool
	refused  map[string]string // server -> why it refused a privilege it advertised
	reported map[string]string // server -> last report logged
	accounts *Accounts
	ownStore *JournalStore // opened by New, closed by Close
}

// New returns a Gateway for cfg.
func New(cfg Config) (*Gateway, error) {
	dom, err := jid.New("", cfg.Domain, "")
	if err != nil || cfg.Domain == "" {
		return nil, fmt.Errorf("bridge: bad domain %q: %v", cfg.Domain, err)
	}
	if cfg.Network == nil {
		return nil, errors.New("bridge: no Network")
	}
	if cfg.Name == "" {
		cfg.Name = "Gateway"
	}
	if cfg.Type == "" {
		cfg.Type = "generic"
	}
	var ownStore *JournalStore
	if cfg.Addresses == nil {
		cfg.Addresses = Escaped{}
	}
	if cfg.Features == 0 {
		cfg.Features = AllFeatures
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.LoginTimeout, DefaultLoginTimeout)
	def(&cfg.SendTimeout, DefaultSendTimeout)
	def(&cfg.ReconnectMin, DefaultReconnectMin)
	def(&cfg.ReconnectMax, DefaultReconnectMax)
	def(&cfg.EventInterval, DefaultEventInterval)
	if cfg.ReconnectMax < cfg.ReconnectMin {
		cfg.ReconnectMax = cfg.ReconnectMin
	}
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultQueue
	}
	if cfg.EventBurst <= 0 {
		cfg.EventBurst = DefaultEventBurst
	}
	if cfg.MaxAttachment <= 0 {
		cfg.MaxAttachment = DefaultMaxAttachment
	}
	if cfg.IDs <= 0 {
		cfg.IDs = DefaultIDs
	}
	for _, f := range cfg.Registration {
		if f.Var == "" || f.Var == form.FormTypeVar {
			return nil, fmt.Errorf("bridge: registration field without a usable var (%q)", f.Label)
		}
	}
	g := &Gateway{
		cfg:      cfg,
		domain:   dom,
		addr:     cfg.Addresses,
		log:      cfg.Logger,
		sender:   cfg.Sender,
		users:    make(map[string]*user),
		refused:  make(map[string]string),
		reported: make(map[string]string),
	}
	if cfg.Store == nil && cfg.DataDir != "" {
		st, err := OpenStore(filepath.Join(cfg.DataDir, "accounts"), StoreOptions{Sealer: cfg.Sealer, Secret: (&Accounts{Fields: cfg.Registration}).Secret, Journal: journal.Options{Logger: cfg.Logger}})
		if err != nil {
			return nil, err
		}
		ownStore, g.cfg.Store = st, st
	} else if cfg.Store == nil {
		g.cfg.Store = &MemoryStore{}
		cfg.Logger.Warn("bridge: no DataDir or Store: registrations are kept in memory only")
	}
	g.ownStore = ownStore
	var registrar Registrar
	if r, ok := cfg.Network.(Registrar); ok {
		registrar = r
	}
	g.accounts = &Accounts{Name: cfg.Name, Instructions: cfg.Instructions, Fields: cfg.Registration,
		Registrar: registrar, Store: g.cfg.Store, OnChange: g.accountChanged}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	g.priv = cfg.Privileges
	if g.priv == nil {
		g.ownPriv = true
		g.priv = &privilege.Entity{Logger: cfg.Logger}
	}
	g.priv.OnChange = chainChange(g.priv.OnChange, g.grantsChanged)
	m := mux.New()
	g.Register(m)
	g.disco = disco.New(m)
	g.disco.Register(m)
	g.mux = m
	return g, nil
}

func chainChange(prev, next func(privilege.Grants)) func(privilege.Grants) {
	if prev == nil {
		return next
	}
	return func(gr privilege.Grants) { prev(gr); next(gr) }
}

// Register mounts the gateway's handlers on m: XEP-0077 registration, the
// XEP-0050 commands (register, status, the XEP-0133 administration set),
// presence (logins, subscriptions, probes), messages to puppets and rooms,
// and, unless Config.Privileges was given, the XEP-0356 entity. It mounts
// no disco handler: the gateway advertises through the disco provider
// interfaces, so one disco.Handler on m answers for it and any other
// service there.
func (g *Gateway) Register(m *mux.ServeMux) {
	h := func(f func(context.Context, mux.Sender, *stanza.Stanza) error) mux.Handler {
		return mux.HandlerFunc(func(ctx context.Context, s mux.Sender, st *stanza.Stanza) error {
			g.keepSender(s)
			return f(ctx, s, st)
		})
	}
	g.accounts.Register(m)
	prompt := &provider{g: g, h: h(g.handleGatewayPrompt)}
	m.HandleIQ("", NSGateway, "query", prompt)
	// Puppets and rooms advertise these through the provider; the
	// gateway's own address does not have them.
	m.HandleIQ(stanza.TypeGet, NSVCard, "vCard", &quiet{h(g.handleVCard)})
	m.HandleIQ(stanza.TypeGet, NSPubSub, "pubsub", &quiet{h(g.handleAvatarItems)})
	m.HandleIQ("", NSMAM, "query", &quiet{h(g.handleMAM)})
	m.HandleIQ(stanza.TypeGet, ping.NS, "ping", h(g.handleRoomPing))
	g.commands()
	g.cmds.Register(m)
	presence := h(g.handlePresence)
	if g.ownPriv {
		g.priv.Presence = presence
		g.priv.Register(m)
	} else {
		m.HandlePresence("", presence)
		m.HandlePresence(stanza.TypeUnavailable, presence)
	}
	for _, t := range []string{stanza.TypeSubscribe, stanza.TypeSubscribed, stanza.TypeUnsubscribe, stanza.TypeUnsubscribed, stanza.TypeProbe} {
		m.HandlePresence(t, presence)
	}
	m.HandlePresence(stanza.TypeError, presence)
	m.HandleMessage(mux.AnyType, "", h(g.handleMessage))
	m.HandleMessage(stanza.TypeError, "", h(g.handleMessageError))
}

// quiet is a handler that advertises nothing itself (disco.FeatureProvider
// with no features): the provider speaks for the JIDs it serves.
type quiet struct{ mux.Handler }

func (*quiet) Features(disco.Query) []string { return nil }

func (g *Gateway) keepSender(s mux.Sender) {
	g.mu.Lock()
	if g.sender == nil {
		g.sender = s
	}
	g.mu.Unlock()
}

// HandleStanza implements mux.Handler: the gateway's own ServeMux, with
// Register and a disco.Handler.
func (g *Gateway) HandleStanza(ctx context.Context, s mux.Sender, st *stanza.Stanza) error {
	g.keepSender(s)
	if g.cfg.Intercept != nil {
		if handled, err := g.cfg.Intercept(ctx, s, st); handled {
			return err
		}
	}
	return g.mux.HandleStanza(ctx, s, st)
}

// LinkChanged tells the gateway that the link to the server went up or
// down: call it from the component's OnLink hook. It resets the gateway's
// own privilege entity (servers grant privileges per link) and forgets the
// refusals seen on the old link.
func (g *Gateway) LinkChanged() {
	if g.ownPriv {
		g.priv.Reset()
	}
	g.mu.Lock()
	clear(g.refused)
	g.mu.Unlock()
}

// Privileges returns the XEP-0356 entity the gateway uses.
func (g *Gateway) Privileges() *privilege.Entity { return g.priv }

// Domain returns the gateway's address.
func (g *Gateway) Domain() jid.JID { return g.domain }

// Close logs every user out (Session.Close) and waits for their goroutines
// to end. The gateway then refuses new logins.
func (g *Gateway) Close() {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return
	}
	g.closed = true
	us := make([]*user, 0, len(g.users))
	for _, u := range g.users {
		us = append(us, u)
	}
	g.mu.Unlock()
	for _, u := range us {
		u.shutdown("The gateway is shutting down")
	}
	g.cancel()
	g.wg.Wait()
	if g.ownStore != nil {
		if err := g.ownStore.Close(); err != nil {
			g.log.Warn("bridge: closing the account store", "err", err)
		}
	}
}

// Emit reports an event of a user's session by the user's JID, for a
// network that serves every user on one connection (a bot API) rather than
// through the Events given to Login. It returns ErrUnknownUser when the user
// is not logged in.
func (g *Gateway) Emit(ctx context.Context, user jid.JID, ev Event) error {
	g.mu.Lock()
	u := g.users[user.Bare().String()]
	g.mu.Unlock()
	if u == nil {
		g.log.Info("bridge: event for a user who is not logged in", "user", user)
		return fmt.Errorf("%w: %s", ErrUnknownUser, user.Bare())
	}
	u.mu.Lock()
	evs := u.evs
	u.mu.Unlock()
	if evs == nil {
		return fmt.Errorf("%w: %s", ErrUnknownUser, user.Bare())
	}
	return evs.Emit(ctx, ev)
}

// send sends st through the gateway's Sender.
func (g *Gateway) send(ctx context.Context, st *stanza.Stanza) error {
	if st == nil {
		return nil
	}
	g.mu.Lock()
	s := g.sender
	g.mu.Unlock()
	if s == nil {
		return errors.New("bridge: no Sender yet (the gateway has not been attached)")
	}
	if ctx == nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(g.ctx, g.cfg.SendTimeout)
		defer cancel()
	}
	return s.Send(ctx, st)
}

func (g *Gateway) sender0() mux.Sender {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.sender
}

func (g *Gateway) isAdmin(j jid.JID) bool {
	b := j.Bare()
	for _, a := range g.cfg.Admins {
		if a.Bare().Equal(b) {
			return true
		}
	}
	return false
}

// Network returns the legacy network of the gateway.
func (g *Gateway) Network() Network { return g.cfg.Network }

// Store returns the gateway's account store.
func (g *Gateway) Store() Store { return g.cfg.Store }
