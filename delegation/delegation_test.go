package delegation_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"xmppkit.dev/delegation"
	"xmppkit.dev/disco"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/mux/muxtest"
	"xmppkit.dev/stanza"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// env is a Manager mounted on a mux with a MAM-like handler, fed stanzas
// as the component would.
type env struct {
	d    *delegation.Manager
	m    *mux.ServeMux
	rec  *muxtest.Recorder
	seen []*stanza.Stanza
	info []delegation.Info
	// answer decides what the handler does; nil sends an empty result.
	answer func(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error
}

func newEnv(t *testing.T, d *delegation.Manager) *env {
	t.Helper()
	if d == nil {
		d = &delegation.Manager{}
	}
	if d.Logger == nil {
		d.Logger = quiet
	}
	e := &env{d: d, m: mux.New(), rec: &muxtest.Recorder{}}
	e.m.HandleIQFunc("", nsMAM, "query", func(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
		e.seen = append(e.seen, iq)
		info, _ := delegation.FromContext(ctx)
		e.info = append(e.info, info)
		if e.answer != nil {
			return e.answer(ctx, s, iq)
		}
		return s.Send(ctx, iq.Result())
	})
	d.Register(e.m)
	return e
}

func (e *env) deliver(t *testing.T, raw string) {
	t.Helper()
	st, err := stanza.Decode([]byte(raw))
	if st == nil {
		t.Fatalf("%s: %v", raw, err)
	}
	if err := muxtest.Serve(context.Background(), e.m, e.rec, st); err != nil {
		t.Fatal(err)
	}
}

// delegated wraps inner as the server forwards it.
func delegated(version, from, inner string) string {
	return `<iq type='set' id='out1' from='` + from + `' to='priv.localhost'><delegation xmlns='` + version +
		`'><forwarded xmlns='urn:xmpp:forward:0'>` + inner + `</forwarded></delegation></iq>`
}

// answerOf returns the iq inside the component's wrapped answer.
func answerOf(t *testing.T, out *stanza.Stanza, version string) *stanza.Stanza {
	t.Helper()
	if out == nil || out.Kind != stanza.IQ || out.Type != stanza.TypeResult || out.ID != "out1" || !out.To.Equal(server) {
		t.Fatalf("outer answer %v", out)
	}
	el, ok := out.Child(version, "delegation")
	if !ok {
		t.Fatalf("no <delegation xmlns='%s'/> in %s", version, out)
	}
	if !strings.Contains(el.XML(), "<iq xmlns='jabber:client'") {
		t.Fatalf("the inner iq is not in jabber:client with its xmlns (Prosody requires it): %s", el.XML())
	}
	inner, err := stanza.Decode([]byte(el.XML()[strings.Index(el.XML(), "<iq"):strings.LastIndex(el.XML(), "</forwarded>")]))
	if err != nil {
		t.Fatalf("inner answer: %v in %s", err, out)
	}
	return inner
}

func TestDelegatedIQ(t *testing.T) {
	for _, c := range []struct {
		name, version, inner string
		handlerTo, infoTo    string
		answerFrom           string
	}{
		{name: "prosody without to", version: delegation.NS2,
			inner:     `<iq type='set' from='alice@localhost/ra' xmlns='jabber:client' xml:lang='en' id='mam1'><query queryid='q1' xmlns='urn:xmpp:mam:2'/></iq>`,
			handlerTo: "alice@localhost", infoTo: "", answerFrom: "alice@localhost"},
		{name: "ejabberd with the bare JID", version: delegation.NS1,
			inner:     `<iq xml:lang='en' to='alice@localhost' from='alice@localhost/ra' type='set' id='mam1' xmlns='jabber:client'><query xmlns='urn:xmpp:mam:2' queryid='q1'/></iq>`,
			handlerTo: "alice@localhost", infoTo: "alice@localhost", answerFrom: "alice@localhost"},
		{name: "to the server", version: delegation.NS1,
			inner:     `<iq to='localhost' from='alice@localhost/ra' type='get' id='mam1' xmlns='jabber:client'><query xmlns='urn:xmpp:mam:2'/></iq>`,
			handlerTo: "localhost", infoTo: "localhost", answerFrom: "localhost"},
		{name: "a remote sender", version: delegation.NS2,
			inner:     `<iq to='alice@localhost' from='romeo@montague.lit/x' type='get' id='mam1' xmlns='jabber:client'><query xmlns='urn:xmpp:mam:2'/></iq>`,
			handlerTo: "alice@localhost", infoTo: "alice@localhost", answerFrom: "alice@localhost"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.answer = func(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
				r := iq.Result(stanza.NewBuilder(nsMAM, "fin").Attr("complete", "true").Element())
				r.From = jid.MustParse("priv.localhost") // a handler that gets it wrong: corrected
				return s.Send(ctx, r)
			}
			e.deliver(t, delegated(c.version, "localhost", c.inner))
			if len(e.seen) != 1 {
				t.Fatalf("handler ran %d times", len(e.seen))
			}
			got := e.seen[0]
			if got.To.String() != c.handlerTo || got.From.String() == "" || got.ID != "mam1" {
				t.Fatalf("handler got %s", got)
			}
			if i := e.info[0]; i.Version != c.version || !i.Server.Equal(server) || i.To.String() != c.infoTo {
				t.Fatalf("Info %+v", i)
			}
			ans := answerOf(t, e.rec.Last(), c.version)
			if ans.Type != stanza.TypeResult || ans.ID != "mam1" || ans.From.String() != c.answerFrom || !ans.To.Equal(got.From) {
				t.Fatalf("inner answer %s", ans)
			}
			if _, ok := ans.Child(nsMAM, "fin"); !ok || ans.Lang != "" {
				t.Fatalf("inner answer %s", ans)
			}
			if len(e.rec.Sent()) != 1 {
				t.Fatalf("sent %v", e.rec.Sent())
			}
		})
	}
}

const mamInner = `<iq type='set' from='alice@localhost/ra' xmlns='jabber:client' id='mam1'><query xmlns='urn:xmpp:mam:2'/></iq>`

func TestDelegatedErrors(t *testing.T) {
	for _, c := range []struct {
		name   string
		answer func(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error
		want   stanza.Condition
	}{
		{name: "stanza error", answer: func(context.Context, mux.Sender, *stanza.Stanza) error {
			return stanza.NewError(stanza.ItemNotFound, "no page")
		}, want: stanza.ItemNotFound},
		{name: "other error", answer: func(context.Context, mux.Sender, *stanza.Stanza) error {
			return errors.New("disk on fire")
		}, want: stanza.InternalServerError},
		{name: "panic", answer: func(context.Context, mux.Sender, *stanza.Stanza) error { panic("boom") },
			want: stanza.InternalServerError},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.answer = c.answer
			e.deliver(t, delegated(delegation.NS2, "localhost", mamInner))
			ans := answerOf(t, e.rec.Last(), delegation.NS2)
			if ans.Type != stanza.TypeError || ans.Err().Condition != c.want || !ans.From.Equal(alice) {
				t.Fatalf("inner answer %s, want %s from alice@localhost", ans, c.want)
			}
			// Prosody accepts at most two children in an error: the
			// original payload and <error/>.
			if n := len(ans.Children()); n > 2 {
				t.Fatalf("%d children in the error answer", n)
			}
		})
	}
	// Not a ServeMux: the Manager applies the same rules.
	for _, c := range []struct {
		err  error
		want stanza.Condition
	}{{stanza.ErrNotAllowed, stanza.NotAllowed}, {errors.New("x"), stanza.InternalServerError}} {
		rec := &muxtest.Recorder{}
		d := &delegation.Manager{Logger: quiet, Handler: mux.HandlerFunc(func(context.Context, mux.Sender, *stanza.Stanza) error { return c.err })}
		m := mux.New()
		d.Register(m)
		st, _ := stanza.Decode([]byte(delegated(delegation.NS2, "localhost", mamInner)))
		muxtest.Serve(context.Background(), m, rec, st)
		if ans := answerOf(t, rec.Last(), delegation.NS2); ans.Err().Condition != c.want {
			t.Errorf("plain handler returning %v: %s", c.err, ans)
		}
	}
}

func TestDelegatedSender(t *testing.T) {
	var wrapped int
	e := newEnv(t, &delegation.Manager{Sender: func(s mux.Sender) mux.Sender {
		wrapped++
		return s
	}})
	e.answer = func(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
		// A result message from the archive, then the answer, twice.
		msg := stanza.NewMessage("", iq.From, "")
		msg.From = iq.To
		if err := s.Send(ctx, msg); err != nil {
			return err
		}
		if err := s.Send(ctx, iq.Result()); err != nil {
			return err
		}
		if err := s.Send(ctx, iq.Result()); !errors.Is(err, delegation.ErrAnswered) {
			t.Errorf("second answer: %v", err)
		}
		// An iq result with another id is not the answer.
		other := iq.Result()
		other.ID = "other"
		return s.Send(ctx, other)
	}
	e.deliver(t, delegated(delegation.NS2, "localhost", mamInner))
	sent := e.rec.Sent()
	if len(sent) != 3 || sent[0].Kind != stanza.Message || !sent[0].From.Equal(alice) || sent[2].ID != "other" || wrapped != 1 {
		t.Fatalf("sent %v (wrapped %d)", sent, wrapped)
	}
	answerOf(t, sent[1], delegation.NS2)

	// A handler that answers later, after returning.
	e2 := newEnv(t, nil)
	var later func()
	e2.answer = func(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
		later = func() { s.Send(context.Background(), iq.Result()) }
		return nil
	}
	e2.deliver(t, delegated(delegation.NS2, "localhost", mamInner))
	if len(e2.rec.Sent()) != 0 {
		t.Fatal("answered before the handler did")
	}
	later()
	answerOf(t, e2.rec.Last(), delegation.NS2)
}

func TestDelegatedRefused(t *testing.T) {
	for _, c := range []struct {
		name    string
		servers []jid.JID
		raw     string
		want    stanza.Condition // of the outer error reply; "" for an inner (wrapped) error
		inner   stanza.Condition
	}{
		{name: "forged by a user", raw: delegated(delegation.NS2, "alice@localhost/ra", mamInner), want: stanza.Forbidden},
		{name: "forged by a bare user", raw: delegated(delegation.NS1, "alice@localhost", mamInner), want: stanza.Forbidden},
		{name: "the server with a resource", raw: delegated(delegation.NS2, "localhost/x", mamInner), want: stanza.Forbidden},
		{name: "another server", raw: delegated(delegation.NS2, "other.example", mamInner), want: stanza.Forbidden},
		{name: "a sibling component", raw: delegated(delegation.NS2, "pubsub.localhost", mamInner), want: stanza.Forbidden},
		{name: "not a listed server", servers: []jid.JID{jid.MustParse("other.example")}, raw: delegated(delegation.NS2, "localhost", mamInner), want: stanza.Forbidden},
		{name: "inner to another domain", raw: delegated(delegation.NS2, "localhost",
			`<iq type='set' from='alice@localhost/ra' to='alice@other.example' xmlns='jabber:client' id='m'><query xmlns='urn:xmpp:mam:2'/></iq>`), want: stanza.Forbidden},
		{name: "inner to a full JID", raw: delegated(delegation.NS2, "localhost",
			`<iq type='set' from='alice@localhost/ra' to='bob@localhost/x' xmlns='jabber:client' id='m'><query xmlns='urn:xmpp:mam:2'/></iq>`), want: stanza.Forbidden},
		{name: "inner message", raw: delegated(delegation.NS2, "localhost", `<message xmlns='jabber:client' from='alice@localhost/ra'/>`), want: stanza.BadRequest},
		{name: "inner result", raw: delegated(delegation.NS2, "localhost", `<iq type='result' xmlns='jabber:client' from='alice@localhost/ra' id='m'/>`), want: stanza.BadRequest},
		{name: "inner without from", raw: delegated(delegation.NS2, "localhost", `<iq type='get' xmlns='jabber:client' id='m'><query xmlns='urn:xmpp:mam:2'/></iq>`), want: stanza.BadRequest},
		{name: "inner without id", raw: delegated(delegation.NS2, "localhost", `<iq type='get' xmlns='jabber:client' from='alice@localhost/ra'><query xmlns='urn:xmpp:mam:2'/></iq>`), want: stanza.BadRequest},
		{name: "no forwarded", raw: `<iq type='set' id='out1' from='localhost' to='priv.localhost'><delegation xmlns='urn:xmpp:delegation:2'/></iq>`, want: stanza.BadRequest},
		{name: "inner in the forward namespace", raw: delegated(delegation.NS2, "localhost", `<iq type='get' from='alice@localhost/ra' id='m'><query xmlns='urn:xmpp:mam:2'/></iq>`), want: stanza.BadRequest},
		{name: "nested delegation", raw: delegated(delegation.NS2, "localhost",
			`<iq type='set' xmlns='jabber:client' from='alice@localhost/ra' id='m'><delegation xmlns='urn:xmpp:delegation:2'><forwarded xmlns='urn:xmpp:forward:0'>`+mamInner+`</forwarded></delegation></iq>`),
			inner: stanza.Forbidden},
		{name: "nested delegation from the server", servers: []jid.JID{jid.MustParse("localhost")}, raw: delegated(delegation.NS2, "localhost",
			`<iq type='set' xmlns='jabber:client' from='localhost' to='localhost' id='m'><delegation xmlns='urn:xmpp:delegation:2'><forwarded xmlns='urn:xmpp:forward:0'>`+mamInner+`</forwarded></delegation></iq>`),
			inner: stanza.BadRequest},
		{name: "inner get with two payloads", raw: delegated(delegation.NS2, "localhost",
			`<iq type='get' xmlns='jabber:client' from='alice@localhost/ra' id='m'><query xmlns='urn:xmpp:mam:2'/><x xmlns='y'/></iq>`), inner: stanza.BadRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, &delegation.Manager{Servers: c.servers})
			e.deliver(t, c.raw)
			if len(e.seen) != 0 {
				t.Fatalf("a handler ran for %s", e.seen[0])
			}
			last := e.rec.Last()
			if last == nil {
				t.Fatal("no answer")
			}
			if c.inner != "" {
				ans := answerOf(t, last, delegation.NS2)
				if ans.Type != stanza.TypeError || ans.Err().Condition != c.inner {
					t.Fatalf("inner answer %s, want %s", ans, c.inner)
				}
				return
			}
			if last.Type != stanza.TypeError || last.Err().Condition != c.want || last.ID != "out1" {
				t.Fatalf("answer %s, want %s", last, c.want)
			}
		})
	}
}

func TestAdvertisement(t *testing.T) {
	var changes []string
	e := newEnv(t, &delegation.Manager{OnChange: func(s jid.JID, list []delegation.Delegated) {
		changes = append(changes, fmt.Sprint(s, list))
	}})
	ch := e.d.Changed()
	waited := make(chan error, 1)
	go func() { waited <- e.d.Wait(context.Background(), server, nsPubSub) }()
	// ejabberd: one message per namespace, each twice.
	for _, ns := range []string{nsMAM, nsMAM, nsPubSub, nsPubSub} {
		e.deliver(t, `<message to='priv.localhost' from='localhost'><delegation xmlns='urn:xmpp:delegation:1'><delegated namespace='`+ns+`'/></delegation></message>`)
	}
	select {
	case <-ch:
	case <-time.After(time.Second):
		t.Fatal("Changed not closed")
	}
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	// Prosody: one for all, with attribute filters; a forged one is
	// ignored.
	e.deliver(t, `<message to='priv.localhost' from='alice@localhost/ra'><delegation xmlns='urn:xmpp:delegation:2'><delegated namespace='urn:evil'/></delegation></message>`)
	e.deliver(t, `<message to='priv.localhost' from='localhost'><delegation xmlns='urn:xmpp:delegation:2'><delegated namespace='urn:xmpp:mam:2'><attribute name='queryid'/></delegated>`+
		`<delegated xmlns='urn:other' namespace='urn:x'/><delegated/></delegation></message>`)
	got := e.d.Delegated(server)
	want := []delegation.Delegated{{Namespace: nsPubSub}, {Namespace: nsMAM, Attributes: []string{"queryid"}}}
	slices.SortFunc(want, func(a, b delegation.Delegated) int { return strings.Compare(a.Namespace, b.Namespace) })
	if fmt.Sprint(got) != fmt.Sprint(want) || e.d.IsDelegated(server, "urn:evil") || !e.d.IsDelegated(server, nsMAM) {
		t.Fatalf("Delegated = %v, want %v", got, want)
	}
	if len(e.rec.Sent()) != 0 {
		t.Fatalf("an advertisement was answered: %v", e.rec.Sent())
	}
	e.d.Reset()
	e.d.Reset()
	if e.d.IsDelegated(server, nsMAM) || e.d.Delegated(server) != nil {
		t.Fatal("delegations survived Reset")
	}
	wantChanges := []string{
		"localhost [{urn:xmpp:mam:2 []}]",
		"localhost [{http://jabber.org/protocol/pubsub []} {urn:xmpp:mam:2 []}]",
		"localhost [{http://jabber.org/protocol/pubsub []} {urn:xmpp:mam:2 [queryid]}]",
		"localhost []",
	}
	if !slices.Equal(changes, wantChanges) {
		t.Fatalf("changes:\n%s\nwant\n%s", strings.Join(changes, "\n"), strings.Join(wantChanges, "\n"))
	}
}

func TestDiscoNodes(t *testing.T) {
	e := newEnv(t, &delegation.Manager{})
	e.m.HandleIQFunc(stanza.TypeGet, "urn:xmppkit:other", "query", func(context.Context, mux.Sender, *stanza.Stanza) error { return nil })
	disco.New(e.m).Register(e.m)
	query := func(from, node string) *stanza.Stanza {
		e.rec.Reset()
		e.deliver(t, `<iq to='priv.localhost' from='`+from+`' type='get' id='rr-1'><query node='`+node+`' xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
		return e.rec.Last()
	}
	for _, node := range []string{"urn:xmpp:delegation:1::urn:xmpp:mam:2", "urn:xmpp:delegation:1:bare:urn:xmpp:mam:2", "urn:xmpp:delegation:2::urn:xmpp:mam:2"} {
		ans := query("localhost", node)
		info, err := disco.ParseInfo([]byte(ans.Payload()))
		if err != nil || ans.Type != stanza.TypeResult || ans.ID != "rr-1" || !ans.To.Equal(server) {
			t.Fatalf("%s: %s (%v)", node, ans, err)
		}
		if info.Node != node || !slices.Equal(info.Features, []string{nsMAM}) || len(info.Identities) != 0 {
			t.Fatalf("%s: %+v", node, info)
		}
	}
	if ans := query("localhost", "urn:xmpp:delegation:1::urn:xmppkit:none"); ans.Type != stanza.TypeError || ans.Err().Condition != stanza.ItemNotFound {
		t.Fatalf("a namespace nobody serves: %s", ans)
	}
	// From anyone else the query goes to disco.Handler, which does not
	// know the node.
	if ans := query("alice@localhost/ra", "urn:xmpp:delegation:1::urn:xmpp:mam:2"); ans.Type != stanza.TypeError || ans.Err().Condition != stanza.ItemNotFound {
		t.Fatalf("a user's query: %s", ans)
	}
	// Other queries are the disco handler's.
	if ans := query("localhost", ""); ans.Type != stanza.TypeResult || !strings.Contains(ans.Payload(), "urn:xmppkit:other") {
		t.Fatalf("a plain disco query: %s", ans)
	}

	// DiscoFeatures and DiscoIdentities decide when set.
	e2 := newEnv(t, &delegation.Manager{
		DiscoFeatures: func(ns string, bare bool) []string {
			if bare {
				return nil
			}
			return []string{ns, ns + "#extended"}
		},
		DiscoIdentities: func(ns string, bare bool) []disco.Identity {
			return []disco.Identity{{Category: "pubsub", Type: "pep", Name: "PEP & co"}}
		},
	})
	e2.deliver(t, `<iq to='priv.localhost' from='localhost' type='get' id='rr-2'><query node='urn:xmpp:delegation:2::urn:x' xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	want := `<query xmlns='http://jabber.org/protocol/disco#info' node='urn:xmpp:delegation:2::urn:x'><identity category='pubsub' type='pep' name='PEP &amp; co'/><feature var='urn:x'/><feature var='urn:x#extended'/></query>`
	if got := e2.rec.Last().Payload(); got != want {
		t.Fatalf("answer %s\nwant   %s", got, want)
	}
	e2.deliver(t, `<iq to='priv.localhost' from='localhost' type='get' id='rr-3'><query node='urn:xmpp:delegation:2:bare:urn:x' xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if ans := e2.rec.Last(); ans.Type != stanza.TypeError {
		t.Fatalf("bare with no features: %s", ans)
	}
	// A handler that is no ServeMux nor FeatureProvider: ns itself.
	rec := &muxtest.Recorder{}
	d3 := &delegation.Manager{Logger: quiet, Handler: mux.HandlerFunc(func(context.Context, mux.Sender, *stanza.Stanza) error { return nil })}
	m3 := mux.New()
	d3.Register(m3)
	st, _ := stanza.Decode([]byte(`<iq to='priv.localhost' from='localhost' type='get' id='rr-4'><query node='urn:xmpp:delegation:1:bare:urn:y' xmlns='http://jabber.org/protocol/disco#info'/></iq>`))
	muxtest.Serve(context.Background(), m3, rec, st)
	if got := rec.Last().Payload(); !strings.Contains(got, "<feature var='urn:y'/>") {
		t.Fatalf("plain handler: %s", got)
	}
}

func TestNode(t *testing.T) {
	for _, c := range []struct {
		node, version, ns string
		bare, ok          bool
	}{
		{"urn:xmpp:delegation:1::urn:xmpp:mam:2", delegation.NS1, "urn:xmpp:mam:2", false, true},
		{"urn:xmpp:delegation:2:bare:http://jabber.org/protocol/pubsub", delegation.NS2, "http://jabber.org/protocol/pubsub", true, true},
		{"urn:xmpp:delegation:2::", "", "", false, false},
		{"urn:xmpp:delegation:2:bare:", "", "", false, false},
		{"urn:xmpp:delegation:3::x", "", "", false, false},
		{"urn:xmpp:delegation:1:x", "", "", false, false},
		{"", "", "", false, false},
	} {
		v, ns, bare, ok := delegation.ParseNode(c.node)
		if v != c.version || ns != c.ns || bare != c.bare || ok != c.ok {
			t.Errorf("ParseNode(%q) = %q %q %v %v", c.node, v, ns, bare, ok)
		}
		if c.ok && delegation.Node(c.version, c.ns, c.bare) != c.node {
			t.Errorf("Node(%q, %q, %v) = %q", c.version, c.ns, c.bare, delegation.Node(c.version, c.ns, c.bare))
		}
	}
}
