package disco_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"xmppkit.dev/disco"
	"xmppkit.dev/form"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/mux/muxtest"
	"xmppkit.dev/stanza"
)

// contacts advertises per JID: the domain is a gateway, contacts are clients.
type contacts struct{}

func (contacts) HandleStanza(context.Context, mux.Sender, *stanza.Stanza) error { return nil }

func (contacts) Identities(q disco.Query) []disco.Identity {
	if q.To.Local() != "" && q.Node == "" {
		return []disco.Identity{{Category: "client", Type: "pc", Name: q.To.Local()}}
	}
	return nil
}

func (contacts) Features(q disco.Query) []string {
	if q.To.Local() != "" && q.Node == "" {
		return []string{"urn:xmpp:receipts"}
	}
	return nil
}

func (contacts) Items(q disco.Query) []disco.Item {
	if q.To.Local() == "" && q.Node == "rooms" {
		return []disco.Item{{JID: jid.MustParse("#go@gw.example"), Name: "Go"}}
	}
	return nil
}

func setup(t testing.TB) (*mux.ServeMux, *disco.Handler, *muxtest.Loopback) {
	t.Helper()
	m := mux.New()
	d := disco.New(m)
	d.Register(m)
	d.AddIdentity("", disco.Identity{Category: "gateway", Type: "irc", Name: "IRC gateway"})
	d.AddFeature("", "jabber:iq:gateway")
	d.AddItem("", disco.Item{JID: jid.MustParse("gw.example"), Node: "rooms", Name: "Rooms"})
	d.AddForm("", form.Form{Type: form.TypeResult, Fields: []form.Field{
		{Var: form.FormTypeVar, Type: form.Hidden, Values: []string{"urn:xmpp:dataforms:softwareinfo"}},
		{Var: "software", Values: []string{"xmppkit"}},
	}})
	d.AddIdentity("config", disco.Identity{Category: "automation", Type: "command-node"})
	m.HandleIQ(stanza.TypeGet, "urn:xmpp:ping", "ping", mux.HandlerFunc(func(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
		return s.Send(ctx, iq.Result())
	}))
	m.HandleMessage(mux.AnyType, "", contacts{})
	lb := &muxtest.Loopback{Handler: m, From: jid.MustParse("romeo@montague.lit/orchard")}
	return m, d, lb
}

func TestInfoDomain(t *testing.T) {
	_, _, lb := setup(t)
	info, err := disco.GetInfo(context.Background(), lb, jid.MustParse("gw.example"), "")
	if err != nil {
		t.Fatal(err)
	}
	wantFeatures := []string{disco.NSInfo, disco.NSItems, "jabber:iq:gateway", "urn:xmpp:ping"}
	if !slices.Equal(info.Features, wantFeatures) {
		t.Errorf("features %q, want %q", info.Features, wantFeatures)
	}
	if len(info.Identities) != 1 || info.Identities[0].Type != "irc" || info.Identities[0].Name != "IRC gateway" {
		t.Errorf("identities %+v", info.Identities)
	}
	// The form is given by d itself and again through the mux it is
	// registered in: it is answered once.
	if len(info.Forms) != 1 || info.Forms[0].FormType() != "urn:xmpp:dataforms:softwareinfo" {
		t.Errorf("forms %+v", info.Forms)
	}
	if v, _ := info.Forms[0].Get("software"); v != "xmppkit" {
		t.Errorf("software = %q", v)
	}
	if !info.HasFeature("urn:xmpp:ping") || info.HasFeature("urn:xmpp:receipts") {
		t.Error("HasFeature")
	}
	// The answer was addressed back to the asker.
	if sent := lb.Recorder.Sent(); len(sent) != 0 {
		t.Errorf("stray stanzas %v", sent)
	}
}

func TestInfoPerJID(t *testing.T) {
	_, _, lb := setup(t)
	info, err := disco.GetInfo(context.Background(), lb, jid.MustParse("alice@gw.example"), "")
	if err != nil {
		t.Fatal(err)
	}
	if !info.HasFeature("urn:xmpp:receipts") || !info.HasFeature(disco.NSInfo) {
		t.Errorf("contact features %q", info.Features)
	}
	var names []string
	for _, id := range info.Identities {
		names = append(names, id.Category+"/"+id.Type+"/"+id.Name)
	}
	if !slices.Contains(names, "client/pc/alice") {
		t.Errorf("contact identities %q", names)
	}
}

func TestInfoNodes(t *testing.T) {
	_, _, lb := setup(t)
	ctx := context.Background()
	gw := jid.MustParse("gw.example")
	info, err := disco.GetInfo(ctx, lb, gw, "config")
	if err != nil {
		t.Fatal(err)
	}
	if info.Node != "config" || len(info.Identities) != 1 || info.Identities[0].Type != "command-node" ||
		!slices.Equal(info.Features, []string{disco.NSInfo}) {
		t.Errorf("config node info %+v", info)
	}
	// A node known only through its items.
	info, err = disco.GetInfo(ctx, lb, gw, "rooms")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Identities) != 1 || info.Identities[0] != disco.DefaultIdentity {
		t.Errorf("rooms node identities %+v, want the default", info.Identities)
	}
	_, err = disco.GetInfo(ctx, lb, gw, "nope")
	if !errors.Is(err, stanza.ErrItemNotFound) {
		t.Errorf("unknown node: %v, want item-not-found", err)
	}
	_, err = disco.GetItems(ctx, lb, gw, "nope")
	if !errors.Is(err, stanza.ErrItemNotFound) {
		t.Errorf("unknown node items: %v, want item-not-found", err)
	}
}

func TestItems(t *testing.T) {
	_, d, lb := setup(t)
	d.AddItem("", disco.Item{Node: "config", Name: "Configuration"})
	ctx := context.Background()
	gw := jid.MustParse("gw.example")
	items, err := disco.GetItems(ctx, lb, gw, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || items[0].Node != "rooms" || items[0].Name != "Rooms" || !items[0].JID.Equal(gw) {
		t.Errorf("items %+v", items)
	}
	if len(items) == 2 && (!items[1].JID.Equal(gw) || items[1].Node != "config") {
		t.Errorf("item with zero JID: %+v, want the queried JID", items[1])
	}
	items, err = disco.GetItems(ctx, lb, gw, "rooms")
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].JID.String() != "#go@gw.example" {
		t.Errorf("rooms %+v", items)
	}
	items, err = disco.GetItems(ctx, lb, jid.MustParse("alice@gw.example"), "")
	if err != nil || len(items) != 0 {
		t.Errorf("contact items %+v, %v", items, err)
	}
}

func TestMinimalHandler(t *testing.T) {
	// Without a source and with nothing added, a Handler still answers the
	// required minimum (XEP-0030 §3.1).
	d := disco.New(nil)
	lb := &muxtest.Loopback{Handler: d, From: jid.MustParse("a@x/r")}
	info, err := disco.GetInfo(context.Background(), lb, jid.MustParse("svc.x"), "")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(info.Features, []string{disco.NSInfo, disco.NSItems}) || len(info.Identities) != 1 {
		t.Errorf("%+v", info)
	}
}

func TestUnknownContact(t *testing.T) {
	d := disco.New(nil)
	lb := &muxtest.Loopback{Handler: d, From: jid.MustParse("a@x/r")}
	_, err := disco.GetInfo(context.Background(), lb, jid.MustParse("nobody@svc.x"), "")
	if !errors.Is(err, stanza.ErrItemNotFound) {
		t.Errorf("unknown contact: %v, want item-not-found", err)
	}
}

func TestHandlerBadRequests(t *testing.T) {
	d := disco.New(nil)
	var rec muxtest.Recorder
	iq := stanza.NewIQ(stanza.TypeSet, jid.MustParse("svc.x"), stanza.Element{Space: disco.NSInfo, Local: "query"})
	if err := d.HandleStanza(context.Background(), &rec, iq); !errors.Is(err, stanza.ErrBadRequest) {
		t.Errorf("set: %v", err)
	}
	iq = stanza.NewIQ(stanza.TypeGet, jid.MustParse("svc.x"), stanza.Element{Space: "urn:other", Local: "query"})
	if err := d.HandleStanza(context.Background(), &rec, iq); !errors.Is(err, stanza.ErrServiceUnavailable) {
		t.Errorf("other namespace: %v", err)
	}
}

func TestClientErrors(t *testing.T) {
	ctx := context.Background()
	to := jid.MustParse("svc.x")
	rec := &muxtest.Recorder{IQ: func(_ context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
		return iq.Result(stanza.MustElement(`<query xmlns='http://jabber.org/protocol/disco#info'><identity type='pc'/></query>`)), nil
	}}
	if _, err := disco.GetInfo(ctx, rec, to, ""); !errors.Is(err, stanza.ErrBadRequest) {
		t.Errorf("identity without category: %v", err)
	}
	rec.IQ = func(_ context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) { return iq.Result(), nil }
	if _, err := disco.GetInfo(ctx, rec, to, ""); !errors.Is(err, stanza.ErrBadRequest) {
		t.Errorf("empty result: %v", err)
	}
	rec.IQ = func(_ context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
		return iq.Result(stanza.MustElement(`<query xmlns='http://jabber.org/protocol/disco#items'><item jid='@@bad'/></query>`)), nil
	}
	if _, err := disco.GetItems(ctx, rec, to, ""); !errors.Is(err, stanza.ErrBadRequest) {
		t.Errorf("bad item jid: %v", err)
	}
	rec.IQ = nil // service-unavailable
	if _, err := disco.GetItems(ctx, rec, to, ""); !errors.Is(err, stanza.ErrServiceUnavailable) {
		t.Errorf("peer error: %v", err)
	}
	// The request was a proper disco#items get with the node.
	rec.Reset()
	_, _ = disco.GetItems(ctx, rec, to, "n1")
	req := rec.Last()
	if req.Type != stanza.TypeGet || !req.To.Equal(to) {
		t.Fatalf("request %s", req)
	}
	var q struct {
		Node string `xml:"node,attr"`
	}
	if err := req.UnmarshalChild(disco.NSItems, "query", &q); err != nil || q.Node != "n1" {
		t.Errorf("request payload %s: %v", req, err)
	}
}

func FuzzParseInfo(f *testing.F) {
	f.Add([]byte(`<query xmlns='http://jabber.org/protocol/disco#info' node='n'><identity category='client' type='pc' name='x' xml:lang='en'/><feature var='a'/><x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'><value>urn:x</value></field></x></query>`))
	f.Add([]byte(`<query xmlns='http://jabber.org/protocol/disco#info'/>`))
	f.Add([]byte(`<query xmlns='http://jabber.org/protocol/disco#items' node='n'><item jid='a@b/c' node='x' name='y'/></query>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := disco.ParseInfo(b)
		if err != nil {
			var se *stanza.Error
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not a *stanza.Error", err)
			}
			return
		}
		// The same bytes as a disco#items answer fail only with stanza errors.
		if _, _, err := disco.ParseItems(b); err != nil {
			var se *stanza.Error
			if !errors.As(err, &se) {
				t.Fatalf("ParseItems error %T is not a *stanza.Error", err)
			}
		}
		// Whatever parses can be hashed or is refused with a CapsError.
		if _, err := disco.CapsHash(info); err != nil {
			var ce *disco.CapsError
			if !errors.As(err, &ce) {
				t.Fatalf("CapsHash error %T", err)
			}
		}
	})
}

func TestCapsNode(t *testing.T) {
	_, d, lb := setup(t)
	ctx := context.Background()
	gw := jid.MustParse("gw.example")
	root, ok := d.Info(disco.Query{To: gw})
	if !ok {
		t.Fatal("no root info")
	}
	c, err := disco.Caps("https://xmppkit.dev", root)
	if err != nil {
		t.Fatal(err)
	}
	var attrs struct {
		Hash string `xml:"hash,attr"`
		Node string `xml:"node,attr"`
		Ver  string `xml:"ver,attr"`
	}
	if err := c.Unmarshal(&attrs); err != nil || c.Space != disco.NSCaps || attrs.Hash != "sha-1" || attrs.Node != "https://xmppkit.dev" {
		t.Fatalf("caps element %s: %v", c.XML(), err)
	}
	info, err := disco.GetInfo(ctx, lb, gw, attrs.Node+"#"+attrs.Ver)
	if err != nil {
		t.Fatalf("node#ver query: %v", err)
	}
	if info.Node != attrs.Node+"#"+attrs.Ver || !slices.Equal(info.Features, root.Features) {
		t.Errorf("node#ver info %+v", info)
	}
	if ver, _ := disco.CapsHash(info); ver != attrs.Ver {
		t.Errorf("hash of the answer %q, want %q", ver, attrs.Ver)
	}
	if _, err := disco.GetInfo(ctx, lb, gw, attrs.Node+"#stale"); !errors.Is(err, stanza.ErrItemNotFound) {
		t.Errorf("stale ver: %v", err)
	}
}

func TestFormsDeduplicated(t *testing.T) {
	_, d, _ := setup(t)
	plain := form.Form{Type: form.TypeResult, Fields: []form.Field{{Var: "a", Values: []string{"1"}}}}
	d.AddForm("forms", plain)
	d.AddForm("forms", form.Form{Type: form.TypeResult, Fields: []form.Field{
		{Var: form.FormTypeVar, Type: form.Hidden, Values: []string{"urn:t"}}, {Var: "v", Values: []string{"first"}}}})
	d.AddForm("forms", form.Form{Type: form.TypeResult, Fields: []form.Field{
		{Var: form.FormTypeVar, Type: form.Hidden, Values: []string{"urn:t"}}, {Var: "v", Values: []string{"second"}}}})
	info, ok := d.Info(disco.Query{To: jid.MustParse("gw.example"), Node: "forms"})
	if !ok {
		t.Fatal("node unknown")
	}
	if len(info.Forms) != 2 {
		t.Fatalf("%d forms, want 2: %+v", len(info.Forms), info.Forms)
	}
	if v, _ := info.Forms[1].Get("v"); v != "first" {
		t.Errorf("kept %q, want the first form of a FORM_TYPE", v)
	}
}
