package gateway

import (
	"context"
	"path"
	"strings"
	"time"

	"xmppkit.dev/bridge/room"
	"xmppkit.dev/examples/transport/irc"
	"xmppkit.dev/form"
	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// adminOp is one IRC command sent for a muc#admin request, waiting for the
// server to confirm it (the MODE or KICK it relays back) or refuse it
// (482, 441).
type adminOp struct {
	key  string // folded nick, or the ban mask
	kind string // "mode" or "kick"
	req  *adminReq
}

type adminReq struct {
	left  int
	err   error
	reply chan error
}

func (r *adminReq) done(err error) {
	if r.left <= 0 {
		return
	}
	if err != nil && r.err == nil {
		r.err = err
	}
	r.left--
	if r.left == 0 {
		r.reply <- r.err
	}
}

type banEvent struct {
	mask string
	at   time.Time
}

// adminDone confirms the oldest pending op of the kind for key.
func (s *session) adminDone(ch *channel, key, kind string, err error) {
	k := s.fold(key)
	for i, op := range ch.admin {
		if op.kind == kind && op.key == k {
			ch.admin = append(ch.admin[:i:i], ch.admin[i+1:]...)
			op.req.done(err)
			return
		}
	}
}

// adminFailed answers the oldest pending op of a channel with the error of
// a refusal numeric (482 me #chan, 441 me nick #chan).
func (s *session) adminFailed(m *irc.Message) {
	chName := m.Param(1)
	if m.Command == irc.ErrUserNotInChan {
		chName = m.Param(2)
	}
	ch := s.channel(chName)
	if ch == nil || len(ch.admin) == 0 {
		return
	}
	op := ch.admin[0]
	ch.admin = ch.admin[1:]
	op.req.done(ircError(m.Command, m.Trailing()))
}

// bannedRecently reports whether a ban matching nick was set in the
// channel in the last seconds (so that the KICK that follows it is a ban,
// status 301).
func (ch *channel) bannedRecently(s *session, nick string) bool {
	kept := ch.bans[:0]
	hit := false
	for _, b := range ch.bans {
		if time.Since(b.at) > 10*time.Second {
			continue
		}
		kept = append(kept, b)
		pat, _, _ := strings.Cut(b.mask, "!")
		if ok, _ := path.Match(s.fold(pat), s.fold(nick)); ok {
			hit = true
		}
	}
	ch.bans = kept
	return hit
}

// applyChanModes applies a MODE change (or the 324 listing): member modes
// change occupants' affiliation and role (XEP-0045 §9.6, §8.4, with the
// actor), channel modes the room configuration.
func (s *session) applyChanModes(ch *channel, modes string, args []string, actor string) {
	listModes, alwaysArg, setArg := "beI", "k", "l"
	if v, ok := s.conn.ISupport("CHANMODES"); ok {
		parts := strings.Split(v, ",")
		if len(parts) >= 3 {
			listModes, alwaysArg, setArg = parts[0], parts[1], parts[2]
		}
	}
	plus := true
	wasModerated := ch.modes.moderated
	changed := map[string]bool{}
	for i := 0; i < len(modes); i++ {
		mc := modes[i]
		switch mc {
		case '+':
			plus = true
			continue
		case '-':
			plus = false
			continue
		}
		sym := s.conn.ModePrefix(mc)
		takesArg := sym != 0 || strings.IndexByte(listModes, mc) >= 0 || strings.IndexByte(alwaysArg, mc) >= 0 ||
			strings.IndexByte(setArg, mc) >= 0 && plus
		arg := ""
		if takesArg {
			if len(args) == 0 {
				return // a malformed MODE: stop rather than misread
			}
			arg, args = args[0], args[1:]
		}
		switch {
		case sym != 0:
			o, ok := ch.room.Occupant(arg)
			if !ok {
				continue
			}
			pfx := strings.ReplaceAll(o.Data, string(sym), "")
			if plus {
				pfx = insertPrefix(s.conn, pfx, sym)
			}
			o.Data = pfx
			n := occupantFor(o.Nick, pfx, ch.modes.moderated)
			n.JID = o.JID
			if ch.state == chanJoined {
				ch.room.SetOccupant(n, actor, "")
			}
			s.adminDone(ch, arg, "mode", nil)
			changed[s.fold(o.Nick)] = true
		case mc == 'b':
			if plus {
				ch.bans = append(ch.bans, banEvent{mask: arg, at: time.Now()})
				if len(ch.bans) > 32 {
					ch.bans = ch.bans[1:]
				}
			}
			s.adminDone(ch, arg, "mode", nil)
		case mc == 't':
			ch.modes.topicLock = plus
		case mc == 'm':
			ch.modes.moderated = plus
		case mc == 'i':
			ch.modes.inviteOnly = plus
		case mc == 's' || mc == 'p':
			ch.modes.secret = plus
		case mc == 'n':
			ch.modes.noOutside = plus
		case mc == 'k':
			ch.modes.key = ""
			if plus {
				ch.modes.key = arg
			}
		case mc == 'l':
			ch.modes.limit = ""
			if plus {
				ch.modes.limit = arg
			}
		}
	}
	if ch.modes.moderated != wasModerated && ch.state == chanJoined {
		// +m/-m turns unvoiced occupants into visitors and back.
		for _, o := range append(ch.room.Occupants(), ch.room.Self()) {
			if o.Data == "" && !changed[s.fold(o.Nick)] {
				n := occupantFor(o.Nick, "", ch.modes.moderated)
				n.JID = o.JID
				ch.room.SetOccupant(n, actor, "")
			}
		}
	}
}

// insertPrefix adds sym to the prefixes, keeping the server's PREFIX order.
func insertPrefix(c *irc.Conn, pfx string, sym byte) string {
	all := pfx + string(sym)
	order, ok := c.ISupport("PREFIX")
	if !ok {
		return all
	}
	if i := strings.IndexByte(order, ')'); i >= 0 {
		order = order[i+1:]
	}
	var b strings.Builder
	for i := 0; i < len(order); i++ {
		if strings.IndexByte(all, order[i]) >= 0 {
			b.WriteByte(order[i])
		}
	}
	return b.String()
}

// --- XEP-0045 §8-§10 from XMPP ------------------------------------------------

// handleAdmin maps muc#admin requests to IRC: role none is KICK, visitor
// -v, participant +v or -o, moderator +o; affiliation outcast is a ban
// (+b nick!*@*) and a KICK, member +v, admin +o, owner +q where the server
// has it, none removes the member modes. The answer waits for the server
// to confirm or refuse every command (482 gives forbidden). List requests
// (get) are answered from the occupants.
func (g *Gateway) handleAdmin(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
	a, err := g.mapper.Parse(iq.To)
	if err != nil || a.Kind != KindChannel {
		return stanza.NewError(stanza.FeatureNotImplemented, "muc#admin is served at room addresses")
	}
	items, err := room.ParseAdmin(iq)
	if err != nil {
		return err
	}
	if iq.Type == stanza.TypeGet {
		var out []room.AdminItem
		err := g.withSession(iq.From, a.Server, func(ss *session) error {
			ch := ss.channel(a.Channel)
			if ch == nil || !ch.room.HasDevice(iq.From) {
				return stanza.NewError(stanza.Forbidden, "join the room first")
			}
			for _, it := range items {
				if it.Affiliation == room.Outcast {
					return stanza.NewError(stanza.FeatureNotImplemented, "IRC bans are masks, not addresses: list them with MODE "+ch.name+" +b sent to the server's address")
				}
				occ := append(ch.room.Occupants(), ch.room.Self())
				for _, o := range occ {
					if it.Role != "" && o.Role == it.Role || it.Affiliation != "" && o.Affiliation == it.Affiliation {
						j, _ := g.mapper.User(ss.server, o.Nick)
						out = append(out, room.AdminItem{Nick: o.Nick, JID: j, Affiliation: o.Affiliation, Role: o.Role})
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		return s.Send(ctx, iq.Result(room.AdminItems(out)))
	}
	req := &adminReq{reply: make(chan error, 1)}
	pending := 0 // read on the session's loop: req is the loop's
	err = g.withSession(iq.From, a.Server, func(ss *session) error {
		ch := ss.channel(a.Channel)
		if ch == nil || ch.state != chanJoined || ss.conn == nil || !ch.room.HasDevice(iq.From) {
			return stanza.NewError(stanza.NotAcceptable, "join the room first")
		}
		err := ss.adminCommands(ch, items, req)
		pending = req.left
		return err
	})
	if err != nil {
		return err
	}
	if pending > 0 {
		wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		select {
		case err := <-req.reply:
			if err != nil {
				return err
			}
		case <-wctx.Done():
			return stanza.NewError(stanza.RemoteServerTimeout, "the IRC server did not confirm the change")
		}
	}
	return s.Send(ctx, iq.Result())
}

// adminCommands sends the IRC commands for the items (on the session's
// loop) and registers what must be confirmed.
func (s *session) adminCommands(ch *channel, items []room.AdminItem, req *adminReq) error {
	type cmd struct {
		params []string
		key    string
		kind   string
	}
	var cmds []cmd
	for _, it := range items {
		nick := it.Nick
		if nick == "" {
			a, err := s.g.mapper.Parse(it.JID)
			if err != nil || a.Kind != KindUser {
				return stanza.NewError(stanza.NotAcceptable, "an IRC user is named by nick, or by nick@gateway")
			}
			nick = a.Nick
		}
		o, ok := ch.room.Occupant(nick)
		if !ok && it.Affiliation != room.Outcast {
			return stanza.NewError(stanza.ItemNotFound, nick+" is not in the room")
		}
		mode := func(sign byte, letter byte) {
			if letter == 0 {
				return
			}
			sym := s.conn.ModePrefix(letter)
			has := strings.IndexByte(o.Data, sym) >= 0
			if sign == '+' && has || sign == '-' && !has {
				return
			}
			cmds = append(cmds, cmd{params: []string{"MODE", ch.name, string(sign) + string(letter), nick}, key: nick, kind: "mode"})
		}
		op := s.modeLetter('@')
		half := s.modeLetter('%')
		voice := s.modeLetter('+')
		switch it.Role {
		case "none":
			cmds = append(cmds, cmd{params: []string{"KICK", ch.name, nick, it.Reason}, key: nick, kind: "kick"})
			continue
		case room.Visitor:
			mode('-', op)
			mode('-', half)
			mode('-', voice)
		case room.Participant:
			mode('-', op)
			mode('-', half)
			if ch.modes.moderated {
				mode('+', voice)
			}
		case room.Moderator:
			mode('+', op)
		}
		switch it.Affiliation {
		case room.Outcast:
			mask := nick + "!*@*"
			cmds = append(cmds, cmd{params: []string{"MODE", ch.name, "+b", mask}, key: mask, kind: "mode"})
			if ok {
				cmds = append(cmds, cmd{params: []string{"KICK", ch.name, nick, it.Reason}, key: nick, kind: "kick"})
			}
		case room.Member:
			mode('+', voice)
		case room.Admin:
			mode('+', op)
		case room.Owner:
			q := s.modeLetter('~')
			if q == 0 {
				return stanza.NewError(stanza.NotAllowed, "this IRC server has no channel owner mode")
			}
			mode('+', q)
		case room.None:
			mode('-', s.modeLetter('~'))
			mode('-', s.modeLetter('&'))
			mode('-', op)
			mode('-', half)
			mode('-', voice)
		}
	}
	for _, c := range cmds {
		if err := s.conn.Send(c.params[0], c.params[1:]...); err != nil {
			return stanza.NewError(stanza.BadRequest, "cannot send "+c.params[0]+": "+err.Error())
		}
		req.left++
		ch.admin = append(ch.admin, &adminOp{key: s.fold(c.key), kind: c.kind, req: req})
	}
	if len(ch.admin) > 64 {
		for _, op := range ch.admin[:len(ch.admin)-64] {
			op.req.done(stanza.NewError(stanza.RemoteServerTimeout, "no answer from the IRC server"))
		}
		ch.admin = ch.admin[len(ch.admin)-64:]
	}
	return nil
}

// modeLetter returns the member mode letter of a prefix symbol on this
// server, or 0.
func (s *session) modeLetter(sym byte) byte { return s.conn.PrefixMode(sym) }

// handleOwner shows the room configuration (XEP-0045 §10.2) read-only, from
// the channel modes: IRC channels are configured with MODE, which the user
// can send as a raw command to the server's address.
func (g *Gateway) handleOwner(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
	a, err := g.mapper.Parse(iq.To)
	if err != nil || a.Kind != KindChannel {
		return stanza.NewError(stanza.FeatureNotImplemented, "muc#owner is served at room addresses")
	}
	if iq.Type == stanza.TypeSet {
		return stanza.NewError(stanza.NotAllowed, "IRC channels are configured on IRC: send MODE or TOPIC commands to the server's address")
	}
	var f form.Form
	err = g.withSession(iq.From, a.Server, func(ss *session) error {
		ch := ss.channel(a.Channel)
		if ch == nil || ch.state != chanJoined || !ch.room.HasDevice(iq.From) {
			return stanza.NewError(stanza.Forbidden, "join the room first")
		}
		f = roomConfig(ch)
		return nil
	})
	if err != nil {
		return err
	}
	el, err := stanza.MarshalElement(f)
	if err != nil {
		return err
	}
	return s.Send(ctx, iq.Result(stanza.NewBuilder(room.NSOwner, "query").Append(el).Element()))
}

// roomConfig is the muc#roomconfig form (XEP-0045 §15.5.3) of a channel's
// modes: +t is changesubject false, +m moderatedroom, +k
// passwordprotectedroom with the key as roomsecret, +i membersonly, +s/+p
// not public, +l maxusers.
func roomConfig(ch *channel) form.Form {
	md := ch.modes
	f := form.Form{Type: form.TypeForm, Title: "Configuration of " + ch.name,
		Instructions: []string{"Read-only: this is the IRC channel's mode. Change it with MODE " + ch.name + " sent to the IRC server's address."}}
	f.Set(form.Hidden, form.FormTypeVar, "http://jabber.org/protocol/muc#roomconfig")
	f.Set(form.TextSingle, "muc#roomconfig_roomname", ch.name)
	subject, _ := ch.room.Subject()
	f.Set(form.TextSingle, "muc#roomconfig_roomdesc", subject)
	f.Set(form.Boolean, "muc#roomconfig_changesubject", form.FormatBool(!md.topicLock))
	f.Set(form.Boolean, "muc#roomconfig_moderatedroom", form.FormatBool(md.moderated))
	f.Set(form.Boolean, "muc#roomconfig_passwordprotectedroom", form.FormatBool(md.key != ""))
	f.Set(form.TextPrivate, "muc#roomconfig_roomsecret", md.key)
	f.Set(form.Boolean, "muc#roomconfig_membersonly", form.FormatBool(md.inviteOnly))
	f.Set(form.Boolean, "muc#roomconfig_publicroom", form.FormatBool(!md.secret))
	f.Set(form.Boolean, "muc#roomconfig_persistentroom", "1")
	f.Set(form.ListSingle, "muc#roomconfig_whois", "anyone")
	if md.limit != "" {
		f.Set(form.TextSingle, "muc#roomconfig_maxusers", md.limit)
	}
	return f
}
