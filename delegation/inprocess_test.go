package delegation_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"xmppkit.dev/internal/itest"
	"xmppkit.dev/jid"
	"xmppkit.dev/router"
	"xmppkit.dev/xmpptest"
)

// TestInProcess runs the archive service of the integration test on the
// embedded router with MAM delegated and the message privilege granted by
// configuration: no server, no sockets.
func TestInProcess(t *testing.T) {
	svc := newService(&itest.LogRecords{})
	env := xmpptest.New(t, privDomain, svc.m,
		xmpptest.WithDelegations(router.Delegation{Namespace: nsMAM, Component: privDomain},
			router.Delegation{Namespace: nsPubSub, Component: privDomain}),
		xmpptest.WithPrivileges(router.Privileges{Component: privDomain, Message: "outgoing"}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := svc.d.Wait(ctx, server, nsMAM); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.p.Wait(ctx, server); err != nil {
		t.Fatal(err)
	}
	alice := env.Client("alice")
	alice.Available(0)
	ans, err := alice.SendIQ(ctx, mamQuery(alice.JID().Bare(), "q1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ans.Child(nsMAM, "fin"); !ok || !ans.From.Equal(alice.JID().Bare()) {
		t.Fatalf("answer %v", ans)
	}
	msg := alice.ExpectMessage()
	if !msg.From.Equal(alice.JID().Bare()) || !strings.Contains(msg.Payload(), "archived hello") {
		t.Fatalf("result message %v", msg)
	}
	if i := svc.lastTo.Load(); i == nil || *i != "alice@localhost" {
		t.Fatalf("the handler saw to %v", i)
	}
	// To the server, and without to (the router answers as asked: from
	// nobody).
	for _, to := range []jid.JID{jid.MustParse("localhost"), {}} {
		ans, err := alice.SendIQ(ctx, mamQuery(to, "q2"))
		if err != nil || !ans.From.Equal(to) {
			t.Fatalf("to %q: %v %v", to, ans, err)
		}
		alice.ExpectMessage()
	}
	_, err = alice.SendIQ(ctx, mamQuery(jid.JID{}, "bad"))
	if !strings.Contains(err.Error(), "item-not-found") {
		t.Fatalf("refused query: %v", err)
	}
	if n := svc.handled.Load(); n != 4 {
		t.Fatalf("%d delegated IQs handled, want 4", n)
	}
}
