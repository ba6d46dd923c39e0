// Package privilege implements the privileged entity's side of XEP-0356
// (Privileged Entity) for an external component: the server grants the
// component access to its users' data, and the component reads and
// writes it on their behalf.
//
// Both versions the servers speak are supported, and the component answers
// each server in the namespace it advertised in:
//
//   - [NS1], urn:xmpp:privilege:1 (XEP-0356 v0.2): ejabberd 23.01's
//     mod_privilege. Roster, message and presence permissions.
//   - [NS2], urn:xmpp:privilege:2 (v0.4): Prosody's mod_privilege from
//     prosody-modules. Adds privileged IQs per namespace and roster pushes.
//
// # Mounting
//
//	p := &privilege.Entity{}
//	m := mux.New()
//	p.Register(m)
//	c := &component.Component{Addr: addr, Domain: "pubsub.example.net", Secret: secret, Handler: m,
//		OnLink: func(component.LinkEvent) { p.Reset() }}
//
// Right after the handshake the server sends a <message/> with a
// <privilege/> listing what it granted (§3.2, §4.2, §6.2). The Entity
// believes only advertisements from the server (the parent domain of the
// component's, or the Entity's Servers): one from anyone else is ignored
// and logged, and it believes no more than an advertisement says (see
// [ParseAdvertisement]). [Entity.Grants], [Entity.Wait], [Entity.Changed]
// and Entity.OnChange expose the result as typed [Grants].
//
// # Operations
//
//   - [Entity.Roster] and [Entity.SetRosterItem]: a user's roster
//     (§3.3; RFC 6121 §2), with the roster permission get, set or both.
//   - Entity.OnRosterPush: roster pushes the server sends for its users
//     (v0.4, with roster get or both and push).
//   - [Entity.SendMessage]: a message from a user's bare JID, or from the
//     server (§4.3), with the message permission "outgoing";
//     [Entity.OnBehalf] wraps a Sender so that such messages go out that
//     way.
//   - [Entity.SendIQ]: an iq on behalf of a user (v0.4 privileged IQ), with
//     the iq permission for the payload's namespace and the iq's type.
//   - [Entity.Online]: which resources of a user are available, from the
//     presences the server forwards with the presence permission
//     managed_entity (its users) or roster (and their contacts) (§6).
//
// Each fails without sending anything, with an error matching
// [ErrNotGranted] (a [*NotGrantedError] naming the privilege), when the
// server did not grant what it needs; a refusal by the server (forbidden)
// matches ErrNotGranted too. A service tests for it and degrades:
//
//	r, err := p.Roster(ctx, c, user)
//	if errors.Is(err, privilege.ErrNotGranted) {
//		// no roster access: treat every contact as a stranger
//	}
//
// # Links
//
// Servers grant privileges per connection: they revoke them when the
// component disconnects and advertise again after the next handshake.
// Call [Entity.Reset] from the component's OnLink hook, so that the Entity
// forgets them until the new advertisement:
//
//	c.OnLink = func(component.LinkEvent) { p.Reset() }
//
// # Without a server
//
// The embedded router grants privileges by configuration
// (router.Config.Privileges, xmpptest.WithPrivileges) in NS2, as Prosody
// does, and also sends the roster pushes of v0.4: a service is tested
// in-process with the same code that runs against a server.
//
// # What the servers do
//
// ejabberd 23.01 has no iq permission (SendIQ fails with ErrNotGranted),
// sends no roster pushes, and answers a roster set on behalf with
// internal-server-error (its mod_roster looks the component's host up as
// a virtual host). Prosody's mod_privilege sends no roster pushes either
// (its README says so), and its privileged IQ for jabber:iq:roster fails
// with internal-server-error: use Roster and SetRosterItem for rosters.
// Both forward available and unavailable presences of their users.
package privilege
