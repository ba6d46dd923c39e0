package delegation_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"xmppkit.dev/component"
	"xmppkit.dev/delegation"
	"xmppkit.dev/disco"
	"xmppkit.dev/internal/itest"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/privilege"
	"xmppkit.dev/router"
	"xmppkit.dev/servertest"
	"xmppkit.dev/stanza"
)

const (
	privDomain  = "priv.localhost"  // delegated MAM and PEP, message privilege
	plainDomain = "plain.localhost" // delegated a namespace it does not serve
	otherDomain = "other.localhost" // delegated a namespace it serves
	nsMAM       = "urn:xmpp:mam:2"
	nsPubSub    = "http://jabber.org/protocol/pubsub"
	nsRefused   = "urn:xmppkit:test:refused"
	nsOther     = "urn:xmppkit:test:other"
	testNode    = "urn:xmppkit:test:node"
)

var (
	server = jid.MustParse(servertest.LocalDomain)
	alice  = jid.MustParse("alice@localhost")
)

// TestIntegration checks delegation end to end against Prosody 0.12 with
// prosody-modules, ejabberd 23.01 and the embedded router (delegating by
// router.Config.Delegations): users as real c2s clients send
// delegated IQs, the component answers them, and the users get the
// answers; it prints per server what worked and what was answered.
func TestIntegration(t *testing.T) {
	var comps []servertest.Component
	for _, d := range []string{privDomain, plainDomain, otherDomain} {
		comps = append(comps, servertest.Component{Domain: d, Secret: servertest.Secret})
	}
	dels := []servertest.Delegation{
		{Namespace: nsMAM, Component: privDomain},
		{Namespace: nsPubSub, Component: privDomain},
		{Namespace: nsRefused, Component: plainDomain},
		{Namespace: nsOther, Component: otherDomain},
	}
	privs := []servertest.Privileges{{Component: privDomain, Message: "outgoing"}}
	t.Run("prosody", func(t *testing.T) {
		pd := append(dels,
			servertest.Delegation{Namespace: delegation.BareDiscoInfo, Component: privDomain},
			servertest.Delegation{Namespace: delegation.BareDiscoItems, Component: privDomain})
		srv := servertest.Prosody(t, servertest.ProsodyOptions{Components: comps, Delegations: pd, Privileges: privs})
		res := &itest.Results{}
		defer res.Print(t, "prosody")
		cases(t, srv, "prosody", res)
	})
	t.Run("ejabberd", func(t *testing.T) {
		srv := servertest.Ejabberd(t, servertest.EjabberdOptions{Components: comps, Delegations: dels, Privileges: privs})
		res := &itest.Results{}
		defer res.Print(t, "ejabberd")
		cases(t, srv, "ejabberd", res)
	})
	t.Run("router", func(t *testing.T) {
		var rd []router.Delegation
		for _, d := range dels {
			rd = append(rd, router.Delegation{Namespace: d.Namespace, Component: d.Component})
		}
		rd = append(rd, router.Delegation{Namespace: delegation.BareDiscoInfo, Component: privDomain},
			router.Delegation{Namespace: delegation.BareDiscoItems, Component: privDomain})
		srv := itest.Router(t, router.Config{Delegations: rd,
			Privileges: []router.Privileges{{Component: privDomain, Message: "outgoing"}}}, privDomain, plainDomain, otherDomain)
		res := &itest.Results{}
		defer res.Print(t, "router")
		cases(t, srv, "router", res)
	})
}

// service is the component under test: a MAM and a PEP handler served
// through delegation, with the message privilege for the MAM results.
type service struct {
	d       *delegation.Manager
	p       *privilege.Entity
	m       *mux.ServeMux
	handled atomic.Int32           // delegated IQs that reached a handler
	lastTo  atomic.Pointer[string] // the Info.To of the last delegated IQ
}

func newService(logs *itest.LogRecords) *service {
	s := &service{m: mux.New()}
	s.p = &privilege.Entity{Logger: slog.New(logs)}
	s.d = &delegation.Manager{Sender: s.p.OnBehalf, Logger: slog.New(logs)}
	s.m.HandleIQ(stanza.TypeSet, nsMAM, "query", mux.HandlerFunc(s.mam))
	s.m.HandleIQ(stanza.TypeSet, nsPubSub, "pubsub", mux.HandlerFunc(s.pep))
	s.m.HandleIQ(stanza.TypeGet, "urn:xmppkit:test", "query", bareInfo{})
	disco.New(s.m).Register(s.m)
	s.p.Register(s.m)
	s.d.Register(s.m)
	return s
}

func (s *service) seen(ctx context.Context) (delegation.Info, error) {
	info, ok := delegation.FromContext(ctx)
	if !ok {
		return info, stanza.NewError(stanza.Forbidden, "only through delegation")
	}
	s.handled.Add(1)
	to := info.To.String()
	s.lastTo.Store(&to)
	return info, nil
}

// mam answers a MAM query (XEP-0313 §4) with one result message, sent from
// the archive's owner on its behalf, then the <fin/>; queryid "bad" gets
// item-not-found.
func (s *service) mam(ctx context.Context, snd mux.Sender, iq *stanza.Stanza) error {
	if _, err := s.seen(ctx); err != nil {
		return err
	}
	var q struct {
		QueryID string `xml:"queryid,attr"`
	}
	if err := iq.Unmarshal(&q); err != nil {
		return stanza.NewError(stanza.BadRequest, "")
	}
	if q.QueryID == "bad" {
		return stanza.NewError(stanza.ItemNotFound, "no such archive page")
	}
	archived := stanza.NewMessage(stanza.TypeChat, iq.To, "archived hello")
	archived.From = jid.MustParse("bob@localhost/rb")
	archived.NS = stanza.NSClient
	res := stanza.NewBuilder(nsMAM, "result").Attr("queryid", q.QueryID).Attr("id", "m1").
		Child("urn:xmpp:forward:0", "forwarded").
		Child("urn:xmpp:delay", "delay").Attr("stamp", "2024-01-02T03:04:05Z").End().
		Append(stanza.MustElement(archived.String())).Element()
	msg := stanza.NewMessage("", iq.From, "")
	msg.From = iq.To.Bare() // the archive: the user's bare JID (or the server's domain)
	msg.SetPayloadElements(res)
	if err := snd.Send(ctx, msg); err != nil {
		return err
	}
	return snd.Send(ctx, iq.Result(stanza.NewBuilder(nsMAM, "fin").Attr("complete", "true").Element()))
}

// pep answers a PEP publish (XEP-0163) with the item id.
func (s *service) pep(ctx context.Context, snd mux.Sender, iq *stanza.Stanza) error {
	if _, err := s.seen(ctx); err != nil {
		return err
	}
	return snd.Send(ctx, iq.Result(stanza.NewBuilder(nsPubSub, "pubsub").Child("", "publish").
		Attr("node", "urn:xmppkit:test:mood").Child("", "item").Attr("id", "i1").Element()))
}

// bareInfo answers disco for testNode at the users' bare JIDs (what the
// v0.5 remaining disco delegation forwards).
type bareInfo struct{}

func (bareInfo) HandleStanza(context.Context, mux.Sender, *stanza.Stanza) error {
	return stanza.ErrServiceUnavailable
}

func (bareInfo) Features(q disco.Query) []string {
	if q.To.Local() != "" && q.Node == testNode {
		return []string{"urn:xmppkit:test:feature"}
	}
	return nil
}

func (bareInfo) Identities(q disco.Query) []disco.Identity {
	if q.To.Local() != "" && (q.Node == testNode || q.Node == "") {
		return []disco.Identity{{Category: "account", Type: "registered"}}
	}
	return nil
}

func (bareInfo) Items(q disco.Query) []disco.Item {
	if q.To.Local() != "" && q.Node == "" {
		return []disco.Item{{JID: q.To, Node: testNode, Name: "a node of " + q.To.Local()}}
	}
	return nil
}

func mamQuery(to jid.JID, queryID string) *stanza.Stanza {
	return stanza.NewIQ(stanza.TypeSet, to, stanza.NewBuilder(nsMAM, "query").Attr("queryid", queryID).Element())
}

func cases(t *testing.T, srv *servertest.Server, kind string, res *itest.Results) {
	prosody, onRouter := kind == "prosody", kind == "router"
	logs := &itest.LogRecords{}
	svc := newService(logs)
	resets := &atomic.Int32{}
	svc.d.OnChange = func(_ jid.JID, list []delegation.Delegated) {
		if list == nil {
			resets.Add(1)
		}
	}
	itest.Component(t, srv, privDomain, svc.m, slog.New(logs), func(component.LinkEvent) { svc.d.Reset(); svc.p.Reset() })
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	version := delegation.NS1
	if kind != "ejabberd" {
		version = delegation.NS2
	}

	res.Record(t, "advertisement", func(t *testing.T) string {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		for _, ns := range []string{nsMAM, nsPubSub} {
			if err := svc.d.Wait(wctx, server, ns); err != nil {
				t.Fatalf("%s not delegated: %v (have %v)", ns, err, svc.d.Delegated(server))
			}
		}
		if _, err := svc.p.Wait(wctx, server); err != nil {
			t.Fatalf("no privilege advertisement: %v", err)
		}
		var names []string
		for _, dl := range svc.d.Delegated(server) {
			names = append(names, dl.Namespace)
		}
		return fmt.Sprintf("%s delegated %s", version, strings.Join(names, ", "))
	})

	aliceC := itest.Login(t, srv, "alice", "ra")
	itest.Available(t, aliceC)

	res.Record(t, "mam-query", func(t *testing.T) string {
		before := svc.handled.Load()
		type answer struct {
			st  *stanza.Stanza
			err error
		}
		done := make(chan answer, 1)
		go func() {
			st, err := aliceC.SendIQ(ctx, mamQuery(jid.JID{}, "q1"))
			done <- answer{st, err}
		}()
		msg := itest.Expect(t, aliceC, 5*time.Second, "the MAM result message", func(st *stanza.Stanza) bool {
			_, ok := st.Child(nsMAM, "result")
			return st.Kind == stanza.Message && ok
		})
		a := <-done
		if a.err != nil {
			t.Fatalf("MAM query: %v", a.err)
		}
		// Prosody passes the component's from (alice@localhost), ejabberd
		// requires it; the router answers a request without to from
		// nobody, as its own answers.
		wantFrom := alice
		if onRouter {
			wantFrom = jid.JID{}
		}
		if _, ok := a.st.Child(nsMAM, "fin"); !ok || !a.st.From.Equal(wantFrom) {
			t.Fatalf("MAM answer %s, want a <fin/> from %q", a.st, wantFrom)
		}
		if !msg.From.Equal(alice) || !strings.Contains(msg.Payload(), "archived hello") {
			t.Fatalf("MAM result message %s, want it from alice@localhost", msg)
		}
		if svc.handled.Load() != before+1 {
			t.Fatal("the handler did not run once")
		}
		return fmt.Sprintf("inner to as forwarded %q; alice got the result message from %s (privilege) and the fin from %s",
			*svc.lastTo.Load(), msg.From, a.st.From)
	})

	res.Record(t, "mam-to-server", func(t *testing.T) string {
		ans, err := aliceC.SendIQ(ctx, mamQuery(server, "q2"))
		if err != nil {
			t.Fatalf("MAM query to the server: %v", err)
		}
		if !ans.From.Equal(server) {
			t.Fatalf("answer from %s, want localhost", ans.From)
		}
		itest.Expect(t, aliceC, 5*time.Second, "the MAM result message", func(st *stanza.Stanza) bool {
			_, ok := st.Child(nsMAM, "result")
			return st.Kind == stanza.Message && ok
		})
		return fmt.Sprintf("inner to %q; fin from %s", *svc.lastTo.Load(), ans.From)
	})

	res.Record(t, "error-answer", func(t *testing.T) string {
		_, err := aliceC.SendIQ(ctx, mamQuery(jid.JID{}, "bad"))
		var se *stanza.Error
		if !errors.As(err, &se) || se.Condition != stanza.ItemNotFound {
			t.Fatalf("MAM query the handler refuses: %v, want item-not-found", err)
		}
		return fmt.Sprintf("alice got %s %s %q", se.Type, se.Condition, se.Text)
	})

	res.Record(t, "pep-publish", func(t *testing.T) string {
		pub := stanza.NewBuilder(nsPubSub, "pubsub").Child("", "publish").Attr("node", "urn:xmppkit:test:mood").
			Child("", "item").Child("urn:xmppkit:test:mood", "mood").Text("happy").Element()
		ans, err := aliceC.SendIQ(ctx, stanza.NewIQ(stanza.TypeSet, jid.JID{}, pub))
		if err != nil {
			t.Fatalf("PEP publish: %v", err)
		}
		if !strings.Contains(ans.Payload(), "i1") {
			t.Fatalf("PEP answer %s", ans)
		}
		return fmt.Sprintf("answered from %q: %s", ans.From, ans.Payload())
	})

	res.Record(t, "server-disco", func(t *testing.T) string {
		info, err := disco.GetInfo(ctx, aliceC, server, "")
		if err != nil {
			t.Fatal(err)
		}
		if !info.HasFeature(nsMAM) {
			t.Fatalf("the server's disco#info lacks the delegated %s: %v %v", nsMAM, info.Features, info.Identities)
		}
		return fmt.Sprintf("the server lists %s among %d features", nsMAM, len(info.Features))
	})

	res.Record(t, "server-disco-after", func(t *testing.T) string {
		// Another component is delegated a namespace it serves: is what
		// priv.localhost answered still merged into the server's
		// disco#info?
		other := &delegation.Manager{Logger: slog.New(logs)}
		om := mux.New()
		om.HandleIQFunc(stanza.TypeGet, nsOther, "query", func(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
			return s.Send(ctx, iq.Result())
		})
		other.Register(om)
		itest.Component(t, srv, otherDomain, om, slog.New(logs), nil)
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := other.Wait(wctx, server, nsOther); err != nil {
			t.Fatalf("%s not delegated to %s: %v", nsOther, otherDomain, err)
		}
		var info disco.Info
		itest.Eventually(t, 5*time.Second, "the server to list "+nsOther, func() bool {
			var err error
			info, err = disco.GetInfo(ctx, aliceC, server, "")
			return err == nil && info.HasFeature(nsOther)
		})
		if prosody {
			// mod_delegation's disco_nest resets every nested feature of
			// the host each time it asks a component about a namespace.
			if info.HasFeature(nsMAM) {
				t.Fatalf("Prosody kept %s after another component was delegated: fixed upstream?", nsMAM)
			}
			return fmt.Sprintf("Prosody bug: %s left the server's disco#info once %s was delegated %s (delegation itself goes on)", nsMAM, otherDomain, nsOther)
		}
		if !info.HasFeature(nsMAM) {
			t.Fatalf("the server's disco#info lost %s: %v", nsMAM, info.Features)
		}
		return "both components' features listed"
	})

	res.Record(t, "bare-disco", func(t *testing.T) string {
		if kind == "ejabberd" {
			return "not in XEP-0355 v0.4 (ejabberd): skipped"
		}
		info, err := disco.GetInfo(ctx, aliceC, alice, testNode)
		if err != nil {
			t.Fatalf("disco#info on alice@localhost node %s: %v", testNode, err)
		}
		if !info.HasFeature("urn:xmppkit:test:feature") {
			t.Fatalf("disco#info for the node answered %v", info)
		}
		items, err := disco.GetItems(ctx, aliceC, alice, "")
		if err != nil {
			t.Fatalf("disco#items on alice@localhost: %v", err)
		}
		if len(items) != 1 || items[0].Node != testNode {
			t.Fatalf("disco#items answered %v", items)
		}
		return fmt.Sprintf("node %s answered by the component (%v); disco#items: %d item(s)", testNode, info.Features, len(items))
	})

	res.Record(t, "forged", func(t *testing.T) string {
		before := svc.handled.Load()
		inner := mamQuery(jid.JID{}, "forged")
		inner.From = jid.MustParse("bob@localhost/rb")
		inner.NS = stanza.NSClient
		env := stanza.NewBuilder(version, "delegation").Child("urn:xmpp:forward:0", "forwarded").
			Append(stanza.MustElement(inner.String())).Element()
		_, err := aliceC.SendIQ(ctx, stanza.NewIQ(stanza.TypeSet, jid.MustParse(privDomain), env))
		var se *stanza.Error
		if !errors.As(err, &se) || se.Condition != stanza.Forbidden {
			t.Fatalf("forged delegation: %v, want forbidden", err)
		}
		if svc.handled.Load() != before {
			t.Fatal("a forged delegation reached a handler")
		}
		logged, _ := logs.Find("not from the server")
		return fmt.Sprintf("alice got %s %s; no handler ran; logged: %s", se.Type, se.Condition, logged)
	})

	plogs := &itest.LogRecords{}
	plain := &delegation.Manager{Logger: slog.New(plogs)}
	pm := mux.New()
	plain.Register(pm)
	itest.Component(t, srv, plainDomain, pm, slog.New(plogs), nil)

	res.Record(t, "not-served", func(t *testing.T) string {
		// plain.localhost is delegated a namespace it has no handler for.
		time.Sleep(300 * time.Millisecond)
		delegated := plain.IsDelegated(server, nsRefused)
		_, err := aliceC.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, jid.JID{}, stanza.Element{Space: nsRefused, Local: "query"}))
		var se *stanza.Error
		if !errors.As(err, &se) || se.Condition != stanza.ServiceUnavailable {
			t.Fatalf("iq for a namespace the component does not serve: %v, want service-unavailable", err)
		}
		if (kind != "ejabberd") != delegated {
			t.Fatalf("delegated = %v: Prosody and the router delegate without waiting for the disco answer, ejabberd only after a result", delegated)
		}
		how := "ejabberd did not delegate it (the component answered its disco query item-not-found)"
		if kind != "ejabberd" {
			how = kind + " delegated it anyway; the component's mux answered"
		}
		return fmt.Sprintf("%s; alice got %s %s %q", how, se.Type, se.Condition, se.Text)
	})

	res.Record(t, "reconnect", func(t *testing.T) string {
		if onRouter {
			return "not run: the router is not restarted here (see TestInProcess)"
		}
		n0 := resets.Load()
		t0 := time.Now()
		if err := srv.Restart(); err != nil {
			t.Fatal(err)
		}
		itest.Eventually(t, 30*time.Second, "the delegations forgotten with the link", func() bool { return resets.Load() > n0 })
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := svc.d.Wait(wctx, server, nsMAM); err != nil {
			t.Fatalf("%s not delegated again: %v", nsMAM, err)
		}
		if _, err := svc.p.Wait(wctx, server); err != nil {
			t.Fatalf("no privilege advertisement after the reconnect: %v", err)
		}
		took := time.Since(t0)
		again := itest.Login(t, srv, "alice", "ra2")
		itest.Available(t, again)
		ans, err := again.SendIQ(ctx, mamQuery(jid.JID{}, "q3"))
		if err != nil {
			t.Fatalf("MAM query after the reconnect: %v", err)
		}
		if _, ok := ans.Child(nsMAM, "fin"); !ok {
			t.Fatalf("MAM answer after the reconnect: %s", ans)
		}
		return fmt.Sprintf("server restarted: delegations forgotten at link down, delegated again %v after the restart began; a new MAM query answered", took.Round(time.Millisecond))
	})
}
