package c2s_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log"
	"time"

	xclient "xmppkit.dev/client"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/router"
	"xmppkit.dev/router/c2s"
	"xmppkit.dev/stanza"
)

// A router with one account, a c2s listener with a generated certificate,
// and an in-process component; a client logs in with STARTTLS and SCRAM and
// talks to the component.
func ExampleListen() {
	r, err := router.New(router.Config{Users: map[string]string{"alice@localhost": "alicepw"}})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close(context.Background())
	m := mux.New()
	m.HandleMessageFunc(mux.AnyType, "", func(ctx context.Context, s mux.Sender, msg *stanza.Stanza) error {
		return s.Send(ctx, stanza.NewMessage(stanza.TypeChat, msg.From, "you said "+msg.Body()))
	})
	if _, err := r.Attach("echo.localhost", m); err != nil {
		log.Fatal(err)
	}
	l, addr, err := c2s.Listen(r, "127.0.0.1:0", c2s.Config{})
	if err != nil {
		log.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := xclient.Dial(ctx, addr.String(), xclient.Config{
		JID:      jid.MustParse("alice@localhost/laptop"),
		Password: "alicepw",
		TLS:      &tls.Config{RootCAs: l.CertPool()},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(ctx)
	fmt.Println("bound", c.JID(), "with", c.Mechanism())
	c.Send(ctx, stanza.NewMessage(stanza.TypeChat, jid.MustParse("echo.localhost"), "hi"))
	st, err := c.Recv(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.From, st.Body())
	// Output:
	// bound alice@localhost/laptop with SCRAM-SHA-256-PLUS
	// echo.localhost you said hi
}
