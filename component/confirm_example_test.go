package component_test

import (
	"context"
	"errors"
	"log"
	"time"

	"xmppkit.dev/component"
	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// Confirmed sends with at-least-once delivery: a stanza is re-sent until
// the server has proven it processed it. It needs a running server, so it
// has no Output.
func ExampleComponent_SendConfirmed() {
	c := &component.Component{
		Addr:         "127.0.0.1:5347",
		Domain:       "notify.example.net",
		Secret:       "s3cret",
		PingInterval: 10 * time.Second, // also notices a half-open link
		PingTimeout:  5 * time.Second,  // bounds each confirmation
	}
	go c.Run(context.Background())

	msg := stanza.NewMessage(stanza.TypeChat, jid.MustParse("alice@example.net"), "build 42 passed")
	for attempt := 1; attempt <= 5; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := c.SendConfirmed(ctx, msg)
		cancel()
		switch {
		case err == nil:
			return // processed by the server
		case errors.Is(err, component.ErrNotSent), errors.Is(err, component.ErrUnconfirmed):
			// Not written, or written but not proven: send again (the
			// recipient may see it twice; the id lets it drop duplicates).
			log.Printf("retrying: %v", err)
		default:
			log.Fatal(err) // a stanza that can never be sent
		}
	}
	log.Print("gave up after 5 attempts")
}
