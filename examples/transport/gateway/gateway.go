package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"xmppkit.dev/bridge"
	"xmppkit.dev/bridge/archive"
	"xmppkit.dev/bridge/room"
	"xmppkit.dev/bridge/settings"
	"xmppkit.dev/examples/transport/irc"
	"xmppkit.dev/jid"
	"xmppkit.dev/mam"
	"xmppkit.dev/mux"
	"xmppkit.dev/ping"
	"xmppkit.dev/stanza"
	"xmppkit.dev/version"
)

// Config configures a Gateway.
type Config struct {
	// Domain is the gateway's XMPP domain, e.g. "irc.localhost".
	Domain string
	// Networks maps each IRC server name usable in addresses to how to
	// reach it. Users can reach only these servers.
	Networks map[string]Network
	// Default is the server name (a key of Networks) that addresses may
	// leave out; "" makes the server part mandatory.
	Default string
	// Store keeps registrations (XEP-0077); default a MemoryStore.
	Store Store
	// Sender sends the gateway's unsolicited stanzas (IRC traffic). Default:
	// the Sender passed with the first stanza the gateway handles.
	Sender mux.Sender
	// Logger; default slog.Default().
	Logger *slog.Logger
	// ReconnectMin and ReconnectMax bound the backoff between attempts to
	// reconnect a user's dropped IRC connection; defaults 1 s and 60 s.
	ReconnectMin, ReconnectMax time.Duration
	// PingInterval is the IRC keepalive (irc.Config.PingInterval).
	PingInterval time.Duration
	// RegisterTimeout bounds an IRC server's registration (from connect to
	// 001); default 30 s (irc.Config.RegisterTimeout).
	RegisterTimeout time.Duration
	// Dialer opens IRC connections; default a net.Dialer.
	Dialer irc.Dialer
	// Version is what the gateway answers to XEP-0092 version requests;
	// default "xmppkit IRC transport".
	Version version.Info
	// MaxOccupants bounds the occupants the gateway keeps for one room
	// (memory stays bounded on a JOIN flood); default 20000.
	MaxOccupants int
	// CTCPTimeout bounds the wait for an IRC user's answer to a version or
	// ping request relayed as CTCP; default 10 s.
	CTCPTimeout time.Duration
	// Settings keeps what users configure with the ad-hoc commands
	// (XEP-0050); default in memory. On disk, open it with
	// settings.Open and SecretSettings.
	Settings *settings.Store
	// Archive keeps the history of rooms whose user agreed to recording;
	// default in memory (mam.Memory).
	Archive *archive.Archive
	// Admins are the bare JIDs that may run the administration commands.
	Admins []jid.JID
}

// Gateway bridges XMPP users to IRC. It is a mux.Handler to attach on
// Config.Domain; Close ends every IRC connection.
type Gateway struct {
	cfg    Config
	mapper Mapper
	mux    *mux.ServeMux
	log    *slog.Logger
	// accounts is registration (XEP-0077), the gateway kit's.
	accounts *bridge.Accounts

	// sessions are the users' IRC connections, one per (user, server):
	// the gateway kit's actors, keyed by the server's configured name.
	sessions bridge.Actors[*session]

	mu     sync.Mutex
	sender mux.Sender
	lists  map[string]listCache // channel lists, by bare JID + "\x00" + server
}

// New returns a Gateway for cfg.
func New(cfg Config) (*Gateway, error) {
	if _, err := jid.New("", cfg.Domain, ""); err != nil || cfg.Domain == "" {
		return nil, fmt.Errorf("gateway: bad domain %q: %v", cfg.Domain, err)
	}
	if len(cfg.Networks) == 0 {
		return nil, errors.New("gateway: no IRC network configured")
	}
	for name, n := range cfg.Networks {
		if len(n.Endpoints) == 0 {
			return nil, fmt.Errorf("gateway: network %q has no address", name)
		}
		if strings.ContainsAny(name, " %@/\x00\r\n") || name == "" || strings.IndexByte(chanTypes, name[0]) >= 0 {
			return nil, fmt.Errorf("gateway: %q cannot name an IRC server in addresses", name)
		}
	}
	if cfg.Default != "" {
		if _, ok := cfg.Networks[cfg.Default]; !ok {
			return nil, fmt.Errorf("gateway: default server %q is not among the networks", cfg.Default)
		}
	}
	if cfg.Store == nil {
		cfg.Store = &MemoryStore{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ReconnectMin <= 0 {
		cfg.ReconnectMin = time.Second
	}
	if cfg.ReconnectMax < cfg.ReconnectMin {
		cfg.ReconnectMax = 60 * time.Second
	}
	if cfg.Version.Name == "" {
		cfg.Version = version.Info{Name: "xmppkit IRC transport", Version: "0.2"}
	}
	if cfg.MaxOccupants <= 0 {
		cfg.MaxOccupants = 20000
	}
	if cfg.CTCPTimeout <= 0 {
		cfg.CTCPTimeout = 10 * time.Second
	}
	if cfg.Settings == nil {
		cfg.Settings = settings.NewMemory()
	}
	if cfg.Archive == nil {
		cfg.Archive = &archive.Archive{Store: &mam.Memory{}}
	}
	names := make([]string, 0, len(cfg.Networks))
	for name := range cfg.Networks {
		names = append(names, name)
	}
	g := &Gateway{
		cfg:    cfg,
		mapper: Mapper{Domain: cfg.Domain, Default: cfg.Default, Servers: names},
		log:    cfg.Logger,
		sender: cfg.Sender,
		lists:  make(map[string]listCache),
	}
	g.accounts = g.newAccounts()
	m := mux.New()
	g.Register(m)
	g.RegisterDisco(m)
	g.mux = m
	g.resumePersistent()
	return g, nil
}

// Register mounts the gateway's handlers on m: XEP-0077 registration,
// XEP-0100 jabber:iq:gateway, XEP-0092 version and XEP-0199 ping (relayed
// to IRC users as CTCP), XEP-0045 admin and owner queries, and every
// presence and message. It mounts no disco handler: the gateway's handlers
// advertise through the disco provider interfaces, so one disco.Handler on
// m answers for the gateway and any other service there. The Gateway
// itself (HandleStanza) is a ServeMux with Register and a disco.Handler,
// for the gateway alone.
func (g *Gateway) Register(m *mux.ServeMux) {
	m.HandleIQ("", NSRegister, "query", g.keepSender(g.accounts))
	m.HandleIQ("", NSGateway, "query", &infoProvider{g: g})
	m.HandleIQ(stanza.TypeGet, version.NS, "query", g.keepSender(mux.HandlerFunc(g.handleVersion)))
	m.HandleIQ(stanza.TypeGet, ping.NS, "ping", g.keepSender(mux.HandlerFunc(g.handlePing)))
	m.HandleIQ("", room.NSAdmin, "query", g.keepSender(mux.HandlerFunc(g.handleAdmin)))
	m.HandleIQ("", room.NSOwner, "query", g.keepSender(mux.HandlerFunc(g.handleOwner)))
	m.HandleIQ("", mam.NS, "query", g.keepSender(mux.HandlerFunc(g.handleMAM)))
	g.commands().Register(m)
	m.HandlePresence(mux.AnyType, g.keepSender(mux.HandlerFunc(g.handlePresence)))
	m.HandleMessage(mux.AnyType, "", g.keepSender(mux.HandlerFunc(g.handleMessage)))
}

// keepSender wraps h so that the first Sender a stanza comes with becomes
// the gateway's Sender when Config.Sender is nil.
func (g *Gateway) keepSender(h mux.Handler) mux.Handler {
	return mux.HandlerFunc(func(ctx context.Context, s mux.Sender, st *stanza.Stanza) error {
		g.setSender(s)
		return h.HandleStanza(ctx, s, st)
	})
}

func (g *Gateway) setSender(s mux.Sender) {
	g.mu.Lock()
	if g.sender == nil {
		g.sender = s
	}
	g.mu.Unlock()
}

// HandleStanza implements mux.Handler.
func (g *Gateway) HandleStanza(ctx context.Context, s mux.Sender, st *stanza.Stanza) error {
	g.setSender(s)
	return g.mux.HandleStanza(ctx, s, st)
}

// Mapper returns the address mapping of the gateway.
func (g *Gateway) Mapper() Mapper { return g.mapper }

// Close quits every IRC connection (QUIT) and waits for them to end.
func (g *Gateway) Close() {
	g.sessions.Shutdown(func(s *session) { s.stop("Gateway shutting down") })
}

func (g *Gateway) send(st *stanza.Stanza) {
	if st == nil {
		return
	}
	g.mu.Lock()
	s := g.sender
	g.mu.Unlock()
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Send(ctx, st); err != nil {
		g.log.Warn("gateway: send failed", "to", st.To, "err", err)
	}
}

func (g *Gateway) domainJID() jid.JID { j, _ := jid.New("", g.cfg.Domain, ""); return j }

// network returns the configured name and settings of the server (as a
// user may spell it in any case).
func (g *Gateway) network(server string) (string, Network, bool) {
	if n, ok := g.cfg.Networks[server]; ok {
		return server, n, true
	}
	for name, n := range g.cfg.Networks {
		if strings.EqualFold(name, server) {
			return name, n, true
		}
	}
	return "", Network{}, false
}

// session returns the session of the user for the server, creating it when
// create is set.
func (g *Gateway) session(user jid.JID, server string, create bool) (*session, error) {
	name, netw, ok := g.network(server)
	if !ok {
		if !create {
			return nil, nil
		}
		return nil, stanza.NewError(stanza.ItemNotFound, "unknown IRC server "+server)
	}
	key := bridge.KeyOf(user, name)
	if s, ok := g.sessions.Get(key); ok || !create {
		return s, nil
	}
	s, err := g.sessions.Start(key, func(a *bridge.Actor) (*session, func() bool) {
		s := newSession(g, a, user.Bare(), name, netw)
		return s, s.idle
	})
	if err != nil {
		return nil, stanza.NewError(stanza.ServiceUnavailable, "the gateway is shutting down")
	}
	return s, nil
}

// sessionsOf returns the user's sessions, one per server.
func (g *Gateway) sessionsOf(user jid.JID) []*session { return g.sessions.Of(user) }

// withSession runs f on the loop of the user's session for the server when
// there is one; it returns a not-acceptable error when there is none.
func (g *Gateway) withSession(user jid.JID, server string, f func(s *session) error) error {
	s, _ := g.session(user, server, false)
	if s == nil {
		return stanza.NewError(stanza.NotAcceptable, "you are not connected to "+server)
	}
	return s.call(func() error { return f(s) })
}

// handleMAM serves XEP-0313 queries at room addresses from the
// requester's own view of the room's history (recorded where the requester
// agreed to it).
func (g *Gateway) handleMAM(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
	a, err := g.mapper.Parse(iq.To)
	if err != nil || a.Kind != KindChannel {
		return stanza.NewError(stanza.ServiceUnavailable, "archives are kept per room: query a room's address")
	}
	name, _, ok := g.network(a.Server)
	if !ok {
		return stanza.NewError(stanza.ItemNotFound, "unknown IRC server "+a.Server)
	}
	return g.cfg.Archive.Serve(ctx, s, iq, g.canonicalRoom(name, a.Channel))
}

// Translate maps a legacy IRC address as a person types it ("nick",
// "#chan", "nick%server", "#chan%server", or "nick@server") to its JID at the
// gateway (XEP-0100 §6.3).
func (g *Gateway) Translate(legacy string) (jid.JID, error) {
	legacy = strings.TrimSpace(legacy)
	name, server := legacy, g.cfg.Default
	if i := strings.LastIndexByte(legacy, '%'); i >= 0 {
		name, server = legacy[:i], legacy[i+1:]
	} else if i := strings.LastIndexByte(legacy, '@'); i >= 0 && name != "" && strings.IndexByte(chanTypes, name[0]) < 0 {
		name, server = legacy[:i], legacy[i+1:]
	}
	if name == "" || server == "" {
		return jid.JID{}, ErrBadAddr
	}
	kind := KindUser
	if strings.IndexByte(chanTypes, name[0]) >= 0 {
		kind = KindChannel
	}
	return g.mapper.JID(Addr{Kind: kind, Server: server, Nick: name, Channel: name})
}

// ValidNick reports whether nick can be sent as an IRC nick (RFC 2812 §2.3.1
// loosened as servers do): 1 to 64 bytes of printable ASCII or UTF-8
// without space, comma, '!', '@', '*', '?' or ':' and not starting with a
// channel type character, a digit or '-'. Servers may refuse more (432).
func ValidNick(nick string) bool {
	if nick == "" || len(nick) > 64 || !utf8.ValidString(nick) {
		return false
	}
	if strings.IndexByte(chanTypes, nick[0]) >= 0 || nick[0] == '-' || nick[0] >= '0' && nick[0] <= '9' {
		return false
	}
	for _, r := range nick {
		if r <= ' ' || r == 0x7f || strings.ContainsRune(",!@*?:%", r) {
			return false
		}
	}
	return true
}
