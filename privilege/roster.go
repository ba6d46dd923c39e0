package privilege

import (
	"context"
	"encoding/xml"
	"fmt"

	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// RosterItem is one roster item (RFC 6121 §2.1.2).
type RosterItem struct {
	JID  jid.JID
	Name string
	// Subscription is "none", "to", "from" or "both" (RFC 6121 §2.1.2.5),
	// or "remove" in a set to delete the item (§2.5). In a set, "" leaves
	// the subscription to the server.
	Subscription string
	// Ask is "subscribe" for a pending outbound request (§2.1.2.2).
	Ask    string
	Groups []string
}

// Roster is a user's roster as the server answered (RFC 6121 §2.1.4).
type Roster struct {
	// Ver is the roster version (RFC 6121 §2.6), "" when not versioned.
	Ver   string
	Items []RosterItem
}

type wireRoster struct {
	XMLName xml.Name   `xml:"jabber:iq:roster query"`
	Ver     string     `xml:"ver,attr,omitempty"`
	Items   []wireItem `xml:"item"`
}

type wireItem struct {
	JID          string   `xml:"jid,attr"`
	Name         string   `xml:"name,attr"`
	Subscription string   `xml:"subscription,attr"`
	Ask          string   `xml:"ask,attr"`
	Groups       []string `xml:"group"`
}

// ParseRoster reads a <query xmlns='jabber:iq:roster'/> (RFC 6121 §2.1).
// Items whose jid is missing or malformed are left out and counted in
// skipped.
func ParseRoster(el stanza.Element) (r Roster, skipped int, err error) {
	if el.Space != NSRoster || el.Local != "query" {
		return Roster{}, 0, fmt.Errorf("privilege: <%s xmlns='%s'/> is no roster", el.Local, el.Space)
	}
	var w wireRoster
	if err := el.Unmarshal(&w); err != nil {
		return Roster{}, 0, fmt.Errorf("privilege: unreadable roster: %w", err)
	}
	r.Ver = w.Ver
	for _, it := range w.Items {
		j, err := jid.Parse(it.JID)
		if err != nil {
			skipped++
			continue
		}
		r.Items = append(r.Items, RosterItem{JID: j, Name: it.Name, Subscription: it.Subscription, Ask: it.Ask, Groups: it.Groups})
	}
	return r, skipped, nil
}

// Roster gets a user's roster on its behalf (XEP-0356 §3.3, RFC 6121
// §2.1.3) with the roster permission get or both of the user's server.
func (e *Entity) Roster(ctx context.Context, s mux.Sender, user jid.JID) (Roster, error) {
	user, err := userJID(user)
	if err != nil {
		return Roster{}, err
	}
	if _, err := e.need(user, "roster get", func(g Grants) bool { return g.Roster.CanGet() }); err != nil {
		return Roster{}, err
	}
	res, err := s.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, user, stanza.Element{Space: NSRoster, Local: "query"}))
	if err != nil {
		return Roster{}, refusal(user.DomainJID(), "roster get", err)
	}
	el, ok := res.PayloadElement()
	if !ok {
		return Roster{}, nil // RFC 6121 §2.6.3: an empty result (versioned, unchanged)
	}
	r, _, err := ParseRoster(el)
	return r, err
}

// SetRosterItem adds or updates an item of a user's roster on its behalf
// (XEP-0356 §3.3, RFC 6121 §2.3), or deletes it when item.Subscription is
// "remove" (§2.5), with the roster permission set or both. The server then
// pushes the change to the user's resources.
func (e *Entity) SetRosterItem(ctx context.Context, s mux.Sender, user jid.JID, item RosterItem) error {
	user, err := userJID(user)
	if err != nil {
		return err
	}
	if item.JID.IsZero() {
		return fmt.Errorf("%w: roster item without jid", ErrBadJID)
	}
	if _, err := e.need(user, "roster set", func(g Grants) bool { return g.Roster.CanSet() }); err != nil {
		return err
	}
	b := stanza.NewBuilder(NSRoster, "query").Child("", "item").
		Attr("jid", item.JID.String()).OptAttr("name", item.Name).OptAttr("subscription", item.Subscription)
	for _, g := range item.Groups {
		b.TextElement("group", g)
	}
	_, err = s.SendIQ(ctx, stanza.NewIQ(stanza.TypeSet, user, b.Element()))
	if err != nil {
		return refusal(user.DomainJID(), "roster set", err)
	}
	return nil
}

// rosterPush answers a roster push (XEP-0356 v0.4, RFC 6121 §2.1.6) from a
// user of a server that granted roster get with push; anything else gets
// service-unavailable, as if the route did not exist.
func (e *Entity) rosterPush(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
	from := iq.From
	if from.Local() == "" || from.Resource() != "" {
		return stanza.ErrServiceUnavailable
	}
	g := e.Grants(from.DomainJID())
	if !g.Roster.CanGet() || !g.RosterPush {
		return stanza.ErrServiceUnavailable
	}
	el, _ := iq.PayloadElement()
	r, skipped, err := ParseRoster(el)
	if err != nil || skipped > 0 {
		return stanza.NewError(stanza.BadRequest, "unreadable roster push")
	}
	if e.OnRosterPush != nil {
		for _, it := range r.Items {
			e.OnRosterPush(ctx, from, it)
		}
	}
	return s.Send(ctx, iq.Result())
}
