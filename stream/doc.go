// Package stream implements XML streams (RFC 6120 §4) as used by XMPP
// clients, servers and external components (XEP-0114): the namespaces, the
// stream header, stream errors (RFC 6120 §4.9) as Go errors, and a framed
// Reader and Writer over a connection.
//
// A [Reader] is built on the project's XMPP XML scanner: it reads the peer's
// header, then yields one top-level element at a time as its raw bytes with
// the start tag parsed, without allocating; an element that is a stanza is
// decoded into a [stanza.Stanza] with one copy of its bytes. Malformed input
// becomes a [*Error] with the stream error condition to send, and a
// <stream:error/> from the peer becomes a [*Error] with Remote set.
//
// A [Writer] is safe for concurrent use. Writes are queued in a buffer that a
// short-lived flusher goroutine writes out: when the connection is idle each
// stanza goes out at once, and under load everything queued while the
// previous write was in progress goes out in one write call.
package stream
