package mux_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

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
		reply := stanza.NewMessage(stanza.TypeChat, msg.From, "echo: "+msg.Body())
		reply.From = msg.To
		return s.Send(ctx, reply)
	})

	// A peer asks what the service is, pings it, and chats with it.
	ctx := context.Background()
	romeo, svc := jid.MustParse("romeo@montague.lit/orchard"), jid.MustParse("echo.montague.lit")
	peer := &muxtest.Loopback{Handler: m, From: romeo}
	info, _ := disco.GetInfo(ctx, peer, svc, "")
	fmt.Println("identity:", info.Identities[0].Name)
	for _, f := range info.Features {
		fmt.Println("feature:", f)
	}
	fmt.Println("ping:", ping.Send(ctx, peer, svc))

	msg := stanza.NewMessage(stanza.TypeChat, svc, "hello")
	msg.From = romeo
	var out muxtest.Recorder
	_ = m.HandleStanza(ctx, &out, msg)
	fmt.Println(out.Last().To, out.Last().Body())

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
	// romeo@montague.lit/orchard echo: hello
	// stanza error: cancel service-unavailable
}

// Serving a ServeMux as an external component (XEP-0114).
func Example_component() {
	m := mux.New()
	ping.Handler{}.Register(m)
	c := &component.Component{
		Addr:    "127.0.0.1:5347",
		Domain:  "echo.example.net",
		Secret:  os.Getenv("COMPONENT_SECRET"),
		Handler: m,
	}
	if err := c.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
}

// Logging logs every stanza with its outcome; here without times, so that
// the output is stable.
func ExampleLogging() {
	noTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey || a.Key == "duration" {
			return slog.Attr{}
		}
		return a
	}
	log := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: noTime}))
	m := mux.New(mux.WithLogger(log))
	m.Use(mux.Logging(log))
	m.HandleIQFunc(stanza.TypeSet, "urn:example:vote", "vote", func(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
		return stanza.NewError(stanza.Forbidden, "voting is closed")
	})
	iq := stanza.NewIQ(stanza.TypeSet, jid.MustParse("poll.example"), stanza.Element{Space: "urn:example:vote", Local: "vote"})
	iq.ID, iq.From = "v1", jid.MustParse("juliet@example/balcony")
	var rec muxtest.Recorder
	_ = m.HandleStanza(context.Background(), &rec, iq)
	fmt.Println(rec.Last())
	// Output:
	// level=INFO msg=stanza kind=iq type=set id=v1 from=juliet@example/balcony to=poll.example payload={urn:example:vote}vote err="stanza error: auth forbidden: voting is closed"
	// <iq from='poll.example' to='juliet@example/balcony' id='v1' type='error'><vote xmlns='urn:example:vote'/><error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>voting is closed</text></error></iq>
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
