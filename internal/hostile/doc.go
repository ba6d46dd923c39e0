// Package hostile holds xmppkit's reliability and security tests: a
// catalogue of malformed and hostile inputs (RFC 6120 §4.9 stream errors,
// §8.3 stanza errors, §11 XML restrictions, §13.12 resource limits) sent to
// the router's XEP-0114 and client listeners and, from a fake server, to a
// component; fuzzing seeds live next to each parser; and a soak test that
// runs steady traffic through the router and checks that heap, goroutines
// and delivery stay sound.
//
// The package has no API: everything is in its tests.
//
//	go test ./internal/hostile -run Catalogue -v   # prints the catalogue table
//	XMPPKIT_SOAK=60s go test ./internal/hostile -run Soak -v
package hostile
