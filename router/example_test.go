package router_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"xmppkit.dev/component"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/ping"
	"xmppkit.dev/router"
	"xmppkit.dev/stanza"
)

// A service attached in-process and a client connected in memory: no
// sockets at all. Attach returns the service's session: its Sender, and
// its graceful stop.
func ExampleRouter_Attach() {
	r, err := router.New(router.Config{Domains: []string{"localhost"}})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close(context.Background())

	m := mux.New()
	m.HandleMessageFunc(stanza.TypeChat, "", func(ctx context.Context, s mux.Sender, msg *stanza.Stanza) error {
		if msg.Body() == "" {
			return nil // a typing notification: nothing to answer
		}
		// From the address written to, the text escaped.
		return s.Send(ctx, msg.ReplyBody("echo: "+msg.Body()))
	})
	svc, err := r.Attach("echo.localhost", m)
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close(context.Background()) // stop taking stanzas, finish, detach

	alice, err := r.Connect(jid.MustParse("alice@localhost/phone"))
	if err != nil {
		log.Fatal(err)
	}
	defer alice.Close()
	ctx := context.Background()
	alice.Send(ctx, stanza.NewMessage(stanza.TypeChat, jid.MustParse("bot@echo.localhost"), "1 < 2"))
	got, err := alice.Recv(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got.From, got.Body())

	// The service sends on its own initiative through its session.
	svc.Send(ctx, stanza.NewMessage(stanza.TypeChat, alice.JID(), "news"))
	got, _ = alice.Recv(ctx)
	fmt.Println(got.From, got.Body())

	// The router answers for its own domain (XEP-0199 ping) and for
	// domains it cannot reach.
	fmt.Println("ping:", ping.Send(ctx, alice, jid.MustParse("localhost")))
	_, err = alice.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, jid.MustParse("elsewhere.example"), stanza.Element{Space: ping.NS, Local: "ping"}))
	fmt.Println(err)
	// Output:
	// bot@echo.localhost echo: 1 < 2
	// echo.localhost news
	// ping: <nil>
	// stanza error: cancel remote-server-not-found: no route to this domain (the router has no server-to-server links)
}

// External components connect over TCP with XEP-0114 and reach the
// in-process ones; here xmppkit's own component package is the client.
func ExampleRouter_ListenComponents() {
	r, err := router.New(router.Config{Secrets: map[string]string{"bot.localhost": "s3cret"}})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close(context.Background())
	addr, err := r.ListenComponents("127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	m := mux.New()
	m.HandleIQFunc(stanza.TypeGet, "urn:example:hello", "hello", func(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
		return s.Send(ctx, iq.Result(stanza.TextElement("urn:example:hello", "hello", "hi "+iq.From.String())))
	})
	svc, err := r.Attach("svc.localhost", m)
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close(context.Background())

	c := &component.Component{Addr: addr.String(), Domain: "bot.localhost", Secret: "s3cret"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go c.Run(ctx)
	// SendIQ waits for the connection, then for the answer.
	res, err := c.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, jid.MustParse("svc.localhost"), stanza.Element{Space: "urn:example:hello", Local: "hello"}))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Payload())
	c.Close(ctx)
	// Output:
	// <hello xmlns='urn:example:hello'>hi bot.localhost</hello>
}
