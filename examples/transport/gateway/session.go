package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"time"

	"xmppkit.dev/bridge"
	"xmppkit.dev/bridge/room"
	"xmppkit.dev/examples/transport/irc"
	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// session is one XMPP user's connection to one IRC server: a session of
// the gateway kit's (bridge.Actors, keyed by the user and the server's
// name). All its state is owned by its actor's goroutine: XMPP handlers
// hand it work with do and call, the IRC connection's reader posts the
// server's lines as events, and the actor ends when idle says nothing wants
// the connection any more (no device online, no channel kept, no list
// asked for).
type session struct {
	g      *Gateway
	user   jid.JID // bare
	server string  // the network's configured name
	netw   Network
	act    *bridge.Actor

	// Owned by the actor.
	conn      *irc.Conn
	gen       int           // connection generation; events of older ones are dropped
	abandon   chan struct{} // closed by quit: the connection's reader stops waiting for the actor (Quit waits for it)
	dialing   bool
	retry     *time.Timer // the next connection attempt (fires into the actor)
	backoff   time.Duration
	resources []jid.JID           // full JIDs online at the gateway, most recent last
	serverJID map[jid.JID]jid.JID // full JID -> the server address it spoke to
	reg       Registration
	hasReg    bool
	chans     map[string]*channel  // by folded channel name
	privTo    map[string]privAddr  // folded nick -> where the user wrote to it
	pending   map[string]pendingPM // folded target -> last message sent to it
	ctcps     map[string][]ctcpWait
	nickReq   string    // NICK sent, not yet confirmed
	nickBy    nickAsker // the device that asked for it in a room
	nickTries int
	list      channelList
	rawTo     jid.JID   // the device that last sent a raw command
	rawUntil  time.Time // until when server numerics are shown to it
	// held is set when the server refused the login (SASL, PASS) or the
	// settings cannot log in (SASL EXTERNAL without a certificate): the
	// session does not connect again until the user changes the settings
	// or the registration (retrying the same credentials only fails again,
	// and services may lock an account after repeated failures). heldWhy
	// is what the user is told, once per hold.
	held     *stanza.Error
	heldWhy  string
	stopping bool
}

type dialResult struct {
	gen  int
	conn *irc.Conn
	err  error
	ep   Endpoint
}

type pendingPM struct {
	id       string
	from, to jid.JID
}

type nickAsker struct {
	device, room jid.JID
}

type ctcpReply struct {
	text string
	err  error
}

type ctcpWait struct {
	what  string
	reply chan<- ctcpReply
	at    time.Time
}

// newSession builds the session for the kit's actor a (see Gateway.session).
func newSession(g *Gateway, a *bridge.Actor, user jid.JID, server string, netw Network) *session {
	s := &session{
		g: g, user: user, server: server, netw: netw, act: a,
		chans:     make(map[string]*channel),
		privTo:    make(map[string]privAddr),
		pending:   make(map[string]pendingPM),
		ctcps:     make(map[string][]ctcpWait),
		serverJID: make(map[jid.JID]jid.JID),
		backoff:   g.cfg.ReconnectMin,
	}
	return s
}

// do runs f on the session's goroutine; false when the session has ended.
func (s *session) do(f func()) bool { return s.act.Do(f) }

// call runs f on the session's goroutine and returns its error.
func (s *session) call(f func() error) error {
	return s.act.Call(f, stanza.NewError(stanza.RecipientUnavailable, "the IRC connection has ended"))
}

// idle is the actor's idle hook, after each step: it quits a connection
// nothing wants any more and reports whether the session may end (no
// connection, none being dialed, nothing wanting one).
func (s *session) idle() bool {
	if s.conn != nil && !s.wanted() && !s.stopping {
		s.quit("Leaving")
	}
	if s.conn == nil && !s.dialing && (s.stopping || !s.wanted()) {
		if s.retry != nil {
			s.retry.Stop()
			s.retry = nil
		}
		s.failCTCPs()
		return true
	}
	return false
}

func (s *session) wanted() bool {
	return len(s.resources) > 0 || len(s.chans) > 0 || len(s.list.waits) > 0
}

func (s *session) stop(reason string) {
	s.do(func() {
		s.stopping = true
		s.act.Cancel()
		if s.conn != nil {
			s.quit(reason)
		}
		s.dropChannels(reason, room.StatusShutdown)
		for _, r := range s.resources {
			s.send(s.presence(stanza.TypeUnavailable, r, statusEl(reason)...))
		}
		s.resources = nil
	})
	<-s.act.Done()
}

// quit sends QUIT and forgets the connection.
func (s *session) quit(reason string) {
	c := s.conn
	s.conn = nil
	s.gen++
	close(s.abandon)
	c.Quit(reason)
}

// fold folds a nick or channel name as the server compares them.
func (s *session) fold(name string) string {
	if s.conn != nil {
		return s.conn.Fold(name)
	}
	return irc.Fold(irc.CaseRFC1459, name)
}

// --- connection management ----------------------------------------------

func (s *session) connect() {
	if s.dialing || s.conn != nil || s.stopping {
		return
	}
	if s.held != nil {
		s.failWaiting(s.held) // nothing is sent to the server until the settings change
		return
	}
	p := s.prefs()
	nick := ""
	for _, ch := range s.chans {
		if ch.wantNick != "" {
			nick = ch.wantNick
			break
		}
	}
	if nick == "" {
		nick = p.nick()
	}
	if nick == "" && (len(s.list.waits) > 0 || len(s.chans) > 0) {
		nick = userName(s.user) // a persistent channel, or a channel list
	}
	if nick == "" {
		return
	}
	for i := 0; i < s.nickTries; i++ {
		nick += "_"
	}
	pass := p.server.Get(setPassword, "")
	if pass == "" && p.hasReg && (p.reg.Server == "" || strings.EqualFold(p.reg.Server, s.server)) {
		pass = p.reg.Password
	}
	username := p.get(setUsername)
	if username == "" {
		username = userName(s.user)
	}
	realname := p.get(setRealname)
	if realname == "" {
		realname = nick
	}
	s.dialing = true
	s.gen++
	gen := s.gen
	abandon := make(chan struct{})
	s.abandon = abandon
	cfg := irc.Config{
		Nick:            nick,
		User:            username,
		RealName:        realname,
		Password:        pass,
		Caps:            wantedCaps,
		PingInterval:    s.g.cfg.PingInterval,
		RegisterTimeout: s.g.cfg.RegisterTimeout,
		Dialer:          s.g.cfg.Dialer,
		Throttle:        s.netw.Throttle,
		Handler: func(m *irc.Message) {
			s.act.Post(func() {
				if gen == s.gen { // not from a connection already given up
					s.onIRC(m)
				}
			}, abandon)
		},
	}
	var cert *tls.Certificate
	if pem := p.server.Get(setClientCert, ""); pem != "" {
		if c, err := tls.X509KeyPair([]byte(pem), []byte(pem)); err == nil {
			cert = &c
		}
	}
	switch mech := p.server.Get(setSASL, ""); mech {
	case "PLAIN":
		user := p.server.Get(setSASLUser, nick)
		cfg.SASL = &irc.SASL{Mechanism: mech, Username: user, Password: p.server.Get(setSASLPassword, "")}
	case "EXTERNAL":
		cfg.SASL = &irc.SASL{Mechanism: mech}
	}
	pins := strings.Fields(p.server.Get(setTLSPin, ""))
	netw := s.netw
	dctx := s.act.Context()
	// The result goes to the actor, which does not end while dialing.
	result := func(r dialResult) {
		if !s.act.Do(func() { s.dialed(r) }) && r.conn != nil {
			r.conn.Quit("Leaving")
		}
	}
	go func() {
		var last dialResult
		if cfg.SASL != nil && cfg.SASL.Mechanism == "EXTERNAL" && cert == nil {
			// The server would only answer 904, which does not say why.
			result(dialResult{gen: gen, err: errNoClientCert})
			return
		}
		for _, ep := range netw.Endpoints {
			c := cfg
			c.Addr = ep.Addr
			if ep.TLS {
				c.TLS = netw.tlsConfig(pins, cert)
			} else if cfg.SASL != nil && cfg.SASL.Mechanism == "EXTERNAL" {
				continue // a client certificate needs TLS
			}
			ctx, cancel := context.WithTimeout(dctx, dialTimeout)
			conn, err := irc.Dial(ctx, c)
			cancel()
			last = dialResult{gen: gen, conn: conn, err: err, ep: ep}
			if err == nil || dctx.Err() != nil || !retryable(err) {
				break
			}
		}
		if last.conn == nil && last.err == nil {
			last.err = errNoTLSPort
		}
		result(last)
	}()
}

// wantedCaps are the IRCv3 capabilities the gateway asks for where the
// server offers them.
var wantedCaps = []string{"multi-prefix", "server-time", "message-tags", "echo-message", "labeled-response", "batch", "away-notify", "userhost-in-names"}

// Connection errors of settings that cannot log in (SASL EXTERNAL).
var (
	errNoClientCert = errors.New("SASL EXTERNAL needs a client certificate: set client-certificate in this server's settings")
	errNoTLSPort    = errors.New("SASL EXTERNAL needs a TLS port, and the server has none")
)

// loginRefused reports whether err is the server refusing the login (a
// failed SASL exchange, IRCv3 SASL 3.1: 902, 904, 905, 906, 908, or no SASL
// at all; 464 for a wrong PASS, RFC 2812 §5.2) or settings that cannot log
// in: trying again with the same settings fails the same way.
func loginRefused(err error) bool {
	if errors.Is(err, errNoClientCert) || errors.Is(err, errNoTLSPort) {
		return true
	}
	var ie *irc.Error
	if !errors.As(err, &ie) {
		return false
	}
	switch ie.Code {
	case "SASL", irc.ErrSASLFail, irc.ErrSASLTooLong, irc.ErrSASLAborted, irc.RplSASLMechs, irc.ErrNickLocked, irc.ErrPassword:
		return true
	}
	return false
}

// retryable reports whether another endpoint may be tried after err: not
// after a certificate error (no plaintext fallback) nor after the server
// refused the registration.
func retryable(err error) bool {
	var ie *irc.Error
	return !isCertError(err) && !errors.As(err, &ie) && !errors.Is(err, irc.ErrRegistrationTimeout)
}

// userName derives an IRC user name from the JID's localpart.
func userName(j jid.JID) string {
	var b strings.Builder
	for _, c := range j.Local() {
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') {
			b.WriteRune(c)
		}
		if b.Len() == 9 {
			break
		}
	}
	if b.Len() == 0 {
		return "xmpp"
	}
	return b.String()
}

func (s *session) dialed(r dialResult) {
	s.dialing = false
	if r.gen != s.gen || s.stopping {
		if r.conn != nil {
			r.conn.Quit("Leaving")
		}
		return
	}
	if r.err != nil {
		why := describeDialError(r.ep, r.err)
		var ie *irc.Error
		if errors.As(r.err, &ie) && (ie.Code == irc.ErrNicknameUsed || ie.Code == irc.ErrErroneusNick) {
			e := ircError(ie.Code, ie.Text)
			for key, ch := range s.chans {
				if ch.room.FailDevices(e) == 0 && !ch.persistent {
					delete(s.chans, key)
				}
			}
			if ie.Code == irc.ErrNicknameUsed && (len(s.resources) > 0 || len(s.chans) > 0) && s.nickTries < 3 {
				s.nickTries++
				s.connect()
				return
			}
		} else if loginRefused(r.err) {
			s.g.log.Info("gateway: IRC login refused", "user", s.user, "server", s.server, "err", r.err)
			s.hold(why)
			return
		} else {
			e := stanza.NewError(stanza.RemoteServerNotFound, "cannot connect to "+s.server+": "+why)
			if isCertError(r.err) {
				e = &stanza.Error{Type: stanza.Cancel, Condition: stanza.NotAuthorized, Text: "cannot connect to " + s.server + ": " + why}
			}
			s.failWaiting(e)
		}
		s.endList(false)
		s.g.log.Info("gateway: IRC connection failed", "user", s.user, "server", s.server, "err", r.err)
		s.scheduleRetry("Connection to " + s.server + " failed: " + why)
		return
	}
	s.conn = r.conn
	s.nickTries = 0
	s.backoff = s.g.cfg.ReconnectMin
	gen := s.gen
	go func() {
		<-r.conn.Done()
		s.act.Post(func() {
			if gen == s.gen {
				s.lost()
			}
		}, nil)
	}()
	// After-connect commands (NickServ IDENTIFY and the like), each line as
	// typed, before the joins.
	for _, line := range s.prefs().server.Lines(setAfterConnect) {
		if msg, err := irc.Parse(line); err == nil && msg.Prefix == "" && msg.Tags == nil && msg.Command != "QUIT" {
			s.conn.Send(msg.Command, msg.Params...)
		}
	}
	for _, res := range s.resources {
		s.announce(res)
	}
	for _, ch := range s.chans {
		ch.state = chanWaiting
		s.sendJoin(ch)
	}
	s.startList()
}

// failWaiting fails what waits for a connection: the devices joining a
// room (a room no device holds goes unless it is persistent) and the
// channel list requests.
func (s *session) failWaiting(e *stanza.Error) {
	for key, ch := range s.chans {
		if ch.room.FailDevices(e) == 0 && !ch.persistent {
			delete(s.chans, key)
		}
	}
	s.endList(false)
}

// hold stops connecting after the server refused the login (see held):
// what waits fails with not-authorized, the devices see the gateway
// unavailable with the reason, and the user is told once, by a message
// from the server's address, what to change.
func (s *session) hold(why string) {
	s.held = &stanza.Error{Type: stanza.Auth, Condition: stanza.NotAuthorized, Text: "cannot log in to " + s.server + ": " + why}
	s.failWaiting(s.held)
	if s.retry != nil {
		s.retry.Stop()
		s.retry = nil
	}
	at := s.server + "@" + s.g.cfg.Domain // the server's own settings (the default server's too)
	if j, err := jid.New(jid.Escape(s.server), s.g.cfg.Domain, ""); err == nil {
		at = j.String()
	}
	s.heldWhy = "The login to " + s.server + " was refused: " + why + ". The gateway will not connect to " + s.server +
		" again until you change its settings (the Configure command at " + at + ") or your registration."
	for _, res := range s.resources {
		s.send(s.presence(stanza.TypeUnavailable, res, statusEl(s.heldWhy)...))
	}
	m := stanza.NewMessage(stanza.TypeChat, s.user, s.heldWhy)
	m.From = s.serverAddr(s.user)
	s.send(m)
}

// unhold lets the session connect again (the settings or the
// registration changed), at once when something wants the connection.
func (s *session) unhold() {
	if s.held == nil {
		return
	}
	s.held, s.heldWhy = nil, ""
	s.backoff = s.g.cfg.ReconnectMin
	if s.wanted() && !s.stopping {
		s.connect()
	}
}

func (s *session) scheduleRetry(why string) {
	if !s.wanted() || s.stopping {
		return
	}
	d := s.backoff
	s.backoff *= 2
	if s.backoff > s.g.cfg.ReconnectMax {
		s.backoff = s.g.cfg.ReconnectMax
	}
	for _, res := range s.resources {
		s.send(s.presence(stanza.TypeUnavailable, res, statusEl(why+"; retrying in "+d.Round(time.Second).String())...))
	}
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		s.act.Do(func() {
			if s.retry == t { // not stopped or replaced meanwhile
				s.retry = nil
				s.connect()
			}
		})
	})
	s.retry = t
}

// lost handles the end of the IRC connection.
func (s *session) lost() {
	c := s.conn
	s.conn = nil
	s.nickReq = ""
	why := "IRC connection lost"
	if c != nil && c.Err() != nil {
		why += ": " + c.Err().Error()
	}
	s.failCTCPs()
	s.endList(false)
	s.dropChannels(why, room.StatusShutdown)
	s.scheduleRetry(why)
}

// dropChannels tells the user they are out of every room (XEP-0045 §9.8
// style removal with the status code); persistent channels are kept, to be
// joined again on the next connection.
func (s *session) dropChannels(why string, code int) {
	for key, ch := range s.chans {
		ch.room.End(room.Leave{Reason: why, Codes: []int{code}})
		ch.state = chanWaiting
		if !ch.persistent || s.stopping {
			delete(s.chans, key)
		}
	}
}

// serverAddr is the address the IRC server (and the gateway's connection
// state) speaks from to the device: the address the device used for it,
// else server@gw, or gw itself for the default server.
func (s *session) serverAddr(to jid.JID) jid.JID {
	if j, ok := s.serverJID[to]; ok {
		return j
	}
	j, err := s.g.mapper.JID(Addr{Kind: KindServer, Server: s.server})
	if err != nil {
		return s.g.domainJID()
	}
	return j
}

// presence builds a presence from the server's address to a device.
func (s *session) presence(typ string, to jid.JID, payload ...stanza.Element) *stanza.Stanza {
	return s.g.presenceFrom(typ, s.serverAddr(to), to, payload...)
}

func (s *session) announce(to jid.JID) {
	if s.conn == nil {
		s.send(s.presence(stanza.TypeUnavailable, to, statusEl("Not connected to "+s.server)...))
		return
	}
	s.send(s.presence("", to, statusEl("Connected to "+s.server+" as "+s.conn.Nick())...))
}

func (s *session) send(st *stanza.Stanza) { s.g.send(st) }

// --- XMPP side (run on the loop through do/call) ---------------------------

// online marks a resource online at the gateway (connecting if needed); it
// reports false when the session had already ended.
func (s *session) online(full, to jid.JID, reg Registration) bool {
	return s.do(func() {
		s.hasReg, s.reg = true, reg
		s.serverJID[full] = to.Bare()
		for i, r := range s.resources {
			if r == full {
				s.resources = append(s.resources[:i], s.resources[i+1:]...)
				break
			}
		}
		s.resources = append(s.resources, full)
		if s.conn != nil {
			s.announce(full)
		} else if s.held != nil {
			s.send(s.presence(stanza.TypeUnavailable, full, statusEl(s.heldWhy)...))
		} else if !s.dialing && s.retry == nil {
			s.connect()
		}
	})
}

// reregistered applies a changed registration: a live connection takes the
// new nick (the rooms see it as a nick change); a new password or server
// applies from the next connection.
func (s *session) reregistered(reg Registration) {
	s.do(func() {
		s.hasReg, s.reg = true, reg
		s.unhold()
		if s.conn != nil && len(s.chans) == 0 && s.fold(reg.Nick) != s.fold(s.conn.Nick()) {
			s.nickReq = reg.Nick
			s.conn.Send("NICK", reg.Nick)
		}
	})
}

func (s *session) offline(full jid.JID) {
	s.do(func() {
		for i, r := range s.resources {
			if r == full {
				s.resources = append(s.resources[:i], s.resources[i+1:]...)
				s.send(s.presence(stanza.TypeUnavailable, full))
				break
			}
		}
		delete(s.serverJID, full)
		if !s.wanted() && s.retry != nil {
			s.retry.Stop()
			s.retry = nil
		}
	})
}

// target is where private traffic from IRC goes when no room address
// applies: the user's bare JID, so that the user's server delivers it to
// every client (and stores it while none is online).
func (s *session) target() jid.JID { return s.user }

// sendCTCP sends a CTCP request and registers the wait for its reply.
func (s *session) sendCTCP(nick, what string, reply chan<- ctcpReply) error {
	if s.conn == nil {
		return stanza.NewError(stanza.RecipientUnavailable, "not connected to "+s.server)
	}
	arg := what
	if what == "PING" {
		arg = "PING " + time.Now().Format("150405.000")
	}
	if err := s.conn.Send("PRIVMSG", nick, "\x01"+arg+"\x01"); err != nil {
		return stanza.NewError(stanza.ResourceConstraint, "the IRC connection cannot take more now")
	}
	key := s.fold(nick)
	w := s.ctcps[key]
	// Keep the waits bounded: drop the stale ones.
	kept := w[:0]
	for _, x := range w {
		if time.Since(x.at) < 2*s.g.cfg.CTCPTimeout {
			kept = append(kept, x)
		}
	}
	if len(kept) >= 8 {
		return stanza.NewError(stanza.ResourceConstraint, "too many requests to "+nick)
	}
	s.ctcps[key] = append(kept, ctcpWait{what: what, reply: reply, at: time.Now()})
	if len(s.ctcps) > 256 {
		for k, v := range s.ctcps {
			if len(v) == 0 || time.Since(v[len(v)-1].at) > 2*s.g.cfg.CTCPTimeout {
				delete(s.ctcps, k)
			}
		}
	}
	return nil
}

// ctcpAnswered delivers a CTCP reply (or, with err, the failure) to the
// oldest wait of that kind for nick.
func (s *session) ctcpAnswered(nick, what, text string, err error) {
	key := s.fold(nick)
	w := s.ctcps[key]
	for i, x := range w {
		if what == "" || x.what == what {
			x.reply <- ctcpReply{text: text, err: err}
			s.ctcps[key] = append(w[:i:i], w[i+1:]...)
			if len(s.ctcps[key]) == 0 {
				delete(s.ctcps, key)
			}
			return
		}
	}
}

func (s *session) failCTCPs() {
	for k, w := range s.ctcps {
		for _, x := range w {
			x.reply <- ctcpReply{err: stanza.NewError(stanza.RecipientUnavailable, "the IRC connection has ended")}
		}
		delete(s.ctcps, k)
	}
}
