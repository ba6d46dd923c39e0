package pubsub

import (
	"fmt"

	"xmppkit.dev/stanza"
)

// Limits bound what the service stores, so that a small machine stays up
// whatever its users do. Exceeding one is refused with the XEP-0060 error
// and a text saying which limit: nothing is stored.
type Limits struct {
	// MaxNodesPerUser bounds the nodes one bare JID creates, at the service
	// and as PEP (policy-violation). Default 100; admins are exempt.
	MaxNodesPerUser int
	// MaxItemsPerNode caps pubsub#max_items ("max" means this; a larger
	// number is not-acceptable). Default 1000.
	MaxItemsPerNode int
	// MaxNodeBytes bounds the payload bytes one node keeps
	// (policy-violation). Default 16 MiB.
	MaxNodeBytes int64
	// MaxItemBytes bounds one item's payload (not-acceptable +
	// <payload-too-big/>); it also caps pubsub#max_payload_size. Default
	// MaxPayloadBytes.
	MaxItemBytes int
	// MaxStoreBytes bounds the whole store as Usage.Bytes counts it
	// (resource-constraint: the service is full): payloads and a charge
	// per record, so that it also bounds the memory of FileStore's index
	// (at most about what it counts, all items tiny). Default 512 MiB.
	MaxStoreBytes int64
	// MaxSubscriptionsPerNode bounds the subscriptions of one node
	// (policy-violation). Default 10000.
	MaxSubscriptionsPerNode int
	// MaxSubscriptionsPerJID bounds the subscriptions of one JID to one
	// node (XEP-0060 §6.1.3.? too many: policy-violation +
	// <too-many-subscriptions/>). Default 8.
	MaxSubscriptionsPerJID int
}

// DefaultLimits are the limits of a Service without Options.Limits.
func DefaultLimits() Limits {
	return Limits{
		MaxNodesPerUser:         100,
		MaxItemsPerNode:         1000,
		MaxNodeBytes:            16 << 20,
		MaxItemBytes:            MaxPayloadBytes,
		MaxStoreBytes:           512 << 20,
		MaxSubscriptionsPerNode: 10000,
		MaxSubscriptionsPerJID:  8,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxNodesPerUser <= 0 {
		l.MaxNodesPerUser = d.MaxNodesPerUser
	}
	if l.MaxItemsPerNode <= 0 {
		l.MaxItemsPerNode = d.MaxItemsPerNode
	}
	if l.MaxNodeBytes <= 0 {
		l.MaxNodeBytes = d.MaxNodeBytes
	}
	if l.MaxItemBytes <= 0 || l.MaxItemBytes > MaxPayloadBytes {
		l.MaxItemBytes = d.MaxItemBytes
	}
	if l.MaxStoreBytes <= 0 {
		l.MaxStoreBytes = d.MaxStoreBytes
	}
	if l.MaxSubscriptionsPerNode <= 0 {
		l.MaxSubscriptionsPerNode = d.MaxSubscriptionsPerNode
	}
	if l.MaxSubscriptionsPerJID <= 0 {
		l.MaxSubscriptionsPerJID = d.MaxSubscriptionsPerJID
	}
	return l
}

// full is the answer to a change past one of the service's bounds.
func full(text string) *stanza.Error {
	e := stanza.NewError(stanza.ResourceConstraint, text)
	e.Type = stanza.Wait
	return e
}

// growth is what a change adds to the store, for the service's bounds.
type growth struct {
	bytes     int64 // Usage.Bytes
	nodes     int
	subs      int
	itemBytes int64
}

// checkStore refuses a change that would take the store past
// MaxStoreBytes or one of the Options bounds.
func (s *Service) checkStore(tx Tx, adding int64) error {
	return s.checkGrowth(tx, growth{bytes: adding})
}

func (s *Service) checkGrowth(tx Tx, g growth) error {
	u, err := tx.Usage()
	if err != nil {
		return err
	}
	switch {
	case g.nodes > 0 && u.Nodes+g.nodes > s.maxNodes:
		return full("the service holds as many nodes as it can")
	case g.subs > 0 && u.Subscriptions+g.subs > s.maxSubs:
		return full("the service holds as many subscriptions as it can")
	case g.itemBytes > 0 && u.ItemBytes+g.itemBytes > s.maxItems:
		return full("the service holds as many items as it can")
	case g.bytes > 0 && u.Bytes+g.bytes > s.limits.MaxStoreBytes:
		return full(fmt.Sprintf("the service is full: it stores at most %d bytes", s.limits.MaxStoreBytes))
	}
	return nil
}

// checkNodes refuses a node beyond MaxNodesPerUser.
func (s *Service) checkNodes(tx Tx, creator string) error {
	if s.isAdmin(creator) {
		return nil
	}
	keys, err := tx.NodesCreatedBy(creator)
	if err != nil {
		return err
	}
	if len(keys) >= s.limits.MaxNodesPerUser {
		return policy(fmt.Sprintf("%s has created %d nodes, the most the service allows", creator, len(keys)))
	}
	return nil
}
