package pubsub

import (
	"errors"
	"slices"
	"time"

	"xmppkit.dev/rsm"
	"xmppkit.dev/stanza"
)

// maxPage is the most items one RSM page of an items answer holds.
const maxPage = 100

// itemSource pages a node's items newest first (XEP-0059 over XEP-0060
// §6.5.4), skipping items past their expiry.
type itemSource struct {
	s        *Service
	tx       Tx
	n        *Node
	payloads bool
}

func (src itemSource) page(q ItemQuery) ([]*Item, error) {
	q.Payloads = src.payloads
	items, err := src.tx.Items(src.n.Key, q)
	if errors.Is(err, ErrNotFound) {
		return nil, rsm.ErrUnknownUID
	}
	return slices.DeleteFunc(items, func(it *Item) bool { return src.s.expired(src.n, it) }), err
}

// check is a page of no items: only the UID is checked.
func (src itemSource) check(uid string) error {
	if uid == "" {
		return nil
	}
	found, err := src.tx.Items(src.n.Key, ItemQuery{IDs: []string{uid}})
	if err == nil && len(found) == 0 {
		err = rsm.ErrUnknownUID
	}
	return err
}

func (src itemSource) Forward(after string, n int) ([]*Item, error) {
	if n == 0 {
		return nil, src.check(after)
	}
	return src.page(ItemQuery{After: after, Limit: n})
}

func (src itemSource) Backward(before string, n int) ([]*Item, error) {
	if n == 0 {
		return nil, src.check(before)
	}
	items, err := src.page(ItemQuery{After: before, OldestFirst: true, Limit: n})
	slices.Reverse(items)
	return items, err
}

func (src itemSource) Count() int {
	c, _, err := src.tx.ItemStats(src.n.Key)
	if err != nil {
		return -1
	}
	return c
}

func (src itemSource) UID(it *Item) string { return it.ID }

// expired reports whether an item is past its node's pubsub#item_expire
// (it is never served, and the expiry loop removes it).
func (s *Service) expired(n *Node, it *Item) bool {
	return n.Config.ItemExpire > 0 && s.timeNow().Sub(it.Time) >= time.Duration(n.Config.ItemExpire)*time.Second
}

// fit keeps the items (in answer order) whose payloads fit in
// MaxResultBytes, at least one.
func fit(items []*Item) []*Item {
	size := 0
	for i, it := range items {
		size += it.Size + len(it.ID) + 32
		if size > MaxResultBytes && i > 0 {
			return items[:i]
		}
	}
	return items
}

func (s *Service) items(rc *reqCtx) error {
	ir := rc.req.Items
	max, err := parseMaxItemsAttr(ir.MaxItems)
	if err != nil {
		return err
	}
	el, _ := rc.iq.PayloadElement()
	page, paged, err := rsm.FindQuery(el)
	if err != nil {
		return err
	}
	return s.read(rc, func(tx Tx) (*stanza.Stanza, error) {
		n, aff, err := s.nodeAff(tx, rc, ir.Node)
		if err != nil {
			return nil, err
		}
		if err := s.mayRetrieve(tx, rc, n, aff); err != nil {
			return nil, err
		}
		src := itemSource{s: s, tx: tx, n: n, payloads: true}
		var sel []*Item
		var set *rsm.Result
		switch {
		case len(ir.Item) > 0:
			var ids []string
			for _, it := range ir.Item {
				if it.ID == nil {
					return nil, badRequest("an item id is required", "item-required")
				}
				ids = append(ids, *it.ID)
			}
			if sel, err = src.page(ItemQuery{IDs: ids}); err != nil {
				return nil, err
			}
		case paged:
			limit := maxPage
			if max > 0 && max < limit {
				limit = max
			}
			pg, err := rsm.Paginate[*Item](src, page, limit)
			if err != nil {
				return nil, err
			}
			sel = fit(pg.Items)
			r := pg.Result
			if len(sel) < len(pg.Items) {
				r.Last = sel[len(sel)-1].ID
			}
			set = &r
		default:
			// The most recent items (all, or max_items), newest first to
			// cut at the size limit, answered oldest first (§6.5.7).
			newest, err := src.page(ItemQuery{Limit: max})
			if err != nil {
				return nil, err
			}
			sel = fit(newest)
			if len(sel) < len(newest) || max == 0 && len(sel) < src.Count() {
				// Not everything fits: say so, and where to page on
				// (XEP-0060 §6.5.4 with XEP-0059).
				set = &rsm.Result{First: sel[0].ID, Last: sel[len(sel)-1].ID, FirstIndex: 0, HasFirstIndex: true, Count: src.Count(), HasCount: true}
			}
			slices.Reverse(sel)
		}
		pub := func(it *Item) (string, error) { return itemReply(tx, n, it) }
		b := stanza.NewBuilder("", "items").Attr("node", n.Node)
		for _, it := range sel {
			p, err := pub(it)
			if err != nil {
				return nil, err
			}
			if err := addItem(b, it, true, p); err != nil {
				return nil, err
			}
		}
		children := []stanza.Element{b.Element()}
		if set != nil {
			children = append(children, set.Element())
		}
		return rc.result(NS, children...), nil
	})
}

// nodesNamed returns the node named by a request's node attribute, or every
// node of the service when the attribute is absent (XEP-0060 §5.6 and §5.7
// ask for one node or all of them).
func (s *Service) nodesNamed(tx Tx, rc *reqCtx, attr *string) (*Node, bool, error) {
	id, ok := nodeOf(attr)
	if !ok {
		return nil, false, nil
	}
	n, err := tx.Node(rc.k(id))
	return n, true, err
}

func (s *Service) ownSubscriptions(rc *reqCtx) error {
	return s.read(rc, func(tx Tx) (*stanza.Stanza, error) {
		n, one, err := s.nodesNamed(tx, rc, rc.req.Subscriptions.Node)
		if err != nil {
			return nil, err
		}
		var subs []Subscription
		if one {
			all, err := tx.Subscriptions(n.Key)
			if err != nil {
				return nil, err
			}
			for _, x := range all {
				if bareOf(x.JID) == rc.bare {
					subs = append(subs, x)
				}
			}
		} else if subs, err = tx.SubscriptionsOf(rc.key, rc.bare); err != nil {
			return nil, err
		}
		b := stanza.NewBuilder("", "subscriptions")
		if one {
			b.Attr("node", n.Node)
		}
		for _, x := range subs {
			b.Append(subscriptionElIn(x))
		}
		return rc.result(NS, b.Element()), nil
	})
}

func subscriptionElIn(x Subscription) stanza.Element {
	return stanza.NewBuilder("", "subscription").Attr("node", x.Node).Attr("jid", x.JID).
		Attr("subid", x.SubID).Attr("subscription", x.State).Element()
}

func (s *Service) ownAffiliations(rc *reqCtx) error {
	return s.read(rc, func(tx Tx) (*stanza.Stanza, error) {
		n, one, err := s.nodesNamed(tx, rc, rc.req.Affiliations.Node)
		if err != nil {
			return nil, err
		}
		var affs []Affiliation
		if one {
			a, err := tx.Affiliation(n.Key, rc.bare)
			if err != nil {
				return nil, err
			}
			if a != AffNone {
				affs = append(affs, Affiliation{Key: n.Key, JID: rc.bare, Affiliation: a})
			}
		} else if affs, err = tx.AffiliationsOf(rc.key, rc.bare); err != nil {
			return nil, err
		}
		b := stanza.NewBuilder("", "affiliations")
		if one {
			b.Attr("node", n.Node)
		}
		for _, a := range affs {
			b.Child("", "affiliation").Attr("node", a.Node).Attr("affiliation", a.Affiliation).End()
		}
		return rc.result(NS, b.Element()), nil
	})
}
