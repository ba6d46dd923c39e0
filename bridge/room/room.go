package room

import (
	"slices"
	"strings"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// Namespaces of XEP-0045 (§19.1), XEP-0203, XEP-0359 and XEP-0410.
const (
	NS         = "http://jabber.org/protocol/muc"
	NSUser     = "http://jabber.org/protocol/muc#user"
	NSAdmin    = "http://jabber.org/protocol/muc#admin"
	NSOwner    = "http://jabber.org/protocol/muc#owner"
	NSDelay    = "urn:xmpp:delay"                                        // XEP-0203 §4
	NSStanzaID = "urn:xmpp:sid:0"                                        // XEP-0359 §7
	NSSelfPing = "http://jabber.org/protocol/muc#self-ping-optimization" // XEP-0410 §4
	NSPing     = "urn:xmpp:ping"                                         // XEP-0199 §3
	NSStanzas  = stanza.NSStanzas
)

// Status codes of XEP-0045 §15.6.
const (
	StatusNonAnonymous = 100 // the room shows real JIDs (here: the other network's users)
	StatusLogging      = 170 // the room is logged: history is recorded
	StatusSelf         = 110 // this presence is about you
	StatusNickAssigned = 210 // the service chose or changed your nick
	StatusBanned       = 301
	StatusNickChange   = 303
	StatusKicked       = 307
	StatusShutdown     = 332 // removed: the service is shutting down (or the link ended)
	StatusTechnical    = 333 // removed: a technical problem (XEP-0045 §9.8)
)

// Affiliations and roles of XEP-0045 §5.
const (
	Owner   = "owner"
	Admin   = "admin"
	Member  = "member"
	None    = "none"
	Outcast = "outcast"

	Moderator   = "moderator"
	Participant = "participant"
	Visitor     = "visitor"
)

// Occupant is one participant of the room (XEP-0045 §5).
type Occupant struct {
	Nick        string
	Affiliation string  // "" is none
	Role        string  // "" is participant
	JID         jid.JID // the occupant's address, when the room shows one (non-anonymous)
	// Data is the gateway's own note about the occupant (the IRC gateway
	// keeps the membership prefixes there); the room does not read it.
	Data string
	// OccupantID, when set, is the occupant's stable, opaque id in the
	// room (XEP-0421), added to its presence as <occupant-id/>; put it in
	// Message.Extra (OccupantIDElement) for its messages.
	OccupantID string
}

// NSOccupantID is the namespace of XEP-0421 (Anonymous unique occupant
// identifiers for MUCs).
const NSOccupantID = "urn:xmpp:occupant-id:0"

// OccupantIDElement is the <occupant-id/> of XEP-0421 §3 for id.
func OccupantIDElement(id string) stanza.Element {
	return stanza.NewBuilder(NSOccupantID, "occupant-id").Attr("id", id).Element()
}

// withID returns the payload of a presence about o: x, then o's
// XEP-0421 occupant id when it has one.
func withID(o Occupant, x stanza.Element, extra ...stanza.Element) []stanza.Element {
	out := []stanza.Element{x}
	if o.OccupantID != "" {
		out = append(out, OccupantIDElement(o.OccupantID))
	}
	return append(out, extra...)
}

// Device is one of the user's XMPP resources in the room.
type Device struct {
	// JID is the device's full JID.
	JID jid.JID
	// Room is the bare room JID the device joined, as it spelled it: every
	// stanza to the device comes from this room (or an occupant of it).
	Room jid.JID
	// Nick is the nick the device asked for.
	Nick string
	// History is what the device asked of the discussion history (§7.2.14).
	History HistoryRequest

	joined bool // join sequence sent
}

// Occupant returns the address of nick in the room as this device sees it.
func (d *Device) Occupant(nick string) jid.JID {
	j, err := d.Room.WithResource(nick)
	if err != nil {
		return d.Room
	}
	return j
}

// Sender sends one stanza (built complete, with from and to).
type Sender func(*stanza.Stanza)

// Message is a groupchat message of the room, from an occupant or the user.
type Message struct {
	Nick string // who said it
	Body string
	// ID is the stanza id; for the reflection of the user's own message, the
	// id the sending device gave it (XEP-0045 §7.4). "" gives a fresh one.
	ID string
	// StanzaID is the XEP-0359 id the room gives the message (its archive
	// id); "" gives none.
	StanzaID string
	// Time is when the message was sent; with Delayed it is written as a
	// XEP-0203 <delay/>. Zero means now.
	Time    time.Time
	Delayed bool
	// Extra elements to add to the payload (XEP-0461 reply, XEP-0308
	// replace, ...), already built.
	Extra []stanza.Element
	// Legacy is the id the other network gave the message, kept in the
	// log.
	Legacy string
}

// Leave says why an occupant left (XEP-0045 §7.14, §9.2).
type Leave struct {
	Reason string // the <status/> text, or the <reason/> of a kick/ban
	Actor  string // nick of the moderator who kicked or banned
	Codes  []int  // StatusKicked, StatusBanned, ...
}

// Room is a bridged group chat as one user sees it. The zero Room is not
// usable: use New.
type Room struct {
	send      Sender
	fold      func(string) string
	log       Log
	occupants []Occupant
	at        map[string]int // folded nick → index in occupants (a flood of joins stays O(1) each)
	self      Occupant
	devices   []*Device
	joined    bool
	subject   string
	subjectBy string
	// NonAnonymous adds status 100 to self-presence (the default: IRC shows
	// everyone's host).
	NonAnonymous bool
	// HistoryDefault is how many messages a device that asks for no
	// particular history gets on join (XEP-0045 §7.2.14 leaves it to the
	// service); default 20, negative for none.
	HistoryDefault int
}

// New returns a room sending through send. fold maps a nick to the key
// that nick comparisons use (the other network's case mapping); nil is
// strings.ToLower. log, when not nil, records the discussion and serves
// history on join.
func New(send Sender, fold func(string) string, log Log) *Room {
	if fold == nil {
		fold = strings.ToLower
	}
	return &Room{send: send, fold: fold, log: log, NonAnonymous: true, HistoryDefault: 20}
}

// SetLog sets (or, with nil, removes) the log that records the room.
func (r *Room) SetLog(l Log) { r.log = l }

// Logged reports whether the room records its discussion.
func (r *Room) Logged() bool { return r.log != nil }

// Joined reports whether the user's join has completed (Join was called).
func (r *Room) Joined() bool { return r.joined }

// Self returns the user's occupant.
func (r *Room) Self() Occupant { return r.self }

// Subject returns the subject and who set it.
func (r *Room) Subject() (text, by string) { return r.subject, r.subjectBy }

// Occupants returns the occupants other than the user, in the order they
// came.
func (r *Room) Occupants() []Occupant { return slices.Clone(r.occupants) }

// NumOccupants returns the number of occupants other than the user.
func (r *Room) NumOccupants() int { return len(r.occupants) }

// Occupant returns the occupant with the nick (the user included).
func (r *Room) Occupant(nick string) (Occupant, bool) {
	if r.isSelf(nick) {
		return r.self, true
	}
	if i := r.index(nick); i >= 0 {
		return r.occupants[i], true
	}
	return Occupant{}, false
}

func (r *Room) isSelf(nick string) bool {
	return r.self.Nick != "" && r.fold(nick) == r.fold(r.self.Nick)
}

func (r *Room) index(nick string) int {
	if i, ok := r.at[r.fold(nick)]; ok {
		return i
	}
	return -1
}

// addAt appends an occupant.
func (r *Room) addAt(o Occupant) {
	if r.at == nil {
		r.at = map[string]int{}
	}
	r.at[r.fold(o.Nick)] = len(r.occupants)
	r.occupants = append(r.occupants, o)
}

// deleteAt removes occupant i.
func (r *Room) deleteAt(i int) {
	delete(r.at, r.fold(r.occupants[i].Nick))
	r.occupants = slices.Delete(r.occupants, i, i+1)
	for j := i; j < len(r.occupants); j++ {
		r.at[r.fold(r.occupants[j].Nick)] = j
	}
}

// renameAt changes the nick of occupant i.
func (r *Room) renameAt(i int, nick string) {
	delete(r.at, r.fold(r.occupants[i].Nick))
	r.occupants[i].Nick = nick
	r.at[r.fold(nick)] = i
}

// Devices returns the user's devices in the room (joined or joining).
func (r *Room) Devices() []*Device { return slices.Clone(r.devices) }

// Device returns the device with the full JID joined through the room
// address roomJID (bare), or nil. One client may join one legacy chat
// through two spellings of its address: they are two devices.
func (r *Room) Device(full, roomJID jid.JID) *Device {
	for _, d := range r.devices {
		if d.JID == full && d.Room == roomJID {
			return d
		}
	}
	return nil
}

// HasDevice reports whether the full JID is in the room through any
// spelling of its address.
func (r *Room) HasDevice(full jid.JID) bool {
	for _, d := range r.devices {
		if d.JID == full {
			return true
		}
	}
	return false
}

// AddDevice adds a device that asked to join. When the room is joined the
// device gets the join sequence at once; otherwise it waits for Join. A
// device already in the room is updated (its request) and, if joined,
// sent its self-presence again.
func (r *Room) AddDevice(d Device) *Device {
	if old := r.Device(d.JID, d.Room); old != nil {
		old.Nick, old.History = d.Nick, d.History
		if old.joined {
			r.sendSelf(old, r.selfCodes(old)...)
		}
		return old
	}
	nd := d
	r.devices = append(r.devices, &nd)
	if r.joined {
		r.joinSequence(&nd)
	}
	return &nd
}

// RemoveDevice removes a device (its full JID and the room address it
// joined) from the room, sending it its unavailable self-presence (status
// 110) with the reason; it returns how many devices remain.
func (r *Room) RemoveDevice(full, roomJID jid.JID, reason string) int {
	for i, d := range r.devices {
		if d.JID == full && d.Room == roomJID {
			r.devices = slices.Delete(r.devices, i, i+1)
			r.sendSelfUnavailable(d, reason, "", nil)
			break
		}
	}
	return len(r.devices)
}

// FailDevices answers every device still waiting to join with an error
// presence from the occupant address it asked for (XEP-0045 §7.2.6 ...
// §7.2.11) and removes them; it returns how many devices remain.
func (r *Room) FailDevices(e *stanza.Error) int {
	kept := r.devices[:0]
	for _, d := range r.devices {
		if d.joined {
			kept = append(kept, d)
			continue
		}
		r.send(JoinError(d.Occupant(d.Nick), d.JID, e))
	}
	clear(r.devices[len(kept):])
	r.devices = kept
	return len(r.devices)
}

// JoinError is the presence error answering a join (XEP-0045 §7.2.6 and
// following): from the occupant address asked for, with an empty muc <x/>
// and, for a conflict, the legacy code 409 as well.
func JoinError(from, to jid.JID, e *stanza.Error) *stanza.Stanza {
	p := stanza.NewPresence(stanza.TypeError, to)
	p.From = from
	p.SetPayloadElements(stanza.Element{Space: NS, Local: "x"}, ErrorElement(e))
	return p
}

// ErrorElement returns the <error/> element of e (RFC 6120 §8.3.2), with
// the legacy code (XEP-0086) of a conflict, which MUC clients still read.
func ErrorElement(e *stanza.Error) stanza.Element {
	b := e.AppendXML(nil)
	if e.Condition == stanza.Conflict {
		b = append([]byte("<error code='409'"), b[len("<error"):]...)
	}
	el, err := stanza.ParseElement(string(b))
	if err != nil {
		return stanza.Element{Local: "error"}
	}
	return el
}

// Join completes the user's join as self: every waiting device gets the
// occupant list, its self-presence, history and the subject.
func (r *Room) Join(self Occupant) {
	r.self = self
	if i := r.index(self.Nick); i >= 0 {
		r.deleteAt(i)
	}
	r.joined = true
	for _, d := range r.devices {
		if !d.joined {
			r.joinSequence(d)
		}
	}
}

// SetSubject records the subject without announcing it (as the other
// network tells it before the join completes).
func (r *Room) SetSubject(text, by string) { r.subject, r.subjectBy = text, by }

func (r *Room) selfCodes(d *Device) []int {
	codes := []int{StatusSelf}
	if r.NonAnonymous {
		codes = append(codes, StatusNonAnonymous)
	}
	if r.log != nil {
		codes = append(codes, StatusLogging)
	}
	if d.Nick != "" && d.Nick != r.self.Nick {
		codes = append(codes, StatusNickAssigned)
	}
	return codes
}

// joinSequence sends one device what XEP-0045 §7.2.3 lists, in order:
// the others' presence, the self-presence, history, the subject.
func (r *Room) joinSequence(d *Device) {
	d.joined = true
	for _, o := range r.occupants {
		r.send(r.presence(d, o, "", nil))
	}
	r.sendSelf(d, r.selfCodes(d)...)
	r.sendHistory(d)
	from := d.Room
	if r.subjectBy != "" {
		from = d.Occupant(r.subjectBy)
	}
	m := stanza.NewMessage(stanza.TypeGroupchat, d.JID, "")
	m.From = from
	m.SetPayloadElements(stanza.TextElement("", "subject", r.subject))
	r.send(m)
}

func (r *Room) sendHistory(d *Device) {
	if r.log == nil {
		return
	}
	req := d.History
	if !req.set {
		req.MaxStanzas = r.HistoryDefault
	}
	if req.MaxStanzas < 0 {
		return
	}
	for _, e := range r.log.History(req) {
		m := r.message(d, Message{Nick: e.Nick, Body: e.Body, ID: e.ID, StanzaID: e.ID, Time: e.Time, Delayed: true, Extra: e.Extra})
		r.send(m)
	}
}

func (r *Room) sendSelf(d *Device, codes ...int) {
	o := r.self
	o.JID = d.JID // XEP-0045 §7.2.3: the user's own item carries its full JID
	r.send(r.presence(d, o, "", nil, codes...))
}

func (r *Room) sendSelfUnavailable(d *Device, reason, actor string, codes []int) {
	p := stanza.NewPresence(stanza.TypeUnavailable, d.JID)
	p.From = d.Occupant(r.self.Nick)
	all := append([]int{StatusSelf}, codes...)
	p.SetPayloadElements(withID(r.self, userX(Occupant{Affiliation: r.self.Affiliation, Role: "none", JID: d.JID}, "", actor, kickReason(reason, codes), all...))...)
	if reason != "" && kickReason(reason, codes) == "" {
		p.AddChild(stanza.TextElement("", "status", reason))
	}
	r.send(p)
}

// kickReason is the reason to put in the item for a kick or ban (XEP-0045
// §9.2 puts it there); other departures carry it in <status/>.
func kickReason(reason string, codes []int) string {
	if slices.Contains(codes, StatusKicked) || slices.Contains(codes, StatusBanned) {
		return reason
	}
	return ""
}

// presence builds the available presence of o for a device.
func (r *Room) presence(d *Device, o Occupant, newNick string, extra []stanza.Element, codes ...int) *stanza.Stanza {
	p := stanza.NewPresence("", d.JID)
	p.From = d.Occupant(o.Nick)
	p.SetPayloadElements(withID(o, userX(o, newNick, "", "", codes...), extra...)...)
	return p
}

// userX builds the muc#user <x/> (XEP-0045 §17.2) with one item and the
// status codes.
func userX(o Occupant, newNick, actor, reason string, codes ...int) stanza.Element {
	aff, role := o.Affiliation, o.Role
	if aff == "" {
		aff = None
	}
	if role == "" {
		role = Participant
	}
	b := stanza.NewBuilder(NSUser, "x").Child("", "item").Attr("affiliation", aff).Attr("role", role)
	if !o.JID.IsZero() {
		b.Attr("jid", o.JID.String())
	}
	b.OptAttr("nick", newNick)
	if actor != "" {
		b.Child("", "actor").Attr("nick", actor).End()
	}
	b.OptTextElement("reason", reason)
	b.End()
	for _, c := range codes {
		b.Child("", "status").Attr("code", itoa(c)).End()
	}
	return b.Element()
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var d [12]byte
	i := len(d)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		d[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		d[i] = '-'
	}
	return string(d[i:])
}

func (r *Room) each(f func(d *Device)) {
	for _, d := range r.devices {
		if d.joined {
			f(d)
		}
	}
}

// SetOccupant adds or updates an occupant (someone joined, or their
// affiliation or role changed) and tells every device. Updating the user's
// own occupant sends status 110.
func (r *Room) SetOccupant(o Occupant, actor, reason string) {
	if r.isSelf(o.Nick) {
		r.self.Affiliation, r.self.Role = o.Affiliation, o.Role
		r.each(func(d *Device) {
			s := r.self
			s.JID = d.JID
			p := stanza.NewPresence("", d.JID)
			p.From = d.Occupant(s.Nick)
			p.SetPayloadElements(withID(s, userX(s, "", actor, reason, StatusSelf))...)
			r.send(p)
		})
		return
	}
	if i := r.index(o.Nick); i >= 0 {
		if o.JID.IsZero() {
			o.JID = r.occupants[i].JID
		}
		r.occupants[i] = o
	} else {
		r.addAt(o)
	}
	if !r.joined {
		return
	}
	r.each(func(d *Device) {
		p := stanza.NewPresence("", d.JID)
		p.From = d.Occupant(o.Nick)
		p.SetPayloadElements(withID(o, userX(o, "", actor, reason))...)
		r.send(p)
	})
}

// RemoveOccupant removes an occupant who left (or was kicked, banned) and
// tells every device. When the nick is the user's own, the user is out of
// the room: every device gets its unavailable self-presence and the room
// has no devices left; it reports whether the nick was in the room.
func (r *Room) RemoveOccupant(nick string, why Leave) bool {
	if r.isSelf(nick) {
		r.End(why)
		return true
	}
	i := r.index(nick)
	if i < 0 {
		return false
	}
	o := r.occupants[i]
	r.deleteAt(i)
	if !r.joined {
		return true
	}
	r.each(func(d *Device) {
		p := stanza.NewPresence(stanza.TypeUnavailable, d.JID)
		p.From = d.Occupant(o.Nick)
		gone := o
		gone.Role = "none"
		if slices.Contains(why.Codes, StatusBanned) {
			gone.Affiliation = Outcast
		}
		p.SetPayloadElements(withID(o, userX(gone, "", why.Actor, kickReason(why.Reason, why.Codes), why.Codes...))...)
		if why.Reason != "" && kickReason(why.Reason, why.Codes) == "" {
			p.AddChild(stanza.TextElement("", "status", why.Reason))
		}
		r.send(p)
	})
	return true
}

// End removes the user from the room: every device gets its unavailable
// self-presence with the reason and codes (StatusShutdown when the link to
// the other network ended, StatusKicked, ...), and the room is left with
// no devices and no occupants.
func (r *Room) End(why Leave) {
	for _, d := range r.devices {
		if d.joined {
			r.sendSelfUnavailable(d, why.Reason, why.Actor, why.Codes)
		} else {
			r.send(JoinError(d.Occupant(d.Nick), d.JID, stanza.NewError(stanza.ServiceUnavailable, why.Reason)))
		}
	}
	r.devices = nil
	r.occupants, r.at = nil, nil
	r.joined = false
}

// Rename changes an occupant's nick (XEP-0045 §7.6): every device gets the
// unavailable presence from the old nick with status 303 and the new nick,
// then the available presence from the new one; with status 110 too when
// it is the user.
func (r *Room) Rename(old, nick string) bool {
	var o Occupant
	self := r.isSelf(old)
	switch {
	case self:
		o = r.self
	case r.index(old) >= 0:
		o = r.occupants[r.index(old)]
	default:
		return false
	}
	if !r.joined {
		if self {
			r.self.Nick = nick
		} else {
			r.renameAt(r.index(old), nick)
		}
		return true
	}
	r.each(func(d *Device) {
		codes := []int{StatusNickChange}
		oo := o
		if self {
			codes = append(codes, StatusSelf)
			oo.JID = d.JID
		}
		p := stanza.NewPresence(stanza.TypeUnavailable, d.JID)
		p.From = d.Occupant(old)
		p.SetPayloadElements(withID(oo, userX(oo, nick, "", "", codes...))...)
		r.send(p)
		oo.Nick = nick
		p = stanza.NewPresence("", d.JID)
		p.From = d.Occupant(nick)
		p.SetPayloadElements(withID(oo, userX(oo, "", "", "", codes[1:]...))...)
		r.send(p)
	})
	if self {
		r.self.Nick = nick
		for _, d := range r.devices {
			d.Nick = nick
		}
	} else {
		r.renameAt(r.index(old), nick)
	}
	return true
}

// Say delivers a groupchat message to every device, and records it when
// the room is logged. The message is from m.Nick (the user's own nick for a
// reflection). It returns the entry recorded (ID "" when none).
func (r *Room) Say(m Message) Entry {
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
	var e Entry
	if r.log != nil {
		e = Entry{ID: m.StanzaID, Time: m.Time, Nick: m.Nick, Body: m.Body, Extra: m.Extra, Legacy: m.Legacy}
		if rec, err := r.log.Record(e); err == nil {
			e = rec
			m.StanzaID = rec.ID
		}
	}
	r.each(func(d *Device) { r.send(r.message(d, m)) })
	return e
}

func (r *Room) message(d *Device, m Message) *stanza.Stanza {
	st := stanza.NewMessage(stanza.TypeGroupchat, d.JID, "")
	if m.ID != "" {
		st.ID = m.ID
	}
	st.From = d.Occupant(m.Nick)
	var els []stanza.Element
	if m.Body != "" {
		els = append(els, stanza.TextElement("", "body", m.Body))
	}
	if m.StanzaID != "" {
		els = append(els, stanza.NewBuilder(NSStanzaID, "stanza-id").Attr("id", m.StanzaID).Attr("by", d.Room.String()).Element())
	}
	if m.Delayed {
		els = append(els, stanza.NewBuilder(NSDelay, "delay").Attr("stamp", m.Time.UTC().Format(time.RFC3339Nano)).Attr("from", d.Room.String()).Element())
	}
	els = append(els, m.Extra...)
	st.SetPayloadElements(els...)
	return st
}

// Broadcast delivers a message to every joined device without recording
// it (chat states, read markers: what no history keeps).
func (r *Room) Broadcast(m Message) {
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
	r.each(func(d *Device) { r.send(r.message(d, m)) })
}

// SayTo delivers a message to one device only (a private notice from the
// room, such as the answer to a command).
func (r *Room) SayTo(d *Device, m Message) {
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
	r.send(r.message(d, m))
}

// ChangeSubject records a new subject set by nick and tells every device
// (XEP-0045 §8.1).
func (r *Room) ChangeSubject(text, by string) {
	r.subject, r.subjectBy = text, by
	r.each(func(d *Device) {
		m := stanza.NewMessage(stanza.TypeGroupchat, d.JID, "")
		m.From = d.Occupant(by)
		if by == "" {
			m.From = d.Room
		}
		m.SetPayloadElements(stanza.TextElement("", "subject", text))
		r.send(m)
	})
}

// Private delivers a private message from the occupant nick (XEP-0045
// §7.5) to every device of the user in the room.
func (r *Room) Private(nick string, body string, extra ...stanza.Element) {
	r.each(func(d *Device) {
		m := stanza.NewMessage(stanza.TypeChat, d.JID, "")
		m.From = d.Occupant(nick)
		m.SetPayloadElements(append([]stanza.Element{stanza.TextElement("", "body", body),
			stanza.Element{Space: NSUser, Local: "x"}}, extra...)...)
		r.send(m)
	})
}
