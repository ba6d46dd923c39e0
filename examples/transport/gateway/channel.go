package gateway

import (
	"strings"
	"time"

	"xmppkit.dev/bridge/room"
	"xmppkit.dev/examples/transport/irc"
	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// Channel states.
const (
	chanWaiting = iota // JOIN not sent yet (connecting, or NICK pending)
	chanJoining        // JOIN sent
	chanNames          // our JOIN echoed: collecting NAMES
	chanJoined         // the room's join sequence sent
	chanParting        // PART sent for the last device
)

// channel is one IRC channel of a session and the room the user's devices
// see it as.
type channel struct {
	name       string // as first joined
	key        string // JOIN key (XEP-0045 <password/>)
	wantNick   string // the nick the first device asked for
	state      int
	namesDone  bool // 366 received while joining
	room       *room.Room
	persistent bool
	modes      chanModes
	fullTold   bool
	full       bool           // MaxOccupants reached: told the user once
	admin      []*adminOp     // muc#admin commands waiting for the server
	bans       []banEvent     // bans set lately (a KICK after one is a ban)
	recent     []recentMsg    // the last messages, for replies and reactions
	echoes     []pendingEcho  // the user's messages whose echo is awaited
	early      []*irc.Message // messages that came before the join completed
}

// chanModes are the channel modes the room configuration shows.
type chanModes struct {
	known      bool   // 324 received
	topicLock  bool   // +t
	moderated  bool   // +m
	inviteOnly bool   // +i
	secret     bool   // +s or +p
	noOutside  bool   // +n
	key        string // +k
	limit      string // +l
}

func (s *session) channel(name string) *channel { return s.chans[s.fold(name)] }

func (s *session) newChannel(name string) *channel {
	ch := &channel{name: name}
	ch.room = room.New(s.send, s.fold, nil)
	ch.persistent = s.channelPrefs(name).Bool(setPersistent, false)
	s.g.setLog(s, ch)
	return ch
}

// join adds a device to a channel (XEP-0045 §7.2), joining it on IRC when
// it is the first; it reports false when the session had already ended.
func (s *session) join(from, roomJID jid.JID, name, nick string, j room.Join) bool {
	return s.do(func() {
		ch := s.channel(name)
		if ch != nil && ch.state == chanJoined && ch.room.Device(from, roomJID) != nil {
			// A joined device asking for another nick changes it (§7.6).
			if s.conn != nil && nick != s.conn.Nick() {
				s.changeNick(nick, nickAsker{device: from, room: roomJID})
				return
			}
			ch.room.AddDevice(room.Device{JID: from, Room: roomJID, Nick: nick, History: j.History})
			return
		}
		if ch == nil || ch.state == chanParting {
			if ch == nil {
				ch = s.newChannel(name)
				s.chans[s.fold(name)] = ch
			}
			ch.wantNick, ch.key = nick, j.Password
			if ch.state == chanParting {
				ch.state = chanWaiting
			}
		}
		if j.Password != "" {
			ch.key = j.Password
		}
		ch.room.AddDevice(room.Device{JID: from, Room: roomJID, Nick: nick, History: j.History})
		if ch.state != chanWaiting {
			return // joining already, or joined: AddDevice did the rest
		}
		if s.conn != nil {
			s.sendJoin(ch)
		} else if !s.dialing {
			if s.retry != nil {
				s.retry.Stop()
				s.retry = nil
			}
			s.connect()
		}
	})
}

// inRooms reports whether the connection is in (or joining) any channel but
// except.
func (s *session) inRooms(except *channel) bool {
	for _, ch := range s.chans {
		if ch != except && ch.state != chanWaiting && ch.state != chanParting {
			return true
		}
	}
	return false
}

// sendJoin sends JOIN for a waiting channel. When the connection is in no
// other channel and the device asked for another nick, it changes the nick
// first; otherwise the user keeps the nick of the connection (status 210
// tells the device).
func (s *session) sendJoin(ch *channel) {
	if ch.state != chanWaiting {
		return
	}
	if ch.wantNick != "" && ch.wantNick != s.conn.Nick() && !s.inRooms(ch) {
		if s.nickReq == "" || s.fold(s.nickReq) != s.fold(ch.wantNick) {
			s.nickReq = ch.wantNick
			s.nickBy = nickAsker{}
			if err := s.conn.Send("NICK", ch.wantNick); err != nil {
				s.failChannel(ch, stanza.NewError(stanza.JIDMalformed, "not a valid IRC nick"))
			}
		}
		return
	}
	ch.state = chanJoining
	params := []string{ch.name}
	if ch.key != "" {
		params = append(params, ch.key)
	}
	if err := s.conn.Send("JOIN", params...); err != nil {
		s.failChannel(ch, stanza.NewError(stanza.JIDMalformed, "not a valid IRC channel"))
	}
}

// failChannel answers every waiting device with e and forgets the channel
// when no device is left.
func (s *session) failChannel(ch *channel, e *stanza.Error) {
	if ch.room.FailDevices(e) == 0 && !ch.room.Joined() {
		delete(s.chans, s.fold(ch.name))
	}
}

// changeNick asks IRC for a new nick for the whole connection.
func (s *session) changeNick(nick string, by nickAsker) {
	s.nickReq, s.nickBy = nick, by
	if err := s.conn.Send("NICK", nick); err != nil {
		s.send(room.JoinError(mustResource(by.room, nick), by.device, stanza.NewError(stanza.JIDMalformed, "not a valid IRC nick")))
		s.nickReq = ""
	}
}

func mustResource(bare jid.JID, res string) jid.JID {
	j, err := bare.WithResource(res)
	if err != nil {
		return bare
	}
	return j
}

// leave removes a device from a channel (XEP-0045 §7.14); the last device
// out parts the IRC channel with the device's status as the reason, unless
// the channel is persistent. It reports false when the device was not in
// the channel.
func (s *session) leave(from, roomJID jid.JID, name, reason string) bool {
	errNotIn := stanza.NewError(stanza.ItemNotFound, "")
	err := s.call(func() error {
		ch := s.channel(name)
		if ch == nil || ch.room.Device(from, roomJID) == nil {
			return errNotIn
		}
		left := ch.room.RemoveDevice(from, roomJID, reason)
		if left > 0 || ch.persistent && ch.state == chanJoined {
			return nil
		}
		if s.conn != nil && (ch.state == chanJoined || ch.state == chanJoining || ch.state == chanNames) {
			ch.state = chanParting
			s.conn.Send("PART", ch.name, reason)
			return nil // the PART echo forgets the channel
		}
		delete(s.chans, s.fold(name))
		return nil
	})
	return err == nil
}

func (s *session) groupchat(m *stanza.Stanza, name string) error {
	return s.call(func() error {
		ch := s.channel(name)
		if ch == nil || ch.state != chanJoined || s.conn == nil || !ch.room.HasDevice(m.From) {
			return stanza.NewError(stanza.NotAcceptable, "you are not in this room")
		}
		if sub, ok := m.Child("", "subject"); ok && m.Body() == "" {
			text, _ := sub.Text()
			line := strings.ReplaceAll(text, "\n", " ")
			if err := s.conn.Send("TOPIC", ch.name, line); err != nil {
				return stanza.NewError(stanza.NotAcceptable, "the subject is too long")
			}
			return nil
		}
		out, ok := s.renderOutgoing(ch, m)
		if !ok {
			return nil
		}
		var extra []stanza.Element
		for _, k := range m.Children() {
			if !(k.Space == "" && k.Local == "body") && !(k.Space == NSMUCUser) {
				extra = append(extra, k)
			}
		}
		echo := s.conn.HasCap("echo-message")
		label := ""
		if echo && s.conn.HasCap("labeled-response") {
			label = s.conn.NextLabel()
		}
		var lines int
		var err error
		if out.react {
			tags := out.tags
			if label != "" {
				tags[tagLabel] = label
			}
			err = s.conn.SendTags(tags, "TAGMSG", ch.name)
			lines = 1
		} else {
			lines, err = s.privmsg(ch.name, out.text, s.encodingOut(ch.name), out.tags, label)
		}
		if err != nil {
			return err
		}
		s.pending[s.fold(ch.name)] = pendingPM{id: m.ID, from: m.From, to: m.To.Bare()}
		self := ch.room.Self().Nick
		body := m.Body()
		if out.react {
			body = ""
		}
		if echo {
			// The server's echo is the reflection (with its msgid and time).
			if len(ch.echoes) >= 64 {
				ch.echoes = ch.echoes[1:]
			}
			ch.echoes = append(ch.echoes, pendingEcho{label: label, xmppID: m.ID, body: body, lines: lines, extra: extra})
			return nil
		}
		// Reflect the message to every device, with its id (XEP-0045 §7.4).
		msg := room.Message{Nick: self, Body: body, ID: m.ID, Extra: extra}
		e := ch.room.Say(msg)
		ch.remember(recentMsg{stanzaID: stanzaIDOf(e, msg), xmppID: m.ID, nick: self, body: body})
		return nil
	})
}

// privmsg sends text to an IRC target: each line its own PRIVMSG, long
// lines split so that the relayed line fits, "/me " as CTCP ACTION, in the
// encoding enc; tags (and the label) go on the first line. It returns how
// many lines it sent.
func (s *session) privmsg(target, body, enc string, tags map[string]string, label string) (int, error) {
	action := false
	if strings.HasPrefix(body, "/me ") {
		action, body = true, body[4:]
	}
	max := s.conn.MaxText("PRIVMSG", target)
	if action {
		max -= len(irc.MakeAction(""))
	}
	lines := irc.Split(body, max)
	for i, line := range lines {
		if action {
			line = irc.MakeAction(line)
		}
		var t map[string]string
		if i == 0 && (len(tags) > 0 || label != "") {
			t = map[string]string{}
			for k, v := range tags {
				t[k] = v
			}
			if label != "" {
				t[tagLabel] = label
			}
		}
		// A single-byte encoding is never longer than the UTF-8 it comes
		// from, so the split still fits.
		if err := s.conn.SendTags(t, "PRIVMSG", target, irc.Encode(line, enc)); err != nil {
			if err == irc.ErrQueueFull {
				return i, stanza.NewError(stanza.ResourceConstraint, "too much text at once: the IRC server reads slower; part of it was not sent")
			}
			return i, stanza.NewError(stanza.RecipientUnavailable, "the IRC connection failed")
		}
	}
	return len(lines), nil
}

func (s *session) private(m *stanza.Stanza, a Addr) error {
	return s.call(func() error {
		if s.conn == nil {
			return stanza.NewError(stanza.RecipientUnavailable, "not connected to "+s.server)
		}
		to := s.user
		if a.Kind == KindOccupant {
			to = m.From
		}
		s.privTo[s.fold(a.Nick)] = privAddr{from: m.To, to: to}
		if len(s.privTo) > 1024 {
			for k := range s.privTo {
				delete(s.privTo, k)
				break
			}
		}
		if _, err := s.privmsg(a.Nick, m.Body(), s.encodingOut(""), nil, ""); err != nil {
			return err
		}
		s.pending[s.fold(a.Nick)] = pendingPM{id: m.ID, from: m.From, to: m.To}
		return nil
	})
}

// privAddr is where private messages from a nick go: from the address the
// user wrote to, to the device (in-room) or the bare JID.
type privAddr struct{ from, to jid.JID }

// raw sends a message to the IRC server's address as a raw IRC command
// (Biboumi's convention): each line is one command, written as typed.
func (s *session) raw(m *stanza.Stanza) error {
	return s.call(func() error {
		if s.conn == nil {
			return stanza.NewError(stanza.RecipientUnavailable, "not connected to "+s.server)
		}
		s.serverJID[m.From] = m.To.Bare()
		s.rawTo, s.rawUntil = m.From, time.Now().Add(30*time.Second)
		for _, line := range strings.Split(m.Body(), "\n") {
			line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "/"))
			if line == "" {
				continue
			}
			msg, err := irc.Parse(line)
			if err != nil || msg.Prefix != "" || msg.Tags != nil {
				return stanza.NewError(stanza.BadRequest, "not an IRC command: "+line)
			}
			if msg.Command == "QUIT" {
				return stanza.NewError(stanza.NotAllowed, "leave with unavailable presence, not QUIT")
			}
			if err := s.conn.Send(msg.Command, msg.Params...); err != nil {
				return stanza.NewError(stanza.BadRequest, "cannot send "+line+": "+err.Error())
			}
		}
		return nil
	})
}

// invite relays mediated invitations (XEP-0045 §7.8.2) as IRC INVITE: the
// invitee is an IRC user of the gateway (nick@gw); an invitation of
// another XMPP user is sent to that user from the room directly.
func (s *session) invite(m *stanza.Stanza, name string, invites []room.Invite) error {
	ch := s.channel(name)
	if ch == nil || ch.state != chanJoined || s.conn == nil || !ch.room.HasDevice(m.From) {
		return stanza.NewError(stanza.NotAcceptable, "you are not in this room")
	}
	for _, in := range invites {
		if in.Decline {
			continue
		}
		if in.To.Domain() == s.g.cfg.Domain {
			a, err := s.g.mapper.Parse(in.To)
			if err != nil || a.Kind != KindUser || !strings.EqualFold(a.Server, s.server) {
				return stanza.NewError(stanza.JIDMalformed, "invite an IRC user of this server (nick@gateway)")
			}
			if err := s.conn.Send("INVITE", a.Nick, ch.name); err != nil {
				return stanza.NewError(stanza.BadRequest, "cannot invite "+a.Nick)
			}
			continue
		}
		if in.To.IsZero() {
			return stanza.NewError(stanza.JIDMalformed, "an invitation needs a to address")
		}
		s.send(room.InviteMessage(m.To.Bare(), in.To, m.From.Bare(), in.Reason, ch.key))
	}
	return nil
}
