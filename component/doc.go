// Package component is the client side of the Jabber Component Protocol
// (XEP-0114): an external component that connects to an XMPP server
// (Prosody, ejabberd, Openfire, or xmppkit's router), authenticates with a
// shared secret, and serves a [mux.Handler] for every stanza addressed to its
// domain, in the manner of net/http's Server.
//
//	c := &component.Component{
//		Addr:    "127.0.0.1:5347",
//		Domain:  "echo.example.net",
//		Secret:  os.Getenv("SECRET"),
//		Handler: m, // a *mux.ServeMux
//	}
//	err := c.Run(ctx) // connects, serves, reconnects until ctx ends
//
// # Handshake (XEP-0114 §3)
//
// The component sends a stream header in the jabber:component:accept
// namespace with to set to its domain; the server answers with a header that
// must be in the same namespace and carry an id (neither Prosody nor
// ejabberd sends a version); the component sends <handshake/> with the
// lowercase hex SHA-1 of id+secret, and the server answers with an empty
// <handshake/>. The secret is never logged.
//
// # Errors
//
// A failed connection or handshake is told apart with errors.Is and
// errors.As:
//
//   - stream.ErrNotAuthorized: wrong secret (ejabberd also says this for an
//     unconfigured domain);
//   - stream.ErrHostUnknown: the server serves no such component (Prosody);
//   - stream.ErrConflict: the domain is already connected (Prosody);
//   - [ErrDisconnected]: the connection dropped, timed out or was refused;
//   - [ErrBadServer]: the server's answer was not a valid XEP-0114 answer.
//
// Each server error is a *stream.Error (errors.As). not-authorized and
// host-unknown are permanent ([IsPermanent]): Run returns them at once.
// Everything else (conflict, network failures, a server restart) is retried
// with capped, jittered exponential backoff (BackoffBase doubling up to
// BackoffMax, each delay drawn uniformly from its upper half).
//
// Bad input from the server on an established stream (XML that is not
// well-formed, restricted XML, a limit of Limits exceeded) ends the link
// with the matching stream error, sent to the server before the component
// closes its stream (RFC 6120 §4.9.1.1), and LastError wraps [ErrBadServer]
// and that *stream.Error; Run then reconnects as after any link loss. A
// top-level element that is not a stanza is ignored, logged at Debug and
// counted in Stats.IgnoredElements: the server is the trusted side of
// XEP-0114 and may send extension elements (RFC 6120 §4.9.3.20's
// unsupported-stanza-type is what a server tells a misbehaving client).
//
// # Concurrency
//
// The component is dial + handshake + reconnect over package session,
// the runtime it shares with the router's in-process services, xmpptest and
// package client: the same workers, deadlines, error replies, iq matching
// and error values. Per connection, one goroutine reads. Received stanzas
// run in a pool of Workers goroutines, sharded by the sender's bare JID:
// stanzas from one sender reach the handler in the order the server sent
// them, while senders are served in parallel. A handler may call SendIQ
// (or SendConfirmed) and wait, because answers are matched by the reading
// goroutine, not by a worker; when a worker's queue (WorkerQueue) is full,
// its stanzas overflow into a list bounded by Workers×WorkerQueue stanzas in
// all, and only when that is full too does the reader stop reading, so that
// TCP flow control pushes back on the server: memory stays bounded.
// HandlerTimeout bounds each handler's context. That context ends at the
// call's deadline or when the component is aborted, but not when the
// handler returns (workers reuse it, so that a call allocates nothing):
// work a handler leaves running needs a context of its own.
// session.LinkID(ctx) tells a handler which link its stanza came on (see
// OnLink).
//
// # Sending and what happens to a stanza when the link dies
//
// Send encodes the stanza in the caller's goroutine (adding from and, for an
// IQ, an id) into the outbound buffer. When the link is idle, the caller
// writes it at once; while a write is in progress or received stanzas wait
// for the handlers, it leaves the write to the link's flusher, which writes
// everything that accumulated in one call: under load many stanzas share a
// system call, with no goroutine handoff when idle. Send returns nil once
// its stanza is written or queued; it waits only while MaxQueue bytes (1 MiB)
// are queued, up to its context (a stanza of any size is admitted while less
// is queued, so the largest stanza a server accepts always gets through).
// Nothing is dropped unseen: a stanza whose own write failed is returned to
// its caller as an error wrapping [ErrNotSent] (and the cause: the
// connection loss, [ErrClosed], the context); one that was queued and then
// could not be written is passed to SendFailed, logged, and counted in
// Stats.SendFailed. SendIQ and SendConfirmed wait for their own write.
//
// When the link dies, a stanza whose write failed is reported and never
// re-sent by the component (it may have been partly received; re-sending
// is the caller's call). Stanzas still queued were never attempted: they
// stay queued and go out on the next connection; Sends made while
// disconnected queue the same way. SendIQ calls waiting for an answer when
// the link dies fail with [ErrDisconnected]: the answer, if any, went to the
// old connection. "Written" means accepted by the local TCP stack; without
// stream management (which XEP-0114 lacks) a stanza written just before the
// server crashed can still be lost, and only an application level
// acknowledgement (an IQ answer) proves delivery.
//
// # Confirmed sends
//
// SendConfirmed (or Send with ConfirmSends set) provides that
// acknowledgement: a server handles the stanzas of one stream in order, so
// once an XEP-0199 ping written after a stanza on the same connection is
// answered (result or error), the stanza was processed (routed, stored or
// bounced). One barrier ping confirms every stanza written before it, so
// concurrent senders share a round trip. The call returns nil only after
// that answer; an error wrapping [ErrNotSent] when the stanza was never
// written; and an error wrapping [ErrUnconfirmed] when it was written but
// the link died, the ping went unanswered within PingTimeout, or the
// context ended first: the server may or may not have it. A caller that
// resends on error gets at-least-once delivery (duplicates are possible).
// The guarantee ends at the server: a crash after the server handed the
// stanza to a recipient's connection can still lose it there.
//
// # Several links
//
// With Links set above 1 the component keeps that many connections to the
// server for its one domain, each dialing, authenticating and reconnecting
// on its own; a server that balances a domain over its connections then
// spreads the load, and the component keeps serving when one link is lost.
// Everything else is shared: one session, so the stanzas of one sender are
// handled in order whichever link they came on, and one iq tracker, so the
// answer to a request sent on one link may arrive on another (ejabberd
// balances answers like any stanza). Several processes may each run a
// Component for the same domain too; then only the server links them (see
// below for what that costs).
//
// Outgoing stanzas are spread by recipient: each goes to the link that the
// recipient's bare JID picks by rendezvous hashing among the links up, so
// one recipient's stanzas leave on one link, in order. When a link is lost
// the recipients it served move to the others, and what it had queued and
// not yet written moves with them, ahead of anything sent later; what it
// was writing is reported as usual (SendFailed, or the caller's error).
// A lost link's recipients wait 250 ms first (their stanzas queue), since
// the server may still be handling what the broken connection carried: a
// link that comes back in that time keeps them, and is written to no
// earlier than that. When a link comes back later it takes its recipients
// back only after a ping written on each other link behind what they
// carried was answered, so the server has processed those stanzas first:
// a server handles its connections in parallel, and a stanza on the new
// link could otherwise overtake an older one on the old. Stats.Links counts the links up;
// LinkEvent.Slot and LinkEvent.LinksUp say which link changed and how many
// are up.
//
// What the server must be told, and what it does:
//
// ejabberd accepts several connections for one domain. Without
// domain_balancing it sends each stanza to a random connection (no
// per-sender order) or, in a cluster, to the connection on the node the
// sender is on. Configure it per domain, at the top level of ejabberd.yml:
//
//	domain_balancing:
//	  "pubsub.example.net":
//	    type: bare_source
//	    component_number: 2   # = the connections: Links, times the processes
//
// bare_source keeps each sender on one connection. component_number must
// equal the number of connections: with fewer up, the stanzas of senders
// that hash to an empty slot are dropped silently (so keep every link up:
// the component reconnects each at once), and a connection beyond it is
// accepted but never gets a stanza. In a cluster, put one connection on
// each node (a Component per node, or a TCP balancer in front of the
// nodes' component ports): XEP-0355 delegated IQs and XEP-0356 presences
// reach only a connection on the node the user is on. With a type but
// without component_number, ejabberd 23.01 keeps one of the connections
// (its router sorts them by slot, which is unset for all, and keeps the
// first): everything goes to one, the others stand by; with
// component_number it hashes onto fixed slots, stable across the cluster
// but lossy while a slot is empty. docs/scaling.md has the details.
//
// Privileges and delegations belong to the domain: when any one of its
// connections closes, ejabberd revokes them all until a connection logs in
// again, and then advertises them again, on any of the connections. So with
// several links, reset a privilege.Entity when a link is lost, not when one
// comes up (the new advertisement may arrive on another link before the
// returning link's Up event):
//
//	c.OnLink = func(ev component.LinkEvent) {
//		if !ev.Up {
//			p.Reset()
//		}
//	}
//
// Prosody takes one connection per component domain and refuses a second
// with the conflict stream error (with component_conflict_resolve =
// "kick_old" it replaces the first instead). Use Links 1 there; a larger
// Links keeps one link up and retries the others, logging the refusal.
//
// xmppkit's router (package router) takes several links for the domains
// of its Config.Links and balances by a consistent hash of the sender's
// bare JID over slots that survive reconnects, sends iq answers to the
// link that asked, and moves a lost link's senders and queue to the
// others; see its documentation.
//
// Several processes (instances on several machines) work the same way on
// the server's side, but each has its own tracker: an iq answer the server
// balances to another process's link is lost to the requester, whose
// SendIQ times out. Keep requests to where a timeout is acceptable, or run
// one process with several links.
//
// # Keepalive and liveness
//
// After KeepAlive without any write, the writer sends a single space
// (RFC 6120 §4.6.1). With PingInterval set, the component also sends an
// XEP-0199 ping to the server (PingTo) at that interval; no answer within
// PingTimeout declares the link dead, and the component reconnects.
//
// # Shutdown
//
// Close is the graceful stop: it stops taking stanzas from the server, lets
// the handlers finish what they have (they may still send), writes what is
// queued, sends </stream:stream>, waits briefly for the server's, and
// closes the connection; then Run returns nil. The end of Run's context
// starts the same stop (bounded by StopTimeout), so
//
//	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
//	defer stop()
//	if err := c.Run(ctx); err != nil { // nil after ^C
//		log.Fatal(err) // a permanent failure: wrong secret, unknown domain
//	}
//
// is a whole program's lifecycle. Close waits for the handlers, so a
// handler that wants to stop the component calls Close in a new goroutine.
package component
