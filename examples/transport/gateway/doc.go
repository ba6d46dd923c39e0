// Package gateway is the IRC side of the XMPP–IRC transport example: a
// mux.Handler to mount on a gateway domain (in-process on the router, or
// through package component on Prosody or ejabberd) that gives each XMPP
// user their own IRC connection per IRC server. The XMPP side of rooms
// (devices, occupants, join sequence, history on join) is package room,
// history storage package archive, settings package settings; this package
// maps IRC to them.
//
// It implements, following the conventions of Biboumi that XMPP clients
// expect (see the README for the whole list):
//   - addresses (Mapper): #chan%server@gw for a channel, nick%server@gw for an
//     IRC user, #chan%server@gw/nick for an occupant, server@gw for a server;
//     the server part may be left out for the default server, and replies
//     come from the spelling the client used; names a localpart cannot hold
//     are escaped with XEP-0106;
//   - XEP-0100 (Gateway Interaction) and XEP-0077 (In-Band Registration);
//   - XEP-0045 (Multi-User Chat): rooms with several devices of one user,
//     moderation (muc#admin to KICK and MODE), the channel modes as a
//     read-only configuration, channel keys, mediated invitations;
//   - XEP-0030 disco, with channel lists (IRC LIST) paged by XEP-0059;
//   - XEP-0050 ad-hoc commands for per-user, per-server and per-channel
//     settings (SASL, TLS pins, after-connect commands, encodings, history,
//     persistence) and an admin command;
//   - XEP-0313 archives of the rooms whose user agreed to recording, and
//     persistent channels that stay joined while the user is offline;
//   - XEP-0092 version and XEP-0199 ping (relayed to IRC users as CTCP),
//     XEP-0410 self-ping;
//   - IRCv3: server-time (XEP-0203), msgid (XEP-0359), echo-message,
//     labeled-response, +draft/reply (XEP-0461), +draft/react (XEP-0444),
//     and XEP-0308 corrections written readably;
//   - IRC over TLS with verification, SASL PLAIN and EXTERNAL, and flood
//     pacing of each user's lines.
package gateway
