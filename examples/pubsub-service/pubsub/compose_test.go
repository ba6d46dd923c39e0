package pubsub

import (
	"context"
	"strings"
	"testing"
	"time"

	"xmppkit.dev/disco"
	"xmppkit.dev/mux"
	"xmppkit.dev/ping"
	"xmppkit.dev/stanza"
	"xmppkit.dev/version"
	"xmppkit.dev/xmpptest"
)

// search is a second service with a Register of its own: XEP-0055 search,
// advertised with an identity of its own.
type search struct{}

const nsSearch = "jabber:iq:search"

func (search) Register(m *mux.ServeMux) { m.HandleIQ("", nsSearch, "query", search{}) }

func (search) HandleStanza(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
	return s.Send(ctx, iq.Result(stanza.Element{Space: nsSearch, Local: "query"}))
}

func (search) Identities(q disco.Query) []disco.Identity {
	if q.To.Local() == "" && q.Node == "" {
		return []disco.Identity{{Category: "directory", Type: "user", Name: "Search"}}
	}
	return nil
}

// TestServicesCompose mounts two services (pubsub and a search service),
// version and ping on one mux with one disco handler: nothing panics with a
// duplicate route, and disco#info lists what every one of them advertises.
func TestServicesCompose(t *testing.T) {
	svc, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	m := mux.New()
	svc.Register(m)
	search{}.Register(m)
	version.Handler{Info: version.Info{Name: "composed", Version: "1"}}.Register(m)
	ping.Handler{}.Register(m)
	disco.New(m).Register(m)

	x := xmpptest.New(t, svcDomain, m)
	c := x.Client("alice")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := disco.GetInfo(ctx, c, svcJID, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{NS, featurePf + "publish", nsSearch, version.NS, ping.NS, disco.NSInfo, disco.NSItems} {
		if !info.HasFeature(f) {
			t.Errorf("disco#info lacks %q: %q", f, info.Features)
		}
	}
	var cats []string
	for _, id := range info.Identities {
		cats = append(cats, id.Category+"/"+id.Type)
	}
	if len(cats) != 2 || cats[0] != "directory/user" || cats[1] != "pubsub/service" {
		t.Errorf("identities %q, want directory/user and pubsub/service", cats)
	}

	// Each service still serves its own requests.
	cl := &client{c, t}
	cl.ok(stanza.TypeSet, NS, e("create", "node", "composed"))
	items, err := disco.GetItems(ctx, c, svcJID, "")
	if err != nil || len(items) != 1 || items[0].Node != "composed" {
		t.Errorf("disco#items %v, %v: want the pubsub node", items, err)
	}
	if v, err := version.Get(ctx, c, svcJID); err != nil || v.Name != "composed" {
		t.Errorf("version %+v, %v", v, err)
	}
	if _, err := c.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, svcJID, stanza.Element{Space: nsSearch, Local: "query"})); err != nil {
		t.Errorf("search: %v", err)
	}

	// Handler, the service alone, brings its own disco handler.
	if _, err := disco.GetInfo(ctx, c, svcJID, "composed"); err != nil {
		t.Errorf("node info: %v", err)
	}
	alone, _ := New(Options{})
	t.Cleanup(func() { alone.Close() })
	if h, _ := alone.Handler().Handler(stanza.NewIQ(stanza.TypeGet, svcJID, stanza.Element{Space: disco.NSInfo, Local: "query"})); h == nil {
		t.Error("Handler() serves no disco#info")
	}
}

// TestActionRoutes: each XEP-0060 action has a route of its own on the
// mux (mux.HandleIQAction); what none takes reaches the service.
func TestActionRoutes(t *testing.T) {
	svc, err := New(Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	m := mux.New()
	svc.Register(m)
	for k := range actions {
		typ, ns := stanza.TypeSet, NS
		if k.get {
			typ = stanza.TypeGet
		}
		if k.owner {
			ns = NSOwner
		}
		iq := stanza.NewIQ(typ, svcJID, pubsubOf(ns, e(k.act, "node", "n")))
		if h, pattern := m.Handler(iq); h == nil || !strings.Contains(pattern, k.act) {
			t.Errorf("%s %s %s: routed to %T by %q", typ, ns, k.act, h, pattern)
		}
	}
	if h, _ := m.Handler(stanza.NewIQ(stanza.TypeSet, svcJID, pubsubOf(NS, e("frobnicate")))); h != svc {
		t.Errorf("an unknown action goes to %T", h)
	}
}
