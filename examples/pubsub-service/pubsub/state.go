package pubsub

import (
	"fmt"

	"slices"
	"time"
	"xmppkit.dev/jid"
)

// OpKind names a change to the service's state, the unit a Store persists.
type OpKind string

// The operations of the service (XEP-0060 §6-§8), as stored.
const (
	OpCreate      OpKind = "create"      // a node with Config, owned by JID
	OpConfigure   OpKind = "configure"   // a node's new Config
	OpDelete      OpKind = "delete"      // a node and everything in it
	OpPurge       OpKind = "purge"       // every item of a node
	OpPublish     OpKind = "publish"     // an item (new or replacing one with the same id)
	OpRetract     OpKind = "retract"     // one item
	OpSubscribe   OpKind = "subscribe"   // a subscription of JID with SubID
	OpUnsubscribe OpKind = "unsubscribe" // a subscription of JID with SubID
	OpAffiliate   OpKind = "affiliate"   // JID's affiliation becomes Affiliation ("none" removes it)
)

// Op is one persisted change. Replaying the ops of a Store in order rebuilds
// the service's state exactly (applying an op is deterministic).
type Op struct {
	Kind        OpKind  `json:"op"`
	Node        string  `json:"node"`
	Config      *Config `json:"config,omitempty"`
	JID         string  `json:"jid,omitempty"`
	SubID       string  `json:"subid,omitempty"`
	Deliver     *bool   `json:"deliver,omitempty"` // subscription option pubsub#deliver (default true)
	Affiliation string  `json:"aff,omitempty"`
	Item        string  `json:"item,omitempty"`
	Payload     string  `json:"payload,omitempty"` // raw XML, byte for byte
	Time        int64   `json:"t,omitempty"`       // Unix nanoseconds
}

// Affiliations of XEP-0060 §4.1.
const (
	AffOwner     = "owner"
	AffPublisher = "publisher"
	AffMember    = "member"
	AffNone      = "none"
	AffOutcast   = "outcast"
)

func validAffiliation(a string) bool {
	switch a {
	case AffOwner, AffPublisher, AffMember, AffNone, AffOutcast:
		return true
	}
	return false
}

type item struct {
	id      string
	payload string
	time    int64
}

type subscription struct {
	jid     string  // as subscribed (bare or full)
	addr    jid.JID // jid, parsed
	subid   string
	deliver bool
}

type node struct {
	id      string
	cfg     Config
	created int64
	creator string
	items   []*item // oldest first
	subs    []*subscription
	affs    map[string]string // bare JID -> affiliation
	affKeys []string          // order of first affiliation, for stable listings
	multi   bool              // some JID holds several subscriptions
}

func (n *node) subsChanged() {
	seen := make(map[string]bool, len(n.subs))
	n.multi = false
	for _, sub := range n.subs {
		if seen[sub.jid] {
			n.multi = true
			return
		}
		seen[sub.jid] = true
	}
}

func (n *node) item(id string) (int, *item) {
	for i := len(n.items) - 1; i >= 0; i-- {
		if n.items[i].id == id {
			return i, n.items[i]
		}
	}
	return -1, nil
}

func (n *node) aff(bare string) string {
	if a, ok := n.affs[bare]; ok {
		return a
	}
	return AffNone
}

func (n *node) trim() {
	if over := len(n.items) - n.cfg.MaxItems; over > 0 {
		clear(n.items[:over])
		n.items = slices.Delete(n.items, 0, over)
	}
}

// state is the service's data: nodes by id, and their creation order.
type state struct {
	nodes map[string]*node
	order []string
	// Totals over all nodes, for the service's bounds.
	itemBytes int64 // bytes of stored items: payloads and ids
	subs      int   // subscriptions
}

func newState() *state { return &state{nodes: map[string]*node{}} }

func (s *state) nodeList() []*node {
	out := make([]*node, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.nodes[id])
	}
	return out
}

// apply performs op on the state, keeping the totals. It fails only for an
// op that does not fit the state (a corrupt or foreign store); the live
// path validates first.
func (s *state) apply(op *Op) error {
	b0, s0 := s.cost(op.Node)
	err := s.applyOp(op)
	b1, s1 := s.cost(op.Node)
	s.itemBytes += b1 - b0
	s.subs += s1 - s0
	return err
}

// cost returns the bytes of the items and the subscriptions of a node.
func (s *state) cost(id string) (int64, int) {
	n := s.nodes[id]
	if n == nil {
		return 0, 0
	}
	var b int64
	for _, it := range n.items {
		b += int64(len(it.payload) + len(it.id))
	}
	return b, len(n.subs)
}

func (s *state) applyOp(op *Op) error {
	n := s.nodes[op.Node]
	if n == nil && op.Kind != OpCreate {
		return fmt.Errorf("pubsub: %s on missing node %q", op.Kind, op.Node)
	}
	switch op.Kind {
	case OpCreate:
		if n != nil {
			return fmt.Errorf("pubsub: node %q exists", op.Node)
		}
		cfg := DefaultConfig()
		if op.Config != nil {
			cfg = *op.Config
		}
		n = &node{id: op.Node, cfg: cfg, created: op.Time, creator: op.JID, affs: map[string]string{}}
		if op.JID != "" {
			n.affs[op.JID] = AffOwner
			n.affKeys = append(n.affKeys, op.JID)
		}
		s.nodes[op.Node] = n
		s.order = append(s.order, op.Node)
	case OpConfigure:
		if op.Config == nil {
			return fmt.Errorf("pubsub: configure without config")
		}
		n.cfg = *op.Config
		if !n.cfg.PersistItems {
			n.items = nil
		}
		n.trim()
		if n.cfg.AccessModel == AccessWhitelist {
			// A whitelist keeps only affiliated subscribers (XEP-0060 §4.5).
			n.subs = slices.DeleteFunc(n.subs, func(sub *subscription) bool {
				a := n.aff(bareOf(sub.jid))
				return a == AffNone || a == AffOutcast
			})
		}
	case OpDelete:
		delete(s.nodes, op.Node)
		s.order = slices.DeleteFunc(s.order, func(id string) bool { return id == op.Node })
	case OpPurge:
		n.items = nil
	case OpPublish:
		if i, _ := n.item(op.Item); i >= 0 {
			n.items = slices.Delete(n.items, i, i+1)
		}
		n.items = append(n.items, &item{id: op.Item, payload: op.Payload, time: op.Time})
		n.trim()
	case OpRetract:
		if i, _ := n.item(op.Item); i >= 0 {
			n.items = slices.Delete(n.items, i, i+1)
		}
	case OpSubscribe:
		deliver := op.Deliver == nil || *op.Deliver
		for _, sub := range n.subs {
			if sub.subid == op.SubID {
				sub.deliver = deliver
				return nil
			}
		}
		addr, err := jid.Parse(op.JID)
		if err != nil {
			return fmt.Errorf("pubsub: subscription of %q: %w", op.JID, err)
		}
		n.subs = append(n.subs, &subscription{jid: op.JID, addr: addr, subid: op.SubID, deliver: deliver})
		n.subsChanged()
	case OpUnsubscribe:
		n.subs = slices.DeleteFunc(n.subs, func(sub *subscription) bool {
			return sub.jid == op.JID && (op.SubID == "" || sub.subid == op.SubID)
		})
		n.subsChanged()
	case OpAffiliate:
		if op.Affiliation == AffNone {
			delete(n.affs, op.JID)
			n.affKeys = slices.DeleteFunc(n.affKeys, func(k string) bool { return k == op.JID })
			break
		}
		if _, ok := n.affs[op.JID]; !ok {
			n.affKeys = append(n.affKeys, op.JID)
		}
		n.affs[op.JID] = op.Affiliation
		if op.Affiliation == AffOutcast {
			n.subs = slices.DeleteFunc(n.subs, func(sub *subscription) bool { return bareOf(sub.jid) == op.JID })
		}
	default:
		return fmt.Errorf("pubsub: unknown op %q", op.Kind)
	}
	return nil
}

// snapshot emits ops that rebuild the current state from nothing.
func (s *state) snapshot(emit func(*Op) error) error {
	for _, n := range s.nodeList() {
		cfg := n.cfg
		if err := emit(&Op{Kind: OpCreate, Node: n.id, Config: &cfg, Time: n.created, JID: n.creator}); err != nil {
			return err
		}
		for _, k := range n.affKeys {
			if k == n.creator && n.affs[k] == AffOwner {
				continue
			}
			if err := emit(&Op{Kind: OpAffiliate, Node: n.id, JID: k, Affiliation: n.affs[k]}); err != nil {
				return err
			}
		}
		if _, ok := n.affs[n.creator]; n.creator != "" && !ok {
			if err := emit(&Op{Kind: OpAffiliate, Node: n.id, JID: n.creator, Affiliation: AffNone}); err != nil {
				return err
			}
		}
		for _, sub := range n.subs {
			d := sub.deliver
			if err := emit(&Op{Kind: OpSubscribe, Node: n.id, JID: sub.jid, SubID: sub.subid, Deliver: &d}); err != nil {
				return err
			}
		}
		for _, it := range n.items {
			if err := emit(&Op{Kind: OpPublish, Node: n.id, Item: it.id, Payload: it.payload, Time: it.time}); err != nil {
				return err
			}
		}
	}
	return nil
}

// size is the number of ops snapshot would emit.
func (s *state) size() int {
	total := 0
	for _, n := range s.nodes {
		total += 1 + len(n.affs) + len(n.subs) + len(n.items)
	}
	return total
}

func now() int64 { return time.Now().UnixNano() }
