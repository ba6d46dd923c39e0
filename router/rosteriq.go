package router

import (
	"slices"
	"strings"

	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// nsRoster is the roster namespace (RFC 6121 §2).
const nsRoster = "jabber:iq:roster"

// pushPrefix starts the id of the roster pushes the router sends; their
// answers are expected, not dropped stanzas.
const pushPrefix = "xk-push-"

// rosterQuery is a roster IQ payload as decoded (RFC 6121 §2.1.5).
type rosterQuery struct {
	Items []struct {
		JID          string   `xml:"jid,attr"`
		Name         *string  `xml:"name,attr"`
		Subscription string   `xml:"subscription,attr"`
		Groups       []string `xml:"group"`
	} `xml:"item"`
}

// isRosterIQ reports whether st is a roster get or set.
func isRosterIQ(st *stanza.Stanza) bool {
	space, local := st.PayloadName()
	return space == nsRoster && local == "query"
}

// rosterIQ answers a roster get or set (RFC 6121 §2.2, §2.3, §2.5) that a
// client of user sent to its own account. It returns the stanza error to
// answer with, or nil once it sent the result.
func (r *Router) rosterIQ(c *client, st *stanza.Stanza) error {
	user := c.full.Bare()
	var q rosterQuery
	el, _ := st.PayloadElement()
	if err := el.Unmarshal(&q); err != nil {
		return stanza.NewError(stanza.BadRequest, "malformed roster query")
	}
	switch st.Type {
	case stanza.TypeGet:
		if len(q.Items) > 0 {
			return stanza.NewError(stanza.BadRequest, "a roster get has no items") // §2.1.5
		}
		r.mu.Lock()
		c.interested = true // §2.1.6: it gets roster pushes from now on
		r.mu.Unlock()
		b := stanza.NewBuilder(nsRoster, "query")
		for _, it := range r.rosterItems(user) {
			appendItem(b, it)
		}
		r.answer(st, b.Element())
		return nil
	case stanza.TypeSet:
		return r.rosterSet(user, st)
	}
	return stanza.ErrServiceUnavailable
}

// rosterSet applies a roster set (RFC 6121 §2.3, §2.5) to user's roster
// and answers it: a client's own, or one a component with the XEP-0356
// roster privilege sends on the user's behalf (grants.go).
func (r *Router) rosterSet(user jid.JID, st *stanza.Stanza) error {
	return r.rosterSetAs(user, st, false)
}

// rosterSetAs is rosterSet; privileged is a XEP-0356 roster set by a
// component, whose subscription attribute (both, to, from, none) is
// applied as Prosody's mod_privilege applies it (a gateway puts its
// contacts in the roster with subscription both).
func (r *Router) rosterSetAs(user jid.JID, st *stanza.Stanza, privileged bool) error {
	var q rosterQuery
	el, _ := st.PayloadElement()
	if err := el.Unmarshal(&q); err != nil {
		return stanza.NewError(stanza.BadRequest, "malformed roster query")
	}
	if len(q.Items) != 1 {
		return stanza.NewError(stanza.BadRequest, "a roster set has exactly one item") // §2.3.3
	}
	in := q.Items[0]
	contact, err := jid.Parse(in.JID)
	if err != nil || in.JID == "" {
		return stanza.NewError(stanza.BadRequest, "the item's jid is not a JID") // §2.3.3
	}
	contact = contact.Bare()
	if contact == user {
		return stanza.NewError(stanza.NotAllowed, "no roster item for oneself")
	}
	if in.Subscription == "remove" {
		if !r.rosterRemove(user, contact) {
			return stanza.ErrItemNotFound // §2.5.3
		}
		r.answer(st)
		return nil
	}
	seen := map[string]bool{}
	for _, g := range in.Groups {
		if g == "" {
			return stanza.NewError(stanza.NotAcceptable, "an empty group name") // §2.3.3
		}
		if seen[g] {
			return stanza.NewError(stanza.BadRequest, "a group given twice") // §2.3.3
		}
		seen[g] = true
	}
	item := RosterItem{JID: contact, Groups: in.Groups}
	if in.Name != nil {
		item.Name = *in.Name
	}
	// The subscription and ask attributes are the server's (§2.1.2.5):
	// any other value is ignored, except from a privileged entity, whose
	// subscription is applied as Prosody's mod_privilege applies it.
	var ok bool
	if sub := Subscription(in.Subscription); privileged && (sub == SubscriptionBoth || sub == SubscriptionTo || sub == SubscriptionFrom || sub == SubscriptionNone) {
		_, ok = r.mutate(user, func(ro *roster) (*RosterItem, bool) {
			cur := ro.item(contact)
			if cur == nil {
				return nil, false
			}
			cur.Name, cur.Groups = item.Name, slices.Clone(item.Groups)
			cur.Subscription = sub
			if sub.to() {
				cur.Ask = false
			}
			return cur, false
		})
	} else {
		_, ok = r.rosterUpdate(user, item)
	}
	if !ok {
		return stanza.NewError(stanza.ResourceConstraint, "the roster is full")
	}
	r.answer(st)
	return nil
}

// answer routes the result of st with payload from its to.
func (r *Router) answer(st *stanza.Stanza, payload ...stanza.Element) {
	res := st.Result(payload...)
	if err := r.dispatch(stanzaPacket(res)); err != nil {
		r.dropped(ReasonReplyUndeliverable, "to", res.To.String(), "id", res.ID, "err", err)
	}
}

// appendItem writes it as a roster <item/> (RFC 6121 §2.1.2).
func appendItem(b *stanza.Builder, it RosterItem) {
	b.Child(nsRoster, "item").Attr("jid", it.JID.String()).OptAttr("name", it.Name).
		Attr("subscription", string(it.Subscription))
	if it.Ask {
		b.Attr("ask", "subscribe")
	}
	if it.Approved {
		b.Attr("approved", "true")
	}
	for _, g := range it.Groups {
		b.TextElement("group", g)
	}
	b.End()
}

// pushRoster sends a roster push for item (RFC 6121 §2.1.6) to each
// resource of user that requested the roster in its session; removed
// items are pushed with subscription='remove'.
func (r *Router) pushRoster(user jid.JID, item RosterItem, _ bool) {
	var targets []*client
	r.mu.RLock()
	if acc := r.users[user.String()]; acc != nil {
		for _, c := range acc.res {
			if c.interested {
				targets = append(targets, c)
			}
		}
	}
	r.mu.RUnlock()
	for _, c := range targets {
		b := stanza.NewBuilder(nsRoster, "query")
		appendItem(b, item)
		push := stanza.NewIQ(stanza.TypeSet, c.full, b.Element())
		push.ID = pushPrefix + push.ID
		push.From = user
		_ = c.rt.deliver(stanzaPacket(push))
	}
}

// isOwnAnswer reports whether an IQ response to an account or the server
// answers one of the router's roster pushes or idle pings.
func isOwnAnswer(id string) bool {
	return strings.HasPrefix(id, pushPrefix) || strings.HasPrefix(id, idlePingPrefix)
}
