// Package jid implements XMPP addresses (JIDs) as defined by RFC 7622, and
// the JID escaping of XEP-0106.
//
// A [JID] is a small comparable value: one canonical string plus two offsets.
// Two JIDs name the same entity exactly when they are equal with ==, because
// every constructor prepares each part as RFC 7622 demands before storing it:
//
//   - the localpart with the PRECIS UsernameCaseMapped profile (RFC 8265 §3.3)
//     and the extra exclusions of RFC 7622 §3.3.1;
//   - the domainpart as an IDNA2008 domain name converted to U-labels
//     (RFC 7622 §3.2, RFC 5891), or an IP literal, with a trailing dot removed;
//   - the resourcepart with the PRECIS OpaqueString profile (RFC 8265 §4.2).
//
// Parsing is fast for the common case: an ASCII address that is already in
// canonical form is checked in one pass without allocating, and the JID keeps
// the string it was given (so parsing a substring of a larger buffer does not
// copy). Only addresses that must change, or that contain non-ASCII text, go
// through PRECIS and IDNA.
//
// The zero JID is "no address": [JID.IsZero] reports it, and it marshals to
// an empty attribute or text.
package jid
