package gateway

import (
	"context"
	"errors"
	"strings"
	"time"

	"xmppkit.dev/examples/transport/irc"
	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// session is one XMPP user's connection to one IRC server. All its state is
// owned by its loop goroutine; XMPP handlers post work to it with do and call.
type session struct {
	g      *Gateway
	user   jid.JID // bare
	server string
	addr   string

	cmds chan func()
	in   chan ircEvent
	done chan struct{}

	// Owned by loop.
	conn      *irc.Conn
	gen       int // connection generation; events of older ones are dropped
	dialing   bool
	dialRes   chan dialResult
	retry     *time.Timer
	backoff   time.Duration
	resources []jid.JID // full JIDs online at the gateway, most recent last
	reg       Registration
	hasReg    bool
	rooms     map[string]*room     // by lower-cased channel
	privTo    map[string]jid.JID   // lower nick -> occupant JID the user wrote to
	pending   map[string]pendingPM // lower target -> last message sent to it
	nickReq   string               // NICK sent, not yet confirmed
	nickTries int
	stopping  bool
	ctx       context.Context
	cancel    context.CancelFunc
}

type ircEvent struct {
	gen int
	msg *irc.Message // nil: the connection ended
}

type dialResult struct {
	gen  int
	conn *irc.Conn
	err  error
}

type pendingPM struct {
	id       string
	from, to jid.JID
}

// Room states.
const (
	roomWaiting = iota // JOIN not sent yet (connecting, or NICK pending)
	roomJoining        // JOIN sent
	roomNames          // our JOIN echoed: collecting NAMES
	roomJoined         // self-presence sent
)

type room struct {
	name    string  // as the user wrote it
	user    jid.JID // the full JID in the room
	nick    string  // nick the user asked for
	state   int
	members []*member
	topic   string
	topicBy string
	topicOK bool
}

type member struct {
	nick     string
	prefixes string
}

func (r *room) member(nick string) (int, *member) {
	for i, m := range r.members {
		if strings.EqualFold(m.nick, nick) {
			return i, m
		}
	}
	return -1, nil
}

func (r *room) remove(nick string) *member {
	i, m := r.member(nick)
	if m != nil {
		r.members = append(r.members[:i], r.members[i+1:]...)
	}
	return m
}

func newSession(g *Gateway, user jid.JID, server, addr string) *session {
	ctx, cancel := context.WithCancel(context.Background())
	s := &session{
		g: g, user: user, server: server, addr: addr,
		cmds:    make(chan func()),
		in:      make(chan ircEvent, 256),
		done:    make(chan struct{}),
		dialRes: make(chan dialResult, 1),
		rooms:   make(map[string]*room),
		privTo:  make(map[string]jid.JID),
		pending: make(map[string]pendingPM),
		backoff: g.cfg.ReconnectMin,
		ctx:     ctx, cancel: cancel,
	}
	g.wg.Add(1)
	go s.loop()
	return s
}

// do runs f on the session's goroutine; false when the session has ended.
func (s *session) do(f func()) bool {
	select {
	case s.cmds <- f:
		return true
	case <-s.done:
		return false
	}
}

// call runs f on the session's goroutine and returns its error.
func (s *session) call(f func() error) error {
	ch := make(chan error, 1)
	if !s.do(func() { ch <- f() }) {
		return stanza.NewError(stanza.RecipientUnavailable, "the IRC connection has ended")
	}
	return <-ch
}

func (s *session) loop() {
	defer s.g.wg.Done()
	defer close(s.done)
	defer s.g.removeSession(s)
	defer s.cancel()
	var retryC <-chan time.Time
	for {
		select {
		case f := <-s.cmds:
			f()
		case ev := <-s.in:
			switch {
			case ev.gen != s.gen: // from a connection already given up
			case ev.msg == nil:
				s.lost()
			default:
				s.onIRC(ev.msg)
			}
		case r := <-s.dialRes:
			s.dialed(r)
		case <-retryC:
			s.retry = nil
			s.connect()
		}
		if s.conn != nil && !s.wanted() && !s.stopping {
			s.quit("Leaving")
		}
		if s.conn == nil && !s.dialing && (s.stopping || !s.wanted()) {
			if s.retry != nil {
				s.retry.Stop()
			}
			return
		}
		retryC = nil
		if s.retry != nil {
			retryC = s.retry.C
		}
	}
}

func (s *session) wanted() bool { return len(s.resources) > 0 || len(s.rooms) > 0 }

func (s *session) stop(reason string) {
	s.do(func() {
		s.stopping = true
		s.cancel()
		if s.conn != nil {
			s.quit(reason)
		}
		s.dropRooms(332, reason)
		for _, r := range s.resources {
			s.send(stanza.Presence, stanza.TypeUnavailable, s.serverJID(), r, status(reason))
		}
		s.resources = nil
	})
	<-s.done
}

// quit sends QUIT and forgets the connection.
func (s *session) quit(reason string) {
	c := s.conn
	s.conn = nil
	s.gen++
	c.Quit(reason)
}

// --- connection management ----------------------------------------------

func (s *session) connect() {
	if s.dialing || s.conn != nil || s.stopping {
		return
	}
	nick := ""
	for _, r := range s.rooms {
		nick = r.nick
		break
	}
	if nick == "" && s.hasReg {
		nick = s.reg.Nick
	}
	if nick == "" {
		return
	}
	for i := 0; i < s.nickTries; i++ {
		nick += "_"
	}
	pass := ""
	if s.hasReg && (s.reg.Server == "" || strings.EqualFold(s.reg.Server, s.server)) {
		pass = s.reg.Password
	}
	s.dialing = true
	s.gen++
	gen := s.gen
	cfg := irc.Config{
		Addr:         s.addr,
		Nick:         nick,
		User:         userName(s.user),
		RealName:     nick,
		Password:     pass,
		Caps:         []string{"multi-prefix"},
		PingInterval: s.g.cfg.PingInterval,
		Dialer:       s.g.cfg.Dialer,
		Handler: func(m *irc.Message) {
			select {
			case s.in <- ircEvent{gen, m}:
			case <-s.done:
			}
		},
	}
	go func() {
		ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
		defer cancel()
		c, err := irc.Dial(ctx, cfg)
		s.dialRes <- dialResult{gen, c, err}
	}()
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
		var ie *irc.Error
		if errors.As(r.err, &ie) && (ie.Code == irc.ErrNicknameUsed || ie.Code == irc.ErrErroneusNick) {
			typ, cond := ircErrorCondition(ie.Code)
			for key, rm := range s.rooms {
				s.roomError(rm, typ, cond, ie.Text)
				delete(s.rooms, key)
			}
			if ie.Code == irc.ErrNicknameUsed && len(s.resources) > 0 && s.nickTries < 3 {
				s.nickTries++
				s.connect()
				return
			}
		} else {
			for key, rm := range s.rooms {
				s.roomError(rm, stanza.Cancel, stanza.RemoteServerNotFound, "cannot connect to "+s.server+": "+r.err.Error())
				delete(s.rooms, key)
			}
		}
		s.g.log.Info("gateway: IRC connection failed", "user", s.user, "server", s.server, "err", r.err)
		s.scheduleRetry("Connection to " + s.server + " failed: " + r.err.Error())
		return
	}
	s.conn = r.conn
	s.nickTries = 0
	s.backoff = s.g.cfg.ReconnectMin
	gen := s.gen
	go func() {
		<-r.conn.Done()
		select {
		case s.in <- ircEvent{gen, nil}:
		case <-s.done:
		}
	}()
	for _, res := range s.resources {
		s.announce(res)
	}
	for _, rm := range s.rooms {
		s.sendJoin(rm)
	}
}

func (s *session) scheduleRetry(why string) {
	if len(s.resources) == 0 || s.stopping {
		return
	}
	d := s.backoff
	s.backoff *= 2
	if s.backoff > s.g.cfg.ReconnectMax {
		s.backoff = s.g.cfg.ReconnectMax
	}
	for _, res := range s.resources {
		s.send(stanza.Presence, stanza.TypeUnavailable, s.serverJID(), res, status(why+"; retrying in "+d.Round(time.Second).String()))
	}
	s.retry = time.NewTimer(d)
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
	s.dropRooms(332, why)
	s.scheduleRetry(why)
}

// dropRooms tells the user they are out of every room (XEP-0045 §9.8 style
// removal with the status code).
func (s *session) dropRooms(code int, why string) {
	for key, rm := range s.rooms {
		if rm.state == roomJoined || rm.state == roomNames {
			s.selfUnavailable(rm, why, code)
		} else {
			s.roomError(rm, stanza.Cancel, stanza.RemoteServerNotFound, why)
		}
		delete(s.rooms, key)
	}
}

// serverJID is the address the IRC server (and the gateway's connection
// state) speaks from: server@gw, or gw itself with a default server.
func (s *session) serverJID() jid.JID {
	j, err := s.g.mapper.JID(Addr{Kind: KindServer, Server: s.server})
	if err != nil {
		return s.g.domainJID()
	}
	return j
}

func (s *session) announce(to jid.JID) {
	if s.conn == nil {
		s.send(stanza.Presence, stanza.TypeUnavailable, s.serverJID(), to, status("Not connected to "+s.server))
		return
	}
	s.send(stanza.Presence, "", s.serverJID(), to, status("Connected to "+s.server+" as "+s.conn.Nick()))
}

// --- XMPP side (run on the loop through do/call) ---------------------------

// online marks a resource online at the gateway (connecting if needed); it
// reports false when the session had already ended.
func (s *session) online(full jid.JID, reg Registration) bool {
	return s.do(func() {
		s.hasReg, s.reg = true, reg
		for i, r := range s.resources {
			if r == full {
				s.resources = append(s.resources[:i], s.resources[i+1:]...)
				break
			}
		}
		s.resources = append(s.resources, full)
		if s.conn != nil {
			s.announce(full)
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
		if s.conn != nil && len(s.rooms) == 0 && !strings.EqualFold(reg.Nick, s.conn.Nick()) {
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
				s.send(stanza.Presence, stanza.TypeUnavailable, s.serverJID(), full, "")
				break
			}
		}
		if len(s.resources) == 0 && s.retry != nil {
			s.retry.Stop()
			s.retry = nil
		}
	})
}

// join joins the channel with the nick (XEP-0045 §7.2); it reports false
// when the session had already ended.
func (s *session) join(from jid.JID, channel, nick string) bool {
	return s.do(func() {
		key := strings.ToLower(channel)
		rm := s.rooms[key]
		if rm != nil && rm.state == roomJoined {
			rm.user = from
			if s.conn != nil && !strings.EqualFold(nick, s.conn.Nick()) {
				rm.nick = nick
				s.nickReq = nick
				s.conn.Send("NICK", nick)
			}
			return
		}
		if rm == nil {
			rm = &room{name: channel, user: from, nick: nick}
			s.rooms[key] = rm
		}
		rm.user, rm.nick = from, nick
		if s.conn != nil {
			s.sendJoin(rm)
		} else if !s.dialing {
			if s.retry != nil {
				s.retry.Stop()
				s.retry = nil
			}
			s.connect()
		}
	})
}

// sendJoin sends JOIN for a waiting room, changing nick first if needed.
func (s *session) sendJoin(rm *room) {
	if rm.state != roomWaiting {
		return
	}
	if !strings.EqualFold(rm.nick, s.conn.Nick()) {
		if !strings.EqualFold(s.nickReq, rm.nick) {
			s.nickReq = rm.nick
			if err := s.conn.Send("NICK", rm.nick); err != nil {
				s.roomError(rm, stanza.Modify, stanza.JIDMalformed, "not a valid IRC nick")
				delete(s.rooms, strings.ToLower(rm.name))
			}
		}
		return
	}
	rm.state = roomJoining
	if err := s.conn.Send("JOIN", rm.name); err != nil {
		s.roomError(rm, stanza.Modify, stanza.JIDMalformed, "not a valid IRC channel")
		delete(s.rooms, strings.ToLower(rm.name))
	}
}

func (s *session) leave(from jid.JID, channel string) {
	s.do(func() {
		key := strings.ToLower(channel)
		rm := s.rooms[key]
		if rm == nil {
			return
		}
		if s.conn != nil && rm.state != roomWaiting {
			s.conn.Send("PART", rm.name, "")
			return // the PART echo sends the self-presence
		}
		s.selfUnavailable(rm, "", 110)
		delete(s.rooms, key)
	})
}

func (s *session) groupchat(m *stanza.Stanza, channel string) error {
	return s.call(func() error {
		rm := s.rooms[strings.ToLower(channel)]
		if rm == nil || rm.state != roomJoined || s.conn == nil {
			return stanza.NewError(stanza.NotAcceptable, "you are not in this room")
		}
		if sub, ok := m.Child("", "subject"); ok && m.Body() == "" {
			text, _ := sub.Text()
			line := strings.ReplaceAll(text, "\n", " ")
			if err := s.conn.Send("TOPIC", rm.name, line); err != nil {
				return stanza.NewError(stanza.NotAcceptable, "the subject is too long")
			}
			return nil
		}
		body := m.Body()
		if body == "" {
			return nil
		}
		if err := s.privmsg(rm.name, body); err != nil {
			return err
		}
		s.pending[strings.ToLower(rm.name)] = pendingPM{id: m.ID, from: m.From, to: m.To.Bare()}
		// Reflect the message to the sender, with its id (XEP-0045 §7.4).
		from, err := s.g.mapper.Occupant(s.server, rm.name, s.conn.Nick())
		if err != nil {
			return nil
		}
		echo := newStanza(stanza.Message, stanza.TypeGroupchat, from, m.From, "<body>"+esc(body)+"</body>")
		echo.ID = m.ID
		s.g.send(echo)
		return nil
	})
}

// privmsg sends text to an IRC target: each line its own PRIVMSG, long
// lines split so that the relayed line fits, "/me " as CTCP ACTION.
func (s *session) privmsg(target, body string) error {
	action := false
	if strings.HasPrefix(body, "/me ") {
		action, body = true, body[4:]
	}
	max := s.conn.MaxText("PRIVMSG", target)
	if action {
		max -= len(irc.MakeAction(""))
	}
	for _, line := range irc.Split(body, max) {
		if action {
			line = irc.MakeAction(line)
		}
		if err := s.conn.Send("PRIVMSG", target, line); err != nil {
			return stanza.NewError(stanza.RecipientUnavailable, "the IRC connection failed")
		}
	}
	return nil
}

func (s *session) private(m *stanza.Stanza, a Addr) error {
	return s.call(func() error {
		if s.conn == nil {
			return stanza.NewError(stanza.RecipientUnavailable, "not connected to "+s.server)
		}
		if a.Kind == KindOccupant {
			s.privTo[strings.ToLower(a.Nick)] = m.To
		}
		if err := s.privmsg(a.Nick, m.Body()); err != nil {
			return err
		}
		s.pending[strings.ToLower(a.Nick)] = pendingPM{id: m.ID, from: m.From, to: m.To}
		return nil
	})
}

// --- sending helpers -------------------------------------------------------

func (s *session) send(kind stanza.Kind, typ string, from, to jid.JID, payload string) *stanza.Stanza {
	st := newStanza(kind, typ, from, to, payload)
	s.g.send(st)
	return st
}

func (s *session) occupant(rm *room, nick string) jid.JID {
	j, err := s.g.mapper.Occupant(s.server, rm.name, nick)
	if err != nil {
		j, _ = s.g.mapper.Channel(s.server, rm.name)
	}
	return j
}

func (s *session) roomError(rm *room, typ stanza.ErrorType, cond stanza.Condition, text string) {
	code := 0
	if cond == stanza.Conflict {
		code = 409
	}
	s.send(stanza.Presence, stanza.TypeError, s.occupant(rm, rm.nick), rm.user,
		"<x xmlns='"+NSMUC+"'/>"+errorXML(typ, cond, code, irc.Text(text)))
}

func (s *session) selfUnavailable(rm *room, why string, codes ...int) {
	nick := rm.nick
	if s.conn != nil {
		nick = s.conn.Nick()
	}
	if len(codes) == 0 || codes[0] != 110 {
		codes = append([]int{110}, codes...)
	}
	s.send(stanza.Presence, stanza.TypeUnavailable, s.occupant(rm, nick), rm.user, unavailableItem("", codes...)+status(irc.Text(why)))
}

// target is where private traffic from IRC goes: the most recent resource
// online at the gateway, else one in a room, else the bare JID.
func (s *session) target() jid.JID {
	if n := len(s.resources); n > 0 {
		return s.resources[n-1]
	}
	for _, rm := range s.rooms {
		return rm.user
	}
	return s.user
}
