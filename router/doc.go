// Package router is an in-process XMPP router: it routes stanzas (RFC 6120
// §8, §10) by the domain of their to address to routes of three kinds:
//
//   - components attached in-process with Router.Attach: a mux.Handler tree
//     mounted on a domain, reached with no socket and no serialization;
//   - external components connecting over TCP with the Jabber Component
//     Protocol (XEP-0114), server side: per-domain secrets compared in
//     constant time, host-unknown for an unserved domain, not-authorized for
//     a wrong secret, a configurable conflict policy and a handshake timeout;
//   - clients bound to full JIDs (RFC 6120 §7), delivered to by the rules of
//     RFC 6121 §8.5: client streams served by a client transport through
//     ClientStream (package router/c2s is the RFC 6120 TCP listener), and
//     in-memory clients (Router.Connect) used by package xmpptest.
//
// # Addressing rules
//
// A stanza to one of the router's own domains (Config.Domains) is answered by
// the router: XEP-0030 disco#info (a server identity and its features),
// disco#items (the connected component domains) and XEP-0199 ping; any other
// IQ get or set gets service-unavailable (RFC 6120 §8.4), and an IQ that
// breaks RFC 6120 §8.2.3 (no id, no or an unknown type, a get or set without
// exactly one payload element) gets bad-request, without id when it had
// none (here and on behalf of an account). A stanza to a local
// account is delivered by RFC 6121 §8.5, with no offline storage: a
// message to the bare JID reaches the available resources of highest
// non-negative priority, or bounces with service-unavailable; an IQ to the
// bare JID is answered by the router for the account (ping, disco#info,
// the roster), to the account itself and to the contacts subscribed to
// its presence only: anyone else, and anyone asking about an account that
// does not exist, gets service-unavailable (RFC 6121 §8.5.1, as Prosody).
//
// # Rosters and presence
//
// Each local account has a roster (RFC 6121 §2: get, set, pushes to the
// resources that asked for it) and the presence subscription state
// machine of §3 (none, to, from, both, pending in and out, pre-approval),
// in memory or, with Config.RosterDir, in a journal. Presence (§4) is
// echoed to the sending resource, broadcast to the user's other available
// resources and to the contacts subscribed to the user (from or both,
// components included: an XEP-0100 gateway learns when its user comes
// online); initial presence probes the contacts the user is subscribed to
// (to or both) and delivers again the subscription requests still
// unanswered; unavailable presence goes to the same and to whoever got
// directed presence. Router.Roster returns an account's roster.
//
// # Other domains
//
// A stanza to a component domain that has a secret (or had an attachment) but no
// connection now gets service-unavailable of type wait ("component not
// connected"). A stanza to any other domain gets remote-server-not-found:
// the router has no server-to-server links (RFC 6120 §10.4.2 without s2s).
// A component stanza without to gets bad-request.
//
// Error replies are never answered with errors (RFC 6120 §8.3.1), and a
// stanza the router cannot deliver and may not answer (an error, an IQ
// result) is dropped, counted in Router.Stats (by reason) and logged at
// Info (at most 20 records at once, then 10 a second, the suppressed ones
// counted in the next record): nothing vanishes without a trace. Presence
// of type error to an account's bare JID reaches its available resources
// (RFC 6121 §8.5.2.1.2, as Prosody does: Biboumi and MUC services send join
// errors that way); a message or IQ error to the bare JID is discarded.
// An in-process component sends on its own initiative through
// Router.Sender.
//
// # Component from addresses
//
// XEP-0114 lets a component send from its domain and any address at it. A
// stanza whose from is at another domain is not routed: the component gets a
// forbidden error reply on its own stream. A stanza without from is routed as
// coming from the component's domain (the router inserts from into the start
// tag), as Prosody does: RFC 6120 §8.1.2.1 has the receiving server stamp the
// sender's address.
//
// # Privileged components and namespace delegation
//
// Config.Privileges grants components XEP-0356 permissions and
// Config.Delegations delegates namespaces to them (XEP-0355), as Prosody's
// mod_privilege and mod_delegation do, in their latest namespaces
// (urn:xmpp:privilege:2, urn:xmpp:delegation:2), so that services built on
// packages privilege and delegation run and are tested with no external
// server. When a component is attached in-process or completes its
// handshake, the router sends it, from each local domain, a <privilege/>
// and a <delegation/> advertisement, the current presence of its accounts
// (presence permission) and the disco#info queries of XEP-0355 §7.2, whose
// answers it adds to its own disco#info while the component is connected.
// Then:
//
//   - roster get and set from the component to an account's bare JID read
//     and change the account's roster (set as the account's own roster
//     set: the subscription stays the server's); every roster change is
//     pushed to the components with roster get or both;
//   - a message to a local domain whose <privilege><forwarded/> holds a
//     message from a bare JID of that domain is routed as sent by it;
//   - a <privileged_iq/> to an account's bare JID runs the iq it holds as
//     the account, and the answer comes back in <privilege><forwarded/>;
//   - the available and unavailable presence of every account resource is
//     sent to the components with the presence permission;
//   - an IQ get or set in a delegated namespace to a local domain or to an
//     account's bare JID (also without to), from anyone but the managing
//     component, is forwarded to it in <delegation><forwarded/>; its answer
//     reaches the requester once it passes the checks servers make (the
//     request's id, to the requester, from the address asked), else the
//     requester gets service-unavailable; a component that is down means
//     service-unavailable, one that does not answer within
//     Config.ForwardTimeout remote-server-timeout.
//
// Anything a component is not granted gets forbidden, as from Prosody.
//
// # Several links for one component domain
//
// A domain listed in Config.Links takes up to that many links at once:
// XEP-0114 connections (one process with component.Component.Links, or
// several processes) and in-process services (Attach), in any mix. Each
// link holds a slot (the lowest free one when it connected), and a stanza
// to the domain goes to the link that the sender's bare JID picks by
// rendezvous hashing over the slots present: one sender's stanzas go to
// one link, in order, and the choice depends only on the slots, not on the
// order the links connected in. An iq result or error goes to the link
// that sent the request, so that its session matches it. The XEP-0356 and
// XEP-0355 advertisements go to every link as it connects, and grants last
// while any link is up.
//
// When a link is lost, its senders wait 250 ms (the component may still be
// handling what the broken connection carried); what its connection had
// not taken yet (a write cut short gives back the stanza it cut) waits with
// them. A link of the domain that connects meanwhile takes the lost link's
// slot and all that waited, so a reconnect moves no sender; otherwise the
// senders and their queued stanzas move to the other links, ahead of
// anything sent later (Stats.Moved counts them). A link that joins takes
// its share of senders at once, but what is routed to it waits until every
// other link answered a ping written behind what it carried (at most 2 s),
// so its first stanza from a sender cannot overtake the sender's earlier
// ones on the old link. A connection beyond Links gets conflict
// (Config.Conflict RefuseNew), or replaces the oldest link (KickOld).
//
// ejabberd balances such a domain (domain_balancing) by hashing the sender
// onto the list of connections each node sees, modulo its length (its
// issue 2215): a link lost or added moves most senders, nodes disagree on
// where a sender goes, and with component_number a lost link's senders
// are dropped until it is back. Rendezvous hashing over slots moves only
// the senders of the slot that changed, every router that sees the same
// slots sends a sender to the same link, and nothing a lost link had
// queued is dropped. What was already written to a connection that breaks
// is lost with it or was processed: XEP-0114 has no acknowledgements.
//
// # Data path and limits
//
// Each socket connection has one reading goroutine and a stream.Writer that
// batches writes. Forwarding between sockets copies the bytes of the scanned
// element into the recipient's write queue and parses only the start tag
// (to, from, type, id); adding a missing from rewrites only the start tag.
// Each connection's write queue is bounded (Config.MaxQueue bytes). A stanza
// for a full queue waits up to Config.SlowTimeout for room, which slows its
// sender (the sender's reading goroutine pauses, so TCP flow control pushes
// back on it); a recipient still behind after that is disconnected with the
// resource-constraint stream error, and the stanza is bounced to its sender
// with resource-constraint. So a stuck peer costs bounded memory, delays its
// senders by at most SlowTimeout, and other connections keep flowing.
// In-process attachments and in-memory clients queue decoded stanzas on
// bounded queues of Config.InProcessQueue stanzas (an attachment's are
// sharded by the sender's bare JID, so the order per sender is kept), with
// the same policy: wait up to SlowTimeout for room, then bounce with
// resource-constraint.
//
// Input limits: Config.Limits bounds each element (policy-violation),
// Config.HandshakeTimeout bounds the time to authenticate
// (connection-timeout), and Config.MaxUnauthPerIP and Config.MaxUnauth bound
// the connections that have not authenticated yet, from one address and in
// all over both listeners (policy-violation).
// Malformed input gets the matching stream error and closes that stream only.
//
// # Observing the router
//
// Router.Stats counts drops, bounces and denials; Config.Metrics reports
// the router's metrics (package metrics: stanzas routed by kind, sessions
// and queued bytes by kind, handshake latency, undelivered stanzas by
// outcome and reason, kicked sessions) into any backend. Router.Peers lists
// the sessions, and Router.Tap hands a development tool every stanza
// routed (package router/console is a web page built on both). A router with
// neither pays a nil check and an atomic load per stanza.
//
// Close sends </stream:stream> (after a system-shutdown stream error) to every
// connection, closes the listeners and waits for every goroutine.
package router
