// Package gateway is the bridge logic of the XMPP–IRC transport example: a
// mux.Handler to mount on a gateway domain (in-process on the router, or
// through package component on Prosody or ejabberd) that gives each XMPP
// user their own IRC connection.
//
// It implements, following the conventions of Biboumi that XMPP clients
// expect:
//   - addresses (Mapper): #chan%server@gw for a channel, nick%server@gw for an
//     IRC user, #chan%server@gw/nick for an occupant, server@gw for a server;
//     the server part is left out for the default server; names a localpart
//     cannot hold are escaped with XEP-0106;
//   - XEP-0100 (Gateway Interaction): the jabber:iq:gateway prompt and
//     translation, the gateway/irc and conference/irc identities;
//   - XEP-0077 (In-Band Registration): nick, optional IRC password and
//     server; change and removal, kept in a Store (JournalStore persists it);
//   - XEP-0030 (Service Discovery): rooms answer disco#info with a conference
//     identity and the MUC feature without connecting to IRC;
//   - a XEP-0045 (Multi-User Chat) subset: join, occupant list with
//     affiliations and roles from NAMES prefixes, self-presence (110), subject,
//     groupchat with reflection, nick changes (303), kicks (307), leaving;
//   - private messages, CTCP ACTION as /me, NOTICE, and stanza errors for IRC
//     error replies (RFC 6120 §8.3.3).
package gateway
