// Package bridge is a gateway kit: it bridges the users of another chat
// network (the legacy network) to XMPP, as an external component (XEP-0114)
// of Prosody or ejabberd or on xmppkit's embedded router. A bridge author
// implements Network (log one user in) and Session (carry out what the user
// did); the kit does the XMPP side:
//
//   - registration with a data form (XEP-0077, XEP-0004), in several steps
//     through the XEP-0050 command "register" when the network asks for a
//     code (Registrar); accounts in a Store (a journal on disk by default
//     with Config.DataDir, secrets sealed);
//   - a session per user, logged in on the user's first available presence
//     (XEP-0100 §4.1), out when the last client goes, again with backoff
//     after a failure;
//   - puppets: each legacy contact a JID at the gateway (XEP-0106 escaping,
//     Addresser), with presence, nick (XEP-0172), avatar (XEP-0084 served at
//     the puppet, XEP-0153 vCard with the hash in presence), pushed into the
//     user's roster with the XEP-0356 roster privilege or, where the server
//     does not grant it, asking for a subscription (the user is told once);
//   - messages both ways in one model (Event): XEP-0359 ids, corrections
//     (XEP-0308), retractions (XEP-0424), reactions (XEP-0444), replies
//     (XEP-0461), receipts (XEP-0184), read markers (XEP-0333), chat states
//     (XEP-0085), files (XEP-0066 with an Uploader: XEP-0363 or LocalFiles);
//     the user's own messages from the network's other clients shown as
//     theirs through the XEP-0356 message privilege;
//   - group chats as MUC rooms (XEP-0045, package bridge/room) with
//     occupant ids (XEP-0421), history and XEP-0313 (Config.Archive);
//   - the status, registration and XEP-0133 administration commands
//     (XEP-0050), and a degradation report (Gateway.Report, logged at
//     start): which privileges each server granted and how each feature
//     therefore works.
//
// # Calls into the bridge
//
// There are three, and no goroutine of the kit calls anything else:
// Network.Login, Session.Send and Session.Close, all on the user's own
// goroutine, one call at a time per user. The network reports with
// Events.Emit, from any goroutine: it returns once the XMPP server took
// the stanzas (the event is acknowledged) or with the error that says why
// not (ErrClosed, ErrMalformed, the context's, the link's). A network that
// floods one user is paced for that user alone.
//
// # Testing
//
// Package bridge/bridgetest runs a Gateway on the in-memory router with the
// privileges a server grants, and ships an in-memory legacy network;
// docs/bridge.md is the author's guide, with examples/echobridge, a complete
// bridge in under 200 lines.
package bridge
