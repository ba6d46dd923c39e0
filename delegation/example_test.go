package delegation_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"xmppkit.dev/component"
	"xmppkit.dev/delegation"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/mux/muxtest"
	"xmppkit.dev/privilege"
	"xmppkit.dev/router"
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
	_ = muxtest.Serve(context.Background(), m, rec, in)
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
	_ = muxtest.Serve(context.Background(), m, rec, q)
	fmt.Println(rec.Last())
	// Output:
	// <iq from='archive.localhost' to='localhost' id='rr-1' type='result'><query xmlns='http://jabber.org/protocol/disco#info' node='urn:xmpp:delegation:1::urn:xmpp:mam:2'><feature var='urn:xmpp:mam:2'/></query></iq>
}

// A service using delegation runs without a server on the embedded router,
// which delegates by configuration (package xmpptest does the same for
// tests): a user's MAM query to her own account reaches the service's
// handler, and the answer comes back from her account.
func Example_router() {
	d := &delegation.Manager{}
	m := mux.New()
	m.HandleIQFunc(stanza.TypeSet, "urn:xmpp:mam:2", "query", func(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
		return s.Send(ctx, iq.Result(stanza.NewBuilder("urn:xmpp:mam:2", "fin").Attr("complete", "true").Element()))
	})
	d.Register(m)

	r, err := router.New(router.Config{
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		Delegations: []router.Delegation{{Namespace: "urn:xmpp:mam:2", Component: "archive.localhost"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close(context.Background())
	if _, err := r.Attach("archive.localhost", m); err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = d.Wait(ctx, jid.MustParse("localhost"), "urn:xmpp:mam:2")

	alice, _ := r.Connect(jid.MustParse("alice@localhost/phone"))
	q := stanza.NewIQ(stanza.TypeSet, jid.MustParse("alice@localhost"), stanza.Element{Space: "urn:xmpp:mam:2", Local: "query"})
	q.ID = "q1"
	ans, err := alice.SendIQ(ctx, q)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ans)
	// Output: <iq from='alice@localhost' to='alice@localhost/phone' id='q1' type='result'><fin xmlns='urn:xmpp:mam:2' complete='true'/></iq>
}
