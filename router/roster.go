package router

import (
	"slices"
	"strings"
	"sync"

	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// The roster of RFC 6121 §2 and the presence subscription state machine of
// §3 (Appendix A), kept per local account in memory and, with
// Config.RosterDir, in a journal (rosterstore.go). Presence broadcast and
// probes (§4) are in presence.go; the roster IQ protocol in rosteriq.go.
//
// The internal API (for the router's own protocols and, later, XEP-0356
// roster access on behalf of a user):
//
//	r.rosterItems(user)                 // snapshot, sorted by JID
//	r.rosterItem(user, contact)         // one item
//	r.rosterUpdate(user, item)          // roster set: name and groups (§2.3)
//	r.rosterRemove(user, contact)       // roster set with subscription='remove' (§2.5)
//	r.outboundSubscription(user, typ, contact) / r.inboundSubscription(...)
//
// Every change is pushed to the user's interested resources (§2.1.6) and
// to the watchers added with r.watchRoster.

// Subscription is the state of a presence subscription between an account
// and a contact (RFC 6121 §2.1.2.5).
type Subscription string

// Subscription states (RFC 6121 §2.1.2.5).
const (
	SubscriptionNone Subscription = "none" // neither has a subscription to the other
	SubscriptionTo   Subscription = "to"   // the account gets the contact's presence
	SubscriptionFrom Subscription = "from" // the contact gets the account's presence
	SubscriptionBoth Subscription = "both" // both ways
)

// to reports whether the account is subscribed to the contact's presence.
func (s Subscription) to() bool { return s == SubscriptionTo || s == SubscriptionBoth }

// from reports whether the contact is subscribed to the account's presence.
func (s Subscription) from() bool { return s == SubscriptionFrom || s == SubscriptionBoth }

// RosterItem is one contact in an account's roster (RFC 6121 §2.1.2).
type RosterItem struct {
	JID          jid.JID      // the contact's bare JID
	Name         string       // the user's name for the contact, or ""
	Subscription Subscription // the subscription state
	Ask          bool         // a subscription request to the contact is pending (ask='subscribe', §2.1.2.2)
	Approved     bool         // the user pre-approved the contact's subscription (approved='true', §3.4)
	Groups       []string     // the groups the contact is in
}

// roster is one account's roster: its items, and the subscription
// requests it received and has not answered yet ("pending in", §3.1.3),
// kept to be delivered again when the account comes online.
type roster struct {
	items   map[jid.JID]*RosterItem
	pending map[jid.JID]*stanza.Stanza
	max     int // items at most (Config.MaxRosterItems)
}

// rosters holds every account's roster. Its lock is never held while
// stanzas are routed.
type rosters struct {
	mu         sync.Mutex
	maxItems   int // per account (Config.MaxRosterItems)
	maxPending int // unanswered requests per account (Config.MaxRosterItems / 4)
	byUser     map[jid.JID]*roster
	watchers   []func(user jid.JID, item RosterItem, removed bool)
	store      *rosterStore // nil: in memory only
}

// get returns user's roster, creating it when create is set (else nil).
// The caller holds rs.mu.
func (rs *rosters) get(user jid.JID, create bool) *roster {
	ro := rs.byUser[user]
	if ro == nil && create {
		ro = &roster{items: map[jid.JID]*RosterItem{}, pending: map[jid.JID]*stanza.Stanza{}, max: rs.maxItems}
		if rs.byUser == nil {
			rs.byUser = map[jid.JID]*roster{}
		}
		rs.byUser[user] = ro
	}
	return ro
}

// clone returns a copy of it that shares nothing.
func (it *RosterItem) clone() RosterItem {
	c := *it
	c.Groups = slices.Clone(it.Groups)
	return c
}

// subscriptionOf returns the state with a subscription to the contact's
// presence (to) and from the contact to the account's (from).
func subscriptionOf(to, from bool) Subscription {
	switch {
	case to && from:
		return SubscriptionBoth
	case to:
		return SubscriptionTo
	case from:
		return SubscriptionFrom
	}
	return SubscriptionNone
}

// setTo records whether the account gets the contact's presence; no
// request is pending any more.
func (it *RosterItem) setTo(v bool) {
	it.Ask = false
	it.Subscription = subscriptionOf(v, it.Subscription.from())
}

// setFrom records whether the contact gets the account's presence; no
// pre-approval is left.
func (it *RosterItem) setFrom(v bool) {
	it.Approved = false
	it.Subscription = subscriptionOf(it.Subscription.to(), v)
}

// item returns ro's item for contact, creating one (none) when absent;
// nil when the roster is full (Config.MaxRosterItems).
func (ro *roster) item(contact jid.JID) *RosterItem {
	it := ro.items[contact]
	if it == nil {
		if len(ro.items) >= ro.max {
			return nil
		}
		it = &RosterItem{JID: contact, Subscription: SubscriptionNone}
		ro.items[contact] = it
	}
	return it
}

// read runs fn on user's roster (nil when the user has none) under the
// lock.
func (rs *rosters) read(user jid.JID, fn func(ro *roster)) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	fn(rs.get(user, false))
}

// rosterItems returns a snapshot of user's roster, sorted by JID.
func (r *Router) rosterItems(user jid.JID) (out []RosterItem) {
	r.rosters.read(user, func(ro *roster) {
		for _, it := range ro.all() {
			out = append(out, it.clone())
		}
	})
	slices.SortFunc(out, func(a, b RosterItem) int { return strings.Compare(a.JID.String(), b.JID.String()) })
	return out
}

// all returns the items of ro, which may be nil.
func (ro *roster) all() map[jid.JID]*RosterItem {
	if ro == nil {
		return nil
	}
	return ro.items
}

// rosterItem returns user's item for contact.
func (r *Router) rosterItem(user, contact jid.JID) (it RosterItem, ok bool) {
	r.rosters.read(user, func(ro *roster) {
		if p := ro.all()[contact]; p != nil {
			it, ok = p.clone(), true
		}
	})
	return it, ok
}

// Roster returns a snapshot of the roster of the local account user (a
// bare JID), sorted by contact JID: the items of RFC 6121 §2 with their
// subscription states (§3). An account that has none returns nil.
func (r *Router) Roster(user jid.JID) []RosterItem { return r.rosterItems(user.Bare()) }

// subscription returns the state between user and contact (none when
// there is no item).
func (r *Router) subscription(user, contact jid.JID) Subscription {
	it, ok := r.rosterItem(user, contact)
	if !ok {
		return SubscriptionNone
	}
	return it.Subscription
}

// contacts returns the contacts of user whose subscription satisfies keep.
func (r *Router) contacts(user jid.JID, keep func(Subscription) bool) (out []jid.JID) {
	r.rosters.read(user, func(ro *roster) {
		for j, it := range ro.all() {
			if keep(it.Subscription) {
				out = append(out, j)
			}
		}
	})
	return out
}

// rosterFull reports whether user's roster has no item for contact and no
// room for one.
func (r *Router) rosterFull(user, contact jid.JID) (full bool) {
	r.rosters.read(user, func(ro *roster) {
		full = ro != nil && ro.items[contact] == nil && len(ro.items) >= ro.max
	})
	return full
}

// pendingIn returns the subscription requests user has not answered.
func (r *Router) pendingIn(user jid.JID) (out []*stanza.Stanza) {
	r.rosters.read(user, func(ro *roster) {
		if ro != nil {
			for _, st := range ro.pending {
				out = append(out, st)
			}
		}
	})
	return out
}

// watchRoster adds fn, called after every change of any roster (removed:
// the item was removed), outside the roster lock.
func (r *Router) watchRoster(fn func(user jid.JID, item RosterItem, removed bool)) {
	rs := &r.rosters
	rs.mu.Lock()
	rs.watchers = append(rs.watchers, fn)
	rs.mu.Unlock()
}

// change is one roster change to push once the lock is released.
type change struct {
	item    RosterItem
	removed bool
}

// mutate runs fn on user's roster under the lock; fn returns the item it
// changed (nil: nothing changed) and whether it removed it. The change is
// persisted and pushed (to the interested resources and the watchers).
func (r *Router) mutate(user jid.JID, fn func(ro *roster) (*RosterItem, bool)) (RosterItem, bool) {
	rs := &r.rosters
	rs.mu.Lock()
	ro := rs.get(user, true)
	it, removed := fn(ro)
	var ch change
	if it != nil {
		ch = change{it.clone(), removed}
		rs.store.saveItem(user, ch.item, removed)
		rs.store.maybeCompact(rs)
	}
	watchers := rs.watchers
	rs.mu.Unlock()
	if it == nil {
		return RosterItem{}, false
	}
	r.pushRoster(user, ch.item, removed)
	for _, w := range watchers {
		w(user, ch.item, removed)
	}
	return ch.item, true
}

// setPending records (st != nil) or clears a subscription request from
// contact to user, persisting it.
func (r *Router) setPending(user, contact jid.JID, st *stanza.Stanza) (changed bool) {
	rs := &r.rosters
	rs.mu.Lock()
	defer rs.mu.Unlock()
	ro := rs.get(user, st != nil)
	if ro == nil {
		return false
	}
	_, had := ro.pending[contact]
	switch {
	case st == nil && !had:
		return false
	case st == nil:
		delete(ro.pending, contact)
	case !had && len(ro.pending) >= rs.maxPending:
		return false // full: the request is dropped (inboundPresence counts it)
	default:
		ro.pending[contact] = st
	}
	rs.store.savePending(user, contact, st)
	rs.store.maybeCompact(rs)
	return true
}

// isPending reports whether contact's subscription request to user awaits
// an answer.
func (r *Router) isPending(user, contact jid.JID) (pending bool) {
	r.rosters.read(user, func(ro *roster) { pending = ro != nil && ro.pending[contact] != nil })
	return pending
}

// rosterUpdate adds or updates user's item for item.JID with its name and
// groups (a roster set, RFC 6121 §2.3); the subscription state and ask are
// the server's and are kept. It reports false when the roster is full.
func (r *Router) rosterUpdate(user jid.JID, item RosterItem) (RosterItem, bool) {
	return r.mutate(user, func(ro *roster) (*RosterItem, bool) {
		cur := ro.item(item.JID)
		if cur == nil {
			return nil, false
		}
		cur.Name, cur.Groups = item.Name, slices.Clone(item.Groups)
		return cur, false
	})
}

// rosterRemove removes user's item for contact (RFC 6121 §2.5): the
// subscriptions are cancelled both ways (unsubscribe and unsubscribed sent
// as §2.5.2 says) and the removal is pushed. It reports whether there was
// an item.
func (r *Router) rosterRemove(user, contact jid.JID) bool {
	var old RosterItem
	pending := r.setPending(user, contact, nil)
	_, ok := r.mutate(user, func(ro *roster) (*RosterItem, bool) {
		it := ro.items[contact]
		if it == nil {
			return nil, false
		}
		old = it.clone()
		delete(ro.items, contact)
		return &RosterItem{JID: contact, Subscription: "remove"}, true
	})
	if !ok {
		return false
	}
	if old.Subscription.from() || pending {
		r.routeSubscription(user, contact, stanza.TypeUnsubscribed)
		r.presenceTo(user, contact, false)
	}
	if old.Subscription.to() || old.Ask {
		r.routeSubscription(user, contact, stanza.TypeUnsubscribe)
	}
	return true
}

// outboundSubscription applies a subscription stanza of type typ that
// user sends to contact (RFC 6121 §3.1.2, §3.1.4, §3.2.2, §3.3.2, §3.4)
// and reports whether the stanza is to be routed to the contact.
func (r *Router) outboundSubscription(user jid.JID, typ string, contact jid.JID) (route bool) {
	switch typ {
	case stanza.TypeSubscribe: // §3.1.2: pending out
		r.mutate(user, func(ro *roster) (*RosterItem, bool) {
			if it := ro.items[contact]; it != nil && (it.Ask || it.Subscription.to()) {
				return nil, false
			}
			it := ro.item(contact)
			if it == nil {
				return nil, false
			}
			it.Ask = true
			return it, false
		})
		return true
	case stanza.TypeSubscribed: // §3.1.4 approval, or §3.4 pre-approval
		if r.setPending(user, contact, nil) {
			r.mutate(user, func(ro *roster) (*RosterItem, bool) {
				it := ro.item(contact)
				if it == nil {
					return nil, false
				}
				it.setFrom(true)
				return it, false
			})
			return true
		}
		r.mutate(user, func(ro *roster) (*RosterItem, bool) {
			if it := ro.items[contact]; it != nil && (it.Subscription.from() || it.Approved) {
				return nil, false
			}
			it := ro.item(contact)
			if it == nil {
				return nil, false
			}
			it.Approved = true
			return it, false
		})
		return false // a pre-approval is not routed (§3.4)
	case stanza.TypeUnsubscribe: // §3.3.2
		r.mutate(user, changeExisting(contact, func(it *RosterItem) bool { return it.Ask || it.Subscription.to() }, func(it *RosterItem) { it.setTo(false) }))
		return true
	case stanza.TypeUnsubscribed: // §3.2.2: cancel or deny
		r.setPending(user, contact, nil)
		r.mutate(user, changeExisting(contact, func(it *RosterItem) bool { return it.Approved || it.Subscription.from() }, func(it *RosterItem) { it.setFrom(false) }))
		return true
	}
	return false
}

// changeExisting returns a mutation that applies change to the item for
// contact when there is one and applies says it should.
func changeExisting(contact jid.JID, applies func(*RosterItem) bool, change func(*RosterItem)) func(*roster) (*RosterItem, bool) {
	return func(ro *roster) (*RosterItem, bool) {
		it := ro.items[contact]
		if it == nil || !applies(it) {
			return nil, false
		}
		change(it)
		return it, false
	}
}

// inbound subscription outcomes.
type inboundAction int

const (
	inboundIgnore       inboundAction = iota // nothing to deliver
	inboundDeliver                           // deliver the stanza to the user's available resources
	inboundAutoApproved                      // answer subscribed for the user (already subscribed or pre-approved)
)

// inboundSubscription applies a subscription stanza of type typ from
// contact to user (RFC 6121 §3.1.3, §3.1.5, §3.2.3, §3.3.3) and says what
// to do with it.
func (r *Router) inboundSubscription(user jid.JID, typ string, contact jid.JID, st *stanza.Stanza) inboundAction {
	changed := false
	switch typ {
	case stanza.TypeSubscribe:
		it, _ := r.rosterItem(user, contact)
		if it.Subscription.from() {
			return inboundAutoApproved
		}
		if it.Approved {
			r.setPending(user, contact, st)
			r.outboundSubscription(user, stanza.TypeSubscribed, contact)
			return inboundAutoApproved
		}
		if r.isPending(user, contact) {
			return inboundIgnore // delivered already (§3.1.3: once)
		}
		if !r.setPending(user, contact, st) {
			return inboundIgnore // too many unanswered requests
		}
		return inboundDeliver
	case stanza.TypeSubscribed: // §3.1.5: only if we asked
		_, changed = r.mutate(user, changeExisting(contact, func(it *RosterItem) bool { return it.Ask }, func(it *RosterItem) { it.setTo(true) }))
	case stanza.TypeUnsubscribed: // §3.2.3
		_, changed = r.mutate(user, changeExisting(contact, func(it *RosterItem) bool { return it.Ask || it.Subscription.to() }, func(it *RosterItem) { it.setTo(false) }))
	case stanza.TypeUnsubscribe: // §3.3.3
		pending := r.setPending(user, contact, nil)
		_, changed = r.mutate(user, changeExisting(contact, func(it *RosterItem) bool { return it.Subscription.from() }, func(it *RosterItem) { it.setFrom(false) }))
		changed = changed || pending
	}
	if changed {
		return inboundDeliver
	}
	return inboundIgnore
}
