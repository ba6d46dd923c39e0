package bridgetest

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	"xmppkit.dev/bridge"
	"xmppkit.dev/form"
	"xmppkit.dev/jid"
	"xmppkit.dev/router"
	"xmppkit.dev/stanza"
	"xmppkit.dev/xmpptest"
)

// Domain is the gateway's domain in an Env.
const Domain = "bridge.localhost"

// Env is a Gateway attached to the in-memory router, for a test.
type Env struct {
	Gateway *bridge.Gateway
	XMPP    *xmpptest.Env
	t       testing.TB
}

// Option changes what New sets up.
type Option func(*options)

type options struct {
	privileges *router.Privileges
	logger     *slog.Logger
}

// WithPrivileges grants the gateway these XEP-0356 privileges instead of the
// default (roster both, message outgoing, presence roster, as a server
// configured for gateways does); WithPrivileges(router.Privileges{}) grants
// none, to test the degraded paths.
func WithPrivileges(p router.Privileges) Option {
	return func(o *options) { o.privileges = &p }
}

// WithLogger sets the logger of the gateway and the router.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// New starts a Gateway for cfg on an in-memory router (localhost) at
// cfg.Domain (default Domain), with cfg.Network (default a NewNetwork, with
// Fields as the registration). Everything is closed when the test ends.
func New(t testing.TB, cfg bridge.Config, opts ...Option) *Env {
	t.Helper()
	var o options
	for _, f := range opts {
		f(&o)
	}
	if cfg.Domain == "" {
		cfg.Domain = Domain
	}
	if cfg.Network == nil {
		cfg.Network = NewNetwork()
		if cfg.Registration == nil {
			cfg.Registration = Fields()
		}
	}
	if o.logger != nil && cfg.Logger == nil {
		cfg.Logger = o.logger
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p := router.Privileges{Component: cfg.Domain, Roster: "both", Message: "outgoing", Presence: "roster"}
	if o.privileges != nil {
		p = *o.privileges
		p.Component = cfg.Domain
	}
	gw, err := bridge.New(cfg)
	if err != nil {
		t.Fatalf("bridgetest: %v", err)
	}
	xo := []xmpptest.Option{xmpptest.WithLogger(cfg.Logger)}
	if p.Roster != "" || p.Message != "" || p.Presence != "" || len(p.IQ) > 0 {
		xo = append(xo, xmpptest.WithPrivileges(p))
	}
	env := xmpptest.New(t, cfg.Domain, gw, xo...)
	t.Cleanup(gw.Close)
	e := &Env{Gateway: gw, XMPP: env, t: t}
	if p.Roster != "" || p.Message != "" || p.Presence != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := gw.Privileges().Wait(ctx, jid.MustParse(xmpptest.Domain)); err != nil {
			t.Fatalf("bridgetest: no privilege advertisement: %v", err)
		}
	}
	return e
}

// Network returns the Env's in-memory network (when the Config had none).
func (e *Env) Network() *Network {
	n, _ := e.gatewayNetwork().(*Network)
	return n
}

func (e *Env) gatewayNetwork() bridge.Network { return e.Gateway.Network() }

// User is an XMPP user of the gateway: an in-memory client.
type User struct {
	*xmpptest.Client
	env *Env
	t   testing.TB
	// inbox holds what Expect skipped, for the next Expect.
	inbox []*stanza.Stanza
}

// Client connects user ("alice" or "alice/phone") without registering.
func (e *Env) Client(user string) *User {
	e.t.Helper()
	return &User{Client: e.XMPP.Client(user), env: e, t: e.t}
}

// Register connects user, registers it with the gateway (XEP-0077 with the
// data form) with the values, sends its initial presence and waits until
// the gateway says it is connected.
func (e *Env) Register(user string, values map[string]string) *User {
	e.t.Helper()
	u := e.Client(user)
	if err := u.Register(values); err != nil {
		e.t.Fatalf("bridgetest: registering %s: %v", user, err)
	}
	u.Subscribe()
	u.Available(0)
	u.WaitConnected()
	return u
}

// Subscribe does what a client does after registering with a gateway
// (XEP-0100 §4.1.1): it approves the gateway's subscription request and
// subscribes to the gateway's presence.
func (u *User) Subscribe() {
	u.t.Helper()
	for _, t := range []string{stanza.TypeSubscribed, stanza.TypeSubscribe} {
		u.MustSend(stanza.NewPresence(t, u.env.Gateway.Domain()))
	}
}

// Register registers the user with the gateway (XEP-0077 §3.1 with a
// XEP-0004 form), without coming online.
func (u *User) Register(values map[string]string) error {
	f := &form.Form{Type: form.TypeSubmit}
	f.Set(form.Hidden, form.FormTypeVar, bridge.NSRegister)
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f.Set(form.TextSingle, k, values[k])
	}
	iq := stanza.NewIQ(stanza.TypeSet, u.env.Gateway.Domain(), stanza.NewBuilder(bridge.NSRegister, "query").Append(f.Element()).Element())
	ctx, cancel := context.WithTimeout(context.Background(), xmpptest.DefaultTimeout)
	defer cancel()
	_, err := u.SendIQ(ctx, iq)
	return err
}

// WaitConnected waits for the gateway's available presence ("Connected"),
// skipping other stanzas, and fails the test after the timeout or on a
// login failure.
func (u *User) WaitConnected() {
	u.t.Helper()
	u.Expect(func(st *stanza.Stanza) bool {
		if st.Kind != stanza.Presence || !st.From.Equal(u.env.Gateway.Domain()) {
			return false
		}
		return st.Type == "" && statusOf(st) == "Connected"
	}, "the gateway's presence Connected")
}

func statusOf(st *stanza.Stanza) string {
	el, ok := st.Child("", "status")
	if !ok {
		return ""
	}
	s, _ := el.Text()
	return s
}

// Puppet returns the JID of a legacy id at the gateway.
func (u *User) Puppet(id string) jid.JID {
	u.t.Helper()
	j, err := u.env.Gateway.JID(id)
	if err != nil {
		u.t.Fatalf("bridgetest: %v", err)
	}
	return j
}

// Say sends a chat message to the contact with the legacy id.
func (u *User) Say(id, body string) *stanza.Stanza {
	u.t.Helper()
	m := stanza.NewMessage(stanza.TypeChat, u.Puppet(id), body)
	u.MustSend(m)
	return m
}

// Expect returns the first stanza that matches, among those received and
// not taken yet, or the next that comes; it fails the test when none comes
// within xmpptest.DefaultTimeout. Stanzas it passes over stay for the next
// Expect (up to the last 1000).
func (u *User) Expect(match func(*stanza.Stanza) bool, what string) *stanza.Stanza {
	u.t.Helper()
	for i, st := range u.inbox {
		if match(st) {
			u.inbox = append(u.inbox[:i:i], u.inbox[i+1:]...)
			return st
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), xmpptest.DefaultTimeout)
	defer cancel()
	for {
		st, err := u.Recv(ctx)
		if err != nil {
			var seen []string
			for _, s := range u.inbox {
				seen = append(seen, s.String())
			}
			u.t.Fatalf("bridgetest: %v waited for %s: %v; received meanwhile:\n%s", u.JID(), what, err, strings.Join(seen, "\n"))
		}
		if match(st) {
			return st
		}
		if len(u.inbox) >= 1000 {
			u.inbox = u.inbox[1:]
		}
		u.inbox = append(u.inbox, st)
	}
}

// ExpectFrom waits for a stanza of the kind from the contact (or room) with
// the legacy id.
func (u *User) ExpectFrom(kind stanza.Kind, id string) *stanza.Stanza {
	u.t.Helper()
	p := u.Puppet(id)
	return u.Expect(func(st *stanza.Stanza) bool { return st.Kind == kind && st.From.Bare().Equal(p) },
		fmt.Sprintf("a %v from %s", kind, p))
}

// ExpectChild waits for a message from the contact carrying the child
// element (namespace, local name).
func (u *User) ExpectChild(id, space, local string) *stanza.Stanza {
	u.t.Helper()
	p := u.Puppet(id)
	return u.Expect(func(st *stanza.Stanza) bool {
		if st.Kind != stanza.Message || !st.From.Bare().Equal(p) {
			return false
		}
		_, ok := st.Child(space, local)
		return ok
	}, fmt.Sprintf("a message from %s with {%s}%s", p, space, local))
}

// ExpectNoMessage fails the test if a message (other than those already
// taken) arrives within d; presences are kept for the next Expect.
func (u *User) ExpectNoMessage(d time.Duration) {
	u.t.Helper()
	for _, st := range u.inbox {
		if st.Kind == stanza.Message {
			u.t.Fatalf("bridgetest: %v got unexpected %v", u.JID(), st)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		st, err := u.Recv(ctx)
		if err != nil {
			return
		}
		if st.Kind == stanza.Message {
			u.t.Fatalf("bridgetest: %v got unexpected %v", u.JID(), st)
		}
		u.inbox = append(u.inbox, st)
	}
}

// Inbox returns what Expect passed over and kept (oldest first).
func (u *User) Inbox() []*stanza.Stanza { return append([]*stanza.Stanza(nil), u.inbox...) }
