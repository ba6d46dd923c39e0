package ping_test

import (
	"context"
	"fmt"

	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/mux/muxtest"
	"xmppkit.dev/ping"
)

func Example() {
	// The service side: answer pings.
	m := mux.New()
	ping.Handler{}.Register(m)

	// The client side, here through an in-memory loop to the mux.
	s := &muxtest.Loopback{Handler: m, From: jid.MustParse("romeo@montague.lit/orchard")}
	err := ping.Send(context.Background(), s, jid.MustParse("svc.montague.lit"))
	fmt.Println("alive:", err == nil)
	fmt.Println("advertised:", m.Features(jid.MustParse("svc.montague.lit"), ""))
	// Output:
	// alive: true
	// advertised: [urn:xmpp:ping]
}
