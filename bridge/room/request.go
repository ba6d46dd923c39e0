package room

import (
	"encoding/xml"
	"strconv"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// Join is what a join presence asks for (XEP-0045 §7.2).
type Join struct {
	// MUC reports whether the presence carried <x xmlns='…/muc'/>; one
	// without it from a device not in the room is still a join for old
	// clients (§7.2.1), but from a device in the room it is a presence
	// update or a nick change.
	MUC      bool
	Password string         // §7.2.6
	History  HistoryRequest // §7.2.14
}

type joinX struct {
	Password *string `xml:"password"`
	History  *struct {
		MaxChars   *int   `xml:"maxchars,attr"`
		MaxStanzas *int   `xml:"maxstanzas,attr"`
		Seconds    *int   `xml:"seconds,attr"`
		Since      string `xml:"since,attr"`
	} `xml:"history"`
}

// ParseJoin reads the muc <x/> of a presence to a room (XEP-0045 §7.2).
func ParseJoin(p *stanza.Stanza) Join {
	j := Join{History: HistoryRequest{MaxChars: -1, MaxStanzas: -1, Seconds: -1}}
	el, ok := p.Child(NS, "x")
	if !ok {
		return j
	}
	j.MUC = true
	var x joinX
	if el.Unmarshal(&x) != nil {
		return j
	}
	if x.Password != nil {
		j.Password = *x.Password
	}
	if h := x.History; h != nil {
		j.History.set = true
		if h.MaxChars != nil && *h.MaxChars >= 0 {
			j.History.MaxChars = *h.MaxChars
		}
		if h.MaxStanzas != nil && *h.MaxStanzas >= 0 {
			j.History.MaxStanzas = *h.MaxStanzas
		}
		if h.Seconds != nil && *h.Seconds >= 0 {
			j.History.Seconds = *h.Seconds
		}
		if h.Since != "" {
			if t, err := time.Parse(time.RFC3339, h.Since); err == nil {
				j.History.Since = t
			}
		}
	}
	return j
}

// AdminItem is one <item/> of a muc#admin request (XEP-0045 §8, §9, §10):
// a change of an occupant's role (by nick) or of a user's affiliation (by
// JID or, as clients send for occupants, by nick).
type AdminItem struct {
	Nick        string
	JID         jid.JID
	Affiliation string
	Role        string
	Reason      string
}

type adminQuery struct {
	XMLName xml.Name `xml:"http://jabber.org/protocol/muc#admin query"`
	Items   []struct {
		Nick        string `xml:"nick,attr"`
		JID         string `xml:"jid,attr"`
		Affiliation string `xml:"affiliation,attr"`
		Role        string `xml:"role,attr"`
		Reason      string `xml:"reason"`
	} `xml:"item"`
}

// ParseAdmin reads the items of a muc#admin query. Items that name nobody,
// unknown roles or affiliations, and malformed JIDs are bad-request
// errors.
func ParseAdmin(iq *stanza.Stanza) ([]AdminItem, error) {
	var q adminQuery
	if err := iq.UnmarshalChild(NSAdmin, "query", &q); err != nil {
		return nil, stanza.NewError(stanza.BadRequest, "malformed muc#admin query")
	}
	if len(q.Items) == 0 {
		return nil, stanza.NewError(stanza.BadRequest, "no item")
	}
	out := make([]AdminItem, 0, len(q.Items))
	for _, it := range q.Items {
		a := AdminItem{Nick: it.Nick, Affiliation: it.Affiliation, Role: it.Role, Reason: it.Reason}
		if it.JID != "" {
			j, err := jid.Parse(it.JID)
			if err != nil {
				return nil, stanza.NewError(stanza.JIDMalformed, "bad jid in item")
			}
			a.JID = j
		}
		switch a.Role {
		case "", None, Visitor, Participant, Moderator:
		default:
			return nil, stanza.NewError(stanza.BadRequest, "unknown role "+strconv.Quote(a.Role))
		}
		switch a.Affiliation {
		case "", None, Outcast, Member, Admin, Owner:
		default:
			return nil, stanza.NewError(stanza.BadRequest, "unknown affiliation "+strconv.Quote(a.Affiliation))
		}
		if iq.Type == stanza.TypeSet && a.Nick == "" && a.JID.IsZero() {
			return nil, stanza.NewError(stanza.BadRequest, "an item names an occupant by nick or jid")
		}
		if a.Role == "" && a.Affiliation == "" {
			return nil, stanza.NewError(stanza.BadRequest, "an item sets a role or an affiliation")
		}
		out = append(out, a)
	}
	return out, nil
}

// AdminItems builds a muc#admin result listing occupants (XEP-0045 §9.5,
// §8.5: the answer to a list request).
func AdminItems(items []AdminItem) stanza.Element {
	b := stanza.NewBuilder(NSAdmin, "query")
	for _, it := range items {
		b.Child("", "item")
		b.OptAttr("affiliation", it.Affiliation)
		if !it.JID.IsZero() {
			b.Attr("jid", it.JID.String())
		}
		b.OptAttr("nick", it.Nick).OptAttr("role", it.Role)
		b.End()
	}
	return b.Element()
}

// Invite is a mediated invitation (XEP-0045 §7.8.2) or its decline.
type Invite struct {
	To, From jid.JID
	Reason   string
	Decline  bool
	Password string
}

type userXInvite struct {
	XMLName xml.Name `xml:"http://jabber.org/protocol/muc#user x"`
	Invites []struct {
		To     string `xml:"to,attr"`
		From   string `xml:"from,attr"`
		Reason string `xml:"reason"`
	} `xml:"invite"`
	Decline *struct {
		To     string `xml:"to,attr"`
		From   string `xml:"from,attr"`
		Reason string `xml:"reason"`
	} `xml:"decline"`
	Password string `xml:"password"`
}

// ParseInvites returns the invitations and declines of a message to a room
// (XEP-0045 §7.8.2, §7.8.2 decline); nil when it has none.
func ParseInvites(m *stanza.Stanza) []Invite {
	var x userXInvite
	if err := m.UnmarshalChild(NSUser, "x", &x); err != nil {
		return nil
	}
	var out []Invite
	for _, in := range x.Invites {
		to, _ := jid.Parse(in.To)
		from, _ := jid.Parse(in.From)
		out = append(out, Invite{To: to, From: from, Reason: in.Reason, Password: x.Password})
	}
	if d := x.Decline; d != nil {
		to, _ := jid.Parse(d.To)
		from, _ := jid.Parse(d.From)
		out = append(out, Invite{To: to, From: from, Reason: d.Reason, Decline: true})
	}
	return out
}

// InviteMessage is the invitation a room sends to the invitee on behalf of
// an inviter (XEP-0045 §7.8.2, Example 57), with a body for clients that
// do not show invitations.
func InviteMessage(roomJID, to, from jid.JID, reason, password string) *stanza.Stanza {
	body := from.String() + " invites you to the room " + roomJID.String()
	if reason != "" {
		body += ": " + reason
	}
	m := stanza.NewMessage(stanza.TypeNormal, to, "")
	m.Type = ""
	m.From = roomJID
	b := stanza.NewBuilder(NSUser, "x").Child("", "invite").Attr("from", from.String()).OptTextElement("reason", reason).End()
	b.OptTextElement("password", password)
	m.SetPayloadElements(b.Element(), stanza.TextElement("", "body", body))
	return m
}

// HandlePing answers a XEP-0199 ping sent to the occupant address to by
// the device from, as XEP-0410 §3 asks: nil (answer with a result) when
// from is joined and to is its own occupant, not-acceptable when from is
// not in the room. A ping from a joined device to another occupant gets
// nil when that occupant is present (the gateway speaks for the other
// network's users) and item-not-found otherwise.
func (r *Room) HandlePing(from, to jid.JID) error {
	d := r.Device(from, to.Bare())
	if d == nil || !d.joined {
		return stanza.NewError(stanza.NotAcceptable, "not joined to this room")
	}
	nick := to.Resource()
	if nick == "" {
		return nil // the room itself
	}
	if _, ok := r.Occupant(nick); ok {
		return nil
	}
	return stanza.NewError(stanza.ItemNotFound, "no such occupant")
}
