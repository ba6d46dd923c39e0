// Package command implements XEP-0050 (Ad-Hoc Commands), version 1.2/1.3
// (section numbers as in 1.2): commands a service offers, listed through
// service discovery and run in sessions of one or more stages, usually with
// XEP-0004 data forms.
//
// # Serving commands
//
// A [Registry] holds the commands and is mounted on the handler tree
// (Register); it is also a disco provider, so the one disco.Handler of the
// mux lists the commands under the node http://jabber.org/protocol/commands
// (§2.2) and describes each command's node with the identity
// automation/command-node and the commands and data forms features. A
// [Command] exists only for the requesters and addresses its Allow accepts:
// others do not see it listed and get forbidden when they execute it.
//
// A one-stage command is a function:
//
//	var reg command.Registry
//	reg.HandleFunc("uptime", "Show uptime", func(ctx context.Context, r *command.Request) (*command.Response, error) {
//		return command.Done(command.InfoNote("up " + time.Since(start).String())), nil
//	})
//	reg.Register(m)
//
// A multi-stage command is a [Handler] whose Execute is called for every
// request of the session with the action the requester chose, and keeps its
// state in Session.Data; [Wizard] is such a handler for the common case of
// forms filled one after the other, with prev, next and complete handled.
//
// The Registry enforces the protocol before a Handler sees anything:
// sessions belong to the full JID that started them (§3.3) and time out
// (SessionTimeout), their number is bounded in all and per entity, an
// action must be one of §4.1 (else malformed-action) and allowed by the
// stage's <actions/> (else bad-action, with execute resolved to the stage's
// default as §3.4 describes), an unknown session id is bad-sessionid, an
// ended or timed-out one session-expired, and a data form must satisfy
// XEP-0004 (else bad-payload). Cancel ends a session at any stage
// (§2.4.3). These errors are [Error] values: stanza errors carrying the
// specific condition of §4.4, told apart with errors.Is.
//
// # Running commands on a peer
//
// [List] asks an entity for its commands, [Execute] starts one, and the
// returned [Stage] moves on with Next, Prev, Complete and Cancel; a
// gateway's bridge or a test walks a command this way through any
// mux.Sender.
//
// The XEP-0133 service administration commands are in package
// xmppkit.dev/command/admin.
package command
