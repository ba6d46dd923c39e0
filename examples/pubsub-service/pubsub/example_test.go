package pubsub_test

import (
	"context"
	"fmt"
	"log"

	"xmppkit.dev/examples/pubsub-service/pubsub"
	"xmppkit.dev/jid"
	"xmppkit.dev/router"
	"xmppkit.dev/stanza"
)

// Run the service in-process on a router, publish from one client and
// receive the notification on another.
func Example() {
	ctx := context.Background()
	r, err := router.New(router.Config{Domains: []string{"localhost"}})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close(ctx)
	svc, err := pubsub.New(pubsub.Options{}) // Store: pubsub.OpenFileStore(dir, false) to persist
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close()
	svcSess, err := r.Attach("pubsub.localhost", svc.Handler())
	if err != nil {
		log.Fatal(err)
	}
	defer svcSess.Close(ctx)

	alice, _ := r.Connect(jid.MustParse("alice@localhost/phone"))
	bob, _ := r.Connect(jid.MustParse("bob@localhost/laptop"))
	service := jid.MustParse("pubsub.localhost")
	request := func(c *router.Client, payload stanza.Element) {
		if _, err := c.SendIQ(ctx, stanza.NewIQ(stanza.TypeSet, service, payload)); err != nil {
			log.Fatal(err)
		}
	}
	request(alice, pubsub.CreateRequest("news", nil))
	request(bob, pubsub.SubscribeRequest("news", bob.JID()))
	headline := stanza.TextElement("urn:example", "headline", "Hello")
	request(alice, pubsub.PublishRequest("news", "1", headline, nil))

	msg, err := bob.Recv(ctx)
	if err != nil {
		log.Fatal(err)
	}
	ev, _ := msg.Child(pubsub.NSEvent, "event")
	fmt.Println(msg.From, ev.XML())
	// Output:
	// pubsub.localhost <event xmlns='http://jabber.org/protocol/pubsub#event'><items node='news'><item id='1'><headline xmlns='urn:example'>Hello</headline></item></items></event>
}
