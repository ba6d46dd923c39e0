package mux_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/signal"

	"xmppkit.dev/component"
	"xmppkit.dev/disco"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/mux/muxtest"
	"xmppkit.dev/ping"
	"xmppkit.dev/stanza"
	"xmppkit.dev/version"
)

// A complete echo service: service discovery, ping, software version, and
// its own message handler. Attached to a server with package component, it
// runs as is (see Example_component); here it is driven in memory.
func Example() {
	m := mux.New()
	d := disco.New(m) // disco answers from everything registered in m
	d.AddIdentity("", disco.Identity{Category: "component", Type: "generic", Name: "Echo"})
	d.Register(m)
	ping.Handler{}.Register(m)
	version.Handler{Info: version.Info{Name: "echo", Version: "1.0"}}.Register(m)
	m.HandleMessageFunc(stanza.TypeChat, "", func(ctx context.Context, s mux.Sender, msg *stanza.Stanza) error {
		if msg.Body() == "" {
			return nil // a typing notification (XEP-0085): nothing to answer
		}
		// From the address written to, with the message's id; the text is
		// escaped, never parsed as markup.
		return s.Send(ctx, msg.ReplyBody("echo: "+msg.Body()))
	})

	// A peer asks what the service is, pings it, and chats with it.
	ctx := context.Background()
	romeo, svc := jid.MustParse("romeo@montague.lit/orchard"), jid.MustParse("echo@echo.montague.lit")
	peer := &muxtest.Loopback{Handler: m, From: romeo}
	info, _ := disco.GetInfo(ctx, peer, svc.DomainJID(), "")
	fmt.Println("identity:", info.Identities[0].Name)
	for _, f := range info.Features {
		fmt.Println("feature:", f)
	}
	fmt.Println("ping:", ping.Send(ctx, peer, svc.DomainJID()))

	msg := stanza.NewMessage(stanza.TypeChat, svc, "1 < 2")
	msg.From, msg.ID = romeo, "m1"
	var out muxtest.Recorder
	_ = m.HandleStanza(ctx, &out, msg)
	fmt.Println(out.Last())

	// Nobody handles jabber:iq:last: the peer gets service-unavailable.
	_, err := peer.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, svc, stanza.Element{Space: "jabber:iq:last", Local: "query"}))
	fmt.Println(err)
	// Output:
	// identity: Echo
	// feature: http://jabber.org/protocol/disco#info
	// feature: http://jabber.org/protocol/disco#items
	// feature: jabber:iq:version
	// feature: urn:xmpp:ping
	// ping: <nil>
	// <message from='echo@echo.montague.lit' to='romeo@montague.lit/orchard' id='m1' type='chat'><body>echo: 1 &lt; 2</body></message>
	// stanza error: cancel service-unavailable
}

// Serving a ServeMux as an external component (XEP-0114): Run connects,
// reconnects, and on ^C stops gracefully and returns nil.
func Example_component() {
	m := mux.New()
	ping.Handler{}.Register(m)
	c := &component.Component{
		Addr:    "127.0.0.1:5347",
		Domain:  "echo.example.net",
		Secret:  os.Getenv("COMPONENT_SECRET"),
		Handler: m,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := c.Run(ctx); err != nil {
		log.Fatal(err) // the server refused the component (wrong secret, unknown domain)
	}
}

// Logging logs every stanza with its outcome; here without times, so that
// the output is stable. The handler's error comes back through the mux and
// becomes the reply (session.ReplyError; muxtest.Loopback applies it as a
// transport does).
func ExampleLogging() {
	noTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey || a.Key == "duration" {
			return slog.Attr{}
		}
		return a
	}
	log := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: noTime}))
	m := mux.New()
	m.Use(mux.Logging(log))
	m.HandleIQFunc(stanza.TypeSet, "urn:example:vote", "vote", func(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
		return stanza.NewError(stanza.Forbidden, "voting is closed")
	})
	iq := stanza.NewIQ(stanza.TypeSet, jid.MustParse("poll.example"), stanza.Element{Space: "urn:example:vote", Local: "vote"})
	iq.ID = "v1"
	peer := &muxtest.Loopback{Handler: m, From: jid.MustParse("juliet@example/balcony")}
	_, err := peer.SendIQ(context.Background(), iq)
	fmt.Println(err)
	// Output:
	// level=INFO msg=stanza kind=iq type=set id=v1 from=juliet@example/balcony to=poll.example payload={urn:example:vote}vote err="stanza error: auth forbidden: voting is closed"
	// stanza error: auth forbidden: voting is closed
}

// Routing by IQ payload: the most specific registration wins.
func ExampleServeMux_HandleIQ() {
	m := mux.New()
	m.HandleIQFunc(stanza.TypeGet, "http://jabber.org/protocol/pubsub", "", func(context.Context, mux.Sender, *stanza.Stanza) error { return nil })
	m.HandleIQFunc(stanza.TypeGet, "http://jabber.org/protocol/pubsub", "pubsub", func(context.Context, mux.Sender, *stanza.Stanza) error { return nil })
	iq := stanza.NewIQ(stanza.TypeGet, jid.MustParse("pubsub.example"), stanza.Element{Space: "http://jabber.org/protocol/pubsub", Local: "pubsub"})
	_, pattern := m.Handler(iq)
	fmt.Println(pattern)
	// Output:
	// iq get {http://jabber.org/protocol/pubsub}pubsub
}

// A XEP-0060 service registers one handler per action: the first child of
// <pubsub/> names it, whatever follows (<publish/> then <publish-options/>).
func ExampleServeMux_HandleIQAction() {
	const ns = "http://jabber.org/protocol/pubsub"
	m := mux.New()
	for _, action := range []string{"publish", "subscribe", "items"} {
		m.HandleIQActionFunc("", ns, "pubsub", action, func(context.Context, mux.Sender, *stanza.Stanza) error { return nil })
	}
	// Anything else in the namespace: the catch-all of the payload.
	m.HandleIQFunc("", ns, "pubsub", func(context.Context, mux.Sender, *stanza.Stanza) error {
		return stanza.NewError(stanza.FeatureNotImplemented, "")
	})
	for _, inner := range []*stanza.Builder{
		stanza.NewBuilder(ns, "pubsub").Child(ns, "publish").Attr("node", "news").End().Child(ns, "publish-options").End(),
		stanza.NewBuilder(ns, "pubsub").Child(ns, "subscribe").Attr("node", "news").Attr("jid", "romeo@montague.lit").End(),
		stanza.NewBuilder(ns, "pubsub").Child(ns, "retract").Attr("node", "news").End(),
	} {
		iq := stanza.NewIQ(stanza.TypeSet, jid.MustParse("pubsub.example"), inner.Element())
		_, pattern := m.Handler(iq)
		fmt.Println(pattern)
	}
	// Output:
	// iq set {http://jabber.org/protocol/pubsub}pubsub/publish
	// iq set {http://jabber.org/protocol/pubsub}pubsub/subscribe
	// iq set {http://jabber.org/protocol/pubsub}pubsub
}
