package disco_test

import (
	"context"
	"fmt"

	"xmppkit.dev/disco"
	"xmppkit.dev/form"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/mux/muxtest"
	"xmppkit.dev/ping"
)

func Example() {
	m := mux.New()
	d := disco.New(m)
	d.AddIdentity("", disco.Identity{Category: "pubsub", Type: "service", Name: "News"})
	d.AddItem("", disco.Item{JID: jid.MustParse("news.example"), Node: "headlines", Name: "Headlines"})
	d.Register(m)
	ping.Handler{}.Register(m) // advertises urn:xmpp:ping by being registered

	peer := &muxtest.Loopback{Handler: m, From: jid.MustParse("reader@example/web")}
	ctx := context.Background()
	info, err := disco.GetInfo(ctx, peer, jid.MustParse("news.example"), "")
	if err != nil {
		panic(err)
	}
	fmt.Println(info.Identities[0].Category, info.Identities[0].Type, info.Features)
	items, _ := disco.GetItems(ctx, peer, jid.MustParse("news.example"), "")
	fmt.Println(items[0].JID, items[0].Node, items[0].Name)
	// Output:
	// pubsub service [http://jabber.org/protocol/disco#info http://jabber.org/protocol/disco#items urn:xmpp:ping]
	// news.example headlines Headlines
}

// The XEP-0115 ver attribute of a disco#info answer.
func ExampleCapsHash() {
	info := disco.Info{
		Identities: []disco.Identity{{Category: "client", Type: "pc", Name: "Exodus 0.9.1"}},
		Features: []string{
			"http://jabber.org/protocol/caps",
			"http://jabber.org/protocol/disco#info",
			"http://jabber.org/protocol/disco#items",
			"http://jabber.org/protocol/muc",
		},
	}
	s, _ := disco.VerificationString(info)
	ver, _ := disco.CapsHash(info)
	fmt.Println(s)
	fmt.Println(ver)
	// Output:
	// client/pc//Exodus 0.9.1<http://jabber.org/protocol/caps<http://jabber.org/protocol/disco#info<http://jabber.org/protocol/disco#items<http://jabber.org/protocol/muc<
	// QgayPKawpkPSDYmwT/WM94uAlu0=
}

// Extended information (XEP-0128) with a data form.
func ExampleHandler_AddForm() {
	d := disco.New(nil)
	var f form.Form
	f.Type = form.TypeResult
	f.Set(form.Hidden, form.FormTypeVar, "urn:xmpp:dataforms:softwareinfo")
	f.Set(form.TextSingle, "software", "xmppkit")
	d.AddForm("", f)
	info, _ := d.Info(disco.Query{To: jid.MustParse("svc.example")})
	sw, _ := info.Forms[0].Get("software")
	fmt.Println(info.Forms[0].FormType(), sw)
	// Output:
	// urn:xmpp:dataforms:softwareinfo xmppkit
}
