// Package session is the runtime under every xmppkit transport: the same
// code serves a component connected to Prosody or ejabberd (package
// component), a service attached in-process to xmppkit's router (package
// router), the in-memory clients of package xmpptest, and the c2s client of
// package client. A handler therefore behaves the same on all of them, in
// its happy path and in its errors.
//
// A Session is the mux.Sender that handlers receive. Its contract:
//
// # Ordered workers
//
// Received stanzas are handled on Config.Workers goroutines, sharded by
// the sender's bare JID: the stanzas of one sender reach the handler in
// the order they arrived (XMPP orders stanzas per sender and recipient,
// RFC 6120 §10.1), while senders are served in parallel. Each worker has a
// queue of Config.WorkerQueue stanzas; when it is full, the transport's
// Receive waits (TCP then pushes back on the peer), up to
// Config.ReceiveWait (the router then bounces the stanza with
// resource-constraint).
//
// # Deadline and panics
//
// Each handler call gets a context that ends Config.HandlerTimeout after
// the call started (default 60 s; its Deadline says when), or when the
// session is aborted. Workers reuse one context from call to call, so a
// call allocates nothing, and such a context is not cancelled when the
// handler returns: work a handler leaves running needs a context of its
// own. A panic in a handler is recovered, logged with its stack and
// counted (Stats.HandlerPanics); the worker carries on.
//
// # Error replies
//
// What a handler returns becomes an error reply by one rule, ReplyError
// (RFC 6120 §8.3): a *stanza.Error is sent as the reply; any other error, a
// panic, or a handler that gave up at its deadline is internal-server-error
// for an iq get or set (a request is always answered) and only logged for a
// message or presence; mux.ErrUnhandled (a message or presence nobody
// takes) is dropped with a Debug log; a stanza of type error and an iq
// result are never answered. A received stanza that breaks RFC 6120 §8
// (found when decoding it: an iq without id, a get or set without exactly
// one payload, a malformed address) is answered with the decoder's
// bad-request or jid-malformed and never reaches the handler. mux.ServeMux
// only routes: it returns service-unavailable for an unrouted iq get or set
// and mux.ErrUnhandled for the rest, and the session answers.
//
// # Outgoing stanzas
//
// Send, SendIQ and SendConfirmed check every stanza the same way: a message,
// presence or iq; an iq of a known type, with an id on a result or error (a
// get or set without id gets one); from: a service (Config.Client false)
// sends from its domain or an address at it (none means the domain,
// XEP-0114 §3), a client from its own full or bare JID or none (the server
// stamps it, RFC 6120 §8.1.2.1). The caller's stanza is never modified.
//
// # Matching iq answers
//
// SendIQ waits for the answer to an iq get or set (RFC 6120 §8.2.3): an iq
// of type result or error (a message or presence with the same id is no
// answer) with the request's id, from the address the request was sent to,
// compared as a JID (case-folded by JID preparation, never as raw text).
// For a client, a request without to or to its own bare JID is handled by
// the server on behalf of the account (RFC 6120 §10.3.3), and its answer
// may come with no from, from the bare JID, the full JID or the domain. An
// iq with the right id from anyone else is no answer: it goes to the
// handler (a ServeMux drops iq results nobody waits for). A service's
// SendIQ needs a to (ErrBadStanza without one).
//
// Duplicate ids: SendIQ refuses an id that is already waiting for an
// answer (ErrBadStanza) instead of replacing the first waiter, because
// the answer could not be told apart; ids made by SendIQ (stanza.NewID) are
// unique. The answer to a request the peer got on a link that has since
// been lost can no longer arrive: such a SendIQ fails with an error
// wrapping ErrDisconnected, while a request still queued waits for the next
// link.
//
// # The send path
//
// A byte-stream transport (a component, a client) writes through a Writer:
// Send encodes the stanza into one buffer shared by every sender and
// returns; no goroutine handoff happens when the link is idle: the sender
// writes in its own goroutine. Under load (a write is in progress, or
// other received stanzas wait for the handlers) it leaves the write to the
// link's flusher goroutine, so that one write system call carries many
// stanzas; the more load, the fewer calls. Send returns nil once its stanza
// is written or queued. Nothing is lost unseen: a stanza whose own write
// failed is returned to its caller (ErrNotSent); one that was queued and
// then could not be written (the link died under it, the session closed
// first) is passed to Config.SendFailed, logged and counted in
// Stats.SendFailed. What is queued while no link is up goes out on the next
// link. The queue is bounded in bytes (WriterConfig.MaxQueue, 1 MiB):
// Send waits while it is full, but a stanza of any size fits into a queue
// holding less, so the largest stanza a stream allows (512 KiB) always gets
// through. SendIQ and SendConfirmed wait for the write itself.
//
// SendConfirmed goes further: it returns nil only once the peer has
// processed the stanza (a component proves it with an XEP-0199 ping
// written after it and answered; an in-process route is synchronous), and
// ErrUnconfirmed when that could not be proven, so that a caller that
// resends gets at-least-once delivery.
//
// # Errors
//
// Every transport returns the same error values (ErrClosed, ErrDisconnected,
// ErrNotSent, ErrBadStanza, ErrBadFrom, ErrUnconfirmed), re-exported by
// packages component, router and client under the same names, so
// errors.Is works whatever carried the stanza.
//
// # Stopping
//
// Close is the one graceful stop: it stops taking received stanzas, waits
// for the handlers to finish what was queued (they may still send), lets
// the transport write what is queued and close its stream, and then fails
// what still waits (SendIQ with ErrClosed). A component's Run calls it when
// its context ends, and then returns nil: a requested stop is no failure.
package session
