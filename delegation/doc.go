// Package delegation implements the managing entity's side of XEP-0355
// (Namespace Delegation) for an external component: the server forwards
// to the component the IQs of a namespace that its users send to the
// server or to their own bare JIDs (a MAM archive, a PEP service), and the
// component answers them in the server's name.
//
// Both versions the servers speak are supported; the component answers in
// the namespace each server used:
//
//   - [NS1], urn:xmpp:delegation:1 (XEP-0355 v0.4): ejabberd 23.01's
//     mod_delegation.
//   - [NS2], urn:xmpp:delegation:2 (v0.5): Prosody's mod_delegation from
//     prosody-modules, with the v0.5 bare JID discovery delegations
//     [BareDiscoInfo] and [BareDiscoItems].
//
// # Mounting
//
//	d := &delegation.Manager{}
//	m := mux.New()
//	m.HandleIQ(stanza.TypeSet, "urn:xmpp:mam:2", "query", archive) // served for the users
//	d.Register(m)
//
// A [Manager] registered on a mux serves the delegated IQs with that same
// mux: the IQ inside the server's <delegation><forwarded/></delegation>
// (§4.3) reaches the handler registered for its payload as if its sender
// had sent it, with From the user's full JID and To the address the user
// wrote: the user's bare JID (what ejabberd puts, and what the Manager
// sets when Prosody leaves it out, RFC 6120 §10.3.3) or the server's
// domain. [FromContext] tells a handler that the IQ was delegated and by
// which server. The handler answers as usual (a result sent through its
// Sender, or a returned *stanza.Error); the Manager wraps the answer back
// with the from and to each server checks: from the original to (or the
// user's bare JID), to the user, the same id.
//
// Messages a handler sends from the user's bare JID (MAM results, PEP
// notifications) need the XEP-0356 message permission: set Manager.Sender
// to privilege.Entity.OnBehalf.
//
// # Discovery and advertisement
//
// Before delegating a namespace, the server asks the component for
// disco#info on the nodes "urn:xmpp:delegation:N::NS" and
// "urn:xmpp:delegation:N:bare:NS" (§7.2) and merges what it answers into
// its own disco#info; ejabberd delegates only once they are answered with
// a result. The Manager answers them (see Manager.DiscoFeatures): with the
// features its handler advertises for the namespace, and item-not-found
// for a namespace nobody handles, so that ejabberd does not delegate what
// the component cannot serve. Then the server advertises the delegated
// namespaces (§4.1) in a message: [Manager.Delegated], [Manager.Wait],
// [Manager.Changed] and Manager.OnChange expose them.
//
// # Without a server
//
// The embedded router delegates by configuration
// (router.Config.Delegations, xmpptest.WithDelegations) in NS2, as Prosody
// does, including the bare JID disco delegations, and asks the disco
// queries of §7.2 to list the component's features in its own disco#info:
// a service is tested in-process with the same code that runs against a
// server (see Example_router).
//
// # Security
//
// Only the server delegates: a <delegation/> IQ from anyone else gets
// forbidden and never reaches a handler, an advertisement from anyone else
// is ignored, and both are logged (§10). A forwarded IQ addressed to
// another domain than the delegating server's is refused the same way.
//
// # Links
//
// Servers delegate per connection and drop the delegations when the
// component disconnects (ejabberd: for every connection of the domain);
// call [Manager.Reset] from the component's OnLink hook, and the next
// handshake brings them back:
//
//	c.OnLink = func(component.LinkEvent) { d.Reset() }
package delegation
