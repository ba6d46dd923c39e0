// Package xmpptest runs an XMPP service's handler tree in tests with no
// external server and no sockets, in the manner of net/http/httptest.
//
// New starts an xmppkit router (package router) with the handler attached
// in-process on the service's domain; Env.Client connects an in-memory
// client (RFC 6120 §7 resource binding without a stream) that sends to the
// service and receives what the service and the router send back. Stanzas
// pass as *stanza.Stanza values, so a test sees exactly what a deployed
// service would put on the wire, minus the serialization. The router applies
// its real rules: unhandled IQs get service-unavailable from the mux,
// unroutable addresses get remote-server-not-found, bare-JID delivery
// follows RFC 6121 §8.5. Everything is closed by t.Cleanup.
package xmpptest
