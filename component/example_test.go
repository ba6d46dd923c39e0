package component_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"sync"
	"time"

	"xmppkit.dev/component"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/ping"
	"xmppkit.dev/router"
	"xmppkit.dev/stanza"
)

// An echo service attached to a server's component port (XEP-0114). It
// needs a running server, so it has no Output.
func Example() {
	m := mux.New()
	ping.Handler{}.Register(m)
	m.HandleMessageFunc(stanza.TypeChat, "", func(ctx context.Context, s mux.Sender, msg *stanza.Stanza) error {
		if msg.Body() == "" {
			return nil // a typing notification (XEP-0085): nothing to answer
		}
		// From the address the message was sent to (echo@echo.example.net
		// answers as itself), with its id; the text is escaped.
		return s.Send(ctx, msg.ReplyBody("echo: "+msg.Body()))
	})

	c := &component.Component{
		Addr:         "127.0.0.1:5347",
		Domain:       "echo.example.net",
		Secret:       os.Getenv("COMPONENT_SECRET"),
		Handler:      m,
		PingInterval: time.Minute, // XEP-0199 liveness check of the link
	}

	// Announce ourselves to an admin: Send queues until the link is up.
	admin := jid.MustParse("admin@example.net")
	if err := c.Send(context.Background(), stanza.NewMessage(stanza.TypeChat, admin, "echo service up")); err != nil {
		log.Print(err)
	}

	// ^C stops it gracefully (drain, </stream:stream>, close): Run then
	// returns nil.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := c.Run(ctx); err != nil {
		log.Fatal(err) // the server refused the component: wrong secret, unknown domain
	}
}

// One process serving several component domains: one link, one component
// each, here sharing one handler tree (each answers through the session of
// the link the stanza came on, so replies leave from the right domain).
// The embedded router stands in for Prosody or ejabberd.
func Example_domains() {
	secrets := map[string]string{"weather.localhost": "s1", "news.localhost": "s2"}
	r, err := router.New(router.Config{Secrets: secrets})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close(context.Background())
	addr, err := r.ListenComponents("127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}

	shared := mux.New()
	shared.HandleMessageFunc(stanza.TypeChat, "", func(ctx context.Context, s mux.Sender, msg *stanza.Stanza) error {
		// s is the session of the domain the message came to.
		return s.Send(ctx, msg.ReplyBody("this is "+msg.To.Domain()))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var comps []*component.Component
	for _, domain := range []string{"weather.localhost", "news.localhost"} {
		c := &component.Component{Addr: addr.String(), Domain: domain, Secret: secrets[domain], Handler: shared}
		comps = append(comps, c)
		wg.Add(1)
		go func() { defer wg.Done(); c.Run(ctx) }()
	}

	alice, _ := r.Connect(jid.MustParse("alice@localhost/phone"))
	defer alice.Close()
	for _, to := range []string{"weather.localhost", "news.localhost"} {
		// Until the component's link is up, the router answers
		// service-unavailable.
		for {
			alice.Send(ctx, stanza.NewMessage(stanza.TypeChat, jid.MustParse(to), "hi"))
			got, _ := alice.Recv(ctx)
			if got.Type != stanza.TypeError {
				fmt.Println(got.From, got.Body())
				break
			}
			time.Sleep(10 * time.Millisecond) // not connected yet
		}
	}
	for _, c := range comps {
		c.Close(ctx)
	}
	wg.Wait()
	// Output:
	// weather.localhost this is weather.localhost
	// news.localhost this is news.localhost
}
