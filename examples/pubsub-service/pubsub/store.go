package pubsub

import (
	"context"
	"errors"
	"time"
)

// Store is the service's persistent state: nodes, their configuration,
// affiliations, subscriptions and items, read and changed in transactions.
// The service keeps no copy of it: every request reads what it needs from
// the Store and writes its changes in one transaction, so a Store may hold
// more than fits in memory and may be shared by several service instances
// (a SQL database).
//
// Two implementations come with the package: MemoryStore (everything in
// RAM, for tests) and FileStore (an index in RAM, item payloads on disk,
// every change durable through package journal). The contract below is
// what the service relies on; the conformance suite in package storetest
// checks it for any implementation.
//
// # Transactions
//
// Read runs fn in a read-only transaction; Write runs fn in a read-write
// transaction and commits it when fn returns nil:
//
//   - Isolation: fn sees one consistent state, its own writes included
//     (read-your-writes), and no other transaction's uncommitted ones.
//     Concurrent writers are serialized or fail: two transactions that both
//     create node N cannot both commit; the one that loses gets ErrExists
//     from CreateNode (or, in a database that detects the conflict only at
//     commit, from Write: the service answers ErrExists with conflict and
//     ErrConflict by running the request again).
//   - Atomicity: when fn returns an error, or Write fails, nothing fn wrote
//     is visible to anyone, now or after a restart.
//   - Durability: Write returns a wait function; the transaction is durable
//     (survives a crash of the process and of the machine, unless the
//     store was opened without fsync) once wait returns nil. The service
//     acknowledges the request and sends its notifications only then. A
//     store that commits synchronously returns a wait that returns nil;
//     one that batches commits (FileStore: group commit) returns before the
//     fsync and lets wait block. A wait that returns an error means the
//     transaction's outcome is unknown (it may be durable or not); the
//     service answers internal-server-error. Wait functions are called in
//     the order the Write calls returned, each once.
//   - The service calls Write from one goroutine at a time per process
//     (it queues answers and notifications in commit order behind the
//     waits), and Read from many at once.
//
// fn must not keep a Tx, or any slice or pointer it returned, after it
// returns, and must not call Read or Write itself. It may be run more than
// once (a database retrying a serialization failure): fn must have no side
// effects besides its calls on the Tx.
//
// # Errors
//
// ErrNotFound for a node or item that does not exist, ErrExists for a node
// created twice, ErrReadOnly for a write in Read. Other errors are failures
// of the store (I/O, a lost connection): the service logs them and answers
// internal-server-error (wait / resource-constraint for ErrUnavailable).
type Store interface {
	// Read runs fn in a read-only transaction.
	Read(ctx context.Context, fn func(Tx) error) error
	// Write runs fn in a read-write transaction and commits it. The
	// transaction is durable once wait returns nil.
	Write(ctx context.Context, fn func(Tx) error) (wait func() error, err error)
	// Close makes every committed transaction durable and releases the
	// store. Read and Write fail with ErrStoreClosed afterwards.
	Close() error
}

// Tx is a transaction on a Store (see Store for the rules). Keys name nodes;
// JIDs are strings in their canonical form (jid.JID.String): affiliations
// are keyed by bare JID, subscriptions by the JID as subscribed (bare or
// full) and their SubID.
type Tx interface {
	// Node returns the node, or ErrNotFound.
	Node(k Key) (*Node, error)
	// Nodes returns a page of the nodes of a service in ascending order of
	// NodeID (byte order): those after p.After (all from the start when
	// "") going forwards, or with p.Backward the last p.Limit before
	// p.After (before the end when ""), still in ascending order. A
	// p.After that names no node is a position like any other (the page
	// continues with the next NodeID). Limit 0 means no limit.
	Nodes(service string, p Page) ([]*Node, error)
	// CountNodes returns the number of nodes of a service.
	CountNodes(service string) (int, error)
	// NodesCreatedBy returns the keys of the nodes whose Creator is the
	// bare JID, at every service, in no particular order.
	NodesCreatedBy(creator string) ([]Key, error)
	// ExpiringNodes returns the keys of the nodes whose configuration has
	// ItemExpire > 0, in no particular order.
	ExpiringNodes() ([]Key, error)
	// CreateNode adds a node (with no affiliation: the service sets the
	// owner's), or fails with ErrExists.
	CreateNode(n *Node) error
	// SetConfig replaces a node's configuration (ErrNotFound).
	SetConfig(k Key, c Config) error
	// DeleteNode removes a node with its items, subscriptions and
	// affiliations (ErrNotFound).
	DeleteNode(k Key) error

	// Affiliation returns the affiliation of a bare JID with a node,
	// AffNone when it has none (the node must exist: ErrNotFound).
	Affiliation(k Key, bare string) (string, error)
	// Affiliations returns a node's affiliations other than none, in the
	// order they were first set (ErrNotFound).
	Affiliations(k Key) ([]Affiliation, error)
	// AffiliationsOf returns the affiliations of a bare JID with the nodes
	// of a service, in ascending order of NodeID.
	AffiliationsOf(service, bare string) ([]Affiliation, error)
	// SetAffiliation sets an affiliation; AffNone removes it. Setting an
	// affiliation again keeps its place in the order (ErrNotFound).
	SetAffiliation(a Affiliation) error

	// Subscriptions returns a node's subscriptions in the order they were
	// created (ErrNotFound).
	Subscriptions(k Key) ([]Subscription, error)
	// SubscriptionsOf returns the subscriptions at the nodes of a service
	// of every JID whose bare form is bare, in ascending order of NodeID
	// and then of creation.
	SubscriptionsOf(service, bare string) ([]Subscription, error)
	// PutSubscription adds a subscription, or replaces the one of the node
	// with the same SubID (keeping its place in the order) (ErrNotFound
	// for the node).
	PutSubscription(s Subscription) error
	// DeleteSubscription removes a subscription by SubID; it reports
	// whether there was one (ErrNotFound for the node).
	DeleteSubscription(k Key, subid string) (bool, error)

	// Item returns one item with its payload, or ErrNotFound (for the
	// node or the item).
	Item(k Key, id string) (*Item, error)
	// Items returns a page of a node's items in the store's item order,
	// newest first (descending Seq), or oldest first with q.OldestFirst:
	// up to q.Limit (0: all) items after the item q.After in that order
	// (from the first when ""). A q.After that names no item is
	// ErrNotFound. Payloads are read only with q.Payloads (else Payload
	// is "" and Size is set).
	Items(k Key, q ItemQuery) ([]*Item, error)
	// ItemStats returns the number of items of a node and the bytes of
	// their payloads (ErrNotFound).
	ItemStats(k Key) (count int, bytes int64, err error)
	// PutItem stores an item: a new one, or one replacing the item with
	// the same ID, which then counts as the newest. The store assigns
	// it.Seq: greater than every Seq it assigned before, in this store,
	// across all nodes and every instance sharing it (a database
	// sequence); the item order of a node is the order of Seq
	// (ErrNotFound for the node).
	PutItem(k Key, it *Item) error
	// DeleteItem removes an item; it reports whether there was one
	// (ErrNotFound for the node).
	DeleteItem(k Key, id string) (bool, error)
	// Purge removes every item of a node (ErrNotFound).
	Purge(k Key) error

	// Usage returns what the store holds in all.
	Usage() (Usage, error)
}

// Key names a node: the pubsub service it belongs to and its NodeID.
type Key struct {
	// Service is "" for the nodes at the service's own address, and the
	// bare JID of an account for that account's PEP nodes (XEP-0163: every
	// account is a virtual pubsub service).
	Service string
	Node    string
}

// Node is a node's stored record (XEP-0060 §4.6: leaf nodes only).
type Node struct {
	Key
	Config  Config
	Created time.Time
	Creator string // bare JID of the entity that created it
}

// Affiliation is an entity's affiliation with a node (XEP-0060 §4.1).
type Affiliation struct {
	Key
	JID         string // bare JID
	Affiliation string // AffOwner, AffPublisher, AffPublishOnly, AffMember, AffOutcast
}

// Subscription states of XEP-0060 §4.2 that are stored (none is the
// absence of a subscription).
const (
	SubSubscribed   = "subscribed"
	SubPending      = "pending"
	SubUnconfigured = "unconfigured"
)

// Subscription is one subscription to a node (XEP-0060 §6.1).
type Subscription struct {
	Key
	JID     string // as subscribed: a bare or full JID
	SubID   string // unique within the node
	State   string // SubSubscribed, SubPending or SubUnconfigured
	Options SubOptions
	Created time.Time
}

// Item is a published item (XEP-0060 §7.1).
type Item struct {
	ID        string
	Publisher string    // bare JID of the publisher
	Time      time.Time // when it was published
	// Seq is the store's order of items, assigned by PutItem.
	Seq int64
	// Payload is the item's raw XML as published, byte for byte ("" for an
	// item without payload, and when the read did not ask for payloads).
	Payload string
	// Size is len(Payload) of the stored payload, also when Payload was not
	// read.
	Size int
}

// Page selects a page of nodes (Tx.Nodes).
type Page struct {
	After    string
	Backward bool
	Limit    int
}

// ItemQuery selects a page of items (Tx.Items).
type ItemQuery struct {
	After       string
	OldestFirst bool
	Limit       int
	Payloads    bool
	// IDs, when set, selects these items instead, in this order (ids
	// naming no item are left out); After, OldestFirst and Limit then do
	// not apply.
	IDs []string
}

// Usage is what a store holds, for quotas.
type Usage struct {
	Nodes, Items, Subscriptions int
	// ItemBytes is the bytes of the items' payloads and ids.
	ItemBytes int64
	// Bytes is what the store counts against Limits.MaxStoreBytes: item
	// payloads and ids, and a fixed charge per node, item, subscription
	// and affiliation (see the Cost constants), so that entries without
	// payload are not free.
	Bytes int64
}

// Costs charged in Usage.Bytes for records besides the payload bytes:
// roughly what an entry takes in a store's index.
const (
	CostNode         = 1024
	CostItem         = 128
	CostSubscription = 192
	CostAffiliation  = 96
)

// Errors of a Store (see Store).
var (
	ErrNotFound    = errors.New("pubsub: not found")
	ErrExists      = errors.New("pubsub: node exists")
	ErrReadOnly    = errors.New("pubsub: write in a read-only transaction")
	ErrConflict    = errors.New("pubsub: transaction conflict; retry")
	ErrUnavailable = errors.New("pubsub: store unavailable")
	ErrStoreClosed = errors.New("pubsub: store closed")
)

func noWait() error { return nil }
