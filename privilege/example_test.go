package privilege_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"xmppkit.dev/component"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/mux/muxtest"
	"xmppkit.dev/privilege"
	"xmppkit.dev/stanza"
)

// A component mounts the Entity on its mux and resets it on every link
// change; the server's advertisement, which arrives right after the
// handshake, then says what the component may do. Here the advertisement
// is handed to the mux by hand, as Prosody sends it.
func Example() {
	p := &privilege.Entity{
		OnChange: func(g privilege.Grants) { fmt.Println("grants:", g) },
	}
	m := mux.New()
	p.Register(m)
	c := &component.Component{
		Addr: "127.0.0.1:5347", Domain: "pubsub.localhost", Secret: os.Getenv("SECRET"), Handler: m,
		OnLink: func(component.LinkEvent) { p.Reset() },
	}
	_ = c // c.Run(ctx) would connect

	adv, _ := stanza.Decode([]byte(`<message from='localhost' to='pubsub.localhost'>` +
		`<privilege xmlns='urn:xmpp:privilege:2'><perm access='roster' type='get'/>` +
		`<perm access='message' type='outgoing'/></privilege></message>`))
	_ = muxtest.Serve(context.Background(), m, &muxtest.Recorder{}, adv)

	g := p.Grants(jid.MustParse("localhost"))
	fmt.Println("roster get:", g.Roster.CanGet(), "roster set:", g.Roster.CanSet(), "messages:", g.Message)
	// Output:
	// grants: localhost (urn:xmpp:privilege:2): roster=get push message=outgoing
	// roster get: true roster set: false messages: true
}

// A service degrades when a privilege is missing: the call fails at once,
// without asking the server, with an error matching ErrNotGranted.
func Example_degrade() {
	p := &privilege.Entity{} // no advertisement: nothing granted
	var s mux.Sender = &muxtest.Recorder{}
	_, err := p.Roster(context.Background(), s, jid.MustParse("juliet@capulet.lit"))
	if errors.Is(err, privilege.ErrNotGranted) {
		fmt.Println("no roster access:", err)
	}
	// Output: no roster access: privilege: roster get not granted by capulet.lit
}

// SendMessage sends a message as a user of the server (a PEP notification
// here): the component hands the server the message inside a <privilege/>.
func ExampleEntity_SendMessage() {
	p := &privilege.Entity{}
	m := mux.New()
	p.Register(m)
	adv, _ := stanza.Decode([]byte(`<message from='capulet.lit' to='pubsub.capulet.lit'>` +
		`<privilege xmlns='urn:xmpp:privilege:1'><perm access='message' type='outgoing'/></privilege></message>`))
	rec := &muxtest.Recorder{}
	_ = muxtest.Serve(context.Background(), m, rec, adv)

	msg := stanza.NewMessage(stanza.TypeHeadline, jid.MustParse("romeo@montague.lit"), "")
	msg.ID = "notif1"
	msg.From = jid.MustParse("juliet@capulet.lit")
	msg.SetPayloadElements(stanza.NewBuilder("http://jabber.org/protocol/pubsub#event", "event").
		Child("", "items").Attr("node", "http://jabber.org/protocol/tune").Element())
	if err := p.SendMessage(context.Background(), rec, msg); err != nil {
		fmt.Println(err)
		return
	}
	env := rec.Last()
	env.ID = "x" // a fresh id each time
	fmt.Println(env)
	// Output:
	// <message to='capulet.lit' id='x'><privilege xmlns='urn:xmpp:privilege:1'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' from='juliet@capulet.lit' to='romeo@montague.lit' id='notif1' type='headline'><event xmlns='http://jabber.org/protocol/pubsub#event'><items node='http://jabber.org/protocol/tune'/></event></message></forwarded></privilege></message>
}

// Roster reads a user's roster on its behalf; here a Recorder plays the
// server.
func ExampleEntity_Roster() {
	p := &privilege.Entity{}
	m := mux.New()
	p.Register(m)
	rec := &muxtest.Recorder{IQ: func(_ context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
		return iq.Result(stanza.MustElement(`<query xmlns='jabber:iq:roster'><item jid='romeo@montague.lit' name='Romeo' subscription='both'/></query>`)), nil
	}}
	adv, _ := stanza.Decode([]byte(`<message from='capulet.lit' to='pubsub.capulet.lit'>` +
		`<privilege xmlns='urn:xmpp:privilege:1'><perm access='roster' type='both'/></privilege></message>`))
	_ = muxtest.Serve(context.Background(), m, rec, adv)

	r, err := p.Roster(context.Background(), rec, jid.MustParse("juliet@capulet.lit"))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, it := range r.Items {
		fmt.Println(it.JID, it.Name, it.Subscription)
	}
	fmt.Println("asked:", rec.Sent()[0].To)
	// Output:
	// romeo@montague.lit Romeo both
	// asked: juliet@capulet.lit
}
