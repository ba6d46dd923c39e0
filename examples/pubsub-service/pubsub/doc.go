// Package pubsub is a XEP-0060 (Publish-Subscribe) service for xmppkit: a
// mux.Handler that answers the pubsub and pubsub#owner protocols and the
// disco queries about them, with durable storage behind a small Store
// interface (FileStore on journal, or MemoryStore).
//
// Implemented (XEP-0060 section in brackets): discovery of the service, its
// nodes, node meta-data and node items (§5); subscribe and unsubscribe with
// subids, several subscriptions per JID (§6.1, §6.2, §6.1.6), subscription
// options (only pubsub#deliver) at subscribe time, by get/set and their
// defaults (§6.3, §6.4), retrieving one's subscriptions and
// affiliations (§5.6, §5.7), retrieving all items, the N most recent, or
// items by id (§6.5); publish with or without an item id, publish-options
// preconditions, retract with or without notify (§7.1, §7.2); create (named
// and instant, with or without a configuration form), configure (get, submit,
// partial forms merge), default configuration, delete with optional redirect,
// purge, and the management of subscriptions and affiliations (owner,
// publisher, member, none, outcast) (§8). Access models open and whitelist;
// publish models publishers, subscribers and open.
//
// Not implemented: collection nodes (XEP-0248), presence and roster access
// models, authorization of pending subscriptions, subscription options other
// than pubsub#deliver (digests, keywords, expiry), the last-published-item on subscribe, auto-create, result set management
// (XEP-0059), item expiry, and PEP (XEP-0163).
//
// # Ordering and durability
//
// Requests are applied one at a time under one lock. Each change goes to the
// Store; its answer and its notifications are queued, in the order the changes
// happened, for a single sending goroutine that waits for the Store to say the
// change is durable before it sends them. So every acknowledged publish
// survives a crash (with FileStore), and every subscriber sees the events of a
// node in publish order.
//
// Items are kept as the raw XML their publisher sent, byte for byte, and
// delivered and returned as such. An items answer holds at most
// MaxResultBytes of items (the newest that fit), and disco#items on a node
// lists at most its 1000 newest items, so that no answer outgrows what
// servers pass on a component link.
package pubsub
