package pubsub

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/privilege"
	"xmppkit.dev/stanza"
)

// rosterCache keeps the rosters read through XEP-0356 for a while: the
// servers send the component no roster pushes, so a roster is believed for
// the TTL and read again after.
type rosterCache struct {
	mu  sync.Mutex
	ttl time.Duration
	now func() time.Time
	m   map[string]*rosterInfo
}

// rosterInfo is one account's roster as far as access models need it.
type rosterInfo struct {
	at    time.Time
	ok    bool // false: it could not be read (not granted, or an error)
	items map[string]privilege.RosterItem
}

const maxCachedRosters = 10000

func newRosterCache(ttl time.Duration, now func() time.Time) *rosterCache {
	return &rosterCache{ttl: ttl, now: now, m: map[string]*rosterInfo{}}
}

func (c *rosterCache) get(owner string) (*rosterInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.m[owner]
	if r == nil || c.now().Sub(r.at) > c.ttl {
		return nil, false
	}
	return r, true
}

func (c *rosterCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.m)
}

// forget drops a cached roster: the account's presence may follow a
// change of it (servers send the component no roster pushes).
func (c *rosterCache) forget(owner string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, owner)
}

func (c *rosterCache) put(owner string, r *rosterInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCachedRosters {
		for k, v := range c.m {
			if c.now().Sub(v.at) > c.ttl || len(c.m) >= maxCachedRosters {
				delete(c.m, k)
			}
			if len(c.m) < maxCachedRosters/2 {
				break
			}
		}
	}
	c.m[owner] = r
}

func (r *rosterInfo) groups() []string {
	var out []string
	for _, it := range r.items {
		for _, g := range it.Groups {
			if !slices.Contains(out, g) {
				out = append(out, g)
			}
		}
	}
	slices.Sort(out)
	return out
}

// canReadRosters reports whether the service can read the roster of an
// account (XEP-0356 roster permission get or both from its server), and
// why not.
func (s *Service) canReadRosters(owner string) (bool, string) {
	if s.priv == nil {
		return false, "presence and roster need the XEP-0356 roster permission, and this service runs without privileges (the embedded router grants none)"
	}
	j, err := jid.Parse(owner)
	if err != nil {
		return false, "the owner's address is not a JID"
	}
	if !s.priv.Grants(j.DomainJID()).Roster.CanGet() {
		return false, "presence and roster need the XEP-0356 roster permission, which " + j.Domain() + " has not granted this service"
	}
	return true, ""
}

// fetchRoster reads an account's roster on its behalf and caches it; a
// failure is cached too (as a roster that could not be read).
func (s *Service) fetchRoster(ctx context.Context, snd mux.Sender, owner jid.JID) {
	info := &rosterInfo{at: s.now(), items: map[string]privilege.RosterItem{}}
	if ok, _ := s.canReadRosters(owner.String()); ok {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		r, err := s.priv.Roster(ctx, snd, owner)
		cancel()
		if err == nil {
			info.ok = true
			for _, it := range r.Items {
				info.items[it.JID.Bare().String()] = it
			}
		} else if !errors.Is(err, privilege.ErrNotGranted) {
			s.log.Warn("pubsub: reading a roster through XEP-0356", "owner", owner.String(), "err", err)
		}
	}
	s.rosters.put(owner.String(), info)
}

// roster returns the cached roster of owner, or errNeedRoster so that the
// request reads it outside its transaction and runs again.
func (s *Service) roster(owner string) (*rosterInfo, error) {
	if r, ok := s.rosters.get(owner); ok {
		return r, nil
	}
	j, err := jid.Parse(owner)
	if err != nil {
		return &rosterInfo{}, nil
	}
	return nil, errNeedRoster{j}
}

// inPresence reports whether contact has a presence subscription to owner
// (from or both in owner's roster, XEP-0060 §4.5 presence access).
func (s *Service) inPresence(owner, contact string) (bool, error) {
	_, ok, err := s.contact(owner, contact)
	return ok, err
}

// contact returns contact's item in owner's roster and whether it has a
// presence subscription to owner (from or both); owner is its own.
func (s *Service) contact(owner, contact string) (privilege.RosterItem, bool, error) {
	if owner == contact {
		return privilege.RosterItem{}, true, nil
	}
	r, err := s.roster(owner)
	if err != nil {
		return privilege.RosterItem{}, false, err
	}
	it, ok := r.items[contact]
	ok = ok && (it.Subscription == "from" || it.Subscription == "both")
	if !ok && s.now().Sub(r.at) > freshRoster {
		// Refuse only on a fresh roster: the cached one may predate the
		// subscription.
		if j, err := jid.Parse(owner); err == nil {
			return it, false, errNeedRoster{j}
		}
	}
	return it, ok, nil
}

// freshRoster is how old a roster may be to refuse access by it.
const freshRoster = 2 * time.Second

// inGroups reports whether contact is in one of the groups of owner's
// roster (XEP-0060 §4.5 roster access).
func (s *Service) inGroups(owner, contact string, groups []string) (bool, error) {
	if owner == contact {
		return true, nil
	}
	it, ok, err := s.contact(owner, contact)
	if !ok || err != nil {
		return false, err
	}
	for _, g := range it.Groups {
		if slices.Contains(groups, g) {
			return true, nil
		}
	}
	return false, nil
}

// owners returns the bare JIDs whose rosters the presence and roster
// access models consult: the account of a PEP node, the owners of another.
func (s *Service) owners(tx Tx, n *Node) ([]string, error) {
	if n.Service != "" {
		return []string{n.Service}, nil
	}
	affs, err := tx.Affiliations(n.Key)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, a := range affs {
		if a.Affiliation == AffOwner {
			out = append(out, a.JID)
		}
	}
	return out, nil
}

// rosterAccess applies the presence and roster access models for bare:
// nil when one of the owners' rosters lets it in, else the XEP-0060 error.
func (s *Service) rosterAccess(tx Tx, n *Node, bare string) error {
	owners, err := s.owners(tx, n)
	if err != nil {
		return err
	}
	for _, o := range owners {
		if ok, _ := s.canReadRosters(o); !ok && o != bare {
			continue
		}
		var in bool
		if n.Config.AccessModel == AccessPresence {
			in, err = s.inPresence(o, bare)
		} else {
			in, err = s.inGroups(o, bare, n.Config.RosterGroups)
		}
		if err != nil {
			return err
		}
		if in {
			return nil
		}
	}
	if n.Config.AccessModel == AccessPresence {
		return presenceRequired()
	}
	return notInGroup()
}

// mayRetrieve applies the affiliation and the access model to item
// retrieval (XEP-0060 §6.5.9, §4.1, §4.5).
func (s *Service) mayRetrieve(tx Tx, rc *reqCtx, n *Node, aff string) error {
	switch aff {
	case AffOutcast:
		return forbidden("banned from this node")
	case AffPublishOnly:
		return forbidden("a publish-only entity does not retrieve items")
	case AffOwner, AffPublisher, AffMember:
		return nil
	}
	switch n.Config.AccessModel {
	case AccessOpen:
		return nil
	case AccessPresence, AccessRoster:
		return s.rosterAccess(tx, n, rc.bare)
	case AccessAuthorize:
		subs, err := tx.Subscriptions(n.Key)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(subs, func(sub Subscription) bool { return bareOf(sub.JID) == rc.bare && sub.State == SubSubscribed }) {
			return nil
		}
		return notSubscribed("the node gives its items to approved subscribers")
	}
	return closedNode()
}

// subscribeState applies the affiliation and the access model to a
// subscription request (XEP-0060 §6.1.3): the state the subscription
// starts in, or the error.
func (s *Service) subscribeState(tx Tx, rc *reqCtx, n *Node, aff string) (string, error) {
	switch aff {
	case AffOutcast:
		return "", forbidden("banned from this node")
	case AffPublishOnly:
		return "", forbidden("a publish-only entity does not subscribe")
	}
	if !n.Config.Subscribe && aff != AffOwner {
		return "", stanza.NewError(stanza.NotAllowed, "the node takes no subscriptions")
	}
	switch aff {
	case AffOwner, AffPublisher, AffMember:
		return SubSubscribed, nil
	}
	switch n.Config.AccessModel {
	case AccessOpen:
		return SubSubscribed, nil
	case AccessPresence, AccessRoster:
		if err := s.rosterAccess(tx, n, rc.bare); err != nil {
			return "", err
		}
		return SubSubscribed, nil
	case AccessAuthorize:
		return SubPending, nil
	}
	return "", closedNode()
}
