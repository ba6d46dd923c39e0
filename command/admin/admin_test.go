package admin_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"xmppkit.dev/command"
	"xmppkit.dev/command/admin"
	"xmppkit.dev/disco"
	"xmppkit.dev/form"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/mux/muxtest"
	"xmppkit.dev/stanza"
)

var (
	svc  = jid.MustParse("gw.example")
	root = jid.MustParse("root@example/console")
	eve  = jid.MustParse("eve@example/x")
)

type state struct {
	online   []jid.JID
	disabled []jid.JID
	admins   []jid.JID
}

func setup(t *testing.T) (*state, *mux.ServeMux, *command.Registry) {
	t.Helper()
	st := &state{admins: []jid.JID{root.Bare()}}
	for i := range 30 {
		st.online = append(st.online, jid.MustParse(fmt.Sprintf("u%02d@example", i)))
	}
	var reg command.Registry
	admin.Commands{
		IsAdmin:     func(e jid.JID) bool { return slices.ContainsFunc(st.admins, e.Equal) },
		OnlineUsers: func(context.Context) ([]jid.JID, error) { return st.online, nil },
		DisableUsers: func(_ context.Context, js []jid.JID) error {
			st.disabled = append(st.disabled, js...)
			return nil
		},
		Admins:    func(context.Context) ([]jid.JID, error) { return st.admins, nil },
		SetAdmins: func(_ context.Context, js []jid.JID) error { st.admins = js; return nil },
	}.Add(&reg)
	m := mux.New()
	reg.Register(m)
	disco.New(m).Register(m)
	return st, m, &reg
}

func TestVisibility(t *testing.T) {
	_, m, reg := setup(t)
	ctx := context.Background()
	as := &muxtest.Loopback{Handler: m, From: eve}
	items, err := command.List(ctx, as, svc)
	if err != nil || len(items) != 0 {
		t.Fatalf("a stranger sees %v, %v", items, err)
	}
	if _, err := command.Execute(ctx, as, svc, admin.NodeOnlineUsersNum); !errors.Is(err, stanza.ErrForbidden) {
		t.Fatalf("a stranger executes: %v", err)
	}
	var nodes []string
	for _, it := range reg.List(root, svc) {
		nodes = append(nodes, it.Node)
	}
	want := []string{admin.NodeAnnounce, admin.NodeOnlineUsersNum, admin.NodeOnlineUsersList, admin.NodeDisableUser, admin.NodeEditAdmin}
	if !slices.Equal(nodes, want) {
		t.Fatalf("admin's list %v", nodes)
	}
	// Not offered at other addresses of the service.
	if l := reg.List(root, jid.MustParse("room@gw.example")); len(l) != 0 {
		t.Fatalf("at a room: %v", l)
	}
}

func TestCommands(t *testing.T) {
	st, m, _ := setup(t)
	ctx := context.Background()
	as := &muxtest.Loopback{Handler: m, From: root}

	n, err := command.Execute(ctx, as, svc, admin.NodeOnlineUsersNum)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := n.Form.Get("onlineusersnum"); n.Status != command.Completed || v != "30" || n.Form.FormType() != admin.NS {
		t.Fatalf("count: %+v %+v", n.Payload, n.Form)
	}

	l, err := command.Execute(ctx, as, svc, admin.NodeOnlineUsersList)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Complete(ctx, as, &form.Form{Fields: []form.Field{{Var: "max_items", Values: []string{"7"}}}}); !errors.Is(err, command.ErrBadPayload) {
		t.Fatalf("max_items outside the options: %v", err)
	}
	done, err := l.Complete(ctx, as, &form.Form{Fields: []form.Field{{Var: "max_items", Values: []string{"25"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := done.Form.Values("onlineuserjids"); len(got) != 25 || got[0] != "u00@example" {
		t.Fatalf("list: %v", got)
	}

	a, err := command.Execute(ctx, as, svc, admin.NodeAnnounce)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Complete(ctx, as, &form.Form{}); !errors.Is(err, command.ErrBadPayload) {
		t.Fatalf("empty announcement: %v", err)
	}
	done, err = a.Complete(ctx, as, &form.Form{Fields: []form.Field{{Var: "announcement", Values: []string{"Maintenance", "in 2 minutes"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(done.Notes) != 1 || done.Notes[0].Text != "Announcement sent to 30 of 30 online users." {
		t.Fatalf("announce notes %v", done.Notes)
	}
	sent := as.Recorder.Sent()
	if len(sent) != 30 || sent[0].Type != stanza.TypeHeadline || sent[0].Body() != "Maintenance\nin 2 minutes" || !sent[0].From.Equal(svc) {
		t.Fatalf("announcements: %d, first %v", len(sent), sent[0])
	}

	d, err := command.Execute(ctx, as, svc, admin.NodeDisableUser)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Complete(ctx, as, &form.Form{Fields: []form.Field{{Var: "accountjids", Values: []string{"@@bad"}}}}); !errors.Is(err, command.ErrBadPayload) {
		t.Fatalf("bad jid: %v", err)
	}
	if len(st.disabled) != 0 {
		t.Fatalf("disabled after a bad form: %v", st.disabled)
	}
	if _, err := d.Complete(ctx, as, &form.Form{Fields: []form.Field{{Var: "accountjids", Values: []string{"u01@example", "u02@example", "u01@example"}}}}); err != nil {
		t.Fatal(err)
	}
	if len(st.disabled) != 2 || st.disabled[1].String() != "u02@example" {
		t.Fatalf("disabled %v", st.disabled)
	}

	e, err := command.Execute(ctx, as, svc, admin.NodeEditAdmin)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Form.Values("adminjids"); !slices.Equal(got, []string{"root@example"}) {
		t.Fatalf("admin list shown %v", got)
	}
	if _, err := e.Complete(ctx, as, &form.Form{Fields: []form.Field{{Var: "adminjids", Values: []string{"root@example", "eve@example"}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := command.Execute(ctx, &muxtest.Loopback{Handler: m, From: eve}, svc, admin.NodeOnlineUsersNum); err != nil {
		t.Fatalf("new admin: %v", err)
	}
}
