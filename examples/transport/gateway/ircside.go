package gateway

import (
	"strings"
	"time"

	"xmppkit.dev/bridge/room"
	"xmppkit.dev/examples/transport/irc"
	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// onIRC handles one message from the IRC server (on the session's loop).
// Parameters a numeric lacks read as "" (irc.Message.Param), so a short
// message does nothing rather than fail.
func (s *session) onIRC(m *irc.Message) {
	c := s.conn
	if c == nil {
		return
	}
	self := func(nick string) bool { return c.Fold(nick) == c.Fold(c.Nick()) }
	switch m.Command {
	case "JOIN":
		ch := s.channel(m.Param(0))
		if ch == nil {
			return
		}
		if self(m.Nick()) {
			if ch.state == chanJoining || ch.state == chanWaiting {
				ch.state, ch.namesDone, ch.modes = chanNames, false, chanModes{}
				c.Send("MODE", ch.name) // 324: the configuration the room shows
			}
			return
		}
		if ch.state != chanJoined && ch.state != chanNames {
			return
		}
		s.addOccupant(ch, occupantFor(m.Nick(), "", ch.modes.moderated))

	case irc.RplTopic: // me #chan :topic
		if ch := s.channel(m.Param(1)); ch != nil && len(m.Params) >= 3 {
			_, by := ch.room.Subject()
			ch.room.SetSubject(irc.Text(m.Trailing()), by)
		}
	case irc.RplTopicWhoTime: // me #chan nick!user@host time
		if ch := s.channel(m.Param(1)); ch != nil {
			who := m.Param(2)
			if i := strings.IndexByte(who, '!'); i >= 0 {
				who = who[:i]
			}
			text, _ := ch.room.Subject()
			ch.room.SetSubject(text, irc.Text(who))
		}
	case irc.RplNamReply: // me = #chan :names
		ch := s.channel(m.Param(2))
		if ch == nil || ch.state != chanNames || len(m.Params) < 4 {
			return
		}
		for _, e := range strings.Fields(m.Trailing()) {
			pfx, nick := c.SplitPrefix(e)
			if nick == "" {
				continue
			}
			s.addOccupant(ch, occupantFor(nick, pfx, ch.modes.moderated))
		}
	case irc.RplEndOfNames: // me #chan :End
		ch := s.channel(m.Param(1))
		if ch == nil || ch.state != chanNames {
			return
		}
		ch.namesDone = true
		if ch.modes.known {
			s.joined(ch)
			return
		}
		// Wait a moment for 324 (the roles depend on +m), then join anyway.
		name := ch.name
		time.AfterFunc(2*time.Second, func() {
			s.do(func() {
				if c := s.channel(name); c == ch && ch.state == chanNames {
					s.joined(ch)
				}
			})
		})
	case irc.RplChannelModeIs: // me #chan +modes args...
		if ch := s.channel(m.Param(1)); ch != nil && len(m.Params) >= 3 {
			ch.modes = chanModes{known: true}
			s.applyChanModes(ch, m.Params[2], m.Params[3:], "")
			if ch.state == chanNames && ch.namesDone {
				s.joined(ch)
			}
		}

	case "PART":
		ch := s.channel(m.Param(0))
		if ch == nil {
			return
		}
		reason := irc.Text(m.Param(1))
		if self(m.Nick()) {
			ch.room.End(room.Leave{Reason: reason})
			delete(s.chans, s.fold(ch.name))
			return
		}
		ch.room.RemoveOccupant(m.Nick(), room.Leave{Reason: reason})
	case "QUIT":
		for _, ch := range s.chans {
			ch.room.RemoveOccupant(m.Nick(), room.Leave{Reason: irc.Text(m.Trailing())})
		}
		delete(s.privTo, s.fold(m.Nick()))
		s.ctcpAnswered(m.Nick(), "", "", stanza.NewError(stanza.RecipientUnavailable, m.Nick()+" quit"))
	case "KICK": // #chan victim :reason
		ch := s.channel(m.Param(0))
		if ch == nil || m.Param(1) == "" {
			return
		}
		victim, reason := m.Param(1), irc.Text(m.Param(2))
		why := room.Leave{Reason: reason, Actor: irc.Text(m.Nick()), Codes: []int{room.StatusKicked}}
		if ch.bannedRecently(s, victim) {
			why.Codes = []int{room.StatusBanned}
		}
		if self(victim) {
			ch.room.End(why)
			delete(s.chans, s.fold(ch.name))
			return
		}
		ch.room.RemoveOccupant(victim, why)
		s.adminDone(ch, victim, "kick", nil)
	case "NICK":
		s.nickChanged(m.Nick(), m.Param(0))
	case "MODE":
		if c.IsChannel(m.Param(0)) && len(m.Params) >= 2 {
			if ch := s.channel(m.Param(0)); ch != nil && ch.state == chanJoined {
				s.applyChanModes(ch, m.Params[1], m.Params[2:], irc.Text(m.Nick()))
			}
		}
	case "INVITE": // :inviter INVITE me #chan
		s.invited(m.Nick(), m.Param(1))

	case "PRIVMSG", "NOTICE":
		s.message(m)
	case "TAGMSG":
		if ch := s.channel(m.Param(0)); ch != nil && ch.state == chanNames && len(ch.early) < 100 {
			ch.early = append(ch.early, m)
		} else if ch != nil && ch.state == chanJoined {
			if s.fold(m.Nick()) == s.fold(c.Nick()) && len(ch.echoes) > 0 {
				s.ownEcho(ch, m, room.Message{Nick: irc.Text(m.Nick()), Legacy: m.Tags[tagMsgID]})
				return
			}
			s.reaction(ch, m)
		}
	case "TOPIC": // #chan :topic
		ch := s.channel(m.Param(0))
		if ch == nil {
			return
		}
		if ch.state == chanJoined {
			ch.room.ChangeSubject(irc.Text(m.Param(1)), irc.Text(m.Nick()))
		} else {
			ch.room.SetSubject(irc.Text(m.Param(1)), irc.Text(m.Nick()))
		}

	case irc.ErrNicknameUsed, irc.ErrErroneusNick, irc.ErrNickCollision, irc.ErrUnavailResource: // me badnick :text
		s.nickRefused(m.Command, m.Param(1), m.Trailing())
	case irc.ErrNoSuchNick, irc.ErrNoSuchChan, irc.ErrCannotSend: // me target :text
		s.deliveryError(m.Command, m.Param(1), m.Trailing())
		if ch := s.channel(m.Param(1)); ch != nil && len(ch.echoes) > 0 {
			ch.echoes = ch.echoes[1:] // refused: no echo will come
		}
		s.ctcpAnswered(m.Param(1), "", "", ircError(m.Command, m.Trailing()))
		if ch := s.channel(m.Param(1)); ch != nil && ch.state != chanJoined && m.Command != irc.ErrCannotSend {
			s.failChannel(ch, ircError(irc.ErrNoSuchChan, m.Trailing()))
		}
	case irc.ErrBannedChan, irc.ErrInviteOnly, irc.ErrBadChanKey, irc.ErrChanFull, "405", "476", "477": // me #chan :text
		if ch := s.channel(m.Param(1)); ch != nil && ch.state != chanJoined {
			ch.state = chanWaiting
			s.failChannel(ch, ircError(m.Command, m.Trailing()))
		}
	case irc.ErrChanOPrivsNeed, irc.ErrUserNotInChan, irc.ErrNotOnChannel: // me [nick] #chan :text
		s.adminFailed(m)
	case irc.RplList, irc.RplListEnd:
		s.listLine(m)
	default:
		if isNumeric(m.Command) && time.Now().Before(s.rawUntil) {
			// The answer to a raw command: shown as the server's words.
			text := strings.Join(m.Params[min(1, len(m.Params)):], " ")
			if text != "" {
				s.sendChat(s.serverAddr(s.rawTo), s.rawTo, irc.Text(m.Command+" "+text))
			}
		}
	}
}

func isNumeric(cmd string) bool {
	return len(cmd) == 3 && cmd[0] >= '0' && cmd[0] <= '9' && cmd[1] >= '0' && cmd[1] <= '9' && cmd[2] >= '0' && cmd[2] <= '9'
}

// addOccupant adds an occupant, within the bound on occupants per room (a
// JOIN flood must not grow memory without end): past it the user is told
// once and further joins are not shown.
func (s *session) addOccupant(ch *channel, o room.Occupant) {
	if _, ok := ch.room.Occupant(o.Nick); !ok && ch.room.NumOccupants() >= s.g.cfg.MaxOccupants {
		ch.full = true
		s.tellFull(ch)
		return
	}
	ch.room.SetOccupant(o, "", "")
}

// tellFull tells the user once, from the room, that it shows only part of
// the channel's users.
func (s *session) tellFull(ch *channel) {
	if ch.full && !ch.fullTold && ch.state == chanJoined {
		ch.fullTold = true
		for _, d := range ch.room.Devices() {
			ch.room.SayTo(d, room.Message{Body: "This channel has more users than the gateway shows (" +
				itoaPlain(s.g.cfg.MaxOccupants) + "); further joins are not listed."})
		}
	}
}

// joined completes the join: the room sends every device the occupant
// list, its self-presence and the subject (XEP-0045 §7.2.3, §7.2.15).
func (s *session) joined(ch *channel) {
	self, ok := ch.room.Occupant(s.conn.Nick())
	if !ok {
		self = occupantFor(s.conn.Nick(), "", false)
	}
	if ch.modes.moderated {
		// NAMES came before the modes: unvoiced members are visitors.
		for _, o := range ch.room.Occupants() {
			if o.Data == "" {
				n := occupantFor(o.Nick, "", true)
				n.JID = o.JID
				ch.room.SetOccupant(n, "", "")
			}
		}
		if self.Data == "" {
			self.Role = room.Visitor
		}
	}
	ch.state = chanJoined
	ch.room.Join(self)
	s.tellFull(ch)
	early := ch.early
	ch.early = nil
	for _, m := range early {
		s.message(m)
	}
}

func (s *session) nickChanged(old, nick string) {
	if nick == "" {
		return
	}
	// The connection has already taken its new nick when this runs.
	isSelf := s.conn.Fold(nick) == s.conn.Fold(s.conn.Nick())
	if isSelf {
		s.nickReq = ""
		s.nickBy = nickAsker{}
	}
	for _, ch := range s.chans {
		ch.room.Rename(old, nick)
		if isSelf {
			ch.wantNick = nick
		}
	}
	if !isSelf {
		if p, ok := s.privTo[s.fold(old)]; ok {
			delete(s.privTo, s.fold(old))
			_ = p // the new nick gets default addresses
		}
	}
	if isSelf {
		for _, ch := range s.chans {
			s.sendJoin(ch)
		}
	}
}

// nickRefused handles 433/432 after registration: the join or nick change
// is answered with a presence error from the occupant JID asked for.
func (s *session) nickRefused(code, nick, text string) {
	if s.nickReq == "" || s.fold(nick) != s.fold(s.nickReq) {
		return
	}
	s.nickReq = ""
	e := ircError(code, text)
	if by := s.nickBy; !by.device.IsZero() {
		s.send(room.JoinError(mustResource(by.room, nick), by.device, e))
		s.nickBy = nickAsker{}
		return
	}
	for _, ch := range s.chans {
		if ch.state == chanWaiting && ch.wantNick == nick {
			s.failChannel(ch, e)
		}
	}
	// Join the rest with the nick the connection has.
	for _, ch := range s.chans {
		if ch.state == chanWaiting {
			ch.wantNick = s.conn.Nick()
			s.sendJoin(ch)
		}
	}
}

// deliveryError answers the last message sent to target with the stanza
// error for the IRC error numeric.
func (s *session) deliveryError(code, target, text string) {
	key := s.fold(target)
	p, ok := s.pending[key]
	if !ok {
		return
	}
	delete(s.pending, key)
	if code == irc.ErrNoSuchNick && s.conn.IsChannel(target) {
		code = irc.ErrNoSuchChan
	}
	st := stanza.NewMessage(stanza.TypeError, p.from, "")
	st.From, st.ID = p.to, p.id
	st.SetPayloadElements(room.ErrorElement(ircError(code, text)))
	s.send(st)
}

// message bridges PRIVMSG and NOTICE: in a channel to groupchat, to us to
// chat (from the address the user wrote to, or the user's default one).
func (s *session) message(m *irc.Message) {
	target, text := m.Param(0), m.Param(1)
	if len(m.Params) < 2 {
		return
	}
	if action, ok := irc.Action(text); ok {
		text = "/me " + action
	} else if irc.IsCTCP(text) {
		s.ctcpMessage(m, text)
		return
	}
	if s.conn.IsChannel(target) {
		ch := s.channel(target)
		if ch != nil && ch.state == chanNames {
			// Said while the join completes (waiting for 324): keep it
			// for the room, within bounds.
			if len(ch.early) < 100 {
				ch.early = append(ch.early, m)
			}
			return
		}
		if ch == nil || ch.state != chanJoined {
			return
		}
		body := irc.Decode(text, s.encodingIn(target))
		if body == "" {
			return
		}
		s.channelMessage(ch, m, body)
		return
	}
	body := irc.Decode(text, s.encodingIn(""))
	if body == "" {
		return
	}
	if m.FromServer() || m.Prefix == "" {
		if s.stopping {
			return
		}
		for _, r := range s.resources {
			s.sendChat(s.serverAddr(r), r, body)
		}
		if len(s.resources) == 0 {
			s.sendChat(s.serverAddr(s.user), s.user, body)
		}
		return
	}
	if p, ok := s.privTo[s.fold(m.Nick())]; ok {
		s.sendChat(p.from, p.to, body)
		return
	}
	from, err := s.g.mapper.User(s.server, m.Nick())
	if err != nil {
		return
	}
	s.sendChat(from, s.target(), body)
}

func (s *session) sendChat(from, to jid.JID, body string) {
	st := stanza.NewMessage(stanza.TypeChat, to, body)
	st.From = from
	s.send(st)
}

// ctcpMessage answers CTCP requests a client would (VERSION, PING, TIME)
// and delivers CTCP replies to the requests the gateway relayed.
func (s *session) ctcpMessage(m *irc.Message, text string) {
	inner := strings.TrimSuffix(strings.TrimPrefix(text, "\x01"), "\x01")
	what, arg, _ := strings.Cut(inner, " ")
	what = strings.ToUpper(what)
	if m.Command == "NOTICE" {
		s.ctcpAnswered(m.Nick(), what, irc.Text(arg), nil)
		return
	}
	switch what {
	case "VERSION":
		s.conn.Send("NOTICE", m.Nick(), "\x01VERSION "+s.g.cfg.Version.Name+" "+s.g.cfg.Version.Version+"\x01")
	case "PING":
		if len(arg) <= 64 {
			s.conn.Send("NOTICE", m.Nick(), "\x01PING "+arg+"\x01")
		}
	case "TIME":
		s.conn.Send("NOTICE", m.Nick(), "\x01TIME "+time.Now().UTC().Format(time.RFC1123)+"\x01")
	}
}

// invited relays an IRC INVITE as a XEP-0045 §7.8.2 mediated invitation
// from the room to the user.
func (s *session) invited(nick, channel string) {
	if channel == "" {
		return
	}
	roomJID, err := s.g.mapper.Channel(s.server, channel)
	if err != nil {
		return
	}
	from, err := s.g.mapper.User(s.server, nick)
	if err != nil {
		from = s.serverAddr(s.user)
	}
	s.send(room.InviteMessage(roomJID, s.user, from, "", ""))
}
