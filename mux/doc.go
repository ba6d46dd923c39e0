// Package mux routes XMPP stanzas (RFC 6120 §8) to handlers, in the manner
// of net/http's ServeMux.
//
// A [Handler] receives each stanza with a [Sender] to answer through. A
// [ServeMux] is itself a Handler: it picks a handler by the stanza's kind,
// type and payload, and applies the error rules of RFC 6120 §8.3 and §8.4
// for what no handler takes, for handler errors and for handler panics.
//
// # Routing
//
// IQ get and set (RFC 6120 §8.2.3), most specific first:
//
//  1. HandleIQ(type, namespace, local): the type and the payload's
//     namespace and local name;
//  2. HandleIQ(type, namespace, ""): the type and any payload in the
//     namespace;
//  3. HandleFallback(stanza.IQ, h);
//  4. otherwise a service-unavailable error reply (RFC 6120 §8.4).
//
// A get or set without exactly one payload element gets bad-request
// (RFC 6120 §8.2.3) without reaching any handler. IQ results and errors are
// answers: a Sender's SendIQ consumes those it waits for, and the mux drops
// the rest with a debug log.
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
//  6. otherwise dropped with a debug log.
//
// Presence (RFC 6121 §4.7.1; no type means available, written ""):
// HandlePresence(type), then HandlePresence(AnyType), then the presence
// fallback, otherwise dropped with a debug log.
//
// A message or presence of type "error" (a bounce, RFC 6120 §8.3) reaches
// only a handler registered for stanza.TypeError, never an AnyType route or
// a fallback, so that a catch-all handler cannot answer a bounce and loop.
//
// # Errors
//
// A handler's error becomes an error reply where RFC 6120 owes one:
//
//   - IQ get/set: a *stanza.Error (found with errors.As) is sent as is; any
//     other error, and a panic, becomes internal-server-error, logged.
//   - Message and presence: a *stanza.Error is sent as the handler asked;
//     any other error and a panic are only logged, because an unsolicited
//     internal-server-error on a message or presence helps nobody.
//   - A stanza of type "error" is never answered (RFC 6120 §8.3.1).
//
// A panic in a handler is recovered and logged with its stack; the mux and
// the connection serving it carry on.
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
