// Package mam implements the server side of XEP-0313 (Message Archive
// Management, urn:xmpp:mam:2, version 0.7/0.8) for services: archives of
// a room's history, of a gateway user's conversations, of a pubsub node's
// items (XEP-0442), queried by clients with a data form and paged with
// XEP-0059.
//
// A [Handler] mounted on the handler tree answers the three requests of
// the XEP: the form of supported fields (§4.1.5), a query (§4), whose
// results it sends as messages from the archive, each a <result/> with the
// archived message <forwarded/> (XEP-0297) after a <delay/> (XEP-0203),
// before the IQ result that carries <fin/> with complete, stable and the
// RSM <set/> (§4.2, §4.3), and the metadata query (§5). It checks the
// query before the archive sees it: a field it does not support is
// feature-not-implemented (§4.1.5), a malformed with, start, end or <set/>
// bad-request; the archive's own errors (item-not-found for an unknown id,
// §4.1.3, §4.3.2) pass through. Flipped pages (§4.3.4) are applied by the
// Handler. Access is the Handler's Allow: by default only the archive's own
// user; a room service allows whom the room lets in (§6.1.2).
//
// The storage is an [Archive]: Query(archive, query) returns one page. An
// Archive that also answers Metadata is [Extended], and the Handler then
// offers the urn:xmpp:mam:2#extended features (before-id, after-id, ids,
// flip-page, metadata, §7). [Memory] is an Extended archive in memory,
// bounded per archive, with O(log n) queries; [Journal] keeps the same on
// disk through package journal and survives restarts.
//
// A room (the MUC flavour, §3.3.2 and §6.1.2) archives each message in the
// form [RoomMessage] gives it (from the occupant JID, no to, any forged
// muc#user element removed) under the room's bare JID, and stamps the live
// copy with [StanzaID] (§3.5). XEP-0442 pubsub archives are queried with a
// node: Query.Node reaches the Archive and Allow.
//
// XEP-0441 archiving preferences are served when the Handler has a
// PrefsStore ([MemoryPrefs] in memory): <prefs/> get and set, the
// always/never lists and the default (always, never, roster); the service
// asks [Prefs.Archives] before it archives a message. Without a store,
// <prefs/> is feature-not-implemented (§2.1). The advanced configuration
// command of §2.2 (node urn:xmpp:mam#configure) is the service's to offer
// with package command.
package mam
