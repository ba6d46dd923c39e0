package component_test

import (
	"context"
	"errors"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"xmppkit.dev/component"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/ping"
	"xmppkit.dev/stanza"
)

// An echo service attached to a server's component port (XEP-0114). It
// needs a running server, so it has no Output.
func Example() {
	m := mux.New()
	ping.Handler{}.Register(m)
	m.HandleMessageFunc(stanza.TypeChat, "", func(ctx context.Context, s mux.Sender, msg *stanza.Stanza) error {
		return s.Send(ctx, stanza.NewMessage(stanza.TypeChat, msg.From, "echo: "+msg.Body()))
	})

	c := &component.Component{
		Addr:         "127.0.0.1:5347",
		Domain:       "echo.example.net",
		Secret:       os.Getenv("COMPONENT_SECRET"),
		Handler:      m,
		Logger:       slog.Default(),
		PingInterval: time.Minute, // XEP-0199 liveness check of the link
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done() // on ^C: drain, </stream:stream>, close
		closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Close(closeCtx)
	}()

	// Announce ourselves to an admin once connected (Send waits for the
	// link).
	go func() {
		admin := jid.MustParse("admin@example.net")
		sendCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := c.Send(sendCtx, stanza.NewMessage(stanza.TypeChat, admin, "echo service up")); err != nil {
			log.Print(err) // wraps component.ErrNotSent
		}
	}()

	err := c.Run(context.Background())
	switch {
	case errors.Is(err, component.ErrClosed):
		log.Print("stopped")
	case component.IsPermanent(err):
		log.Fatalf("server refused the component: %v", err) // wrong secret, unknown domain
	default:
		log.Fatal(err)
	}
}
