// Package c2s is the router's client listener: the development and test
// XMPP server for clients (RFC 6120 client-to-server streams over TCP) of
// package router. With it, real clients (slixmpp, Gajim, Conversations,
// package client) log in to a router and talk to the components attached to
// it, with no other server.
//
// It runs the stream negotiation: stream headers (§4), STARTTLS (§5), SASL
// (§6) against the router's accounts (router.Config.Users), resource
// binding (§7); then it hands the stream to the router
// (router.ClientStream), which routes the client's stanzas as the bytes read
// and delivers the local accounts' stanzas by RFC 6121.
//
//	r, _ := router.New(router.Config{Users: map[string]string{"alice@localhost": "pw"}})
//	srv, addr, _ := c2s.Listen(r, "127.0.0.1:5222", c2s.Config{})
//	// clients trust srv.CertPool() (a generated certificate) or Config.TLS
package c2s
