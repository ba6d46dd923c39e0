package pubsub

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"xmppkit.dev/form"
	"xmppkit.dev/jid"
	"xmppkit.dev/router"
	"xmppkit.dev/stanza"
	"xmppkit.dev/xmpptest"
)

const svcDomain = "pubsub.localhost"

var svcJID = jid.MustParse(svcDomain)

type env struct {
	t   testing.TB
	x   *xmpptest.Env
	svc *Service
}

// newEnv runs the service with the given store on xmpptest's in-process
// router.
func newEnv(t testing.TB, store Store) *env {
	t.Helper()
	return newEnvOpts(t, Options{Store: store})
}

func newEnvOpts(t testing.TB, opts Options) *env {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	svc, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() }) // after the router is closed (cleanups run last first)
	x := xmpptest.New(t, svcDomain, svc.Handler(), func(c *router.Config) { c.InProcessQueue = 1 << 16 }, xmpptest.WithLogger(quietLogger()))
	return &env{t: t, x: x, svc: svc}
}

type client struct {
	*xmpptest.Client
	t testing.TB
}

func (e *env) client(full string) *client {
	e.t.Helper()
	return &client{e.x.Client(full), e.t}
}

// node is an element of a request under construction: e("publish",
// "node", "n").kids(e("item", "id", "1").with(payload)).
type node struct {
	local    string
	attrs    []string
	children []*node
	elems    []stanza.Element
	text     string
}

func e(local string, attrs ...string) *node { return &node{local: local, attrs: attrs} }

func (n *node) kids(k ...*node) *node { n.children = append(n.children, k...); return n }

func (n *node) with(els ...stanza.Element) *node { n.elems = append(n.elems, els...); return n }

func (n *node) form(f *form.Form) *node { return n.with(formEl(f)) }

func (n *node) build(b *stanza.Builder) {
	for i := 0; i+1 < len(n.attrs); i += 2 {
		b.Attr(n.attrs[i], n.attrs[i+1])
	}
	if n.text != "" {
		b.Text(n.text)
	}
	for _, k := range n.children {
		b.Child("", k.local)
		k.build(b)
		b.End()
	}
	b.Append(n.elems...)
}

// pubsubOf builds <pubsub xmlns=ns> with the children.
func pubsubOf(ns string, children ...*node) stanza.Element {
	b := stanza.NewBuilder(ns, "pubsub")
	for _, k := range children {
		b.Child("", k.local)
		k.build(b)
		b.End()
	}
	return b.Element()
}

// v is a payload element <v xmlns='urn:v'>text</v>.
func v(text string) stanza.Element { return stanza.TextElement("urn:v", "v", text) }

// cfg is a submitted node configuration form.
func cfg(pairs ...string) *form.Form { return NodeConfig(pairs...) }

// do sends an iq with <pubsub xmlns=ns> holding the children.
func (c *client) do(typ, ns string, children ...*node) (*stanza.Stanza, error) {
	c.t.Helper()
	return c.send(stanza.NewIQ(typ, svcJID, pubsubOf(ns, children...)))
}

func (c *client) send(iq *stanza.Stanza) (*stanza.Stanza, error) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.SendIQ(ctx, iq)
}

// ok is do that must succeed; it returns the result's payload.
func (c *client) ok(typ, ns string, children ...*node) string {
	c.t.Helper()
	res, err := c.do(typ, ns, children...)
	if err != nil {
		c.t.Fatalf("%s %s: %v", typ, pubsubOf(ns, children...).XML(), err)
	}
	return res.Payload()
}

// fail is do that must fail with the condition and app element (local name).
func (c *client) fail(typ, ns string, cond stanza.Condition, app string, children ...*node) *stanza.Error {
	c.t.Helper()
	_, err := c.do(typ, ns, children...)
	return checkErr(c.t, pubsubOf(ns, children...).XML(), err, cond, app)
}

func checkErr(t testing.TB, what string, err error, cond stanza.Condition, app string) *stanza.Error {
	t.Helper()
	var se *stanza.Error
	if !errors.As(err, &se) {
		t.Fatalf("%s: want error %s, got %v", what, cond, err)
	}
	if se.Condition != cond {
		t.Fatalf("%s: condition %s, want %s (%v)", what, se.Condition, cond, se)
	}
	if app != "" && (!strings.Contains(se.App, "<"+app+" ") || !strings.Contains(se.App, NSErrors)) {
		t.Fatalf("%s: app condition %q, want <%s xmlns=%s/>", what, se.App, app, NSErrors)
	}
	return se
}

func (c *client) recv() *stanza.Stanza {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.Recv(ctx)
	if err != nil {
		c.t.Fatalf("%s: no stanza: %v", c.JID(), err)
	}
	return st
}

// none checks that nothing arrives for a short while.
func (c *client) none() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	for {
		st, err := c.Recv(ctx)
		if err != nil {
			return
		}
		if st.Kind == stanza.Presence && st.From.Bare().Equal(c.JID().Bare()) {
			continue // the client's own presence
		}
		c.t.Fatalf("%s: unexpected %s", c.JID(), st)
	}
}

// event receives a notification and returns the XML of its <event/>.
func (c *client) event() string {
	c.t.Helper()
	st := c.recv()
	for st.Kind == stanza.Presence {
		st = c.recv() // an available client's own presence
	}
	if st.Kind != stanza.Message || !st.From.Equal(svcJID) || st.ID == "" {
		c.t.Fatalf("not a notification from the service with an id: %s", st)
	}
	ev, ok := st.Child(NSEvent, "event")
	if !ok {
		c.t.Fatalf("no pubsub#event in %s", st)
	}
	return ev.XML()
}

func mustContain(t testing.TB, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Fatalf("%s\n  does not contain %s", got, w)
		}
	}
}

func mustNotContain(t testing.TB, got string, not ...string) {
	t.Helper()
	for _, w := range not {
		if strings.Contains(got, w) {
			t.Fatalf("%s\n  contains %s", got, w)
		}
	}
}

// formIn returns the data form in a payload.
func formIn(t testing.TB, payload string) *form.Form {
	t.Helper()
	i := strings.Index(payload, "<x xmlns")
	j := strings.LastIndex(payload, "</x>")
	if i < 0 || j < i {
		t.Fatalf("no data form in %s", payload)
	}
	f, err := form.Parse([]byte(payload[i : j+4]))
	if err != nil {
		t.Fatalf("form: %v", err)
	}
	return f
}

// formValue returns the value of a field of the data form in a payload.
func formValue(t testing.TB, payload, name string) string {
	t.Helper()
	v, _ := formIn(t, payload).Get(name)
	return v
}

// attrOf returns the value of the first attribute name='...' in x.
func attrOf(t testing.TB, x, name string) string {
	t.Helper()
	i := strings.Index(x, name+"='")
	if i < 0 {
		t.Fatalf("no %s in %s", name, x)
	}
	rest := x[i+len(name)+2:]
	return rest[:strings.IndexByte(rest, '\'')]
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
