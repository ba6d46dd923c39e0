// Package pubsub is a XEP-0060 (Publish-Subscribe) service for xmppkit: a
// mux.Handler that answers the pubsub and pubsub#owner protocols, the disco
// queries about them, XEP-0313 archive queries on its nodes (XEP-0442) and
// its ad-hoc commands (XEP-0050), and, with XEP-0355 namespace delegation
// from the host server, its users' PEP (XEP-0163). Its state lives in a
// Store, read and changed in transactions (MemoryStore; FileStore on
// package journal with payloads paged from disk; or a database).
//
// # What works
//
// XEP-0060 section in brackets:
//
//   - discovery of the service, its nodes, node meta-data and node items
//     (§5), node lists and item lists paged with XEP-0059;
//   - subscribe and unsubscribe with subids, several subscriptions per JID
//     (§6.1, §6.2, §6.1.6), subscription options (all the registered
//     fields kept, pubsub#deliver applied) and their defaults (§6.3, §6.4),
//     retrieving one's subscriptions and affiliations (§5.6, §5.7);
//   - retrieving all items, the N most recent, items by id, or a page of
//     them with XEP-0059, newest first (§6.5); an answer larger than
//     MaxResultBytes holds the newest items that fit and says where to page
//     on;
//   - publish with or without an item id, publish-options as preconditions
//     and as the configuration of a node created by the publish
//     (auto-create), retract with or without notify (§7.1, §7.2);
//   - create (named and instant, with a configuration), configure (every
//     field of §16.4.4 accepted and kept; partial forms merge), default
//     configuration, delete with redirect, purge, and the management of
//     subscriptions and affiliations (owner, publisher, publish-only,
//     member, none, outcast) (§8);
//   - the access models open, authorize (pending subscriptions, the §8.6
//     approval form to every owner, approved or denied by submitting it,
//     get-pending §8.7 and a manage-pending command), whitelist, and with
//     the XEP-0356 roster permission presence and roster (the owners'
//     rosters read on their behalf); publish models publishers,
//     subscribers and open;
//   - send_last_published_item never, on_sub and on_sub_and_presence (on
//     every available presence the service receives: directed, or
//     forwarded under the XEP-0356 presence permission), pubsub#itemreply,
//     pubsub#notify_sub, pubsub#item_expire, subscription notifications to
//     subscribers whose state changes (§8.8.4);
//   - PEP (XEP-0163) through XEP-0355: every account of the host server is
//     a virtual service; nodes are auto-created, default to the presence
//     access model, and notify the account's and its contacts' resources
//     whose XEP-0115 capabilities carry +notify, sent from the account's
//     address under the XEP-0356 message permission;
//   - service admins (Options.Admins) and the admin commands list nodes,
//     delete a node and purge a user;
//   - quotas (Limits) and bounds (Options.MaxNodes, MaxItemBytes,
//     MaxSubscriptions), each refused with the XEP-0060 error and a text.
//
// Not implemented: collection nodes (XEP-0248), digests, leased and
// presence-based (tempsub) subscriptions, show-values filtering and
// presence_based_delivery (the options are kept, not applied), message
// bodies (include_body, body_xslt), purge_offline.
//
// # Ordering and durability
//
// Every request runs in one Store transaction. The service commits them
// one at a time and queues each answer with its notifications, in commit
// order, for a single sending goroutine that waits for the Store to say
// the change is durable before it sends them. So every acknowledged
// publish survives a crash (with FileStore), and every subscriber sees the
// events of a node in publish order.
//
// Items are kept as the raw XML their publisher sent, byte for byte, and
// delivered and returned as such.
package pubsub
