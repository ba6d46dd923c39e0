// Package client is a small XMPP client (RFC 6120 client-to-server streams)
// for tests, demos and simple bots: it logs into Prosody, ejabberd or the
// router's c2s listener as a user and then sends and receives stanzas. It is
// not a full client library (no roster cache, no stream management).
//
// [New] negotiates a stream on any net.Conn (a TCP connection from [Dial], or
// one end of net.Pipe for tests without sockets):
//
//  1. the stream header in jabber:client (RFC 6120 §4.7) and the stream
//     features (§4.3.2);
//  2. STARTTLS (§5) when Config.TLS is set (then it is required), followed
//     by a stream restart (§4.3.3);
//  3. SASL (§6) with mellium.im/sasl: the best of SCRAM-SHA-256,
//     SCRAM-SHA-1 and PLAIN that the server offers (or Config.Mechanisms),
//     PLAIN only over TLS unless Config.AllowPlainWithoutTLS; the server's
//     SCRAM signature is verified; then a stream restart;
//  4. resource binding (§7), and the legacy session establishment of
//     RFC 3921 §3 when a server still asks for it without <optional/>.
//
// The resulting [Client] implements mux.Sender: Send writes a stanza, SendIQ
// waits for the answer matched by id and by sender (RFC 6120 §8.2.3), so
// the client calls of packages ping and disco work with it. Other stanzas
// are delivered to Recv, or to Config.Handler when one is set. Close ends
// the stream (§4.4) and waits for the server's closing tag.
//
// A failed SASL exchange is a *SASLError naming the RFC 6120 §6.5 condition
// (errors.Is(err, client.ErrNotAuthorized)); a stream error from the server
// is a *stream.Error; a bind refusal is the *stanza.Error the server sent.
package client
