package pubsub

import (
	"context"
	"errors"
	"strconv"
	"time"

	"xmppkit.dev/disco"
	"xmppkit.dev/form"
	"xmppkit.dev/mam"
	"xmppkit.dev/rsm"
)

// features are the pubsub#... features implemented at the service
// (XEP-0060 §10), advertised at its disco#info; the access-presence and
// access-roster features only when the server granted the roster
// permission, auto-create only with Options.AutoCreate.
var features = []string{
	"access-authorize", "access-open", "access-whitelist", "config-node", "create-and-configure",
	"create-nodes", "delete-items", "delete-nodes", "get-pending", "instant-nodes", "item-ids",
	"last-published", "manage-subscriptions", "member-affiliation", "meta-data", "modify-affiliations",
	"multi-subscribe", "outcast-affiliation", "persistent-items", "publish", "publish-only-affiliation",
	"publish-options", "publisher-affiliation", "purge-nodes", "retract-items", "retrieve-affiliations",
	"retrieve-default", "retrieve-default-sub", "retrieve-items", "retrieve-subscriptions", "subscribe",
	"subscription-notifications", "subscription-options",
}

// Features implements disco.FeatureProvider (XEP-0060 §5.1): the pubsub
// namespace, RSM (XEP-0059, for items and node lists) and the implemented
// features at the service, the pubsub namespace at each node (§5.3). The
// PEP features are what the delegation advertises (delegatedFeatures).
func (s *Service) Features(q disco.Query) []string {
	if q.To.Local() != "" {
		if q.Node != "" && s.hasNode(Key{q.To.Bare().String(), q.Node}) {
			return []string{NS}
		}
		return nil
	}
	if q.Node == "" {
		out := []string{NS, rsm.NS}
		for _, f := range features {
			out = append(out, featurePf+f)
		}
		if s.autoCreate {
			out = append(out, featurePf+"auto-create")
		}
		if s.priv != nil && q.From.Domain() != "" {
			if ok, _ := s.canReadRosters(q.From.Bare().String()); ok {
				out = append(out, featurePf+"access-presence", featurePf+"access-roster")
			}
		}
		return out
	}
	if s.hasNode(Key{"", q.Node}) {
		return []string{NS, mam.NS}
	}
	return nil
}

// Identities implements disco.IdentityProvider: pubsub/service at the
// service (§5.1), pubsub/leaf at each node (§5.3).
func (s *Service) Identities(q disco.Query) []disco.Identity {
	k := Key{"", q.Node}
	if q.To.Local() != "" {
		k.Service = q.To.Bare().String()
		if q.Node == "" {
			return nil
		}
	}
	if q.Node == "" {
		return []disco.Identity{{Category: "pubsub", Type: "service", Name: "xmppkit pubsub"}}
	}
	if s.hasNode(k) {
		return []disco.Identity{{Category: "pubsub", Type: "leaf"}}
	}
	return nil
}

// Items implements disco.ItemProvider; the service pages its lists
// (PageItems).
func (s *Service) Items(q disco.Query) []disco.Item { return nil }

// PageItems implements disco.ItemPager: a page (XEP-0059) of the nodes at
// the service or an account (§5.2), in NodeID order, and of the items of a
// node the requester may retrieve, newest first, named by their ids
// (§5.5).
func (s *Service) PageItems(q disco.Query) (rsm.Page[disco.Item], bool, error) {
	svc := ""
	if q.To.Local() != "" {
		svc = q.To.Bare().String()
	}
	var pg rsm.Page[disco.Item]
	ok := false
	rc := &reqCtx{ctx: context.Background(), from: q.From, bare: q.From.Bare().String(), svc: q.To.Bare(), key: svc, pep: svc != "", s: s}
	err := s.store.Read(context.Background(), func(tx Tx) error {
		if q.Node == "" {
			if svc != "" {
				if n, err := tx.CountNodes(svc); err != nil || n == 0 {
					return err
				}
			}
			ok = true
			p, err := rsm.Paginate[*Node](nodeSource{tx, svc}, q.Page, q.Limit)
			if err != nil {
				return err
			}
			pg.Result, pg.Complete = p.Result, p.Complete
			for _, n := range p.Items {
				pg.Items = append(pg.Items, disco.Item{JID: q.To.Bare(), Node: n.Node, Name: n.Config.Title})
			}
			return nil
		}
		n, err := tx.Node(Key{svc, q.Node})
		if err != nil {
			return err
		}
		ok = true
		aff, err := s.affOf(tx, rc, n)
		if err != nil {
			return err
		}
		if s.mayRetrieve(tx, rc, n, aff) != nil {
			return nil // the node is there; its items are not for this requester
		}
		p, err := rsm.Paginate[*Item](itemSource{s: s, tx: tx, n: n}, q.Page, q.Limit)
		if err != nil {
			return err
		}
		pg.Result, pg.Complete = p.Result, p.Complete
		for _, it := range p.Items {
			pg.Items = append(pg.Items, disco.Item{JID: q.To.Bare(), Name: it.ID})
		}
		return nil
	})
	var need errNeedRoster
	switch {
	case errors.Is(err, ErrNotFound):
		return pg, false, nil
	case errors.As(err, &need):
		return pg, true, nil // the owner's roster is not known yet: list nothing
	case err != nil:
		return pg, true, s.storeError(err) // a bad RSM request, or the store
	}
	return pg, ok, nil
}

// nodeSource pages a service's nodes in NodeID order.
type nodeSource struct {
	tx  Tx
	svc string
}

func (src nodeSource) Forward(after string, n int) ([]*Node, error) {
	if n == 0 {
		return nil, nil
	}
	return src.tx.Nodes(src.svc, Page{After: after, Limit: n})
}

func (src nodeSource) Backward(before string, n int) ([]*Node, error) {
	if n == 0 {
		return nil, nil
	}
	return src.tx.Nodes(src.svc, Page{After: before, Backward: true, Limit: n})
}

func (src nodeSource) Count() int {
	c, err := src.tx.CountNodes(src.svc)
	if err != nil {
		return -1
	}
	return c
}

func (src nodeSource) UID(n *Node) string { return n.Node }

// Forms implements disco.FormProvider: the pubsub#meta-data form of a node
// (§5.4).
func (s *Service) Forms(q disco.Query) []form.Form {
	if q.Node == "" {
		return nil
	}
	k := Key{"", q.Node}
	if q.To.Local() != "" {
		k.Service = q.To.Bare().String()
	}
	var f *form.Form
	_ = s.store.Read(context.Background(), func(tx Tx) error {
		n, err := tx.Node(k)
		if err != nil {
			return err
		}
		affs, err := tx.Affiliations(k)
		if err != nil {
			return err
		}
		subs, err := tx.Subscriptions(k)
		if err != nil {
			return err
		}
		var owners, publishers []string
		for _, a := range affs {
			switch a.Affiliation {
			case AffOwner:
				owners = append(owners, a.JID)
			case AffPublisher:
				publishers = append(publishers, a.JID)
			}
		}
		count := 0
		for _, sub := range subs {
			if sub.State == SubSubscribed {
				count++
			}
		}
		c := n.Config
		f = &form.Form{Type: form.TypeResult, Fields: []form.Field{
			{Type: form.Hidden, Var: form.FormTypeVar, Values: []string{FormMetaData}},
			{Type: form.TextSingle, Var: "pubsub#title", Values: []string{c.Title}},
			{Type: form.TextSingle, Var: "pubsub#description", Values: []string{c.Description}},
			{Type: form.TextSingle, Var: "pubsub#type", Values: []string{c.Type}},
			{Type: form.ListSingle, Var: "pubsub#language", Values: []string{c.Language}},
			{Type: form.TextSingle, Var: "pubsub#creation_date", Values: []string{n.Created.UTC().Format(time.RFC3339)}},
			{Type: form.JIDSingle, Var: "pubsub#creator", Values: []string{n.Creator}},
			{Type: form.JIDMulti, Var: "pubsub#contact", Values: c.Contact},
			{Type: form.JIDMulti, Var: "pubsub#owner", Values: owners},
			{Type: form.JIDMulti, Var: "pubsub#publisher", Values: publishers},
			{Type: form.ListSingle, Var: "pubsub#access_model", Values: []string{c.AccessModel}},
			{Type: form.ListSingle, Var: "pubsub#publish_model", Values: []string{c.PublishModel}},
			{Type: form.TextSingle, Var: "pubsub#max_items", Values: []string{strconv.Itoa(s.env(n.Creator).maxItemsOf(c))}},
			{Type: form.TextSingle, Var: "pubsub#num_subscribers", Values: []string{strconv.Itoa(count)}},
		}}
		return nil
	})
	if f == nil {
		return nil
	}
	return []form.Form{*f}
}

func (s *Service) hasNode(k Key) bool {
	found := false
	_ = s.store.Read(context.Background(), func(tx Tx) error {
		_, err := tx.Node(k)
		found = err == nil
		return nil
	})
	return found
}

var _ disco.ItemPager = (*Service)(nil)
