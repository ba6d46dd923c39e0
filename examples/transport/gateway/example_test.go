package gateway_test

import (
	"fmt"

	"xmppkit.dev/examples/transport/gateway"
	"xmppkit.dev/jid"
)

func ExampleMapper() {
	m := gateway.Mapper{Domain: "irc.localhost", Default: "irc.libera.chat"}
	room, _ := m.Occupant("irc.libera.chat", "#go-nuts", "gopher")
	other, _ := m.User("irc.oftc.net", "d'artagnan")
	fmt.Println(room)
	fmt.Println(other)
	a, _ := m.Parse(jid.MustParse("#xmpp%irc.oftc.net@irc.localhost/bob"))
	fmt.Println(a.Server, a.Channel, a.Nick)
	// Output:
	// #go-nuts@irc.localhost/gopher
	// d\27artagnan%irc.oftc.net@irc.localhost
	// irc.oftc.net #xmpp bob
}

// Attach the gateway to a router (or give it to a component.Component as
// its Handler); users then join #channel@irc.localhost/nick.
func ExampleNew() {
	gw, err := gateway.New(gateway.Config{
		Domain:   "irc.localhost",
		Networks: map[string]gateway.Network{"irc.libera.chat": {Endpoints: []gateway.Endpoint{{Addr: "irc.libera.chat:6697", TLS: true}}}},
		Default:  "irc.libera.chat",
	})
	if err != nil {
		panic(err)
	}
	defer gw.Close()
	j, _ := gw.Translate("#go-nuts")
	fmt.Println(j)
	// Output: #go-nuts@irc.localhost
}
