package bridge

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"slices"
	"time"

	"xmppkit.dev/bridge/room"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// NSConference is the namespace of XEP-0249 direct invitations.
const NSConference = "jabber:x:conference"

// group is a group chat of one user: a MUC room at the gateway (package
// room does the XEP-0045 side for the user's devices).
type group struct {
	id      string
	jid     jid.JID // the room's bare JID (XEP-0106 of id)
	name    string
	room    *room.Room
	nickOf  map[string]string // participant id -> nick
	idOf    map[string]string // nick -> participant id
	known   bool              // the network announced it (Group)
	joining bool              // Join sent to the network, no Group yet
	invited bool              // a XEP-0249 invitation was sent this session
}

// occupantJID is the address of a participant (by legacy id) in the room.
func (gr *group) occupantJID(id string) jid.JID {
	nick := gr.nickOf[id]
	if nick == "" {
		nick = id
	}
	j, err := gr.jid.WithResource(nick)
	if err != nil {
		return gr.jid
	}
	return j
}

// participantID is the legacy id of the participant with the nick ("" when
// it is the user, or unknown).
func (gr *group) participantID(nick string) string { return gr.idOf[nick] }

// groupFor returns the user's group with the id, creating it. Under u.mu.
func (u *user) groupFor(id string) *group {
	if gr := u.groups[id]; gr != nil {
		return gr
	}
	gr := &group{id: id, jid: u.g.puppet(id), name: id, nickOf: map[string]string{}, idOf: map[string]string{}}
	u.known[gr.jid.Local()] = id
	var log room.Log
	if a := u.g.cfg.Archive; a != nil {
		log = a.Log(u.jid, gr.jid, gr.jid)
	}
	gr.room = room.New(func(st *stanza.Stanza) { u.outbox = append(u.outbox, st) }, nil, log)
	u.groups[id] = gr
	return gr
}

// takeOutbox returns the stanzas the rooms queued as ops. Under u.mu.
func (u *user) takeOutbox() []op {
	ops := make([]op, 0, len(u.outbox))
	for _, st := range u.outbox {
		ops = append(ops, u.sendOp(st))
	}
	u.outbox = nil
	return ops
}

// occupantID is the XEP-0421 id of a participant in a group: stable for
// the participant's legacy id (or nick, when the network gives none) and
// opaque.
func (g *Gateway) occupantID(groupID, participant string) string {
	sum := sha256.Sum256([]byte(g.domain.String() + "\x00" + groupID + "\x00" + participant))
	return base64.RawURLEncoding.EncodeToString(sum[:18])
}

// occupant maps a participant to a room occupant.
func (u *user) occupant(gr *group, p Participant) room.Occupant {
	o := room.Occupant{Nick: p.Nick, Affiliation: string(p.Affiliation), Role: string(p.Role)}
	key := p.ID
	if key == "" {
		key = "nick:" + p.Nick
	}
	o.OccupantID = u.g.occupantID(gr.id, key)
	if p.ID != "" {
		o.JID = u.g.puppet(p.ID)
		u.known[o.JID.Local()] = p.ID
	}
	return o
}

// selfOccupant is the user's own occupant.
func (u *user) selfOccupant(gr *group, p Participant) room.Occupant {
	if p.Nick == "" {
		for _, d := range gr.room.Devices() {
			if d.Nick != "" {
				p.Nick = d.Nick
				break
			}
		}
	}
	if p.Nick == "" {
		p.Nick = u.jid.Local()
	}
	o := room.Occupant{Nick: p.Nick, Affiliation: string(p.Affiliation), Role: string(p.Role)}
	o.OccupantID = u.g.occupantID(gr.id, "self:"+u.jid.String())
	return o
}

// applyGroup adds or updates a group, and completes a waiting join.
// Under u.mu.
func (u *user) applyGroup(ev *Group) []op {
	gr := u.groupFor(ev.ID)
	gr.known = true
	if ev.Name != "" {
		gr.name = ev.Name
	}
	if ev.Participants != nil {
		keep := map[string]bool{}
		for _, p := range ev.Participants {
			if p.Nick == "" {
				continue
			}
			keep[p.Nick] = true
			u.setParticipant(gr, p)
		}
		for _, o := range gr.room.Occupants() {
			if !keep[o.Nick] {
				u.dropParticipant(gr, o.Nick, room.Leave{})
			}
		}
	}
	if text, by := gr.room.Subject(); ev.Subject != text || ev.SubjectBy != by {
		if gr.room.Joined() {
			gr.room.ChangeSubject(ev.Subject, ev.SubjectBy)
		} else {
			gr.room.SetSubject(ev.Subject, ev.SubjectBy)
		}
	}
	if !gr.room.Joined() && len(gr.room.Devices()) > 0 {
		gr.joining = false
		gr.room.Join(u.selfOccupant(gr, ev.Self))
	}
	return u.takeOutbox()
}

func (u *user) setParticipant(gr *group, p Participant) {
	if p.ID != "" {
		if old := gr.nickOf[p.ID]; old != "" && old != p.Nick {
			gr.room.Rename(old, p.Nick)
			delete(gr.idOf, old)
		}
		gr.nickOf[p.ID] = p.Nick
		gr.idOf[p.Nick] = p.ID
	}
	gr.room.SetOccupant(u.occupant(gr, p), "", "")
}

func (u *user) dropParticipant(gr *group, nick string, why room.Leave) {
	if id := gr.idOf[nick]; id != "" {
		delete(gr.nickOf, id)
		delete(gr.idOf, nick)
	}
	gr.room.RemoveOccupant(nick, why)
}

// applyParticipant adds, updates or removes one participant. Under u.mu.
func (u *user) applyParticipant(ev *Participant) []op {
	gr := u.groupFor(ev.Group)
	nick := ev.Nick
	if nick == "" {
		nick = gr.nickOf[ev.ID]
	}
	if ev.Left {
		why := room.Leave{Reason: ev.Reason}
		if ev.Kicked {
			why.Codes = []int{room.StatusKicked}
		}
		u.dropParticipant(gr, nick, why)
	} else {
		u.setParticipant(gr, *ev)
	}
	return u.takeOutbox()
}

// applySubject changes a group's subject. Under u.mu.
func (u *user) applySubject(ev *Subject) []op {
	gr := u.groupFor(ev.Group)
	gr.room.ChangeSubject(ev.Text, ev.By)
	return u.takeOutbox()
}

// isGroup reports whether an event's chat is a group. Under u.mu.
func (u *user) isGroup(chat string, ev Event) bool {
	if m, ok := ev.(*Message); ok && m.Group {
		return true
	}
	return u.groups[chat] != nil
}

// isRoom reports whether the legacy id is one of the user's groups.
func (u *user) isRoom(id string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.groups[id] != nil
}

// groupEvent shows a chat event of a group in its room. Under u.mu.
func (u *user) groupEvent(ev Event) ([]op, error) {
	chat := chatOf(ev)
	gr := u.groupFor(chat)
	from := senderOf(ev)
	nick := gr.room.Self().Nick
	oid := u.g.occupantID(gr.id, "self:"+u.jid.String())
	if from != "" {
		nick = gr.nickOf[from]
		if nick == "" {
			nick = from
		}
		oid = u.g.occupantID(gr.id, from)
	}
	if nick == "" {
		nick = u.jid.Local()
	}
	extra := []stanza.Element{room.OccupantIDElement(oid)}
	// References name a group message by its stanza-id (XEP-0444,
	// XEP-0461, XEP-0424, XEP-0333 in groups), a correction by the id of
	// the message corrected (XEP-0308).
	ref := func(legacy string) string { return u.sids.xmpp(chat, legacy) }
	switch e := ev.(type) {
	case *Message:
		id := e.ID
		if id == "" {
			id = stanza.NewID()
		}
		if e.Replaces != "" && u.g.cfg.Features&Corrections != 0 {
			extra = append(extra, ReplaceElement(u.ids.xmpp(chat, e.Replaces)))
		}
		body := e.Body
		if r := e.ReplyTo; r != nil {
			extra = append(extra, ReplyElement(ref(r.ID), u.authorJID(e, r.Author, gr.jid, u.jid)))
		}
		for _, a := range e.Attachments {
			if a.URL != "" {
				if body != "" {
					body += "\n"
				}
				body += a.URL
				extra = append(extra, stanza.NewBuilder(NSOOB, "x").TextElement("url", a.URL).OptTextElement("desc", a.Name).Element())
			}
		}
		if u.g.cfg.Features&Markers != 0 {
			extra = append(extra, stanza.Element{Space: NSMarkers, Local: "markable"})
		}
		old := !e.Time.IsZero() && time.Since(e.Time) > 10*time.Second
		ent := gr.room.Say(room.Message{Nick: nick, Body: body, ID: id, StanzaID: id, Time: e.Time, Delayed: old, Extra: extra, Legacy: e.ID})
		if ent.ID != "" && ent.ID != e.ID {
			u.sids.add(chat, ent.ID, e.ID) // the archive's id is the stanza-id clients name
		}
	case *Retraction:
		gr.room.Say(room.Message{Nick: nick, Extra: append(extra, RetractElements(ref(e.ID))...)})
	case *Reaction:
		gr.room.Say(room.Message{Nick: nick, Extra: append(extra, ReactionsElement(ref(e.ID), e.Emojis))})
	case *Displayed:
		gr.room.Broadcast(room.Message{Nick: nick, Extra: append(extra, stanza.NewBuilder(NSMarkers, "displayed").Attr("id", ref(e.ID)).Element())})
	case *ChatState:
		gr.room.Broadcast(room.Message{Nick: nick, Extra: append(extra, stanza.Element{Space: NSChatStates, Local: string(e.State)}, hint("no-store"))})
	case *Receipt:
		// Receipts are not for group chats (XEP-0184 §5.3).
	}
	ops := u.takeOutbox()
	if len(gr.room.Devices()) == 0 && !gr.invited {
		if _, ok := ev.(*Message); ok {
			gr.invited = true
			inv := u.bare(u.g.domain, u.jid, "")
			inv.SetPayloadElements(stanza.NewBuilder(NSConference, "x").Attr("jid", gr.jid.String()).Attr("reason", "new messages in "+gr.name).Element(),
				stanza.TextElement("", "body", "New messages in "+gr.name+": join "+gr.jid.String()))
			ops = append(ops, u.sendOp(inv))
		}
	}
	return ops, nil
}

// leaveRooms removes a device that went offline from every room; a room
// left without devices is left on the network. Under u.mu.
func (u *user) leaveRooms(full jid.JID) {
	for _, gr := range u.groups {
		for _, d := range gr.room.Devices() {
			if d.JID == full {
				if gr.room.RemoveDevice(d.JID, d.Room, "") == 0 && u.state == online {
					id := gr.id
					u.postLocked(func(ctx context.Context) { _, _ = u.sendToNetwork(ctx, &Leave{Group: id}, nil) })
				}
			}
		}
	}
	u.outbox = nil // the device is gone: nothing to tell it
}

// endRooms takes the user out of every room (the session ended). Under
// u.mu.
func (u *user) endRooms(why string) []op {
	for _, gr := range u.groups {
		gr.room.End(room.Leave{Reason: why, Codes: []int{room.StatusShutdown}})
	}
	return u.takeOutbox()
}

// isRoomJID reports whether a presence to to (a JID at the gateway with
// the legacy id) is about a room: occupant addresses have a resource.
func (g *Gateway) isRoomJID(from jid.JID, id string, to jid.JID) bool {
	if to.Resource() != "" {
		return true
	}
	u := g.user(from, false)
	return u != nil && u.isRoom(id)
}

// roomFor reports whether the JID is a room for the requester.
func (g *Gateway) roomFor(from, to jid.JID) bool {
	id, ok := g.resolve(from, to)
	if !ok {
		return false
	}
	u := g.user(from, false)
	return u != nil && u.isRoom(id)
}

func (g *Gateway) roomName(from, to jid.JID) string {
	id, _ := g.resolve(from, to)
	if u := g.user(from, false); u != nil {
		u.mu.Lock()
		defer u.mu.Unlock()
		if gr := u.groups[id]; gr != nil {
			return gr.name
		}
	}
	return id
}

// handleRoomPresence serves a device's presence to a room: a join
// (XEP-0045 §7.2), an update, or leaving (§7.14).
func (g *Gateway) handleRoomPresence(ctx context.Context, p *stanza.Stanza, id string) error {
	if g.cfg.Features&Groups == 0 {
		return stanza.NewError(stanza.FeatureNotImplemented, g.cfg.Name+" has no group chats")
	}
	full := p.From
	u := g.user(full, false)
	if u == nil {
		if p.Type == "" {
			return g.send(ctx, room.JoinError(p.To, full, stanza.NewError(stanza.RegistrationRequired, "register with "+g.domain.String()+" first")))
		}
		return nil
	}
	roomJID := p.To.Bare()
	switch p.Type {
	case stanza.TypeError:
		u.mu.Lock()
		u.leaveRooms(full)
		u.mu.Unlock()
		return nil
	case stanza.TypeUnavailable:
		u.mu.Lock()
		var ops []op
		if gr := u.groups[id]; gr != nil {
			if gr.room.RemoveDevice(full, roomJID, "") == 0 && u.state == online {
				u.postLocked(func(ctx context.Context) { _, _ = u.sendToNetwork(ctx, &Leave{Group: id}, nil) })
			}
			ops = u.takeOutbox()
		}
		u.mu.Unlock()
		return runOps(ctx, ops)
	case "":
	default:
		return nil
	}
	nick := p.To.Resource()
	if nick == "" {
		return g.send(ctx, room.JoinError(p.To, full, stanza.NewError(stanza.JIDMalformed, "join with a nick: room@gateway/nick")))
	}
	join := room.ParseJoin(p)
	u.deviceOnline(full)
	u.mu.Lock()
	if u.state == offline && !u.registered {
		u.mu.Unlock()
		return g.send(ctx, room.JoinError(p.To, full, stanza.NewError(stanza.RegistrationRequired, "register with "+g.domain.String()+" first")))
	}
	gr := u.groupFor(id)
	gr.room.AddDevice(room.Device{JID: full, Room: roomJID, Nick: nick, History: join.History})
	var ops []op
	if !gr.room.Joined() && !gr.joining {
		gr.joining = true
		if !u.postLocked(func(ctx context.Context) { u.joinGroup(ctx, id, nick) }) {
			gr.joining = false
			gr.room.FailDevices(stanza.NewError(stanza.ResourceConstraint, "too much is waiting for "+g.cfg.Name))
		}
	}
	ops = u.takeOutbox()
	u.mu.Unlock()
	return runOps(ctx, ops)
}

// joinGroup asks the network to join the group, on the user's goroutine;
// the network answers with a Group (the join completes then), or an error
// (the devices get it as their join error).
func (u *user) joinGroup(ctx context.Context, id, nick string) {
	_, err := u.sendToNetwork(ctx, &Join{Group: id, Nick: nick}, nil)
	if err != nil {
		u.g.log.Info("bridge: join refused", "user", u.jid, "group", id, "err", err)
	}
	u.mu.Lock()
	gr := u.groups[id]
	if gr == nil {
		u.mu.Unlock()
		return
	}
	if err != nil {
		gr.joining = false
		gr.room.FailDevices(joinErr(u.g, err))
		if len(gr.room.Devices()) == 0 && !gr.known {
			delete(u.groups, id)
		}
	} else if !gr.room.Joined() && len(gr.room.Devices()) > 0 {
		// The network took the join without telling the participants:
		// join with what is known.
		gr.joining = false
		gr.room.Join(u.selfOccupant(gr, Participant{Nick: nick}))
	}
	ops := u.takeOutbox()
	u.mu.Unlock()
	if err := runOps(ctx, ops); err != nil {
		u.g.log.Warn("bridge: join not shown", "user", u.jid, "group", id, "err", err)
	}
}

func joinErr(g *Gateway, err error) *stanza.Error {
	var se *stanza.Error
	switch {
	case errors.As(err, &se):
		return se
	case errors.Is(err, ErrNotFound):
		return stanza.NewError(stanza.ItemNotFound, g.cfg.Name+" has no such group")
	case errors.Is(err, ErrUnsupported):
		return stanza.NewError(stanza.FeatureNotImplemented, g.cfg.Name+" has no group chats")
	}
	return stanza.NewError(stanza.ServiceUnavailable, g.cfg.Name+": "+err.Error())
}

func runOps(ctx context.Context, ops []op) error {
	for _, f := range ops {
		if err := f(ctx); err != nil {
			return err
		}
	}
	return nil
}

// handleRoomMessage serves a device's message to a room (groupchat,
// XEP-0045 §7.4; a subject change, §8.1) or to an occupant (a private
// message, §7.5, sent to the participant's one-to-one chat).
func (g *Gateway) handleRoomMessage(ctx context.Context, u *user, st *stanza.Stanza, id string) error {
	if st.Type != stanza.TypeGroupchat {
		nick := st.To.Resource()
		u.mu.Lock()
		gr := u.groups[id]
		pid := ""
		if gr != nil {
			pid = gr.participantID(nick)
		}
		u.mu.Unlock()
		if pid == "" {
			return stanza.NewError(stanza.NotAcceptable, "private messages reach only participants "+g.cfg.Name+" names")
		}
		u.mu.Lock()
		p, err := u.parseMessage(st, pid, false)
		u.mu.Unlock()
		if err != nil {
			return err
		}
		if !u.post(func(ctx context.Context) { u.deliver(ctx, st, pid, p) }) {
			return stanza.NewError(stanza.ResourceConstraint, "too many messages waiting")
		}
		return nil
	}
	u.mu.Lock()
	gr := u.groups[id]
	joined := gr != nil && gr.room.Joined() && slices.ContainsFunc(gr.room.Devices(), func(d *room.Device) bool { return d.JID == st.From })
	var p parsed
	var err error
	if joined {
		p, err = u.parseMessage(st, id, true)
	}
	u.mu.Unlock()
	if !joined {
		return stanza.NewError(stanza.NotAcceptable, "join the room first")
	}
	if err != nil {
		return err
	}
	if subj, ok := st.Child("", "subject"); ok && st.Body() == "" {
		text, _ := subj.Text()
		p.events = []Event{&Subject{Group: id, Text: text}}
	}
	if len(p.events) == 0 {
		return nil
	}
	if !u.post(func(ctx context.Context) { u.deliverGroup(ctx, st, id, p) }) {
		return stanza.NewError(stanza.ResourceConstraint, "too many messages waiting")
	}
	return nil
}

// deliverGroup sends a device's group message to the network and reflects
// it to every device in the room with the client's id (XEP-0045 §7.4).
func (u *user) deliverGroup(ctx context.Context, st *stanza.Stanza, chat string, p parsed) {
	for _, ev := range p.events {
		lid, err := u.sendToNetwork(ctx, ev, st)
		if err != nil {
			if !quietEvent(ev) {
				u.replyError(ctx, st, err, ev)
			}
			return
		}
		u.mu.Lock()
		gr := u.groups[chat]
		if gr == nil {
			u.mu.Unlock()
			return
		}
		self := gr.room.Self()
		extra := []stanza.Element{room.OccupantIDElement(u.g.occupantID(gr.id, "self:"+u.jid.String()))}
		for _, c := range st.Children() {
			switch {
			case c.Space == "" && (c.Local == "body" || c.Local == "subject" || c.Local == "thread"):
			case c.Space == NSSID, c.Space == NSDelay, c.Space == NSOccupantID, c.Space == NSMUCUser:
			default:
				extra = append(extra, c)
			}
		}
		switch e := ev.(type) {
		case *Message:
			ent := gr.room.Say(room.Message{Nick: self.Nick, Body: st.Body(), ID: st.ID, StanzaID: lid, Extra: extra, Legacy: lid})
			u.ids.add(chat, p.id, lid)
			if st.ID != p.id {
				u.ids.add(chat, st.ID, lid)
			}
			if ent.ID != "" && ent.ID != lid {
				u.sids.add(chat, ent.ID, lid)
			}
		case *Subject:
			gr.room.ChangeSubject(e.Text, self.Nick)
		case *ChatState, *Displayed:
			gr.room.Broadcast(room.Message{Nick: self.Nick, ID: st.ID, Extra: extra})
		default:
			gr.room.Say(room.Message{Nick: self.Nick, ID: st.ID, Extra: extra})
		}
		ops := u.takeOutbox()
		u.mu.Unlock()
		if runOps(ctx, ops) != nil {
			return
		}
	}
}

// handleRoomPing answers XEP-0199 pings: the gateway, a contact of the
// user's (while logged in), and XEP-0410 self-pings in rooms.
func (g *Gateway) handleRoomPing(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
	id, ok := g.resolve(iq.From, iq.To)
	if !ok {
		return s.Send(ctx, iq.Result()) // the gateway itself
	}
	u := g.user(iq.From, false)
	if u == nil {
		return stanza.NewError(stanza.RegistrationRequired, "not registered")
	}
	u.mu.Lock()
	gr := u.groups[id]
	var err error
	if gr != nil {
		err = gr.room.HandlePing(iq.From, iq.To)
	} else if c := u.contacts[id]; c == nil || u.state != online {
		err = stanza.NewError(stanza.RecipientUnavailable, "not connected to this contact")
	}
	u.mu.Unlock()
	if err != nil {
		return err
	}
	return s.Send(ctx, iq.Result())
}

// handleMAM serves XEP-0313 at a room of the requester, from the
// requester's own view of the room's history (Config.Archive).
func (g *Gateway) handleMAM(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
	id, ok := g.resolve(iq.From, iq.To)
	if !ok || g.cfg.Archive == nil {
		return stanza.NewError(stanza.ServiceUnavailable, "archives are kept per room: query a room's address")
	}
	u := g.user(iq.From, false)
	if u == nil || !u.isRoom(id) {
		return stanza.NewError(stanza.ItemNotFound, "no such room")
	}
	return g.cfg.Archive.Serve(ctx, s, iq, g.puppet(id))
}
