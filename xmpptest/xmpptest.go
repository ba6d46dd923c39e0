package xmpptest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/router"
	"xmppkit.dev/session"
	"xmppkit.dev/stanza"
)

// Domain is the server domain of an Env's clients (alice@localhost).
const Domain = "localhost"

// DefaultTimeout bounds each Send, SendIQ and Expect of a Client.
const DefaultTimeout = 5 * time.Second

// Env is a router with one service attached in-process, for a test.
type Env struct {
	// Router is the router; attach more services or connect it to TCP
	// components as a deployment would.
	Router *router.Router
	// Service is the service's domain.
	Service jid.JID
	// Session is the service's session (what Router.Attach returned): the
	// Sender its handlers receive, to make it send on its own initiative
	// (a notification) from the test, as a deployed service sends through
	// its component's session.
	Session *session.Session

	t       testing.TB
	timeout time.Duration
}

// Option changes the router configuration of New.
type Option func(*router.Config)

// WithConfig makes New start its router from cfg (the service domain is
// attached on top; Domains defaults to Domain).
func WithConfig(cfg router.Config) Option { return func(c *router.Config) { *c = cfg } }

// WithLogger sets the router's logger (by default logs are discarded).
func WithLogger(l *slog.Logger) Option { return func(c *router.Config) { c.Logger = l } }

// WithPrivileges grants services XEP-0356 privileges (see
// router.Privileges): a service using package privilege gets its
// advertisement when it is attached, and can read rosters, send messages
// and IQs on the accounts' behalf and see their presence, in-process.
func WithPrivileges(p ...router.Privileges) Option {
	return func(c *router.Config) { c.Privileges = append(c.Privileges, p...) }
}

// WithDelegations delegates namespaces to services (XEP-0355, see
// router.Delegation): the clients' IQs in them, to the server or to their
// own accounts, reach the service through package delegation.
func WithDelegations(d ...router.Delegation) Option {
	return func(c *router.Config) { c.Delegations = append(c.Delegations, d...) }
}

// New starts a router serving the local domain "localhost" with h attached
// in-process on service (e.g. "pubsub.localhost"). The router is closed, and
// its goroutines gone, when the test ends.
func New(t testing.TB, service string, h mux.Handler, opts ...Option) *Env {
	t.Helper()
	cfg := router.Config{Domains: []string{Domain}}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	r, err := router.New(cfg)
	if err != nil {
		t.Fatalf("xmpptest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Errorf("xmpptest: closing the router: %v", err)
		}
	})
	s, err := r.Attach(service, h)
	if err != nil {
		t.Fatalf("xmpptest: %v", err)
	}
	return &Env{Router: r, Service: jid.MustParse(service), Session: s, t: t, timeout: DefaultTimeout}
}

// Attach attaches another service in-process on domain (closed when the
// test ends), e.g. a service that the one under test talks to, and returns
// its session.
func (e *Env) Attach(domain string, h mux.Handler) *session.Session {
	e.t.Helper()
	s, err := e.Router.Attach(domain, h)
	if err != nil {
		e.t.Fatalf("xmpptest: %v", err)
	}
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	return s
}

// Client connects an in-memory client. user is a localpart ("alice", giving
// alice@localhost/test), a localpart with a resource ("alice/phone"), or a
// full JID. The client is not available (RFC 6121 §4.2) until it calls
// Available. It is closed at the end of the test.
func (e *Env) Client(user string) *Client {
	e.t.Helper()
	s := user
	if !strings.Contains(s, "@") {
		local, res, _ := strings.Cut(s, "/")
		if res == "" {
			res = "test"
		}
		s = local + "@" + Domain + "/" + res
	}
	full, err := jid.Parse(s)
	if err != nil {
		e.t.Fatalf("xmpptest: client %q: %v", user, err)
	}
	c, err := e.Router.Connect(full)
	if err != nil {
		e.t.Fatalf("xmpptest: client %q: %v", user, err)
	}
	e.t.Cleanup(func() { c.Close() })
	return &Client{Client: c, env: e}
}

// Client is an in-memory client of an Env. It embeds *router.Client, whose
// Send, SendIQ and Recv take contexts (and which is a mux.Sender, so client
// helpers such as disco.GetInfo work with it); the methods below are
// shorthands that fail the test on error.
type Client struct {
	*router.Client
	env *Env
	// echoes counts the router's echoes of the client's own presence
	// (RFC 6121 §4.2.2) that Available sent for and the Expect helpers
	// have not skipped yet.
	echoes int
}

// recv is Recv without the echoes of the client's own presence.
func (c *Client) recv(ctx context.Context) (*stanza.Stanza, error) {
	for {
		st, err := c.Recv(ctx)
		if err != nil || c.echoes == 0 || st.Kind != stanza.Presence || st.From != c.JID() || st.To != c.JID() {
			return st, err
		}
		c.echoes--
	}
}

func (c *Client) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), c.env.timeout)
}

// MustSend sends st and fails the test if the router does not take it.
func (c *Client) MustSend(st *stanza.Stanza) {
	c.env.t.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	if err := c.Send(ctx, st); err != nil {
		c.env.t.Fatalf("xmpptest: %v send: %v", c.JID(), err)
	}
}

// Message sends a chat message with body to the service (to == "") or to
// the address to.
func (c *Client) Message(to, body string) {
	c.env.t.Helper()
	c.MustSend(stanza.NewMessage(stanza.TypeChat, c.addr(to), body))
}

func (c *Client) addr(to string) jid.JID {
	c.env.t.Helper()
	if to == "" {
		return c.env.Service
	}
	j, err := jid.Parse(to)
	if err != nil {
		c.env.t.Fatalf("xmpptest: address %q: %v", to, err)
	}
	return j
}

// IQ sends an IQ of type typ ("get" or "set") with the payload element
// (raw XML) to the service, and returns the result stanza or the error
// (a *stanza.Error for an error reply). A payload that does not parse fails
// the test.
func (c *Client) IQ(typ, payload string) (*stanza.Stanza, error) {
	c.env.t.Helper()
	return c.IQTo("", typ, payload)
}

// IQTo is IQ to the address to ("" for the service).
func (c *Client) IQTo(to, typ, payload string) (*stanza.Stanza, error) {
	c.env.t.Helper()
	el, err := stanza.ParseElement(payload)
	if err != nil {
		c.env.t.Fatalf("xmpptest: payload: %v", err)
	}
	ctx, cancel := c.ctx()
	defer cancel()
	return c.SendIQ(ctx, stanza.NewIQ(typ, c.addr(to), el))
}

// Available sends initial presence with the priority (RFC 6121 §4.2), so
// that messages to the client's bare JID reach it. The router's echo of it
// to the client itself (§4.2.2) is skipped by the Expect helpers.
func (c *Client) Available(priority int) {
	c.env.t.Helper()
	p := stanza.NewPresence("", jid.JID{})
	if priority != 0 {
		p.SetPayloadElements(stanza.TextElement("", "priority", strconv.Itoa(priority)))
	}
	c.MustSend(p)
	c.echoes++
}

// Expect returns the next stanza of the kind for the client, skipping
// others, and fails the test if none comes within DefaultTimeout.
func (c *Client) Expect(kind stanza.Kind) *stanza.Stanza {
	c.env.t.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	for {
		st, err := c.recv(ctx)
		if err != nil {
			c.env.t.Fatalf("xmpptest: %v expected a %v: %v", c.JID(), kind, err)
		}
		if st.Kind == kind {
			return st
		}
	}
}

// ExpectMessage is Expect(stanza.Message).
func (c *Client) ExpectMessage() *stanza.Stanza {
	c.env.t.Helper()
	return c.Expect(stanza.Message)
}

// ExpectBody waits for the next message and fails the test unless its body
// is body.
func (c *Client) ExpectBody(body string) *stanza.Stanza {
	c.env.t.Helper()
	m := c.ExpectMessage()
	if got := m.Body(); got != body {
		c.env.t.Fatalf("xmpptest: %v got body %q, want %q (%v)", c.JID(), got, body, m)
	}
	return m
}

// ExpectError waits for the next stanza of the kind and fails the test
// unless it is an error reply with the condition.
func (c *Client) ExpectError(kind stanza.Kind, cond stanza.Condition) *stanza.Stanza {
	c.env.t.Helper()
	st := c.Expect(kind)
	if e := st.Err(); e == nil || e.Condition != cond {
		c.env.t.Fatalf("xmpptest: %v got %v, want a %s error", c.JID(), st, cond)
	}
	return st
}

// ExpectNone fails the test if a stanza arrives for the client within d.
func (c *Client) ExpectNone(d time.Duration) {
	c.env.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	st, err := c.recv(ctx)
	if err == nil {
		c.env.t.Fatalf("xmpptest: %v got unexpected %v", c.JID(), st)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		c.env.t.Fatalf("xmpptest: %v: %v", c.JID(), err)
	}
}
