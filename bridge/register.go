package bridge

import (
	"context"
	"maps"

	"xmppkit.dev/command"
	"xmppkit.dev/jid"
)

// Namespaces of registration (XEP-0077) and of the gateway prompt
// (XEP-0100 §6.3, jabber:iq:gateway).
const (
	NSRegister = "jabber:iq:register"
	NSGateway  = "jabber:iq:gateway"
)

// CommandRegister is the node of the XEP-0050 registration command, which
// runs a Registrar's steps; CommandUnregister removes the registration;
// CommandStatus shows the user's session and the degradation report.
const (
	CommandRegister   = "register"
	CommandUnregister = "unregister"
	CommandStatus     = "status"
)

// xep0077Names are the registration fields XEP-0077 §14.1 names, which
// clients without data forms show.
var xep0077Names = []string{"username", "nick", "password", "name", "first", "last", "email", "address", "city", "state", "zip", "phone", "url", "date", "misc", "text", "key"}

// accountChanged is the Accounts' OnChange: a registration updates (and,
// when its values changed, logs in again) the user's session, and logs in
// the devices known online; a removal logs the user out for good.
func (g *Gateway) accountChanged(ctx context.Context, from jid.JID, acct Account, again, removed bool) {
	if removed {
		if u := g.user(from, false); u != nil {
			u.shutdown("Registration removed")
			u.mu.Lock()
			u.registered = false
			u.devices = nil
			u.acct = Account{JID: u.jid}
			u.mu.Unlock()
		}
		return
	}
	u := g.user(from, true)
	u.mu.Lock()
	changed := u.registered && !maps.Equal(u.acct.Values, acct.Values)
	u.acct, u.registered = acct.clone(), true
	u.stopping = false
	u.mu.Unlock()
	if changed {
		u.post(func(ctx context.Context) {
			u.logout(ctx, "registration changed", false)
			u.login(ctx)
		})
	}
	devices := []jid.JID{}
	if from.Resource() != "" {
		devices = append(devices, from)
	}
	if online, err := g.priv.Online(from.Bare()); err == nil {
		devices = append(devices, online...)
	}
	for _, d := range devices {
		u.deviceOnline(d)
	}
}

// commands fills the gateway's command registry.
func (g *Gateway) commands() {
	g.accounts.AddCommands(&g.cmds)
	g.cmds.Add(command.Command{Node: CommandStatus, Name: "Status", Allow: func(from, to jid.JID) bool { return to.Local() == "" },
		Handler: command.HandlerFunc(g.statusCommand)})
	g.adminCommands()
}
