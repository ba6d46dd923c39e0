package delegation_test

import (
	"context"
	"fmt"
	"os"

	"xmppkit.dev/component"
	"xmppkit.dev/delegation"
	"xmppkit.dev/mux"
	"xmppkit.dev/mux/muxtest"
	"xmppkit.dev/privilege"
	"xmppkit.dev/stanza"
)

// An archive service (XEP-0313) served through delegation: the users' MAM
// queries to their own accounts reach the component's handler as if sent
// to it, and the answer goes back through the server. The privilege
// Entity sends the result messages from the archive's owner. Here the
// server's delegated IQ is handed to the mux by hand, as Prosody sends it.
func Example() {
	p := &privilege.Entity{}
	d := &delegation.Manager{Sender: p.OnBehalf}
	m := mux.New()
	m.HandleIQFunc(stanza.TypeSet, "urn:xmpp:mam:2", "query", func(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
		info, _ := delegation.FromContext(ctx)
		fmt.Println("query from", iq.From, "to", iq.To, "delegated by", info.Server)
		return s.Send(ctx, iq.Result(stanza.NewBuilder("urn:xmpp:mam:2", "fin").Attr("complete", "true").Element()))
	})
	p.Register(m)
	d.Register(m)
	c := &component.Component{
		Addr: "127.0.0.1:5347", Domain: "archive.localhost", Secret: os.Getenv("SECRET"), Handler: m,
		OnLink: func(component.LinkEvent) { p.Reset(); d.Reset() },
	}
	_ = c // c.Run(ctx) would connect

	in, _ := stanza.Decode([]byte(`<iq from='localhost' type='set' to='archive.localhost' id='PiPpOyIfQqTV'>` +
		`<delegation xmlns='urn:xmpp:delegation:2'><forwarded xmlns='urn:xmpp:forward:0'>` +
		`<iq type='set' from='alice@localhost/ra' xmlns='jabber:client' id='mam1'><query queryid='q1' xmlns='urn:xmpp:mam:2'/></iq>` +
		`</forwarded></delegation></iq>`))
	rec := &muxtest.Recorder{}
	_ = m.HandleStanza(context.Background(), rec, in)
	fmt.Println(rec.Last())
	// Output:
	// query from alice@localhost/ra to alice@localhost delegated by localhost
	// <iq from='archive.localhost' to='localhost' id='PiPpOyIfQqTV' type='result'><delegation xmlns='urn:xmpp:delegation:2'><forwarded xmlns='urn:xmpp:forward:0'><iq xmlns='jabber:client' from='alice@localhost' to='alice@localhost/ra' id='mam1' type='result'><fin xmlns='urn:xmpp:mam:2' complete='true'/></iq></forwarded></delegation></iq>
}

// Before delegating a namespace, ejabberd asks what the component offers
// for it (XEP-0355 §7.2); the Manager answers with the features its mux
// advertises for the namespace.
func ExampleManager_Register() {
	d := &delegation.Manager{}
	m := mux.New()
	m.HandleIQFunc(stanza.TypeSet, "urn:xmpp:mam:2", "query", func(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
		return s.Send(ctx, iq.Result())
	})
	d.Register(m)

	q, _ := stanza.Decode([]byte(`<iq to='archive.localhost' from='localhost' type='get' id='rr-1'>` +
		`<query node='urn:xmpp:delegation:1::urn:xmpp:mam:2' xmlns='http://jabber.org/protocol/disco#info'/></iq>`))
	rec := &muxtest.Recorder{}
	_ = m.HandleStanza(context.Background(), rec, q)
	fmt.Println(rec.Last())
	// Output:
	// <iq from='archive.localhost' to='localhost' id='rr-1' type='result'><query xmlns='http://jabber.org/protocol/disco#info' node='urn:xmpp:delegation:1::urn:xmpp:mam:2'><feature var='urn:xmpp:mam:2'/></query></iq>
}
