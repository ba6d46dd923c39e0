package router_test

import (
	"context"
	"fmt"
	"log"

	"xmppkit.dev/component"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/router"
	"xmppkit.dev/stanza"
)

// A service attached in-process and a client connected in memory: no
// sockets at all.
func ExampleRouter_Attach() {
	r, err := router.New(router.Config{Domains: []string{"localhost"}})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close(context.Background())

	m := mux.New()
	m.HandleMessageFunc(stanza.TypeChat, "", func(ctx context.Context, s mux.Sender, msg *stanza.Stanza) error {
		reply := msg.Reply()
		reply.SetPayloadElements(stanza.MustElement("<body>echo: " + msg.Body() + "</body>"))
		return s.Send(ctx, reply)
	})
	svc, err := r.Attach("echo.localhost", m)
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close(context.Background())

	alice, err := r.Connect(jid.MustParse("alice@localhost/phone"))
	if err != nil {
		log.Fatal(err)
	}
	defer alice.Close()
	ctx := context.Background()
	alice.Send(ctx, stanza.NewMessage(stanza.TypeChat, jid.MustParse("echo.localhost"), "hi"))
	got, err := alice.Recv(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got.From, got.Body())

	// The router answers for its own domain (XEP-0199 ping) and for
	// domains it cannot reach.
	_, err = alice.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, jid.MustParse("localhost"), stanza.MustElement("<ping xmlns='urn:xmpp:ping'/>")))
	fmt.Println("ping:", err)
	_, err = alice.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, jid.MustParse("elsewhere.example"), stanza.MustElement("<ping xmlns='urn:xmpp:ping'/>")))
	fmt.Println(err)
	// Output:
	// echo.localhost echo: hi
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
		return s.Send(ctx, iq.Result(stanza.MustElement("<hello xmlns='urn:example:hello'>hi "+iq.From.String()+"</hello>")))
	})
	svc, err := r.Attach("svc.localhost", m)
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close(context.Background())

	c := &component.Component{Addr: addr.String(), Domain: "bot.localhost", Secret: "s3cret"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)
	// SendIQ waits for the connection, then for the answer.
	res, err := c.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, jid.MustParse("svc.localhost"), stanza.MustElement("<hello xmlns='urn:example:hello'/>")))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Payload())
	c.Close(context.Background())
	// Output:
	// <hello xmlns='urn:example:hello'>hi bot.localhost</hello>
}
