// Package hostile holds xmppkit's reliability and security tests: a
// catalogue of malformed and hostile inputs (RFC 6120 §4.9 stream errors,
// §8.3 stanza errors, §11 XML restrictions, §13.12 resource limits) sent to
// the router's XEP-0114 and client listeners and, from a fake server, to a
// component; a component against a hostile server (each RFC 6120 stream
// error condition after the handshake, a server that stops reading); the
// limits on unauthenticated connections; fuzzing seeds live next to each
// parser; and a soak test that runs steady traffic through the router and
// checks that heap, goroutines and delivery stay sound. The IRC transport's
// hostile-server tests live with it (examples/transport/irc and gateway,
// TestHostile*), since this package may not import the examples; SECURITY.md
// lists every finding with its test.
//
// The package has no API: everything is in its tests.
//
//	go test ./internal/hostile -run Catalogue -v   # prints the catalogue table
//	XMPPKIT_SOAK=60s go test ./internal/hostile -run Soak -v
package hostile
