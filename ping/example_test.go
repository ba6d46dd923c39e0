package ping_test

import (
	"context"
	"fmt"

	"xmppkit.dev/disco"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/mux/muxtest"
	"xmppkit.dev/ping"
)

func Example() {
	// The service side: answer pings.
	m := mux.New()
	ping.Handler{}.Register(m)
	d := disco.New(m) // one disco handler answers for every service on m
	d.Register(m)

	// The client side, here through an in-memory loop to the mux.
	s := &muxtest.Loopback{Handler: m, From: jid.MustParse("romeo@montague.lit/orchard")}
	err := ping.Send(context.Background(), s, jid.MustParse("svc.montague.lit"))
	fmt.Println("alive:", err == nil)
	info, _ := disco.GetInfo(context.Background(), s, jid.MustParse("svc.montague.lit"), "")
	fmt.Println("advertised:", info.HasFeature(ping.NS))
	// Output:
	// alive: true
	// advertised: true
}
