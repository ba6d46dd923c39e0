package gateway

import (
	"strings"

	"xmppkit.dev/examples/transport/irc"
	"xmppkit.dev/stanza"
)

// onIRC handles one message from the IRC server (on the session's loop).
func (s *session) onIRC(m *irc.Message) {
	c := s.conn
	if c == nil {
		return
	}
	self := func(nick string) bool { return strings.EqualFold(nick, c.Nick()) }
	switch m.Command {
	case "JOIN":
		rm := s.rooms[strings.ToLower(m.Param(0))]
		if rm == nil {
			return
		}
		if self(m.Nick()) {
			if rm.state == roomJoining || rm.state == roomWaiting {
				rm.state, rm.members = roomNames, nil
			}
			return
		}
		if rm.state != roomJoined {
			return
		}
		if _, mb := rm.member(m.Nick()); mb == nil {
			rm.members = append(rm.members, &member{nick: m.Nick()})
		}
		s.send(stanza.Presence, "", s.occupant(rm, m.Nick()), rm.user, mucUser("", ""))

	case irc.RplTopic: // me #chan :topic
		if rm := s.rooms[strings.ToLower(m.Param(1))]; rm != nil {
			rm.topic, rm.topicOK = irc.Text(m.Trailing()), true
		}
	case irc.RplTopicWhoTime: // me #chan nick!user@host time
		if rm := s.rooms[strings.ToLower(m.Param(1))]; rm != nil {
			who := m.Param(2)
			if i := strings.IndexByte(who, '!'); i >= 0 {
				who = who[:i]
			}
			rm.topicBy = who
		}
	case irc.RplNamReply: // me = #chan :names
		rm := s.rooms[strings.ToLower(m.Param(2))]
		if rm == nil || rm.state != roomNames {
			return
		}
		for _, e := range strings.Fields(m.Trailing()) {
			pfx, nick := c.SplitPrefix(e)
			if nick == "" {
				continue
			}
			if _, mb := rm.member(nick); mb != nil {
				mb.prefixes = pfx
			} else {
				rm.members = append(rm.members, &member{nick: nick, prefixes: pfx})
			}
		}
	case irc.RplEndOfNames: // me #chan :End
		rm := s.rooms[strings.ToLower(m.Param(1))]
		if rm == nil || rm.state != roomNames {
			return
		}
		s.joined(rm)

	case "PART":
		key := strings.ToLower(m.Param(0))
		rm := s.rooms[key]
		if rm == nil {
			return
		}
		if self(m.Nick()) {
			s.selfUnavailable(rm, "")
			delete(s.rooms, key)
			return
		}
		if rm.remove(m.Nick()) != nil && rm.state == roomJoined {
			s.send(stanza.Presence, stanza.TypeUnavailable, s.occupant(rm, m.Nick()), rm.user, unavailableItem("")+status(irc.Text(m.Param(1))))
		}
	case "QUIT":
		for _, rm := range s.rooms {
			if rm.remove(m.Nick()) != nil && rm.state == roomJoined {
				s.send(stanza.Presence, stanza.TypeUnavailable, s.occupant(rm, m.Nick()), rm.user, unavailableItem("")+status(irc.Text(m.Trailing())))
			}
		}
		delete(s.privTo, strings.ToLower(m.Nick()))
	case "KICK": // #chan victim :reason
		key := strings.ToLower(m.Param(0))
		rm := s.rooms[key]
		if rm == nil {
			return
		}
		victim, reason := m.Param(1), irc.Text(m.Param(2))
		if self(victim) {
			s.selfUnavailable(rm, reason, 110, 307)
			delete(s.rooms, key)
			return
		}
		if rm.remove(victim) != nil && rm.state == roomJoined {
			s.send(stanza.Presence, stanza.TypeUnavailable, s.occupant(rm, victim), rm.user, unavailableItem("", 307)+status(reason))
		}
	case "NICK":
		s.nickChanged(m.Nick(), m.Param(0))
	case "MODE":
		s.mode(m)

	case "PRIVMSG", "NOTICE":
		s.message(m)
	case "TOPIC": // #chan :topic
		rm := s.rooms[strings.ToLower(m.Param(0))]
		if rm == nil {
			return
		}
		rm.topic, rm.topicBy, rm.topicOK = irc.Text(m.Param(1)), m.Nick(), true
		if rm.state == roomJoined {
			s.send(stanza.Message, stanza.TypeGroupchat, s.occupant(rm, m.Nick()), rm.user, "<subject>"+esc(rm.topic)+"</subject>")
		}

	case irc.ErrNicknameUsed, irc.ErrErroneusNick, "436", "437": // me badnick :text
		s.nickRefused(m.Command, m.Param(1), m.Trailing())
	case irc.ErrNoSuchNick, irc.ErrNoSuchChan, irc.ErrCannotSend: // me target :text
		s.deliveryError(m.Command, m.Param(1), m.Trailing())
		if rm := s.rooms[strings.ToLower(m.Param(1))]; rm != nil && rm.state != roomJoined && m.Command != irc.ErrCannotSend {
			typ, cond := ircErrorCondition(irc.ErrNoSuchChan)
			s.roomError(rm, typ, cond, m.Trailing())
			delete(s.rooms, strings.ToLower(m.Param(1)))
		}
	case irc.ErrBannedChan, irc.ErrInviteOnly, irc.ErrBadChanKey, irc.ErrChanFull, "405", "476", "477": // me #chan :text
		key := strings.ToLower(m.Param(1))
		if rm := s.rooms[key]; rm != nil && rm.state != roomJoined {
			typ, cond := ircErrorCondition(m.Command)
			s.roomError(rm, typ, cond, m.Trailing())
			delete(s.rooms, key)
		}
	}
}

// joined sends the occupant list, the self-presence and the subject
// (XEP-0045 §7.2.3, §7.2.15).
func (s *session) joined(rm *room) {
	var self *member
	for _, mb := range rm.members {
		if strings.EqualFold(mb.nick, s.conn.Nick()) {
			self = mb
			continue
		}
		s.send(stanza.Presence, "", s.occupant(rm, mb.nick), rm.user, mucUser(mb.prefixes, ""))
	}
	pfx := ""
	if self != nil {
		pfx = self.prefixes
	} else {
		rm.members = append(rm.members, &member{nick: s.conn.Nick()})
	}
	s.send(stanza.Presence, "", s.occupant(rm, s.conn.Nick()), rm.user, mucUser(pfx, "", 100, 110))
	rm.state = roomJoined
	from, _ := s.g.mapper.Channel(s.server, rm.name)
	if rm.topicBy != "" {
		from = s.occupant(rm, rm.topicBy)
	}
	s.send(stanza.Message, stanza.TypeGroupchat, from, rm.user, "<subject>"+esc(rm.topic)+"</subject>")
}

func (s *session) nickChanged(old, nick string) {
	// The connection has already taken its new nick when this runs.
	isSelf := strings.EqualFold(nick, s.conn.Nick())
	if isSelf {
		s.nickReq = ""
	}
	for _, rm := range s.rooms {
		_, mb := rm.member(old)
		if mb == nil || rm.state != roomJoined {
			continue
		}
		mb.nick = nick
		codes := []int{303}
		if isSelf {
			codes = append(codes, 110)
			rm.nick = nick
		}
		s.send(stanza.Presence, stanza.TypeUnavailable, s.occupant(rm, old), rm.user, mucUser(mb.prefixes, nick, codes...))
		codes = codes[1:]
		s.send(stanza.Presence, "", s.occupant(rm, nick), rm.user, mucUser(mb.prefixes, "", codes...))
	}
	if !isSelf {
		delete(s.privTo, strings.ToLower(old))
	}
	if isSelf {
		for _, rm := range s.rooms {
			s.sendJoin(rm)
		}
	}
}

// nickRefused handles 433/432 after registration: the user's join or nick
// change is answered with a presence error from the requested occupant JID.
func (s *session) nickRefused(code, nick, text string) {
	if s.nickReq == "" || !strings.EqualFold(nick, s.nickReq) {
		return
	}
	s.nickReq = ""
	typ, cond := ircErrorCondition(code)
	for key, rm := range s.rooms {
		if !strings.EqualFold(rm.nick, nick) {
			continue
		}
		s.roomError(rm, typ, cond, text)
		if rm.state == roomJoined {
			rm.nick = s.conn.Nick()
		} else {
			delete(s.rooms, key)
		}
	}
}

// deliveryError answers the last message sent to target with the stanza
// error for the IRC error numeric.
func (s *session) deliveryError(code, target, text string) {
	key := strings.ToLower(target)
	p, ok := s.pending[key]
	if !ok {
		return
	}
	delete(s.pending, key)
	typ, cond := ircErrorCondition(code)
	if code == irc.ErrNoSuchNick && s.conn.IsChannel(target) {
		typ, cond = ircErrorCondition(irc.ErrNoSuchChan)
	}
	st := newStanza(stanza.Message, stanza.TypeError, p.to, p.from, errorXML(typ, cond, 0, irc.Text(text)))
	st.ID = p.id
	s.g.send(st)
}

// message bridges PRIVMSG and NOTICE: in a channel to groupchat, to us to
// chat (from the occupant address the user wrote to, or the user's address).
func (s *session) message(m *irc.Message) {
	target, text := m.Param(0), m.Param(1)
	if action, ok := irc.Action(text); ok {
		text = "/me " + action
	} else if irc.IsCTCP(text) {
		if m.Command == "PRIVMSG" && strings.HasPrefix(text, "\x01VERSION") {
			s.conn.Send("NOTICE", m.Nick(), "\x01VERSION xmppkit IRC transport\x01")
		}
		return
	}
	body := irc.Text(text)
	if body == "" {
		return
	}
	if s.conn.IsChannel(target) {
		rm := s.rooms[strings.ToLower(target)]
		if rm == nil || rm.state != roomJoined {
			return
		}
		s.send(stanza.Message, stanza.TypeGroupchat, s.occupant(rm, m.Nick()), rm.user, "<body>"+esc(body)+"</body>")
		return
	}
	if m.FromServer() || m.Prefix == "" {
		if s.stopping {
			return
		}
		s.send(stanza.Message, stanza.TypeChat, s.serverJID(), s.target(), "<body>"+esc(body)+"</body>")
		return
	}
	from, ok := s.privTo[strings.ToLower(m.Nick())]
	if !ok {
		var err error
		from, err = s.g.mapper.User(s.server, m.Nick())
		if err != nil {
			return
		}
	}
	s.send(stanza.Message, stanza.TypeChat, from, s.target(), "<body>"+esc(body)+"</body>")
}

// mode applies channel member mode changes (+o, -v, …) and sends the
// occupants' new affiliation and role (XEP-0045 §9.6, §8.4).
func (s *session) mode(m *irc.Message) {
	rm := s.rooms[strings.ToLower(m.Param(0))]
	if rm == nil || rm.state != roomJoined || len(m.Params) < 2 {
		return
	}
	args := m.Params[2:]
	plus := true
	for i := 0; i < len(m.Params[1]); i++ {
		ch := m.Params[1][i]
		switch ch {
		case '+':
			plus = true
			continue
		case '-':
			plus = false
			continue
		}
		sym := s.conn.ModePrefix(ch)
		takesArg := sym != 0 || strings.IndexByte("beIk", ch) >= 0 || ch == 'l' && plus
		if !takesArg {
			continue
		}
		if len(args) == 0 {
			return
		}
		arg := args[0]
		args = args[1:]
		if sym == 0 {
			continue
		}
		_, mb := rm.member(arg)
		if mb == nil {
			continue
		}
		if plus && strings.IndexByte(mb.prefixes, sym) < 0 {
			mb.prefixes += string(sym)
		} else if !plus {
			mb.prefixes = strings.ReplaceAll(mb.prefixes, string(sym), "")
		}
		var codes []int
		if strings.EqualFold(arg, s.conn.Nick()) {
			codes = []int{110}
		}
		s.send(stanza.Presence, "", s.occupant(rm, mb.nick), rm.user, mucUser(mb.prefixes, "", codes...))
	}
}
