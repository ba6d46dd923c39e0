// Package room is the XMPP side of a bridged group chat: a XEP-0045
// (Multi-User Chat) room as one XMPP user sees it through a gateway, where
// the chat itself lives on another network (an IRC channel, for the
// transport example). Nothing in it knows IRC: a gateway feeds it the other
// network's events (someone joined, left, was renamed, spoke, changed the
// subject) and it sends the XMPP stanzas, in the order XEP-0045 sets, to
// every device (full JID) of the user that joined the room.
//
// What it does:
//   - several devices of one user in one room, sharing one nick
//     ("multi-session", XEP-0045 §7.2.1 leaves it to the service): each
//     device that joins gets the occupant list, its self-presence (status
//     110, 210 when the nick differs from the one it asked for), the
//     discussion history it asked for (§7.2.14) and the subject (§7.2.15);
//     everything after that goes to every device;
//   - each device keeps the room address it joined with (Device.Room): two
//     spellings of one legacy chat stay two rooms from the client's point
//     of view, and every answer comes from the address that client used;
//   - occupant presence with muc#user items (§17.2), nick changes (303),
//     kicks (307), bans (301), removal on shutdown (332) or a technical
//     problem (333), actors and reasons (§9.2);
//   - XEP-0410 self-ping answers (HandlePing);
//   - parsing of the XMPP requests a gateway maps to the other network:
//     join (§7.2: password, history request), admin changes (§8, §9:
//     kick, voice, moderator, ban), and mediated invitations (§7.8.2).
//
// A Room is not safe for concurrent use: a gateway drives each room from
// one goroutine (the user's session loop in the transport example).
package room
