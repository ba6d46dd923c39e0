// Package ping implements XEP-0199 (XMPP Ping): a handler that answers
// <ping xmlns='urn:xmpp:ping'/> IQ gets with an empty result (§4, §6), and
// Send, which pings an entity and waits for the answer (§4).
//
// Registering the Handler with a mux.ServeMux advertises urn:xmpp:ping in
// service discovery (XEP-0199 §8), as every HandleIQ registration does.
package ping
