package mux_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"xmppkit.dev/disco"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/ping"
	"xmppkit.dev/router"
	"xmppkit.dev/stanza"
	"xmppkit.dev/version"
)

// TestThroughRouter serves a complete ServeMux as an in-process component of
// the router and talks to it from an in-memory client: the same stanzas a
// real deployment exchanges, without sockets.
func TestThroughRouter(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := router.New(router.Config{Domains: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())

	m := mux.New()
	d := disco.New(m)
	d.AddIdentity("", disco.Identity{Category: "component", Type: "generic", Name: "Echo"})
	d.Register(m)
	ping.Handler{}.Register(m)
	version.Handler{Info: version.Info{Name: "echo", Version: "1.0"}}.Register(m)
	m.HandleMessageFunc(stanza.TypeChat, "", func(ctx context.Context, s mux.Sender, msg *stanza.Stanza) error {
		reply := stanza.NewMessage(stanza.TypeChat, msg.From, "echo: "+msg.Body())
		reply.From = msg.To
		return s.Send(ctx, reply)
	})
	sess, err := r.Attach("echo.localhost", m)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close(context.Background())

	alice, err := r.Connect(jid.MustParse("alice@localhost/phone"))
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	svc := jid.MustParse("echo.localhost")

	info, err := disco.GetInfo(ctx, alice, svc, "")
	if err != nil {
		t.Fatalf("disco#info: %v", err)
	}
	if !info.HasFeature(ping.NS) || !info.HasFeature(version.NS) || info.Identities[0].Name != "Echo" {
		t.Errorf("info %+v", info)
	}
	if err := ping.Send(ctx, alice, svc); err != nil {
		t.Errorf("ping: %v", err)
	}
	if v, err := version.Get(ctx, alice, svc); err != nil || v.Name != "echo" {
		t.Errorf("version: %+v, %v", v, err)
	}
	_, err = alice.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, svc, stanza.Element{Space: "jabber:iq:last", Local: "query"}))
	if !errors.Is(err, stanza.ErrServiceUnavailable) {
		t.Errorf("unhandled iq: %v", err)
	}
	if err := alice.Send(ctx, stanza.NewMessage(stanza.TypeChat, svc, "hi")); err != nil {
		t.Fatal(err)
	}
	got, err := alice.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Body() != "echo: hi" || !got.From.Equal(svc) {
		t.Errorf("echo %s", got)
	}
}
