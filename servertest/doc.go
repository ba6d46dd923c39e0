// Package servertest starts real servers on loopback for integration
// tests: Prosody and ejabberd as hosts for XEP-0114 external components (and
// a 2-node ejabberd cluster, [EjabberdCluster]), ngircd and InspIRCd as IRC
// networks (RFC 2812; InspIRCd with the IRCv3 extensions Debian ships; both
// optionally over TLS with a throwaway CA), PostgreSQL as a store, and
// slixmpp (Python) as an independent XMPP client.
//
// Every server gets a throwaway configuration in a private directory, free
// loopback ports picked at run time (never a default port), a self-signed
// certificate made with crypto/x509, its own process group, and a log file.
// A server counts as ready only when its component port answers a real
// XEP-0114 stream header with a stream header of its own (XEP-0114 §3), an
// IRC server when its ports take connections (and complete a verified TLS
// handshake), PostgreSQL when it answers a query. It is stopped by pid:
// SIGTERM (SIGINT for PostgreSQL, its fast shutdown), then SIGKILL after a
// deadline. As root, PostgreSQL runs as the postgres user, the others as
// root (ngircd drops to nobody by itself).
//
// ejabberd serves each component domain only on the link that
// authenticated for it (global_routes: false): by default, one link of a
// listener with several hosts would take the stanzas of all of them.
//
// Two ways to get a server:
//
//   - [Prosody], [Ejabberd], [Ngircd], [Inspircd], [Postgres]: a private
//     server for one test, stopped in t.Cleanup. Use these when the test
//     kills or restarts the server ([Server.Kill], [Server.Start],
//     [Server.Restart]).
//   - [Shared]: one server per kind per test binary, started on first use and
//     stopped by [Main] when the binary ends.
//
// A package that uses [Shared] runs its tests through [Main]:
//
//	func TestMain(m *testing.M) { os.Exit(servertest.Main(m)) }
//
// Shared XMPP servers serve the fixed set of [DefaultComponents] (c1.localhost
// to c8.localhost, pubsub.localhost, irc.localhost, all with secret
// [Secret]) and [DefaultUsers] (alice, bob and carol). Tests that run in
// parallel take a component of their own with [Server.Component]; tests
// sharing PostgreSQL take a database of their own with [Server.Database].
//
// When a server is not installed the test is skipped with a one-line hint,
// or fails when the environment variable CI is "true" (see [Require]).
package servertest
