package router

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/session"
	"xmppkit.dev/stanza"
)

// fakeComp is an in-process component driven by the test: it records what
// it gets and answers IQs with answer (nil: nothing).
type fakeComp struct {
	mu     sync.Mutex
	got    []*stanza.Stanza
	ch     chan *stanza.Stanza
	answer func(ctx context.Context, s mux.Sender, st *stanza.Stanza) error
}

func newFake() *fakeComp { return &fakeComp{ch: make(chan *stanza.Stanza, 64)} }

func (f *fakeComp) HandleStanza(ctx context.Context, s mux.Sender, st *stanza.Stanza) error {
	f.mu.Lock()
	f.got = append(f.got, st)
	answer := f.answer
	f.mu.Unlock()
	f.ch <- st
	if answer != nil {
		return answer(ctx, s, st)
	}
	return nil
}

// setAnswer replaces the answering function.
func (f *fakeComp) setAnswer(a func(ctx context.Context, s mux.Sender, st *stanza.Stanza) error) {
	f.mu.Lock()
	f.answer = a
	f.mu.Unlock()
}

// next returns the next stanza the component got that matches.
func (f *fakeComp) next(t *testing.T, what string, match func(*stanza.Stanza) bool) *stanza.Stanza {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case st := <-f.ch:
			if match(st) {
				return st
			}
		case <-timeout:
			f.mu.Lock()
			var all []string
			for _, st := range f.got {
				all = append(all, st.String())
			}
			f.mu.Unlock()
			t.Fatalf("the component got no %s; it got:\n%s", what, strings.Join(all, "\n"))
		}
	}
}

func isKind(k stanza.Kind, typ string) func(*stanza.Stanza) bool {
	return func(st *stanza.Stanza) bool { return st.Kind == k && (typ == "*" || st.Type == typ) }
}

func grantRouter(t *testing.T, cfg Config) *Router {
	t.Helper()
	r, _ := newTestRouter(t, cfg)
	return r
}

func attach(t *testing.T, r *Router, domain string, h mux.Handler) *session.Session {
	t.Helper()
	s, err := r.Attach(domain, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func TestGrantsConfig(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"bad roster", Config{Privileges: []Privileges{{Component: "p.localhost", Roster: "all"}}}, "roster"},
		{"bad message", Config{Privileges: []Privileges{{Component: "p.localhost", Message: "incoming"}}}, "message"},
		{"bad presence", Config{Privileges: []Privileges{{Component: "p.localhost", Presence: "all"}}}, "presence"},
		{"bad iq", Config{Privileges: []Privileges{{Component: "p.localhost", IQ: map[string]string{"urn:x": "none"}}}}, "iq"},
		{"local domain", Config{Privileges: []Privileges{{Component: "localhost", Roster: "get"}}}, "local domain"},
		{"bad domain", Config{Privileges: []Privileges{{Component: "a@b", Roster: "get"}}}, "not a domain"},
		{"twice", Config{Privileges: []Privileges{{Component: "p.localhost"}, {Component: "p.localhost"}}}, "twice"},
		{"delegated twice", Config{Delegations: []Delegation{{Namespace: "urn:x", Component: "a.localhost"}, {Namespace: "urn:x", Component: "b.localhost"}}}, "twice"},
		{"no namespace", Config{Delegations: []Delegation{{Component: "a.localhost"}}}, "namespace"},
		{"delegated to local", Config{Delegations: []Delegation{{Namespace: "urn:x", Component: "localhost"}}}, "local domain"},
	} {
		c.cfg.Logger = quietLogger()
		if _, err := New(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: New = %v, want an error about %s", c.name, err, c.want)
		}
	}
}

func TestPrivilegeAdvertisement(t *testing.T) {
	r := grantRouter(t, Config{Domains: []string{"localhost", "example.net"},
		Privileges:  []Privileges{{Component: "p.localhost", Roster: "get", Message: "outgoing", Presence: "managed_entity", IQ: map[string]string{"urn:b": "set", "urn:a": "both"}}},
		Delegations: []Delegation{{Namespace: "urn:xmpp:mam:2", Component: "p.localhost", Filtering: []string{"queryid"}}}})
	alice := connect(t, r, "alice@localhost/a")
	available(t, alice, "")
	f := newFake()
	attach(t, r, "p.localhost", f)
	// 4 advertisements (privilege and delegation, from each local
	// domain), alice's current presence and the disco queries of XEP-0355
	// §7.2: from several senders, so from several shards in any order, but
	// in order per sender.
	var got []string
	for len(got) < 7 {
		st := f.next(t, "the advertisements, presence and queries", func(*stanza.Stanza) bool { return true })
		got = append(got, st.Kind.String()+" "+st.From.String()+" "+st.Payload())
	}
	all := strings.Join(got, "\n")
	adv := "<privilege xmlns='urn:xmpp:privilege:2'><perm access='roster' type='get'/><perm access='message' type='outgoing'/><perm access='presence' type='managed_entity'/>" +
		"<perm access='iq'><namespace ns='urn:a' type='both'/><namespace ns='urn:b' type='set'/></perm></privilege>"
	dadv := "<delegation xmlns='urn:xmpp:delegation:2'><delegated namespace='urn:xmpp:mam:2'><attribute name='queryid'/></delegated></delegation>"
	for _, want := range []string{
		"message localhost " + adv + "\nmessage localhost " + dadv,
		"message example.net " + adv + "\nmessage example.net " + dadv,
		"presence alice@localhost/a ",
		"iq localhost <query xmlns='http://jabber.org/protocol/disco#info' node='urn:xmpp:delegation:2::urn:xmpp:mam:2'/>\n" +
			"iq localhost <query xmlns='http://jabber.org/protocol/disco#info' node='urn:xmpp:delegation:2:bare:urn:xmpp:mam:2'/>",
	} {
		if !containsInOrder(got, want) {
			t.Errorf("the component got\n%s\nwithout\n%s", all, want)
		}
	}
}

// containsInOrder reports whether the lines of want appear in got in that
// order (not necessarily next to each other).
func containsInOrder(got []string, want string) bool {
	i := 0
	for _, w := range strings.Split(want, "\n") {
		for i < len(got) && !strings.HasPrefix(got[i], w) {
			i++
		}
		if i == len(got) {
			return false
		}
		i++
	}
	return true
}

func TestPrivilegedMessage(t *testing.T) {
	r := grantRouter(t, Config{Privileges: []Privileges{{Component: "p.localhost", Message: "outgoing"}}})
	bob := connect(t, r, "bob@localhost/b")
	available(t, bob, "")
	p, q := newFake(), newFake()
	ps := attach(t, r, "p.localhost", p)
	qs := attach(t, r, "q.localhost", q)
	env := func(inner string) *stanza.Stanza {
		m := stanza.NewMessage("", jid.MustParse("localhost"), "")
		m.SetPayloadElements(stanza.MustElement(`<privilege xmlns='urn:xmpp:privilege:2'><forwarded xmlns='urn:xmpp:forward:0'>` + inner + `</forwarded></privilege>`))
		return m
	}
	ctx := ctxT(t)
	if err := ps.Send(ctx, env(`<message xmlns='jabber:client' from='alice@localhost' to='bob@localhost' type='chat'><body>hi</body></message>`)); err != nil {
		t.Fatal(err)
	}
	got := recvKind(t, bob, stanza.Message)
	if got.From.String() != "alice@localhost" || got.Body() != "hi" {
		t.Fatalf("bob got %v", got)
	}
	for _, c := range []struct {
		s     mux.Sender
		f     *fakeComp
		inner string
		want  stanza.Condition
	}{
		{qs, q, `<message xmlns='jabber:client' from='alice@localhost' to='bob@localhost'/>`, stanza.Forbidden},   // not granted
		{ps, p, `<message xmlns='jabber:client' from='alice@localhost/x' to='bob@localhost'/>`, stanza.Forbidden}, // a full JID
		{ps, p, `<message xmlns='jabber:client' from='eve@example.net' to='bob@localhost'/>`, stanza.Forbidden},   // another server's
		{ps, p, `<iq xmlns='jabber:client' type='get' id='1' from='alice@localhost'><q xmlns='u'/></iq>`, stanza.BadRequest},
		{ps, p, `<message from='alice@localhost'/>`, stanza.BadRequest}, // in the forward namespace
	} {
		if err := c.s.Send(ctx, env(c.inner)); err != nil {
			t.Fatal(err)
		}
		e := c.f.next(t, "the error", isKind(stanza.Message, stanza.TypeError))
		if e.Err().Condition != c.want {
			t.Errorf("%s: %v, want %s", c.inner, e, c.want)
		}
	}
	expectNone(t, bob)
}

func TestPrivilegedRoster(t *testing.T) {
	r := grantRouter(t, Config{Privileges: []Privileges{{Component: "p.localhost", Roster: "both"}, {Component: "g.localhost", Roster: "get"}}})
	alice := connect(t, r, "alice@localhost/a")
	if _, err := alice.SendIQ(ctxT(t), stanza.NewIQ(stanza.TypeGet, jid.JID{}, stanza.Element{Space: nsRoster, Local: "query"})); err != nil {
		t.Fatal(err) // alice becomes an interested resource
	}
	p, g := newFake(), newFake()
	ps := attach(t, r, "p.localhost", p)
	gs := attach(t, r, "g.localhost", g)
	ctx := ctxT(t)
	set := func(s mux.Sender, item string) error {
		_, err := s.SendIQ(ctx, stanza.NewIQ(stanza.TypeSet, jid.MustParse("alice@localhost"), stanza.MustElement("<query xmlns='jabber:iq:roster'>"+item+"</query>")))
		return err
	}
	if err := set(ps, `<item jid='bob@localhost' name='Bob'><group>G</group></item>`); err != nil {
		t.Fatal(err)
	}
	if it := expectPush(t, alice); it.JID.String() != "bob@localhost" || it.Name != "Bob" {
		t.Fatalf("alice's push %v", it)
	}
	// The change is pushed to both privileged components (v0.4).
	for _, f := range []*fakeComp{p, g} {
		push := f.next(t, "the roster push", isKind(stanza.IQ, stanza.TypeSet))
		if push.From.String() != "alice@localhost" || !strings.Contains(push.Payload(), "bob@localhost") {
			t.Fatalf("push %v", push)
		}
	}
	res, err := gs.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, jid.MustParse("alice@localhost"), stanza.Element{Space: nsRoster, Local: "query"}))
	if err != nil || !strings.Contains(res.Payload(), "name='Bob'") || res.From.String() != "alice@localhost" {
		t.Fatalf("roster get: %v %v", res, err)
	}
	for _, c := range []struct {
		err  error
		want stanza.Condition
	}{
		{set(gs, `<item jid='carol@localhost'/>`), stanza.Forbidden}, // get only
		{set(ps, `<item jid='alice@localhost'/>`), stanza.NotAllowed},
		{set(ps, `<item jid='nobody@localhost' subscription='remove'/>`), stanza.ItemNotFound},
	} {
		var se *stanza.Error
		if !errors.As(c.err, &se) || se.Condition != c.want {
			t.Errorf("roster set: %v, want %s", c.err, c.want)
		}
	}
	_, err = ps.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, jid.MustParse("nobody@localhost"), stanza.Element{Space: nsRoster, Local: "query"}))
	if !errors.Is(err, stanza.ErrServiceUnavailable) {
		t.Errorf("roster of no account: %v", err)
	}

	// A privileged set gives the subscription, as Prosody's mod_privilege
	// does (a gateway's contacts arrive subscribed both ways); a client's
	// own set cannot.
	if err := set(ps, `<item jid='gw@p.localhost' name='Puppet' subscription='both'/>`); err != nil {
		t.Fatal(err)
	}
	if it := expectPush(t, alice); it.JID.String() != "gw@p.localhost" || it.Subscription != SubscriptionBoth {
		t.Fatalf("alice's push %v", it)
	}
	if sub := r.subscription(jid.MustParse("alice@localhost"), jid.MustParse("gw@p.localhost")); sub != SubscriptionBoth {
		t.Fatalf("subscription %v", sub)
	}
}

func TestPrivilegedIQ(t *testing.T) {
	r := grantRouter(t, Config{ForwardTimeout: 100 * time.Millisecond,
		Privileges: []Privileges{{Component: "p.localhost", IQ: map[string]string{"urn:xmpp:ping": "get", "urn:x": "set"}}}})
	connect(t, r, "alice@localhost/a")
	p, other := newFake(), newFake()
	ps := attach(t, r, "p.localhost", p)
	attach(t, r, "other.localhost", other)
	ctx := ctxT(t)
	wrap := func(typ, inner string) *stanza.Stanza {
		return stanza.NewIQ(typ, jid.MustParse("alice@localhost"), stanza.MustElement(`<privileged_iq xmlns='urn:xmpp:privilege:2'>`+inner+`</privileged_iq>`))
	}
	res, err := ps.SendIQ(ctx, wrap(stanza.TypeGet, `<iq xmlns='jabber:client' type='get' id='in1'><ping xmlns='urn:xmpp:ping'/></iq>`))
	if err != nil || !strings.Contains(res.Payload(), "<iq xmlns='jabber:client' to='alice@localhost' id='in1' type='result'/>") {
		t.Fatalf("privileged ping: %v %v", res, err)
	}
	// To another entity: it sees alice's bare JID and its answer comes
	// back wrapped.
	other.setAnswer(func(ctx context.Context, s mux.Sender, st *stanza.Stanza) error {
		if st.Kind != stanza.IQ || st.Type != stanza.TypeSet {
			return nil
		}
		if st.From.String() != "alice@localhost" {
			t.Errorf("other got %v", st)
		}
		return s.Send(ctx, st.Result(stanza.Element{Space: "urn:x", Local: "done"}))
	})
	res, err = ps.SendIQ(ctx, wrap(stanza.TypeSet, `<iq xmlns='jabber:client' type='set' id='in2' to='other.localhost'><q xmlns='urn:x'/></iq>`))
	if err != nil || !strings.Contains(res.Payload(), "from='other.localhost' to='alice@localhost' id='in2' type='result'><done xmlns='urn:x'/>") {
		t.Fatalf("privileged set to another entity: %v %v", res, err)
	}
	// Nobody answers: the component gets remote-server-timeout.
	other.setAnswer(nil)
	_, err = ps.SendIQ(ctx, wrap(stanza.TypeSet, `<iq xmlns='jabber:client' type='set' id='in3' to='other.localhost'><q xmlns='urn:x'/></iq>`))
	if !errors.Is(err, stanza.ErrRemoteServerTimeout) {
		t.Fatalf("unanswered: %v", err)
	}
	for _, c := range []struct{ typ, inner string }{
		{stanza.TypeSet, `<iq xmlns='jabber:client' type='set' id='x'><ping xmlns='urn:xmpp:ping'/></iq>`},                      // set not granted
		{stanza.TypeGet, `<iq xmlns='jabber:client' type='get' id='x'><q xmlns='urn:y'/></iq>`},                                 // namespace not granted
		{stanza.TypeGet, `<iq xmlns='jabber:client' type='set' id='x'><q xmlns='urn:x'/></iq>`},                                 // type mismatch
		{stanza.TypeGet, `<iq xmlns='jabber:client' type='get' id='x' from='bob@localhost'><ping xmlns='urn:xmpp:ping'/></iq>`}, // another from
	} {
		if _, err := ps.SendIQ(ctx, wrap(c.typ, c.inner)); !errors.Is(err, stanza.ErrForbidden) {
			t.Errorf("%s: %v, want forbidden", c.inner, err)
		}
	}
	if _, err := ps.SendIQ(ctx, wrap(stanza.TypeGet, `<iq xmlns='jabber:client' type='get'><ping xmlns='urn:xmpp:ping'/></iq>`)); !errors.Is(err, stanza.ErrBadRequest) {
		t.Errorf("inner iq without id: %v", err)
	}
}

func TestDelegation(t *testing.T) {
	r := grantRouter(t, Config{ForwardTimeout: 100 * time.Millisecond, Delegations: []Delegation{
		{Namespace: "urn:xmpp:mam:2", Component: "m.localhost"},
		{Namespace: "urn:f", Component: "m.localhost", Filtering: []string{"node"}},
		{Namespace: "urn:down", Component: "down.localhost"},
		{Namespace: bareDiscoInfo, Component: "m.localhost"},
	}})
	alice := connect(t, r, "alice@localhost/a")
	m := newFake()
	ms := attach(t, r, "m.localhost", m)
	// The component answers the disco queries with a feature.
	for range 2 {
		q := m.next(t, "a disco query", isKind(stanza.IQ, stanza.TypeGet))
		node := strings.Split(strings.Split(q.Payload(), "node='")[1], "'")[0]
		res := q.Result(stanza.MustElement(`<query xmlns='http://jabber.org/protocol/disco#info' node='` + node + `'><feature var='urn:xmpp:mam:2'/><feature var='urn:xmpp:mam:2#extended'/></query>`))
		if err := ms.Send(ctxT(t), res); err != nil {
			t.Fatal(err)
		}
	}
	var modeV atomic.Pointer[string]
	setMode := func(m string) { modeV.Store(&m) }
	setMode("ok")
	m.setAnswer(func(ctx context.Context, s mux.Sender, st *stanza.Stanza) error {
		if st.Kind != stanza.IQ || st.Type != stanza.TypeSet {
			return nil
		}
		el, _ := st.PayloadElement()
		raw := el.XML()
		inner, _ := stanza.Decode([]byte(raw[strings.Index(raw, "<iq"):strings.LastIndex(raw, "</forwarded>")]))
		ans := inner.Result()
		ans.NS = stanza.NSClient
		switch *modeV.Load() {
		case "ok":
			if inner.To.IsZero() {
				ans.From = inner.From.Bare()
			}
		case "wrong-id":
			ans.ID = "other"
		case "wrong-to":
			ans.To = jid.MustParse("bob@localhost/x")
		case "wrong-from":
			ans.From = jid.MustParse("eve@localhost")
		case "outer-error":
			return stanza.ErrNotAllowed
		case "silent":
			return nil
		}
		return s.Send(ctx, st.Result(stanza.MustElement(`<delegation xmlns='urn:xmpp:delegation:2'><forwarded xmlns='urn:xmpp:forward:0'>`+ans.String()+`</forwarded></delegation>`)))
	})
	q := func(to string, payload string) (*stanza.Stanza, error) {
		var j jid.JID
		if to != "" {
			j = jid.MustParse(to)
		}
		return alice.SendIQ(ctxT(t), stanza.NewIQ(stanza.TypeSet, j, stanza.MustElement(payload)))
	}
	mam := `<query xmlns='urn:xmpp:mam:2'/>`
	for _, to := range []string{"", "alice@localhost", "localhost"} {
		res, err := q(to, mam)
		if err != nil || res.From.String() != to {
			t.Fatalf("delegated to %q: %v %v", to, res, err)
		}
	}
	for md, want := range map[string]stanza.Condition{
		"wrong-id": stanza.ServiceUnavailable, "wrong-to": stanza.ServiceUnavailable, "wrong-from": stanza.ServiceUnavailable,
		"outer-error": stanza.NotAllowed, "silent": stanza.RemoteServerTimeout,
	} {
		setMode(md)
		_, err := q("", mam)
		var se *stanza.Error
		if !errors.As(err, &se) || se.Condition != want {
			t.Errorf("%s: %v, want %s", md, err, want)
		}
	}
	setMode("ok")
	// Filtering: without the attribute the router serves the IQ itself.
	if _, err := q("localhost", `<x xmlns='urn:f'/>`); !errors.Is(err, stanza.ErrServiceUnavailable) {
		t.Errorf("unfiltered: %v", err)
	}
	if _, err := q("localhost", `<x xmlns='urn:f' node='n'/>`); err != nil {
		t.Errorf("filtered: %v", err)
	}
	// A component that is not connected: service-unavailable.
	if _, err := q("localhost", `<x xmlns='urn:down'/>`); !errors.Is(err, stanza.ErrServiceUnavailable) {
		t.Errorf("down: %v", err)
	}
	// The managing entity's own requests are not delegated.
	if _, err := ms.SendIQ(ctxT(t), stanza.NewIQ(stanza.TypeGet, jid.MustParse("localhost"), stanza.MustElement(mam))); !errors.Is(err, stanza.ErrServiceUnavailable) {
		t.Errorf("the component's own request: %v", err)
	}
	// Bare JID disco: only for nodes the router does not know.
	if _, err := alice.SendIQ(ctxT(t), stanza.NewIQ(stanza.TypeGet, jid.MustParse("alice@localhost"), stanza.MustElement(`<query xmlns='http://jabber.org/protocol/disco#info' node='n'/>`))); err != nil {
		t.Errorf("bare disco with a node: %v", err)
	}
	res, err := alice.SendIQ(ctxT(t), stanza.NewIQ(stanza.TypeGet, jid.MustParse("alice@localhost"), stanza.MustElement(`<query xmlns='http://jabber.org/protocol/disco#info'/>`)))
	if err != nil || !strings.Contains(res.Payload(), "account") || !strings.Contains(res.Payload(), "urn:xmpp:mam:2#extended") {
		t.Errorf("bare disco without node (the router's, with the nested bare features): %v %v", res, err)
	}
	res, err = alice.SendIQ(ctxT(t), stanza.NewIQ(stanza.TypeGet, jid.MustParse("localhost"), stanza.MustElement(`<query xmlns='http://jabber.org/protocol/disco#info'/>`)))
	if err != nil || !strings.Contains(res.Payload(), `var="urn:xmpp:mam:2"`) {
		t.Errorf("the server's disco lacks the nested feature: %v %v", res, err)
	}
}

// FuzzGrants routes any stanza from a privileged component and from a
// client through a router with privileges and delegations: no panic, and
// every wait the router starts ends (ForwardTimeout is short).
func FuzzGrants(f *testing.F) {
	for _, s := range []string{
		`<message to='localhost'><privilege xmlns='urn:xmpp:privilege:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' from='alice@localhost' to='bob@localhost'><body>x</body></message></forwarded></privilege></message>`,
		`<iq type='set' id='1' to='alice@localhost'><privileged_iq xmlns='urn:xmpp:privilege:2'><iq xmlns='jabber:client' type='set' id='i'><q xmlns='urn:x'/></iq></privileged_iq></iq>`,
		`<iq type='get' id='2' to='alice@localhost'><query xmlns='jabber:iq:roster'/></iq>`,
		`<iq type='set' id='3' to='alice@localhost'><query xmlns='jabber:iq:roster'><item jid='bob@localhost' name='B'><group>g</group></item></query></iq>`,
		`<iq type='set' id='4' to='localhost'><query xmlns='urn:xmpp:mam:2' queryid='q'/></iq>`,
		`<iq type='get' id='5' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#info' node='n'/></iq>`,
		`<iq type='result' id='xk-dlg-1' to='localhost'><delegation xmlns='urn:xmpp:delegation:2'><forwarded xmlns='urn:xmpp:forward:0'><iq xmlns='jabber:client' type='result' id='4'/></forwarded></delegation></iq>`,
	} {
		f.Add(s, true)
		f.Add(s, false)
	}
	r, err := New(Config{Logger: quietLogger(), ForwardTimeout: 10 * time.Millisecond,
		Privileges:  []Privileges{{Component: "p.localhost", Roster: "both", Message: "outgoing", Presence: "roster", IQ: map[string]string{"urn:x": "both"}}},
		Delegations: []Delegation{{Namespace: "urn:xmpp:mam:2", Component: "p.localhost"}, {Namespace: bareDiscoInfo, Component: "p.localhost"}}})
	if err != nil {
		f.Fatal(err)
	}
	comp := newFake()
	defer func() {
		r.Close(context.Background())
		close(comp.ch) // the workers are gone: nothing sends on it any more
	}()
	comp.setAnswer(func(ctx context.Context, s mux.Sender, st *stanza.Stanza) error {
		if st.Kind == stanza.IQ && (st.Type == stanza.TypeGet || st.Type == stanza.TypeSet) {
			return s.Send(ctx, st.Result())
		}
		return nil
	})
	go func() {
		for range comp.ch {
		}
	}()
	cs, err := r.Attach("p.localhost", comp)
	if err != nil {
		f.Fatal(err)
	}
	alice, err := r.Connect(jid.MustParse("alice@localhost/a"))
	if err != nil {
		f.Fatal(err)
	}
	go func() {
		for {
			if _, err := alice.Recv(context.Background()); err != nil {
				return
			}
		}
	}()
	f.Fuzz(func(t *testing.T, raw string, fromComp bool) {
		st, err := stanza.Decode([]byte(raw))
		if st == nil || err != nil {
			return
		}
		st.From = jid.JID{}
		if fromComp {
			_ = cs.Send(context.Background(), st)
		} else {
			_ = alice.Send(context.Background(), st)
		}
	})
}
