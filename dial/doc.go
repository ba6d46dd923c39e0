// Package dial opens the TCP (or direct TLS) connections that XMPP streams
// run on.
//
// A [Dialer] dials one address with a context, a per-attempt timeout, TCP
// keepalive and, when TLSConfig is set, direct TLS (TLS from the first byte,
// as opposed to STARTTLS negotiated inside the stream).
//
// [Dialer.DialClient] finds a client-to-server endpoint for an XMPP domain:
// it looks up the _xmpps-client._tcp (XEP-0368, direct TLS) and
// _xmpp-client._tcp (RFC 6120 §3.2.1) SRV records, merges them into one list
// ordered by priority and, within a priority, by a weighted random choice
// (RFC 2782), and tries each target in turn. When the domain publishes no SRV
// record at all it falls back to the domain itself on port 5222
// (RFC 6120 §3.2.2). A lone "." target means the service is decidedly not
// offered; such a list is skipped, and no fallback is tried when nothing else
// is published (RFC 2782, XEP-0368 §5).
//
// Components (XEP-0114) connect to a configured host and port and need only
// [Dialer.DialContext].
package dial
