// Package version implements XEP-0092 (Software Version): a handler that
// answers jabber:iq:version queries with the software's name, version and,
// optionally, operating system (§2), and Get, which asks a peer.
//
// Registering the Handler with a mux.ServeMux advertises jabber:iq:version
// in service discovery (XEP-0092 §3), as every HandleIQ registration does.
package version
