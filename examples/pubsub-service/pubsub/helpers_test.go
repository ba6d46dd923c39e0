package pubsub

import (
	"context"
	"errors"
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
	svc, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() }) // after the router is closed (cleanups run last first)
	x := xmpptest.New(t, svcDomain, svc.Handler(), func(c *router.Config) { c.InProcessQueue = 1 << 16 })
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

// do sends an iq with <pubsub xmlns=ns>inner</pubsub> to the service.
func (c *client) do(typ, ns, inner string) (*stanza.Stanza, error) {
	c.t.Helper()
	iq := stanza.NewIQ(typ, svcJID)
	if err := iq.SetPayload("<pubsub xmlns='" + ns + "'>" + inner + "</pubsub>"); err != nil {
		c.t.Fatalf("bad test payload: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.SendIQ(ctx, iq)
}

// ok is do that must succeed; it returns the result's payload.
func (c *client) ok(typ, ns, inner string) string {
	c.t.Helper()
	res, err := c.do(typ, ns, inner)
	if err != nil {
		c.t.Fatalf("%s %s: %v", typ, inner, err)
	}
	return res.Payload()
}

// fail is do that must fail with the condition and app element (local name).
func (c *client) fail(typ, ns, inner string, cond stanza.Condition, app string) {
	c.t.Helper()
	_, err := c.do(typ, ns, inner)
	var se *stanza.Error
	if !errors.As(err, &se) {
		c.t.Fatalf("%s: want error %s, got %v", inner, cond, err)
	}
	if se.Condition != cond {
		c.t.Fatalf("%s: condition %s, want %s (%v)", inner, se.Condition, cond, se)
	}
	if app != "" && !strings.Contains(se.App, "<"+app+" ") {
		c.t.Fatalf("%s: app condition %q, want <%s/>", inner, se.App, app)
	}
	if app != "" && !strings.Contains(se.App, NSErrors) {
		c.t.Fatalf("%s: app condition %q not in %s", inner, se.App, NSErrors)
	}
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
	if st, err := c.Recv(ctx); err == nil {
		c.t.Fatalf("%s: unexpected %s", c.JID(), st)
	}
}

// event receives a notification and returns the XML of its <event/>.
func (c *client) event() string {
	c.t.Helper()
	st := c.recv()
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

// formValue returns the value of a field of the data form in a payload.
func formValue(t testing.TB, payload, name string) string {
	t.Helper()
	i := strings.Index(payload, `<x xmlns="jabber:x:data"`)
	j := strings.LastIndex(payload, "</x>")
	if i < 0 || j < i {
		t.Fatalf("no data form in %s", payload)
	}
	f, err := form.Parse([]byte(payload[i : j+4]))
	if err != nil {
		t.Fatalf("form: %v", err)
	}
	v, _ := f.Get(name)
	return v
}
