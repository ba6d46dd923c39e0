package delegation_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"xmppkit.dev/delegation"
	"xmppkit.dev/disco"
	"xmppkit.dev/internal/itest"
	"xmppkit.dev/jid"
	"xmppkit.dev/mam"
	"xmppkit.dev/mux"
	"xmppkit.dev/mux/muxtest"
	"xmppkit.dev/privilege"
	"xmppkit.dev/router"
	"xmppkit.dev/stanza"
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

// TestWithMAM composes delegation with package mam's Handler on a Memory
// archive: the server's disco queries are answered with what the Handler
// offers a user at its own account, and a user's query is answered from
// its archive, the results sent from its account by the privilege.
func TestWithMAM(t *testing.T) {
	p := &privilege.Entity{Logger: quiet}
	d := &delegation.Manager{Sender: p.OnBehalf, Logger: quiet}
	archive := &mam.Memory{}
	m := mux.New()
	(&mam.Handler{Archive: archive}).Register(m)
	p.Register(m)
	d.Register(m)

	// The disco answers a server gets (XEP-0355 §7.2).
	rec := &muxtest.Recorder{}
	for _, c := range []struct{ node, want string }{
		{"urn:xmpp:delegation:1::urn:xmpp:mam:2", "<feature var='urn:xmpp:mam:2'/></query>"},
		{"urn:xmpp:delegation:1:bare:urn:xmpp:mam:2", "<feature var='urn:xmpp:mam:2'/><feature var='urn:xmpp:mam:2#extended'/></query>"},
	} {
		q, _ := stanza.Decode([]byte(`<iq from='localhost' to='priv.localhost' type='get' id='d'><query xmlns='http://jabber.org/protocol/disco#info' node='` + c.node + `'/></iq>`))
		_ = muxtest.Serve(context.Background(), m, rec, q)
		if got := rec.Last().Payload(); !strings.HasSuffix(got, c.want) {
			t.Errorf("%s: %s, want ...%s", c.node, got, c.want)
		}
	}

	env := xmpptest.New(t, privDomain, m,
		xmpptest.WithDelegations(router.Delegation{Namespace: mam.NS, Component: privDomain}),
		xmpptest.WithPrivileges(router.Privileges{Component: privDomain, Message: "outgoing"}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Wait(ctx, server, mam.NS); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(ctx, server); err != nil {
		t.Fatal(err)
	}
	alice := env.Client("alice")
	alice.Available(0)
	hello := stanza.NewMessage(stanza.TypeChat, alice.JID().Bare(), "hello from bob")
	hello.From = jid.MustParse("bob@localhost/rb")
	if _, err := archive.Append(alice.JID().Bare(), mam.Message{With: hello.From.Bare(), Stanza: hello}); err != nil {
		t.Fatal(err)
	}
	ans, err := alice.SendIQ(ctx, stanza.NewIQ(stanza.TypeSet, alice.JID().Bare(), stanza.NewBuilder(mam.NS, "query").Attr("queryid", "q1").Element()))
	if err != nil {
		t.Fatal(err)
	}
	if fin, ok := ans.Child(mam.NS, "fin"); !ok || !strings.Contains(fin.XML(), "complete='true'") {
		t.Fatalf("answer %v", ans)
	}
	res := alice.ExpectMessage()
	if !res.From.Equal(alice.JID().Bare()) || !strings.Contains(res.Payload(), "hello from bob") || !strings.Contains(res.Payload(), "queryid='q1'") {
		t.Fatalf("result %v", res)
	}
	// The router listed the Handler's features for the users' accounts.
	info, err := disco.GetInfo(ctx, alice, alice.JID().Bare(), "")
	if err != nil || !info.HasFeature(mam.NSExtended) {
		t.Fatalf("alice's account disco: %v %v", info, err)
	}
}

// TestDelegatedPerSender: every delegated iq comes from the server, yet a
// slow one from alice does not hold up bob's: the Manager dispatches the
// inner iq onto its real sender's worker (session.Dispatch).
func TestDelegatedPerSender(t *testing.T) {
	const nsSlow = "urn:xmppkit:test:slow"
	release := make(chan struct{})
	m := mux.New()
	d := &delegation.Manager{Logger: quiet}
	m.HandleIQFunc(stanza.TypeGet, nsSlow, "query", func(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
		if _, ok := delegation.FromContext(ctx); !ok {
			return stanza.NewError(stanza.Forbidden, "only through delegation")
		}
		if iq.From.Local() == "alice" {
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return s.Send(ctx, iq.Result())
	})
	d.Register(m)
	env := xmpptest.New(t, privDomain, m,
		xmpptest.WithDelegations(router.Delegation{Namespace: nsSlow, Component: privDomain}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Wait(ctx, server, nsSlow); err != nil {
		t.Fatal(err)
	}
	query := func(c *xmpptest.Client) error {
		_, err := c.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, c.JID().Bare(), stanza.Element{Space: nsSlow, Local: "query"}))
		return err
	}
	alice, bob := env.Client("alice"), env.Client("bob")
	slow := make(chan error, 1)
	go func() { slow <- query(alice) }()
	time.Sleep(50 * time.Millisecond) // alice's query is in her handler
	t0 := time.Now()
	if err := query(bob); err != nil {
		t.Fatalf("bob: %v", err)
	}
	select {
	case err := <-slow:
		t.Fatalf("alice's query ended before its release: %v", err)
	default:
	}
	t.Logf("bob answered in %v while alice's query was held", time.Since(t0))
	close(release)
	if err := <-slow; err != nil {
		t.Fatalf("alice: %v", err)
	}
}
