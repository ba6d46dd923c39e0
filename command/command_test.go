package command

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"xmppkit.dev/disco"
	"xmppkit.dev/form"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/mux/muxtest"
	"xmppkit.dev/stanza"
)

var (
	svc   = jid.MustParse("svc.example")
	alice = jid.MustParse("alice@example/phone")
	bob   = jid.MustParse("bob@example/desk")
	admin = jid.MustParse("root@example/console")
)

// clock is a settable time for session timeouts.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	reg   *Registry
	mux   *mux.ServeMux
	clock *clock
}

func (e *env) as(from jid.JID) *muxtest.Loopback {
	return &muxtest.Loopback{Handler: e.mux, From: from, To: svc}
}

func field(typ form.FieldType, name, label string, required bool, opts ...string) form.Field {
	f := form.Field{Type: typ, Var: name, Label: label, Required: required}
	for _, o := range opts {
		f.Options = append(f.Options, form.Option{Value: o})
	}
	return f
}

func submit(kv ...string) *form.Form {
	f := &form.Form{Type: form.TypeSubmit}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Set("", kv[i], kv[i+1])
	}
	return f
}

// newEnv mounts a registry with a one-stage command, a three-stage wizard
// and an admin-only command on a mux with disco.
func newEnv(t *testing.T) *env {
	t.Helper()
	c := &clock{t: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	reg := &Registry{Now: c.now, SessionTimeout: time.Minute, MaxSessions: 50}
	reg.HandleFunc("uptime", "Show uptime", func(ctx context.Context, r *Request) (*Response, error) {
		return Done(InfoNote("up for " + r.From.Bare().String())), nil
	})
	reg.Add(Command{Node: "config", Name: "Configure", Handler: &Wizard{
		Steps: []Step{
			{Form: form.Form{Title: "Service", Fields: []form.Field{
				{Type: form.Hidden, Var: form.FormTypeVar, Values: []string{"urn:test:config"}},
				field(form.ListSingle, "service", "Service", true, "httpd", "jabberd"),
			}}},
			{Build: func(ctx context.Context, r *Request, prev []*form.Form) (form.Form, error) {
				svc, _ := prev[0].Get("service")
				return form.Form{Title: "Ports of " + svc, Fields: []form.Field{field(form.TextSingle, "port", "Port", true)}}, nil
			}, Check: func(ctx context.Context, r *Request, f *form.Form) error {
				if _, ok, err := f.Int("port"); !ok || err != nil {
					return BadPayload("the port must be a number")
				}
				return nil
			}},
			{Form: form.Form{Fields: []form.Field{field(form.Boolean, "restart", "Restart now", false), field(form.JIDMulti, "notify", "Notify", false)}}},
		},
		Done: func(ctx context.Context, r *Request, forms []*form.Form) (*Response, error) {
			svc, _ := forms[0].Get("service")
			port := "default"
			if len(forms) > 1 {
				port, _ = forms[1].Get("port")
			}
			res := &form.Form{Type: form.TypeResult}
			res.Set(form.TextSingle, "summary", svc+":"+port)
			return Result(res, InfoNote("configured")), nil
		},
	}})
	reg.Add(Command{Node: "shutdown", Name: "Shut down", Handler: HandlerFunc(func(ctx context.Context, r *Request) (*Response, error) {
		return Done(), nil
	}), Allow: func(from, to jid.JID) bool { return to.Local() == "" && from.Bare().Equal(admin.Bare()) }})
	m := mux.New()
	reg.Register(m)
	disco.New(m).Register(m)
	return &env{reg: reg, mux: m, clock: c}
}

func TestOneStage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	st, err := Execute(ctx, e.as(alice), svc, "uptime")
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != Completed || !st.Ended() || st.SessionID == "" || len(st.Notes) != 1 ||
		st.Notes[0] != InfoNote("up for alice@example") || st.HasActions {
		t.Fatalf("stage %+v", st.Payload)
	}
	if n := e.reg.Sessions(); n != 0 {
		t.Fatalf("%d sessions live after a completed command", n)
	}
	// The ended session's id is expired now, not unknown.
	if _, err := st.Do(ctx, e.as(alice), ActionExecute, nil); !errors.Is(err, ErrSessionExpired) {
		t.Fatalf("reuse of a completed session: %v", err)
	}
}

func TestWizard(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.as(alice)
	st, err := Execute(ctx, a, svc, "config")
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != Executing || !st.HasActions || !slices.Equal(st.Actions, []Action{ActionNext}) || st.Default != ActionNext ||
		st.Form == nil || st.Form.Type != form.TypeForm || st.Form.Title != "Service" {
		t.Fatalf("stage 1: %+v", st.Payload)
	}
	if st.Allows(ActionPrev) || st.Allows(ActionComplete) || !st.Allows(ActionNext) || !st.Allows(ActionCancel) {
		t.Fatalf("stage 1 allows the wrong actions: %v", st.Actions)
	}
	// Bad submissions do not move the session on.
	for _, tc := range []struct {
		name string
		f    *form.Form
		want string
	}{
		{"missing required field", submit(), "Service is required"},
		{"value not among the options", submit("service", "nginx"), "not one of the options"},
		{"two values in a single field", &form.Form{Type: form.TypeSubmit, Fields: []form.Field{{Var: "service", Values: []string{"httpd", "jabberd"}}}}, "takes one value"},
		{"wrong FORM_TYPE", submit(form.FormTypeVar, "urn:other", "service", "httpd"), "FORM_TYPE"},
		{"form type result", &form.Form{Type: form.TypeResult, Fields: []form.Field{{Var: "service", Values: []string{"httpd"}}}}, "type submit"},
	} {
		_, err := st.Next(ctx, a, tc.f)
		if !errors.Is(err, ErrBadPayload) || !errors.Is(err, stanza.ErrBadRequest) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	// complete and prev are not allowed on the first stage.
	if _, err := st.Complete(ctx, a, submit("service", "httpd")); !errors.Is(err, ErrBadAction) {
		t.Fatalf("complete on stage 1: %v", err)
	}
	if _, err := st.Prev(ctx, a); !errors.Is(err, ErrBadAction) {
		t.Fatalf("prev on stage 1: %v", err)
	}
	// execute stands for next (the default): a form without FORM_TYPE is fine.
	st2, err := st.Do(ctx, a, ActionExecute, submit("service", "httpd"))
	if err != nil {
		t.Fatal(err)
	}
	if st2.SessionID != st.SessionID || st2.Form.Title != "Ports of httpd" || !slices.Equal(st2.Actions, []Action{ActionPrev, ActionNext}) {
		t.Fatalf("stage 2: %+v %+v", st2.Payload, st2.Form)
	}
	if _, err := st2.Next(ctx, a, submit("port", "eighty")); !errors.Is(err, ErrBadPayload) || !strings.Contains(err.Error(), "must be a number") {
		t.Fatalf("Check's error: %v", err)
	}
	// Back to stage 1: the submitted value is remembered.
	back, err := st2.Prev(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := back.Form.Get("service"); v != "httpd" || !slices.Equal(back.Actions, []Action{ActionNext}) {
		t.Fatalf("prev: %+v", back.Form)
	}
	st2, err = back.Next(ctx, a, submit("service", "jabberd"))
	if err != nil {
		t.Fatal(err)
	}
	st3, err := st2.Next(ctx, a, submit("port", "5347"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st3.Actions, []Action{ActionPrev, ActionComplete}) || st3.Default != ActionComplete {
		t.Fatalf("stage 3 actions %v default %v", st3.Actions, st3.Default)
	}
	if _, err := st3.Next(ctx, a, submit()); !errors.Is(err, ErrBadAction) {
		t.Fatalf("next on the last stage: %v", err)
	}
	if _, err := st3.Complete(ctx, a, submit("restart", "maybe")); !errors.Is(err, ErrBadPayload) {
		t.Fatalf("bad boolean: %v", err)
	}
	if _, err := st3.Complete(ctx, a, submit("notify", "not a jid@@")); !errors.Is(err, ErrBadPayload) {
		t.Fatalf("bad jid: %v", err)
	}
	// Another requester cannot use the session, not even another resource.
	if _, err := st3.Complete(ctx, e.as(jid.MustParse("alice@example/other")), submit("restart", "1")); !errors.Is(err, ErrBadSessionID) {
		t.Fatalf("session of another resource: %v", err)
	}
	done, err := st3.Complete(ctx, a, submit("restart", "1"))
	if err != nil {
		t.Fatal(err)
	}
	if done.Status != Completed || done.Form == nil || done.Form.Type != form.TypeResult || done.HasActions {
		t.Fatalf("completed: %+v", done.Payload)
	}
	if v, _ := done.Form.Get("summary"); v != "jabberd:5347" {
		t.Fatalf("summary %q", v)
	}
	if _, err := done.Do(ctx, a, ActionComplete, nil); !errors.Is(err, ErrSessionExpired) {
		t.Fatalf("after completion: %v", err)
	}
}

func TestCancelAndTimeout(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.as(alice)
	st, err := Execute(ctx, a, svc, "config")
	if err != nil {
		t.Fatal(err)
	}
	c, err := st.Cancel(ctx, a)
	if err != nil || c.Status != Canceled || c.SessionID != st.SessionID {
		t.Fatalf("cancel: %+v, %v", c, err)
	}
	if _, err := st.Next(ctx, a, submit("service", "httpd")); !errors.Is(err, ErrSessionExpired) || !errors.Is(err, stanza.ErrNotAllowed) {
		t.Fatalf("after cancel: %v", err)
	}

	st, err = Execute(ctx, a, svc, "config")
	if err != nil {
		t.Fatal(err)
	}
	e.clock.add(59 * time.Second)
	st2, err := st.Next(ctx, a, submit("service", "httpd")) // the request keeps it alive
	if err != nil {
		t.Fatal(err)
	}
	e.clock.add(61 * time.Second)
	if _, err := st2.Next(ctx, a, submit("port", "1")); !errors.Is(err, ErrSessionExpired) {
		t.Fatalf("after the timeout: %v", err)
	}
	if n := e.reg.Sessions(); n != 0 {
		t.Fatalf("%d sessions after the timeout", n)
	}
	// Long after, the id is forgotten: bad-sessionid.
	e.clock.add(time.Hour)
	e.reg.Sessions() // sweep
	if _, err := st2.Next(ctx, a, submit("port", "1")); !errors.Is(err, ErrBadSessionID) {
		t.Fatalf("long after: %v", err)
	}
}

// rawCommand sends a <command/> built by hand from the requester from.
func rawCommand(t *testing.T, e *env, from jid.JID, raw string) (*stanza.Stanza, error) {
	t.Helper()
	iq := stanza.NewIQ(stanza.TypeSet, svc, stanza.MustElement(raw))
	return e.as(from).SendIQ(context.Background(), iq)
}

func TestErrors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	st, err := Execute(ctx, e.as(alice), svc, "config")
	if err != nil {
		t.Fatal(err)
	}
	sid := st.SessionID
	// Count what reaches handlers: none of the requests below may.
	calls := 0
	for _, node := range []string{"config", "uptime"} {
		c := e.reg.cmds[node]
		inner := c.Handler
		c.Handler = HandlerFunc(func(ctx context.Context, r *Request) (*Response, error) {
			calls++
			return inner.Execute(ctx, r)
		})
	}
	cmd := func(attrs string) string { return "<command xmlns='" + NS + "' " + attrs + "/>" }
	for _, tc := range []struct {
		name     string
		from     jid.JID
		raw      string
		cond     stanza.Condition
		specific string
	}{
		{"unknown node", alice, cmd("node='nope'"), stanza.ItemNotFound, ""},
		{"no node", alice, cmd(""), stanza.BadRequest, ""},
		{"malformed action", alice, cmd("node='uptime' action='jump'"), stanza.BadRequest, "malformed-action"},
		{"malformed action in a session", alice, cmd("node='config' action='finish' sessionid='" + sid + "'"), stanza.BadRequest, "malformed-action"},
		{"action without a session", alice, cmd("node='uptime' action='next'"), stanza.BadRequest, "bad-action"},
		{"unknown session", alice, cmd("node='config' sessionid='forged'"), stanza.BadRequest, "bad-sessionid"},
		{"someone else's session", bob, cmd("node='config' action='next' sessionid='" + sid + "'"), stanza.BadRequest, "bad-sessionid"},
		{"session of another node", alice, cmd("node='uptime' sessionid='" + sid + "'"), stanza.BadRequest, "bad-sessionid"},
		{"not allowed", alice, cmd("node='shutdown'"), stanza.Forbidden, ""},
		{"bad form", alice, "<command xmlns='" + NS + "' node='config' sessionid='" + sid + "'><x xmlns='jabber:x:data' type='bogus'/></command>", stanza.BadRequest, "bad-payload"},
		{"bad note type", alice, "<command xmlns='" + NS + "' node='uptime'><note type='loud'>x</note></command>", stanza.BadRequest, ""},
		{"stray child", alice, "<command xmlns='" + NS + "' node='uptime'><frob/></command>", stanza.BadRequest, ""},
		{"wrong element", alice, "<commands xmlns='" + NS + "' node='uptime'/>", stanza.ServiceUnavailable, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rawCommand(t, e, tc.from, tc.raw)
			var se *stanza.Error
			if !errors.As(err, &se) || se.Condition != tc.cond {
				t.Fatalf("err = %v, want %s", err, tc.cond)
			}
			if got := Specific(err); got != tc.specific {
				t.Fatalf("specific condition %q, want %q (%v)", got, tc.specific, err)
			}
		})
	}
	if calls != 0 {
		t.Fatalf("%d bad requests reached a handler", calls)
	}
	// None of that touched the session.
	if _, err := st.Next(ctx, e.as(alice), submit("service", "httpd")); err != nil {
		t.Fatal(err)
	}
	// The admin command works for the admin.
	if st, err := Execute(ctx, e.as(admin), svc, "shutdown"); err != nil || st.Status != Completed {
		t.Fatalf("admin: %v", err)
	}
}

func TestLimits(t *testing.T) {
	e := newEnv(t)
	e.reg.MaxSessionsPerEntity = 2
	e.reg.MaxSessions = 3
	ctx := context.Background()
	var first []*Stage
	for i := range 3 {
		st, err := Execute(ctx, e.as(alice), svc, "config")
		if err != nil {
			t.Fatal(err)
		}
		first = append(first, st)
		e.clock.add(time.Second)
		_ = i
	}
	// alice's third session ended her first.
	if _, err := first[0].Next(ctx, e.as(alice), submit("service", "httpd")); !errors.Is(err, ErrSessionExpired) {
		t.Fatalf("evicted session: %v", err)
	}
	if _, err := first[2].Next(ctx, e.as(alice), submit("service", "httpd")); err != nil {
		t.Fatalf("newest session: %v", err)
	}
	if _, err := Execute(ctx, e.as(bob), svc, "config"); err != nil {
		t.Fatal(err)
	}
	_, err := Execute(ctx, e.as(jid.MustParse("carol@example/x")), svc, "config")
	if !errors.Is(err, stanza.ErrResourceConstraint) {
		t.Fatalf("over MaxSessions: %v", err)
	}
	if n := e.reg.Sessions(); n != 3 {
		t.Fatalf("%d sessions", n)
	}
}

func TestLocale(t *testing.T) {
	e := newEnv(t)
	e.reg.Languages = []string{"en", "de"}
	iq := stanza.NewIQ(stanza.TypeSet, svc, stanza.MustElement("<command xmlns='"+NS+"' node='uptime'/>"))
	iq.Lang = "fr-CA"
	_, err := e.as(alice).SendIQ(context.Background(), iq)
	if Specific(err) != "bad-locale" || !errors.Is(err, stanza.ErrBadRequest) {
		t.Fatalf("fr-CA: %v", err)
	}
	iq = stanza.NewIQ(stanza.TypeSet, svc, stanza.MustElement("<command xmlns='"+NS+"' node='uptime' xml:lang='de-AT'/>"))
	res, err := e.as(alice).SendIQ(context.Background(), iq)
	if err != nil {
		t.Fatal(err)
	}
	el, _ := res.Child(NS, "command")
	p, err := Parse(el.XML())
	if err != nil || p.Lang != "de-AT" {
		t.Fatalf("answer %s: %v", el.XML(), err)
	}
	// Without a language, the first supported one is the session's.
	st, err := Execute(context.Background(), e.as(alice), svc, "uptime")
	if err != nil || st.Lang != "en" {
		t.Fatalf("default language %q, %v", st.Lang, err)
	}
}

func TestHandlerFailure(t *testing.T) {
	e := newEnv(t)
	calls := 0
	e.reg.HandleFunc("flaky", "Flaky", func(ctx context.Context, r *Request) (*Response, error) {
		calls++
		switch calls {
		case 1:
			return Ask(&form.Form{Type: form.TypeForm, Fields: []form.Field{field(form.TextSingle, "x", "X", false)}}), nil
		case 2:
			panic("boom")
		case 3:
			return nil, errors.New("disk full")
		}
		return Done(InfoNote(fmt.Sprint(calls))), nil
	})
	ctx := context.Background()
	a := e.as(alice)
	st, err := Execute(ctx, a, svc, "flaky")
	if err != nil {
		t.Fatal(err)
	}
	// A form without <actions/>: execute completes (§3.4).
	if st.HasActions || !st.Allows(ActionComplete) || st.Allows(ActionNext) {
		t.Fatalf("single-stage dialog: %+v", st.Payload)
	}
	if _, err := st.Complete(ctx, a, submit("x", "1")); !errors.Is(err, stanza.ErrInternalServerError) {
		t.Fatalf("panic: %v", err)
	}
	if _, err := st.Complete(ctx, a, submit("x", "1")); !errors.Is(err, stanza.ErrInternalServerError) {
		t.Fatalf("error: %v", err)
	}
	// The session survived both and is not locked.
	done, err := st.Do(ctx, a, ActionExecute, submit("x", "1"))
	if err != nil || done.Status != Completed || done.Notes[0].Text != "4" {
		t.Fatalf("after failures: %+v, %v", done, err)
	}
}

func TestDisco(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	items, err := List(ctx, e.as(alice), svc)
	if err != nil {
		t.Fatal(err)
	}
	var nodes []string
	for _, it := range items {
		if !it.JID.Equal(svc) {
			t.Errorf("item at %v", it.JID)
		}
		nodes = append(nodes, it.Node+"="+it.Name)
	}
	if !slices.Equal(nodes, []string{"uptime=Show uptime", "config=Configure"}) {
		t.Fatalf("command list %v", nodes)
	}
	info, err := disco.GetInfo(ctx, e.as(alice), svc, "config")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Identities) != 1 || info.Identities[0] != (disco.Identity{Category: "automation", Type: "command-node", Name: "Configure"}) ||
		!info.HasFeature(NS) || !info.HasFeature(form.NS) {
		t.Fatalf("command node info %+v", info)
	}
	info, err = disco.GetInfo(ctx, e.as(alice), svc, NS)
	if err != nil || info.Identities[0].Type != "command-list" {
		t.Fatalf("commands node info %+v %v", info, err)
	}
	root, err := disco.GetInfo(ctx, e.as(alice), svc, "")
	if err != nil || !root.HasFeature(NS) {
		t.Fatalf("root info %+v %v", root, err)
	}
	// The admin command's node is not there for anyone unknown.
	if _, err := disco.GetInfo(ctx, e.as(alice), svc, "shutdown"); !errors.Is(err, stanza.ErrItemNotFound) {
		t.Fatalf("hidden node info: %v", err)
	}
	// Per requester, the registry knows better.
	if l := e.reg.List(admin, svc); len(l) != 3 || l[2].Node != "shutdown" {
		t.Fatalf("admin's list %v", l)
	}
	// No commands at a JID with a localpart.
	if l := e.reg.List(alice, jid.MustParse("room@svc.example")); len(l) != 0 {
		t.Fatalf("list at a room %v", l)
	}
	m := e.reg.Announce(svc, alice)
	q, ok := m.Child(disco.NSItems, "query")
	if !ok || !strings.Contains(q.XML(), "node='config'") || strings.Contains(q.XML(), "shutdown") {
		t.Fatalf("announce %v", m)
	}
}

func TestParse(t *testing.T) {
	raw := `<command xmlns='` + NS + `' node='config' sessionid='s1' status='executing' xml:lang='en'>` +
		`<actions execute='complete'><prev/><complete/></actions>` +
		`<note type='warn'>careful</note><note>plain</note>` +
		`<x xmlns='jabber:x:data' type='form'><field var='a' type='text-single'/></x>` +
		`<x xmlns='jabber:x:oob'><url>http://example/x</url></x>` +
		`<x xmlns='jabber:x:data' type='result'/></command>`
	p, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if p.Node != "config" || p.SessionID != "s1" || p.Status != Executing || p.Lang != "en" ||
		!p.HasActions || !slices.Equal(p.Actions, []Action{ActionPrev, ActionComplete}) || p.Default != ActionComplete ||
		len(p.Notes) != 2 || p.Notes[0] != WarnNote("careful") || p.Notes[1] != InfoNote("plain") ||
		p.Form == nil || p.Form.Field("a") == nil || len(p.Extra) != 2 || p.Extra[0].Space != "jabber:x:oob" {
		t.Fatalf("%+v", p)
	}
	el, err := p.Element()
	if err != nil {
		t.Fatal(err)
	}
	q, err := Parse(el.XML())
	if err != nil {
		t.Fatal(err)
	}
	if q.Node != p.Node || !slices.Equal(q.Actions, p.Actions) || len(q.Extra) != 2 || len(q.Notes) != 2 {
		t.Fatalf("round trip: %s -> %+v", el.XML(), q)
	}
	for _, bad := range []string{
		`<command xmlns='` + NS + `' node='a'><actions execute='cancel'/></command>`,
		`<command xmlns='` + NS + `' node='a'><actions><jump/></actions></command>`,
		`<command xmlns='` + NS + `' node='a' action='ActionExecute'/>`,
	} {
		if _, err := Parse(bad); !errors.Is(err, ErrMalformedAction) {
			t.Errorf("Parse(%s) = %v, want malformed-action", bad, err)
		}
	}
	if _, err := Parse(`<command xmlns='` + NS + `' node='a'><actions/><actions/></command>`); !errors.Is(err, stanza.ErrBadRequest) {
		t.Errorf("two actions: %v", err)
	}
	bad := &Payload{Node: "a", HasActions: true, Actions: []Action{ActionCancel}}
	if _, err := bad.Element(); err == nil {
		t.Error("cancel in <actions/> encoded")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(`<command xmlns='` + NS + `' node='config' sessionid='s' status='executing'><actions execute='next'><next/></actions><x xmlns='jabber:x:data' type='form'><field var='service' type='list-single'><option><value>httpd</value></option></field></x></command>`)
	f.Add(`<command xmlns='` + NS + `' node='list' action='execute'/>`)
	f.Add(`<command xmlns='` + NS + `' node='c' status='completed'><note type='error'>failed</note></command>`)
	f.Add(`<command xmlns='` + NS + `' node='c'><x xmlns='jabber:x:oob'><url>u</url></x></command>`)
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := Parse(raw)
		if err != nil {
			var se *stanza.Error
			if !errors.As(err, &se) || se.Condition != stanza.BadRequest {
				t.Fatalf("error %v is not bad-request", err)
			}
			return
		}
		el, err := p.Element()
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", p, err)
		}
		q, err := Parse(el.XML())
		if err != nil {
			t.Fatalf("re-parse of %s: %v", el.XML(), err)
		}
		if q.Node != p.Node || q.SessionID != p.SessionID || q.Action != p.Action || q.Status != p.Status ||
			!slices.Equal(q.Actions, p.Actions) || len(q.Notes) != len(p.Notes) || len(q.Extra) != len(p.Extra) || (q.Form == nil) != (p.Form == nil) {
			t.Fatalf("round trip changed %+v into %+v", p, q)
		}
	})
}

// TestConcurrent runs sessions in parallel, some requests racing on one
// session, with the clock moving (sweeps); run it with -race.
func TestConcurrent(t *testing.T) {
	e := newEnv(t)
	e.reg.MaxSessions = 1000
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from := jid.MustParse(fmt.Sprintf("u%d@example/r", g))
			for range 20 {
				st, err := Execute(ctx, e.as(from), svc, "config")
				if err != nil {
					t.Error(err)
					return
				}
				// Two requests on the same session at once: one wins, the
				// other gets an error or the next stage, never a panic.
				var inner sync.WaitGroup
				for range 2 {
					inner.Add(1)
					go func() {
						defer inner.Done()
						_, _ = st.Next(ctx, e.as(from), submit("service", "httpd"))
					}()
				}
				inner.Wait()
				if _, err := st.Cancel(ctx, e.as(from)); err != nil && !errors.Is(err, ErrSessionExpired) {
					t.Error(err)
				}
				e.clock.add(time.Second)
			}
		}()
	}
	wg.Wait()
	if n := e.reg.Sessions(); n != 0 {
		t.Fatalf("%d sessions left", n)
	}
}
