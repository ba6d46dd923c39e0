package bridge

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"xmppkit.dev/command"
	"xmppkit.dev/command/admin"
	"xmppkit.dev/form"
	"xmppkit.dev/jid"
)

// statusCommand shows the user their session and what their server lets
// the gateway do (the degradation report for their server).
func (g *Gateway) statusCommand(ctx context.Context, r *command.Request) (*command.Response, error) {
	acct, registered := g.cfg.Store.Get(r.From)
	f := &form.Form{Type: form.TypeResult, Title: g.cfg.Name + " status"}
	state := "not registered"
	contacts := 0
	if registered {
		state = "offline"
		if u := g.user(r.From, false); u != nil {
			u.mu.Lock()
			switch u.state {
			case online:
				state = "connected"
			case connecting:
				state = "logging in"
			}
			if u.lastErr != "" && u.state != online {
				state += " (" + u.lastErr + ")"
			}
			contacts = len(u.contacts)
			u.mu.Unlock()
		}
	}
	f.Set(form.Fixed, "session", state)
	f.Field("session").Label = "Session"
	if registered {
		f.Set(form.TextSingle, "contacts", strconv.Itoa(contacts))
		f.Field("contacts").Label = "Contacts"
		f.Set(form.TextSingle, "subscribed", strconv.Itoa(len(acct.Subscribed)))
		f.Field("subscribed").Label = "Contacts you accepted by subscription"
	}
	rep := g.Report(r.From.DomainJID())
	var notes []command.Note
	for _, c := range rep.Capabilities {
		n := command.InfoNote(c.Name + ": " + c.How)
		if !c.Full {
			n = command.WarnNote(c.Name + " (degraded): " + c.How)
		}
		notes = append(notes, n)
	}
	return command.Result(f, notes...), nil
}

// adminCommands adds the XEP-0133 commands for Config.Admins and the
// gateway's own report command.
func (g *Gateway) adminCommands() {
	if len(g.cfg.Admins) == 0 {
		return
	}
	admin.Commands{
		IsAdmin: g.isAdmin,
		OnlineUsers: func(ctx context.Context) ([]jid.JID, error) {
			return g.OnlineUsers(), nil
		},
		RegisteredUsers: func(ctx context.Context) ([]jid.JID, error) {
			var out []jid.JID
			for _, a := range g.cfg.Store.All() {
				out = append(out, a.JID)
			}
			return out, nil
		},
		EndSessions: func(ctx context.Context, users []jid.JID) error {
			for _, j := range users {
				if u := g.loggedIn(j); u != nil {
					u.post(func(ctx context.Context) { u.logout(ctx, "ended by an administrator", true) })
				}
			}
			return nil
		},
	}.Add(&g.cmds)
	g.cmds.Add(command.Command{Node: "report", Name: "Privileges and degraded features",
		Allow: func(from, to jid.JID) bool { return to.Local() == "" && g.isAdmin(from) },
		Handler: command.HandlerFunc(func(ctx context.Context, r *command.Request) (*command.Response, error) {
			servers := map[string]jid.JID{g.hostServer().String(): g.hostServer()}
			for _, gr := range g.priv.All() {
				servers[gr.Server.String()] = gr.Server
			}
			var b strings.Builder
			for _, s := range servers {
				b.WriteString(g.Report(s).String())
			}
			f := &form.Form{Type: form.TypeResult, Title: "Degradation report"}
			f.Fields = append(f.Fields, form.Field{Type: form.TextMulti, Var: "report", Label: "Report", Values: strings.Split(strings.TrimRight(b.String(), "\n"), "\n")})
			f.Set(form.TextSingle, "users", fmt.Sprint(len(g.OnlineUsers())))
			f.Field("users").Label = "Users logged in"
			return command.Result(f), nil
		})})
}

// OnlineUsers returns the users logged in to the network (or logging in).
func (g *Gateway) OnlineUsers() []jid.JID {
	g.mu.Lock()
	us := make([]*user, 0, len(g.users))
	for _, u := range g.users {
		us = append(us, u)
	}
	g.mu.Unlock()
	var out []jid.JID
	for _, u := range us {
		u.mu.Lock()
		if u.state != offline {
			out = append(out, u.jid)
		}
		u.mu.Unlock()
	}
	return out
}
