package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"xmppkit.dev/client"
	"xmppkit.dev/disco"
	"xmppkit.dev/examples/pubsub-service/pubsub"
	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// runDemo plays a publish-subscribe exchange with two sessions of the
// development account against the service listening at cfg.listen; when
// nothing listens there, it starts an in-memory service of its own first.
func runDemo(ctx context.Context, cfg config, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	addr := cfg.listen
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		fmt.Fprintf(out, "using the service listening on %s\n", addr)
	} else {
		want := cfg.listen
		cfg.memory = true
		svc, _, err := openService(cfg, logger(cfg))
		if err != nil {
			return err
		}
		cfg.listen = "127.0.0.1:0"
		log := logger(cfg)
		e, err := embedded(cfg, handler(svc, log), nil, log).Start()
		if err != nil {
			svc.Close()
			return err
		}
		defer func() { e.Close(); svc.Close() }()
		addr = e.Addr
		fmt.Fprintf(out, "no service on %s: started one in memory on %s\n", want, addr)
	}
	svcJID, err := jid.Parse(cfg.domain)
	if err != nil {
		return err
	}
	login := func(resource string) (*client.Client, error) {
		j, err := jid.Parse(cfg.user + "/" + resource)
		if err != nil {
			return nil, err
		}
		return client.Dial(ctx, addr, client.Config{JID: j, Password: cfg.password})
	}
	pub, err := login("publisher")
	if err != nil {
		return fmt.Errorf("logging in as %s: %w", cfg.user, err)
	}
	defer pub.Close(context.Background())
	sub, err := login("subscriber")
	if err != nil {
		return fmt.Errorf("logging in as %s: %w", cfg.user, err)
	}
	defer sub.Close(context.Background())
	step := 0
	say := func(format string, args ...any) {
		step++
		fmt.Fprintf(out, "%d. %s\n", step, fmt.Sprintf(format, args...))
	}
	do := func(c *client.Client, typ string, payload stanza.Element) (string, error) {
		res, err := c.SendIQ(ctx, stanza.NewIQ(typ, svcJID, payload))
		if err != nil {
			return "", err
		}
		return res.Payload(), nil
	}
	event := func() (string, error) {
		for {
			st, err := sub.Recv(ctx)
			if err != nil {
				return "", fmt.Errorf("waiting for a notification: %w", err)
			}
			if ev, ok := st.Child(pubsub.NSEvent, "event"); ok {
				return ev.XML(), nil
			}
		}
	}

	info, err := disco.GetInfo(ctx, pub, svcJID, "")
	if err != nil {
		return fmt.Errorf("disco#info: %w", err)
	}
	say("logged in twice as %s (%s, %s); %s is %s/%s with %d features",
		cfg.user, pub.JID().Resource(), sub.JID().Resource(), svcJID, info.Identities[0].Category, info.Identities[0].Type, len(info.Features))

	node := "demo-" + stanza.NewID()[:8]
	if _, err := do(pub, stanza.TypeSet, pubsub.CreateRequest(node, nil)); err != nil {
		return fmt.Errorf("create: %w", err)
	}
	say("created node %s", node)

	res, err := do(sub, stanza.TypeSet, pubsub.SubscribeRequest(node, sub.JID()))
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	say("subscribed %s: %s", sub.JID(), res)

	payload := stanza.NewBuilder("http://www.w3.org/2005/Atom", "entry").TextElement("title", "Hello from xmppkit").Element()
	res, err = do(pub, stanza.TypeSet, pubsub.PublishRequest(node, "", payload, nil))
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	say("published; the service answered %s", res)

	ev, err := event()
	if err != nil {
		return err
	}
	say("the subscriber received %s", ev)
	if !strings.Contains(ev, payload.XML()) {
		return errors.New("the notification does not carry the payload unchanged")
	}
	var got struct {
		Items struct {
			Item struct {
				ID string `xml:"id,attr"`
			} `xml:"item"`
		} `xml:"items"`
	}
	if err := stanza.MustElement(ev).Unmarshal(&got); err != nil || got.Items.Item.ID == "" {
		return fmt.Errorf("the notification names no item: %v", err)
	}
	id := got.Items.Item.ID

	res, err = do(sub, stanza.TypeGet, pubsub.ItemsRequest(node, 0))
	if err != nil {
		return fmt.Errorf("items: %w", err)
	}
	say("retrieved the items: %s", res)

	if _, err := do(pub, stanza.TypeSet, pubsub.RetractRequest(node, true, id)); err != nil {
		return fmt.Errorf("retract: %w", err)
	}
	if ev, err = event(); err != nil {
		return err
	}
	say("retracted item %s; the subscriber received %s", id, ev)

	if _, err := do(pub, stanza.TypeSet, pubsub.DeleteRequest(node)); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if ev, err = event(); err != nil {
		return err
	}
	say("deleted the node; the subscriber received %s", ev)
	fmt.Fprintln(out, "demo complete")
	return nil
}
