// Package rsm implements XEP-0059 (Result Set Management): the <set/>
// element in the http://jabber.org/protocol/rsm namespace that limits,
// counts and pages large result sets inside other protocols (disco#items,
// pubsub items, MAM archive queries, search).
//
// A requester puts a [Query] in its request: a page size (<max/>, §2.1), a
// position to page forwards from (<after/>, §2.2) or backwards from
// (<before/>, §2.3; empty for the last page, §2.5), or an index (§2.6). A
// responder answers with a [Result]: the UIDs of the first and last items of
// the page, the index of the first one and the size of the whole set
// (§2.2). [First], [Next], [Prev], [Last], [AtIndex] and [CountOnly] build
// the requests; [ParseQuery], [FindQuery] and [ParseResult] read them.
//
// # Answering page requests
//
// [Paginate] answers a Query from any ordered [Source] so that a service
// gets the XEP's rules right without thinking about them:
//
//   - pages are cut by UID, not by offset, so paging forwards through a set
//     that grows never returns an item twice and never skips one that
//     existed when paging began (§2.2);
//   - an <after/> or <before/> UID that names no item is item-not-found
//     (§2.4), unless the UID itself gives the position ([List.Sorted]);
//   - <max>0</max> returns only the count (§2.7), an index past the end an
//     empty page (§2.6), an index on a source without positions
//     feature-not-implemented (§2.6);
//   - the service's own page limit caps whatever the requester asks for
//     (XEP-0313 §4.3.1 relies on this), and a request without <max/> gets a
//     page of that size.
//
// [List] is a Source over a slice: in any order with UIDs looked up one by
// one ([Slice]), or sorted by UID with binary search ([SortedSlice]).
// Services with their own storage (a database with keyset paging)
// implement Source, and [Indexed] when they can locate positions.
//
// Errors a service should send back are *stanza.Error values (bad-request
// for a malformed <set/>, item-not-found, feature-not-implemented), so a
// handler returns them as they are.
package rsm
