// Package stanza implements the three XMPP stanzas of RFC 6120 §8 (message,
// presence, iq) on one shared type, and stanza errors (RFC 6120 §8.3).
//
// A [Stanza] keeps its header (kind, type, id, from, to, xml:lang) parsed
// and its payload as raw XML, with an index of the payload's direct child
// elements. Payloads are unmarshalled lazily with encoding/xml only when a
// handler asks ([Element.Unmarshal], [Stanza.Unmarshal]).
//
// Decoding a stanza costs one copy of its bytes: the header strings, the
// payload and the child index all point into that copy. Encoding
// ([Stanza.AppendXML]) appends to a caller's buffer and allocates nothing
// else.
//
// Children in any content namespace (jabber:client, jabber:server,
// jabber:component:accept) are indexed with namespace "", so a handler looks
// up Child("", "body") whatever the kind of stream the stanza came from.
//
// A stanza error is a Go error, [*Error]; errors.Is matches on the defined
// condition (errors.Is(err, stanza.ErrItemNotFound)) and errors.As finds the
// *Error with its type, text and application condition.
package stanza
