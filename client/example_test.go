package client_test

import (
	"context"
	"crypto/tls"
	"log"
	"time"

	"xmppkit.dev/client"
	"xmppkit.dev/jid"
	"xmppkit.dev/ping"
	"xmppkit.dev/stanza"
)

// Log in with STARTTLS and SCRAM, ping the server, send a message and wait
// for one.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "127.0.0.1:5222", client.Config{
		JID:      jid.MustParse("alice@localhost"),
		Password: "alicepw",
		TLS:      &tls.Config{ServerName: "localhost"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(ctx)
	if err := ping.Send(ctx, c, c.JID().DomainJID()); err != nil {
		log.Fatal(err)
	}
	c.SendPresence(ctx)
	c.Send(ctx, stanza.NewMessage(stanza.TypeChat, jid.MustParse("bob@localhost"), "hi"))
	st, err := c.Recv(ctx)
	if err != nil {
		log.Fatal(err)
	}
	log.Println(st.From, st.Body())
}
