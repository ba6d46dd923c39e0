// Package servertest starts real XMPP and IRC servers on loopback for
// integration tests: Prosody and ejabberd as hosts for XEP-0114 external
// components, ngircd as an RFC 2812 IRC network, and slixmpp (Python) as an
// independent XMPP client.
//
// Every server gets a throwaway configuration in a private directory, free
// loopback ports picked at run time (never a default port), a self-signed
// certificate made with crypto/x509, its own process group, and a log file.
// A server counts as ready only when its component port answers a real
// XEP-0114 stream header with a stream header of its own (XEP-0114 §3). It
// is stopped by pid: SIGTERM, then SIGKILL after a deadline.
//
// Two ways to get a server:
//
//   - [Prosody], [Ejabberd], [Ngircd]: a private server for one test,
//     stopped in t.Cleanup. Use these when the test kills or restarts the
//     server ([Server.Kill], [Server.Start], [Server.Restart]).
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
// parallel take a component of their own with [Server.Component].
//
// When a server is not installed the test is skipped with a one-line hint,
// or fails when the environment variable CI is "true" (see [Require]).
package servertest
