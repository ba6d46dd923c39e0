// Package admin implements a set of the XEP-0133 (Service Administration)
// commands that fit an external component: announcing to the online users,
// counting and listing online and registered users, disabling and
// re-enabling users, ending their sessions, and editing the admin list.
//
// Each command is backed by a callback the service provides in
// [Commands]; a command whose callback is nil is not offered. Every command
// exists only for the service's administrators (IsAdmin, XEP-0133 §8): it is
// not listed for anyone else, and executing it is forbidden. The forms and
// fields are those of XEP-0133 §4 and its FORM_TYPE
// http://jabber.org/protocol/admin (§9.2).
package admin

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"xmppkit.dev/command"
	"xmppkit.dev/form"
	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// NS is the XEP-0133 namespace: the FORM_TYPE of its forms and the prefix
// of its command nodes.
const NS = "http://jabber.org/protocol/admin"

// The command nodes of XEP-0133 §4 offered here.
const (
	NodeAnnounce            = NS + "#announce"                  // §4.23
	NodeOnlineUsersNum      = NS + "#get-online-users-num"      // §4.15
	NodeOnlineUsersList     = NS + "#get-online-users-list"     // §4.20
	NodeRegisteredUsersNum  = NS + "#get-registered-users-num"  // §4.13
	NodeRegisteredUsersList = NS + "#get-registered-users-list" // §4.18
	NodeDisableUser         = NS + "#disable-user"              // §4.3
	NodeReenableUser        = NS + "#reenable-user"             // §4.4
	NodeEndUserSession      = NS + "#end-user-session"          // §4.5
	NodeEditAdmin           = NS + "#edit-admin"                // §4.29
)

// Commands are the callbacks a service provides; each non-nil callback
// enables the commands that need it. IsAdmin is required.
type Commands struct {
	// IsAdmin reports whether the entity (a bare JID) administers the
	// service. The commands exist only for those it accepts.
	IsAdmin func(entity jid.JID) bool

	// OnlineUsers returns the users online at the service now: it enables
	// get-online-users-num, get-online-users-list and, with Announce nil,
	// announce (a headline message to each).
	OnlineUsers func(ctx context.Context) ([]jid.JID, error)
	// Announce delivers an announcement (the text's lines joined by "\n")
	// itself, instead of the headline messages to OnlineUsers.
	Announce func(ctx context.Context, admin jid.JID, text string) error
	// RegisteredUsers returns the users registered with the service: it
	// enables get-registered-users-num and get-registered-users-list.
	RegisteredUsers func(ctx context.Context) ([]jid.JID, error)
	// DisableUsers bans the accounts until re-enabled (§4.3): it enables
	// disable-user. EnableUsers reverses it (§4.4, reenable-user).
	DisableUsers func(ctx context.Context, accounts []jid.JID) error
	EnableUsers  func(ctx context.Context, accounts []jid.JID) error
	// EndSessions ends the users' sessions at the service (§4.5): it
	// enables end-user-session.
	EndSessions func(ctx context.Context, accounts []jid.JID) error
	// Admins and SetAdmins read and replace the admin list: together they
	// enable edit-admin (§4.29).
	Admins    func(ctx context.Context) ([]jid.JID, error)
	SetAdmins func(ctx context.Context, admins []jid.JID) error
}

// Add registers the enabled commands on reg, at the service's own
// address. It panics if IsAdmin is nil.
func (c Commands) Add(reg *command.Registry) {
	if c.IsAdmin == nil {
		panic("admin: Commands.IsAdmin is required")
	}
	allow := func(from, to jid.JID) bool {
		return to.Local() == "" && !from.IsZero() && c.IsAdmin(from.Bare())
	}
	add := func(node, name string, h command.Handler) {
		reg.Add(command.Command{Node: node, Name: name, Handler: h, Allow: allow})
	}
	if c.OnlineUsers != nil || c.Announce != nil {
		add(NodeAnnounce, "Send Announcement to Online Users", c.announce())
	}
	if c.OnlineUsers != nil {
		add(NodeOnlineUsersNum, "Get Number of Online Users", count(c.OnlineUsers, "onlineusersnum", "The number of online users"))
		add(NodeOnlineUsersList, "Get List of Online Users", list(c.OnlineUsers, "Requesting List of Online Users", "onlineuserjids", "The list of all online users"))
	}
	if c.RegisteredUsers != nil {
		add(NodeRegisteredUsersNum, "Get Number of Registered Users", count(c.RegisteredUsers, "registeredusersnum", "The number of registered users"))
		add(NodeRegisteredUsersList, "Get List of Registered Users", list(c.RegisteredUsers, "Requesting List of Registered Users", "registereduserjids", "The list of all users"))
	}
	if c.DisableUsers != nil {
		add(NodeDisableUser, "Disable a User", accounts("Disabling a User", "The Jabber ID(s) to disable", c.DisableUsers))
	}
	if c.EnableUsers != nil {
		add(NodeReenableUser, "Re-Enable a User", accounts("Re-Enabling a User", "The Jabber ID(s) to re-enable", c.EnableUsers))
	}
	if c.EndSessions != nil {
		add(NodeEndUserSession, "End User Session", accounts("Ending a User Session", "The Jabber ID(s) for which to end sessions", c.EndSessions))
	}
	if c.Admins != nil && c.SetAdmins != nil {
		add(NodeEditAdmin, "Edit Admin List", c.editAdmin())
	}
}

func formType() form.Field {
	return form.Field{Type: form.Hidden, Var: form.FormTypeVar, Values: []string{NS}}
}

func newForm(title, instructions string, fields ...form.Field) form.Form {
	f := form.Form{Type: form.TypeForm, Title: title, Fields: append([]form.Field{formType()}, fields...)}
	if instructions != "" {
		f.Instructions = []string{instructions}
	}
	return f
}

func result(fields ...form.Field) *form.Form {
	return &form.Form{Type: form.TypeResult, Fields: append([]form.Field{formType()}, fields...)}
}

// jids parses a jid-multi submission (CheckSubmission already vetted the
// syntax) into bare JIDs, without duplicates (XEP-0004 §3.3).
func jids(f *form.Form, name string) ([]jid.JID, error) {
	var out []jid.JID
	for _, v := range f.Values(name) {
		if v == "" {
			continue
		}
		j, err := jid.Parse(v)
		if err != nil {
			return nil, command.BadPayload(v + " is not a JID")
		}
		if !slices.ContainsFunc(out, j.Equal) {
			out = append(out, j)
		}
	}
	return out, nil
}

func (c Commands) announce() command.Handler {
	return &command.Wizard{
		Steps: []command.Step{{Form: newForm("Making an Announcement",
			"Fill out this form to make an announcement to all online users of this service.",
			form.Field{Type: form.TextMulti, Var: "announcement", Label: "Announcement", Required: true})}},
		Done: func(ctx context.Context, r *command.Request, forms []*form.Form) (*command.Response, error) {
			text := strings.Join(forms[0].Values("announcement"), "\n")
			if strings.TrimSpace(text) == "" {
				return nil, command.BadPayload("the announcement is empty")
			}
			if c.Announce != nil {
				if err := c.Announce(ctx, r.From.Bare(), text); err != nil {
					return nil, err
				}
				return command.Done(), nil
			}
			users, err := c.OnlineUsers(ctx)
			if err != nil {
				return nil, err
			}
			sent := 0
			for _, u := range users {
				m := stanza.NewMessage(stanza.TypeHeadline, u, text)
				m.From = r.To
				if err := r.Sender.Send(ctx, m); err == nil {
					sent++
				}
			}
			note := command.InfoNote("Announcement sent to " + strconv.Itoa(sent) + " of " + strconv.Itoa(len(users)) + " online users.")
			if sent < len(users) {
				note.Type = command.NoteWarn
			}
			return command.Done(note), nil
		},
	}
}

func count(users func(context.Context) ([]jid.JID, error), field, label string) command.Handler {
	return command.HandlerFunc(func(ctx context.Context, r *command.Request) (*command.Response, error) {
		us, err := users(ctx)
		if err != nil {
			return nil, err
		}
		return command.Result(result(form.Field{Type: form.TextSingle, Var: field, Label: label, Values: []string{strconv.Itoa(len(us))}})), nil
	})
}

// maxItems is the max_items field of the list commands (§4.18-§4.22).
func maxItems() form.Field {
	f := form.Field{Type: form.ListSingle, Var: "max_items", Label: "Maximum number of items to show"}
	for _, n := range []string{"25", "50", "75", "100", "150", "200"} {
		f.Options = append(f.Options, form.Option{Label: n, Value: n})
	}
	f.Options = append(f.Options, form.Option{Label: "None", Value: "none"})
	return f
}

func list(users func(context.Context) ([]jid.JID, error), title, field, label string) command.Handler {
	return &command.Wizard{
		Steps: []command.Step{{Form: newForm(title, "", maxItems())}},
		Done: func(ctx context.Context, r *command.Request, forms []*form.Form) (*command.Response, error) {
			us, err := users(ctx)
			if err != nil {
				return nil, err
			}
			if v, _ := forms[0].Get("max_items"); v != "" && v != "none" {
				n, _ := strconv.Atoi(v) // one of the options: checked
				if len(us) > n {
					us = us[:n]
				}
			}
			vals := make([]string, len(us))
			for i, u := range us {
				vals[i] = u.String()
			}
			return command.Result(result(form.Field{Type: form.JIDMulti, Var: field, Label: label, Values: vals})), nil
		},
	}
}

func accounts(title, label string, do func(context.Context, []jid.JID) error) command.Handler {
	return &command.Wizard{
		Steps: []command.Step{{Form: newForm(title, "Fill out this form to "+strings.ToLower(title[:1])+title[1:]+".",
			form.Field{Type: form.JIDMulti, Var: "accountjids", Label: label, Required: true})}},
		Done: func(ctx context.Context, r *command.Request, forms []*form.Form) (*command.Response, error) {
			js, err := jids(forms[0], "accountjids")
			if err != nil {
				return nil, err
			}
			if len(js) == 0 {
				return nil, command.BadPayload("no account given")
			}
			if err := do(ctx, js); err != nil {
				return nil, err
			}
			return command.Done(), nil
		},
	}
}

func (c Commands) editAdmin() command.Handler {
	return &command.Wizard{
		Steps: []command.Step{{Build: func(ctx context.Context, r *command.Request, _ []*form.Form) (form.Form, error) {
			admins, err := c.Admins(ctx)
			if err != nil {
				return form.Form{}, err
			}
			vals := make([]string, len(admins))
			for i, a := range admins {
				vals[i] = a.String()
			}
			return newForm("Editing the Admin List", "Fill out this form to edit the list of entities who have administrative privileges.",
				form.Field{Type: form.JIDMulti, Var: "adminjids", Label: "The admin list", Values: vals}), nil
		}}},
		Done: func(ctx context.Context, r *command.Request, forms []*form.Form) (*command.Response, error) {
			js, err := jids(forms[0], "adminjids")
			if err != nil {
				return nil, err
			}
			if err := c.SetAdmins(ctx, js); err != nil {
				return nil, err
			}
			return command.Done(), nil
		},
	}
}
