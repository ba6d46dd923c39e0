package gateway

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"xmppkit.dev/disco"
	"xmppkit.dev/examples/transport/irc"
	"xmppkit.dev/form"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// Config configures a Gateway.
type Config struct {
	// Domain is the gateway's XMPP domain, e.g. "irc.localhost".
	Domain string
	// Networks maps each IRC server name usable in addresses to the
	// host:port to dial. Users can reach only these servers.
	Networks map[string]string
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
	// Dialer opens IRC connections; default a net.Dialer.
	Dialer irc.Dialer
}

// Gateway bridges XMPP users to IRC. It is a mux.Handler to attach on
// Config.Domain; Close ends every IRC connection.
type Gateway struct {
	cfg    Config
	mapper Mapper
	mux    *mux.ServeMux
	log    *slog.Logger

	mu       sync.Mutex
	sender   mux.Sender
	sessions map[string]*session // by bare JID + "\x00" + server
	closed   bool
	wg       sync.WaitGroup
}

// New returns a Gateway for cfg.
func New(cfg Config) (*Gateway, error) {
	if _, err := jid.New("", cfg.Domain, ""); err != nil || cfg.Domain == "" {
		return nil, fmt.Errorf("gateway: bad domain %q: %v", cfg.Domain, err)
	}
	if len(cfg.Networks) == 0 {
		return nil, errors.New("gateway: no IRC network configured")
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
	g := &Gateway{
		cfg:      cfg,
		mapper:   Mapper{Domain: cfg.Domain, Default: cfg.Default},
		log:      cfg.Logger,
		sender:   cfg.Sender,
		sessions: make(map[string]*session),
	}
	m := mux.New(mux.WithLogger(cfg.Logger))
	g.Register(m)
	disco.New(m).Register(m)
	g.mux = m
	return g, nil
}

// Register mounts the gateway's handlers on m: XEP-0077 registration,
// XEP-0100 jabber:iq:gateway, and every presence and message. It mounts no
// disco handler: the gateway's handlers advertise through the disco
// provider interfaces, so one disco.Handler on m answers for the gateway
// and any other service there. The Gateway itself (HandleStanza) is a
// ServeMux with Register and a disco.Handler, for the gateway alone.
func (g *Gateway) Register(m *mux.ServeMux) {
	m.HandleIQ("", NSRegister, "query", g.keepSender(mux.HandlerFunc(g.handleRegister)))
	m.HandleIQ("", NSGateway, "query", &infoProvider{g: g})
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
	g.mu.Lock()
	g.closed = true
	ss := make([]*session, 0, len(g.sessions))
	for _, s := range g.sessions {
		ss = append(ss, s)
	}
	g.mu.Unlock()
	for _, s := range ss {
		s.stop("Gateway shutting down")
	}
	g.wg.Wait()
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

// session returns the session of the user for the server, creating it when
// create is set.
func (g *Gateway) session(user jid.JID, server string, create bool) (*session, error) {
	key := user.Bare().String() + "\x00" + strings.ToLower(server)
	g.mu.Lock()
	defer g.mu.Unlock()
	if s, ok := g.sessions[key]; ok {
		return s, nil
	}
	if !create {
		return nil, nil
	}
	if g.closed {
		return nil, stanza.NewError(stanza.ServiceUnavailable, "the gateway is shutting down")
	}
	addr := ""
	for name, a := range g.cfg.Networks {
		if strings.EqualFold(name, server) {
			addr, server = a, name
		}
	}
	if addr == "" {
		return nil, stanza.NewError(stanza.ItemNotFound, "unknown IRC server "+server)
	}
	s := newSession(g, user.Bare(), server, addr)
	g.sessions[key] = s
	return s, nil
}

func (g *Gateway) removeSession(s *session) {
	key := s.user.String() + "\x00" + strings.ToLower(s.server)
	g.mu.Lock()
	if g.sessions[key] == s {
		delete(g.sessions, key)
	}
	g.mu.Unlock()
}

func (g *Gateway) sessionsOf(user jid.JID) []*session {
	prefix := user.Bare().String() + "\x00"
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []*session
	for k, s := range g.sessions {
		if strings.HasPrefix(k, prefix) {
			out = append(out, s)
		}
	}
	return out
}

// --- XEP-0030 and XEP-0100 ------------------------------------------------

// infoProvider answers jabber:iq:gateway (XEP-0100 §6.3) and gives the
// disco identities and features of every address at the gateway.
type infoProvider struct{ g *Gateway }

func (p *infoProvider) Identities(q disco.Query) []disco.Identity {
	if q.Node != "" {
		return nil
	}
	a, err := p.g.mapper.Parse(q.To)
	if err != nil {
		return nil
	}
	switch a.Kind {
	case KindGateway:
		return []disco.Identity{
			{Category: "gateway", Type: "irc", Name: "IRC gateway"},
			{Category: "conference", Type: "irc", Name: "IRC gateway"},
		}
	case KindServer:
		return []disco.Identity{{Category: "conference", Type: "irc", Name: a.Server}}
	case KindChannel:
		return []disco.Identity{{Category: "conference", Type: "irc", Name: a.Channel}}
	case KindUser:
		return []disco.Identity{{Category: "client", Type: "irc", Name: a.Nick}}
	}
	return nil
}

func (p *infoProvider) Features(q disco.Query) []string {
	if q.Node != "" {
		return nil
	}
	a, err := p.g.mapper.Parse(q.To)
	if err != nil {
		return nil
	}
	switch a.Kind {
	case KindGateway, KindServer:
		return []string{NSGateway, NSRegister, NSMUC}
	case KindChannel:
		return []string{NSMUC, "muc_nonanonymous", "muc_open", "muc_public"}
	}
	return nil
}

func (p *infoProvider) HandleStanza(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
	g := p.g
	if iq.Type == stanza.TypeGet {
		return s.Send(ctx, iq.Result(stanza.MustElement(
			"<query xmlns='"+NSGateway+"'><desc>Enter an IRC nick or #channel, optionally followed by %server</desc><prompt>IRC nick or channel</prompt></query>")))
	}
	var q struct {
		Prompt string `xml:"prompt"`
	}
	if err := iq.Unmarshal(&q); err != nil {
		return stanza.ErrBadRequest
	}
	j, err := g.Translate(q.Prompt)
	if err != nil {
		return stanza.NewError(stanza.NotAcceptable, "not an IRC nick or channel")
	}
	return s.Send(ctx, iq.Result(stanza.MustElement("<query xmlns='"+NSGateway+"'><jid>"+esc(j.String())+"</jid></query>")))
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

// --- XEP-0077 ---------------------------------------------------------------

type registerQuery struct {
	XMLName  xml.Name   `xml:"jabber:iq:register query"`
	Nick     *string    `xml:"nick"`
	Username *string    `xml:"username"`
	Password *string    `xml:"password"`
	Remove   *struct{}  `xml:"remove"`
	Form     *form.Form `xml:"jabber:x:data x"`
}

func (g *Gateway) handleRegister(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
	a, err := g.mapper.Parse(iq.To)
	if err != nil || a.Kind != KindGateway {
		return stanza.ErrServiceUnavailable
	}
	bare := iq.From.Bare().String()
	if iq.Type == stanza.TypeGet {
		reg, ok := g.cfg.Store.Get(bare)
		var b strings.Builder
		b.WriteString("<query xmlns='" + NSRegister + "'>")
		b.WriteString("<instructions>Choose your IRC nick; the IRC server password and the server are optional.</instructions>")
		if ok {
			b.WriteString("<registered/>")
		}
		b.WriteString("<nick>" + esc(reg.Nick) + "</nick><password>" + esc(reg.Password) + "</password>")
		f := form.Form{Type: form.TypeForm, Title: "IRC gateway registration",
			Instructions: []string{"Choose your IRC nick; the IRC server password and the server are optional."}}
		f.Set(form.Hidden, form.FormTypeVar, NSRegister)
		vals := func(v string) []string {
			if v == "" {
				return nil
			}
			return []string{v}
		}
		f.Set(form.TextSingle, "nick", vals(reg.Nick)...)
		f.Fields[len(f.Fields)-1].Required = true
		f.Fields[len(f.Fields)-1].Label = "IRC nick"
		f.Set(form.TextPrivate, "password", vals(reg.Password)...)
		f.Fields[len(f.Fields)-1].Label = "IRC server password"
		var opts []form.Option
		for name := range g.cfg.Networks {
			opts = append(opts, form.Option{Label: name, Value: name})
		}
		f.Set(form.ListSingle, "server", vals(reg.Server)...)
		f.Fields[len(f.Fields)-1].Label = "IRC server"
		f.Fields[len(f.Fields)-1].Options = opts
		fx, err := xml.Marshal(f)
		if err != nil {
			return err
		}
		b.Write(fx)
		b.WriteString("</query>")
		el, err := stanza.ParseElement(b.String())
		if err != nil {
			return err
		}
		return s.Send(ctx, iq.Result(el))
	}
	var q registerQuery
	if err := iq.Unmarshal(&q); err != nil {
		return stanza.ErrBadRequest
	}
	if q.Remove != nil {
		if _, ok := g.cfg.Store.Get(bare); !ok {
			return stanza.NewError(stanza.RegistrationRequired, "not registered")
		}
		if err := g.cfg.Store.Delete(bare); err != nil {
			return stanza.NewError(stanza.InternalServerError, "could not remove the registration")
		}
		for _, ss := range g.sessionsOf(iq.From) {
			ss.stop("Registration removed")
		}
		if err := s.Send(ctx, iq.Result()); err != nil {
			return err
		}
		// XEP-0077 §3.2: the gateway's subscription goes away too.
		g.send(newStanza(stanza.Presence, stanza.TypeUnsubscribed, g.domainJID(), iq.From.Bare(), ""))
		g.send(newStanza(stanza.Presence, stanza.TypeUnavailable, g.domainJID(), iq.From.Bare(), ""))
		return nil
	}
	reg := Registration{JID: bare}
	switch {
	case q.Form != nil:
		if err := q.Form.Validate(); err != nil {
			return stanza.NewError(stanza.BadRequest, err.Error())
		}
		reg.Nick, _ = q.Form.Get("nick")
		reg.Password, _ = q.Form.Get("password")
		reg.Server, _ = q.Form.Get("server")
	default:
		if q.Nick != nil {
			reg.Nick = *q.Nick
		} else if q.Username != nil {
			reg.Nick = *q.Username
		}
		if q.Password != nil {
			reg.Password = *q.Password
		}
	}
	reg.Nick = strings.TrimSpace(reg.Nick)
	if reg.Nick == "" {
		return stanza.NewError(stanza.NotAcceptable, "an IRC nick is required")
	}
	if !ValidNick(reg.Nick) {
		return stanza.NewError(stanza.NotAcceptable, "not a valid IRC nick")
	}
	if strings.ContainsAny(reg.Password, "\r\n\x00 ") && reg.Password != "" {
		return stanza.NewError(stanza.NotAcceptable, "the password cannot hold spaces or line breaks")
	}
	if reg.Server != "" {
		if _, ok := g.cfg.Networks[reg.Server]; !ok {
			return stanza.NewError(stanza.NotAcceptable, "unknown IRC server "+reg.Server)
		}
	}
	if err := g.cfg.Store.Put(reg); err != nil {
		return stanza.NewError(stanza.InternalServerError, "could not store the registration")
	}
	for _, ss := range g.sessionsOf(iq.From) {
		ss.reregistered(reg)
	}
	if err := s.Send(ctx, iq.Result()); err != nil {
		return err
	}
	// XEP-0100 §4.1.1: the gateway asks to see the user's presence, so that
	// the user's server tells it when the user comes online.
	g.send(newStanza(stanza.Presence, stanza.TypeSubscribe, g.domainJID(), iq.From.Bare(), ""))
	return nil
}

// --- presence and messages ----------------------------------------------------

func (g *Gateway) handlePresence(ctx context.Context, _ mux.Sender, p *stanza.Stanza) error {
	a, err := g.mapper.Parse(p.To)
	if err != nil {
		if p.Type == "" {
			return stanza.NewError(stanza.JIDMalformed, "not an IRC address")
		}
		return nil
	}
	switch p.Type {
	case stanza.TypeSubscribe:
		g.send(newStanza(stanza.Presence, stanza.TypeSubscribed, p.To, p.From.Bare(), ""))
		return nil
	case stanza.TypeUnsubscribe, stanza.TypeSubscribed, stanza.TypeUnsubscribed:
		return nil
	}
	switch a.Kind {
	case KindGateway, KindServer:
		return g.gatewayPresence(p, a)
	case KindChannel, KindOccupant:
		if p.Type == stanza.TypeProbe {
			return nil
		}
		if p.Type == stanza.TypeUnavailable {
			s, _ := g.session(p.From, a.Server, false)
			if s != nil {
				s.leave(p.From, a.Channel)
			}
			return nil
		}
		if a.Kind == KindChannel {
			// XEP-0045 §7.2.1: a join needs a nick.
			return stanza.NewError(stanza.JIDMalformed, "join with room@service/nick")
		}
		if !ValidNick(a.Nick) {
			return stanza.NewError(stanza.JIDMalformed, "not a valid IRC nick")
		}
		// A session that ended just now is replaced by a new one.
		for i := 0; i < 3; i++ {
			s, err := g.session(p.From, a.Server, true)
			if err != nil {
				return err
			}
			if s.join(p.From, a.Channel, a.Nick) {
				return nil
			}
		}
		return stanza.NewError(stanza.InternalServerError, "could not start the IRC session")
	}
	return nil
}

func (g *Gateway) gatewayPresence(p *stanza.Stanza, a Addr) error {
	bare := p.From.Bare().String()
	reg, registered := g.cfg.Store.Get(bare)
	server := reg.Server
	if a.Kind == KindServer {
		server = a.Server
	}
	if server == "" {
		server = g.cfg.Default
	}
	switch p.Type {
	case "", stanza.TypeProbe:
		if !registered {
			if p.Type == "" {
				return stanza.NewError(stanza.RegistrationRequired, "register with the gateway first (XEP-0077)")
			}
			return nil
		}
		if server == "" {
			return stanza.NewError(stanza.NotAcceptable, "no IRC server chosen: register one")
		}
		if p.Type == stanza.TypeProbe {
			// RFC 6121 §4.3.2: answer a probe with the current state.
			s, _ := g.session(p.From, server, false)
			if s == nil || !s.do(func() { s.announce(p.From) }) {
				g.send(newStanza(stanza.Presence, stanza.TypeUnavailable, p.To, p.From, ""))
			}
			return nil
		}
		for i := 0; i < 3; i++ {
			s, err := g.session(p.From, server, true)
			if err != nil {
				return err
			}
			if s.online(p.From, reg) {
				return nil
			}
		}
		return stanza.NewError(stanza.InternalServerError, "could not start the IRC session")
	case stanza.TypeUnavailable:
		for _, s := range g.sessionsOf(p.From) {
			s.offline(p.From)
		}
	}
	return nil
}

func (g *Gateway) handleMessage(ctx context.Context, _ mux.Sender, m *stanza.Stanza) error {
	a, err := g.mapper.Parse(m.To)
	if err != nil {
		return stanza.NewError(stanza.ItemNotFound, "not an IRC address")
	}
	switch a.Kind {
	case KindChannel:
		if m.Type != stanza.TypeGroupchat {
			return stanza.NewError(stanza.BadRequest, "send groupchat messages to a room")
		}
		s, _ := g.session(m.From, a.Server, false)
		if s == nil {
			return stanza.NewError(stanza.NotAcceptable, "you are not in this room")
		}
		return s.groupchat(m, a.Channel)
	case KindOccupant, KindUser:
		if m.Body() == "" {
			return nil // chat states and receipts have no IRC counterpart
		}
		s, _ := g.session(m.From, a.Server, false)
		if s == nil {
			return stanza.NewError(stanza.RecipientUnavailable, "not connected to this IRC server: join a channel or send presence to the gateway")
		}
		return s.private(m, a)
	}
	return stanza.NewError(stanza.ServiceUnavailable, "")
}

// ircErrorCondition maps an IRC error numeric to the stanza error condition
// (RFC 6120 §8.3.3) answered for the stanza that caused it.
func ircErrorCondition(code string) (stanza.ErrorType, stanza.Condition) {
	switch code {
	case irc.ErrNoSuchNick:
		// §8.3.3.13: a nick not online now may come back later.
		return stanza.Wait, stanza.RecipientUnavailable
	case irc.ErrNoSuchChan:
		// §8.3.3.7: the addressed entity does not exist.
		return stanza.Cancel, stanza.ItemNotFound
	case irc.ErrCannotSend:
		return stanza.Auth, stanza.Forbidden
	case irc.ErrNicknameUsed:
		return stanza.Cancel, stanza.Conflict
	case irc.ErrErroneusNick:
		return stanza.Modify, stanza.JIDMalformed
	case irc.ErrBannedChan:
		return stanza.Auth, stanza.Forbidden
	case irc.ErrInviteOnly:
		return stanza.Auth, stanza.RegistrationRequired
	case irc.ErrBadChanKey:
		return stanza.Auth, stanza.NotAuthorized
	case irc.ErrChanFull:
		return stanza.Wait, stanza.ServiceUnavailable
	}
	return stanza.Cancel, stanza.UndefinedCondition
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
