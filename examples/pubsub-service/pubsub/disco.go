package pubsub

import (
	"strconv"
	"time"

	"xmppkit.dev/disco"
	"xmppkit.dev/form"
)

// features are the pubsub#... features implemented (XEP-0060 §10), advertised
// at the service's disco#info.
var features = []string{
	"access-open", "access-whitelist", "config-node", "create-and-configure",
	"create-nodes", "delete-items", "delete-nodes", "instant-nodes", "item-ids",
	"manage-subscriptions", "member-affiliation", "meta-data", "modify-affiliations",
	"multi-subscribe", "outcast-affiliation", "persistent-items", "publish",
	"publish-options", "publisher-affiliation", "purge-nodes", "retract-items",
	"retrieve-affiliations", "retrieve-default", "retrieve-default-sub", "retrieve-items",
	"retrieve-subscriptions", "subscribe", "subscription-options",
}

// maxDiscoItems bounds the items listed by disco#items on a node.
const maxDiscoItems = 1000

// Features implements disco.FeatureProvider (XEP-0060 §5.1): the pubsub
// namespace and the implemented features at the service, the pubsub
// namespace at each node (§5.3).
func (s *Service) Features(q disco.Query) []string {
	if q.To.Local() != "" {
		return nil
	}
	if q.Node == "" {
		out := []string{NS}
		for _, f := range features {
			out = append(out, featurePf+f)
		}
		return out
	}
	if s.hasNode(q.Node) {
		return []string{NS}
	}
	return nil
}

// Identities implements disco.IdentityProvider: pubsub/service at the service
// (§5.1), pubsub/leaf at each node (§5.3).
func (s *Service) Identities(q disco.Query) []disco.Identity {
	if q.To.Local() != "" {
		return nil
	}
	if q.Node == "" {
		return []disco.Identity{{Category: "pubsub", Type: "service", Name: "xmppkit pubsub"}}
	}
	if s.hasNode(q.Node) {
		return []disco.Identity{{Category: "pubsub", Type: "leaf"}}
	}
	return nil
}

// Items implements disco.ItemProvider: the nodes at the service (§5.2) and the
// items of a node, named by their ids (§5.5).
func (s *Service) Items(q disco.Query) []disco.Item {
	if q.To.Local() != "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []disco.Item
	if q.Node == "" {
		for _, n := range s.st.nodeList() {
			out = append(out, disco.Item{Node: n.id, Name: n.cfg.Title})
		}
		return out
	}
	if n := s.st.nodes[q.Node]; n != nil && n.cfg.AccessModel == AccessOpen {
		items := n.items
		if len(items) > maxDiscoItems {
			items = items[len(items)-maxDiscoItems:] // the newest
		}
		for _, it := range items {
			out = append(out, disco.Item{Name: it.id})
		}
	}
	return out
}

// Forms implements disco.FormProvider: the pubsub#meta-data form of a node
// (§5.4).
func (s *Service) Forms(q disco.Query) []form.Form {
	if q.To.Local() != "" || q.Node == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.st.nodes[q.Node]
	if n == nil {
		return nil
	}
	f := form.Form{Type: form.TypeResult, Fields: []form.Field{
		{Type: form.Hidden, Var: form.FormTypeVar, Values: []string{FormMetaData}},
		{Type: form.TextSingle, Var: "pubsub#title", Values: []string{n.cfg.Title}},
		{Type: form.TextSingle, Var: "pubsub#description", Values: []string{n.cfg.Description}},
		{Type: form.TextSingle, Var: "pubsub#creation_date", Values: []string{time.Unix(0, n.created).UTC().Format(time.RFC3339)}},
		{Type: form.JIDSingle, Var: "pubsub#creator", Values: []string{n.creator}},
		{Type: form.ListSingle, Var: "pubsub#access_model", Values: []string{n.cfg.AccessModel}},
		{Type: form.ListSingle, Var: "pubsub#publish_model", Values: []string{n.cfg.PublishModel}},
		{Type: form.TextSingle, Var: "pubsub#max_items", Values: []string{strconv.Itoa(n.cfg.MaxItems)}},
		{Type: form.TextSingle, Var: "pubsub#num_subscribers", Values: []string{strconv.Itoa(len(n.subs))}},
	}}
	var owners []string
	for _, k := range n.affKeys {
		if n.affs[k] == AffOwner {
			owners = append(owners, k)
		}
	}
	f.Fields = append(f.Fields, form.Field{Type: form.JIDMulti, Var: "pubsub#owner", Values: owners})
	return []form.Form{f}
}

func (s *Service) hasNode(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.nodes[id] != nil
}
