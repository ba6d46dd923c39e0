// Package mux routes XMPP stanzas (RFC 6120 §8) to handlers, in the manner
// of net/http's ServeMux.
//
// A [Handler] receives each stanza with a [Sender] to answer through. A
// [ServeMux] is itself a Handler: it picks a handler by the stanza's kind,
// type, payload and, for protocols that nest their verb, the payload's
// first child; and it returns what the handler returns. It is a pure
// router: the transport's session (package session) answers errors, by
// one rule for every transport.
//
// # Routing
//
// IQ get and set (RFC 6120 §8.2.3), most specific first:
//
//  1. HandleIQAction(type, namespace, local, action): the type, the
//     payload's namespace and local name, and the local name of the
//     payload's first child element in the same namespace (XEP-0060:
//     <pubsub><publish/><publish-options/></pubsub> is action "publish");
//  2. HandleIQ(type, namespace, local): the type and the payload's
//     namespace and local name;
//  3. HandleIQ(type, namespace, ""): the type and any payload in the
//     namespace;
//  4. HandleFallback(stanza.IQ, h);
//  5. otherwise stanza.ErrServiceUnavailable, which the session answers
//     (RFC 6120 §8.4).
//
// A get or set without exactly one payload element is bad-request
// (RFC 6120 §8.2.3) without reaching any handler. IQ results and errors are
// answers: a Sender's SendIQ consumes those it waits for; the mux returns
// ErrUnhandled for the rest, and the session drops them with a debug log.
//
// Messages (RFC 6121 §5.2.2; no type means "normal"), for the first payload
// child, in document order, whose namespace has a registration:
//
//  1. HandleMessage(type, namespace);
//  2. HandleMessage(AnyType, namespace);
//
// then, for a message no namespace route took:
//
//  3. HandleMessage(type, "");
//  4. HandleMessage(AnyType, "");
//  5. HandleFallback(stanza.Message, h);
//  6. otherwise ErrUnhandled: dropped with a debug log.
//
// Presence (RFC 6121 §4.7.1; no type means available, written ""):
// HandlePresence(type), then HandlePresence(AnyType), then the presence
// fallback, otherwise ErrUnhandled.
//
// A message or presence of type "error" (a bounce, RFC 6120 §8.3) reaches
// only a handler registered for stanza.TypeError, never an AnyType route or
// a fallback, so that a catch-all handler cannot answer a bounce and loop.
//
// # Errors
//
// A handler's error comes back through the mux unchanged, and a panic goes
// through it: the session that called it applies the rule of RFC 6120 §8.3
// (session.ReplyError): a *stanza.Error is the reply, for an IQ get or set
// and for a message or presence alike; any other error and a panic are
// internal-server-error for an IQ get or set and only logged for a message
// or presence; a stanza of type "error" is never answered. Because the mux
// answers nothing itself, a ServeMux mounted inside another one is answered
// once. Registering a route twice, an empty namespace or a nil handler are
// programmer errors: they panic at registration.
//
// # Middleware
//
// A [Middleware] wraps the whole dispatch ([ServeMux.Use], [Chain]): it
// sees every stanza, including those no handler takes (for an unhandled IQ
// get/set the inner handler returns stanza.ErrServiceUnavailable), and the
// handler's error before it becomes a reply. [Logging] is one.
//
// # Service discovery
//
// The mux knows nothing of XEP-0030. [ServeMux.Handlers] lists the
// registered handlers with the IQ namespaces each was registered for, and
// package disco builds its answers from them: a handler advertises
// identities, features, items and forms by implementing disco's provider
// interfaces, and a HandleIQ registration implies its namespace as a
// feature. A service therefore registers its handlers only, and the program
// mounts one disco handler for all of them (disco.New(m).Register(m)), so
// any number of services compose on one ServeMux.
package mux
