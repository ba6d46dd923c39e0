package privilege_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"xmppkit.dev/internal/itest"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/privilege"
	"xmppkit.dev/router"
	"xmppkit.dev/stanza"
	"xmppkit.dev/xmpptest"
)

// TestInProcess runs a service using the Entity on the embedded router,
// attached in-process with privileges granted by configuration: no server,
// no sockets.
func TestInProcess(t *testing.T) {
	eventually := func(t *testing.T, what string, cond func() bool) {
		t.Helper()
		itest.Eventually(t, 5*time.Second, what, cond)
	}
	var ps pushes
	p := &privilege.Entity{Logger: quiet, OnRosterPush: ps.add}
	m := mux.New()
	p.Register(m)
	env := xmpptest.New(t, "svc.localhost", m, xmpptest.WithPrivileges(router.Privileges{
		Component: "svc.localhost", Roster: "both", Message: "outgoing", Presence: "managed_entity",
		IQ: map[string]string{"urn:xmpp:ping": "get"},
	}, router.Privileges{Component: "re.localhost", Roster: "get"}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g, err := p.Wait(ctx, server)
	if err != nil {
		t.Fatal(err)
	}
	if g.Version != privilege.NS2 || g.Roster != privilege.Both || !g.Message || g.Presence != privilege.ManagedEntity || !g.IQAccess("urn:xmpp:ping").CanGet() {
		t.Fatalf("grants %v", g)
	}
	s := env.Session

	alice := env.Client("alice")
	alice.Available(0)
	bob := env.Client("bob")
	bob.Available(0)
	eventually(t, "alice online", func() bool {
		on, err := p.Online(alice.JID().Bare())
		return err == nil && slices.Contains(on, alice.JID())
	})

	if err := p.SetRosterItem(ctx, s, alice.JID(), privilege.RosterItem{JID: bob.JID().Bare(), Name: "Bob"}); err != nil {
		t.Fatal(err)
	}
	r, err := p.Roster(ctx, s, alice.JID())
	if err != nil || len(r.Items) != 1 || r.Items[0].Name != "Bob" {
		t.Fatalf("roster %v %v", r, err)
	}
	eventually(t, "the roster push", func() bool { return len(ps.list()) == 1 })

	msg := stanza.NewMessage(stanza.TypeChat, bob.JID().Bare(), "from alice's service")
	msg.From = alice.JID().Bare()
	if err := p.SendMessage(ctx, s, msg); err != nil {
		t.Fatal(err)
	}
	if got := bob.ExpectBody("from alice's service"); !got.From.Equal(alice.JID().Bare()) {
		t.Fatalf("bob got %v", got)
	}
	if ans, err := p.SendIQ(ctx, s, alice.JID(), stanza.NewIQ(stanza.TypeGet, jid.JID{}, stanza.Element{Space: "urn:xmpp:ping", Local: "ping"})); err != nil || ans.Type != stanza.TypeResult {
		t.Fatalf("privileged ping: %v %v", ans, err)
	}
	alice.Close()
	eventually(t, "alice offline", func() bool {
		on, _ := p.Online(alice.JID().Bare())
		return len(on) == 0
	})

	// Attached again after a detach, a service is advertised its grants
	// again (the in-process twin of a reconnect).
	p2 := &privilege.Entity{Logger: quiet}
	m2 := mux.New()
	p2.Register(m2)
	for i := range 2 {
		sess, err := env.Router.Attach("re.localhost", m2)
		if err != nil {
			t.Fatal(err)
		}
		g, err := p2.Wait(ctx, server)
		if err != nil || g.Roster != privilege.Get {
			t.Fatalf("attachment %d: %v %v", i, g, err)
		}
		sess.Close(ctx)
		p2.Reset()
	}
}
