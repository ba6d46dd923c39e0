// Package itest holds what the integration tests of packages privilege and
// delegation share: a table of observed results per server, a component
// run for the length of a test, and logged-in c2s clients.
package itest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"xmppkit.dev/client"
	"xmppkit.dev/component"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/router"
	"xmppkit.dev/router/c2s"
	"xmppkit.dev/servertest"
	"xmppkit.dev/stanza"
)

// Results collects one row per case: name, ok or FAIL, what was observed.
type Results struct {
	mu   sync.Mutex
	rows [][3]string
}

// Record runs f as a subtest and adds its row with the detail f returns.
func (r *Results) Record(t *testing.T, name string, f func(t *testing.T) string) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		detail := f(t)
		r.mu.Lock()
		defer r.mu.Unlock()
		res := "ok"
		if t.Failed() {
			res = "FAIL"
		}
		r.rows = append(r.rows, [3]string{name, res, detail})
	})
}

// Print logs the table.
func (r *Results) Print(t *testing.T, server string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s results\n", server)
	for _, row := range r.rows {
		fmt.Fprintf(&b, "%-24s %-4s %s\n", row[0], row[1], row[2])
	}
	t.Log(b.String())
}

// Router starts the embedded router as a server for the same cases as
// Prosody and ejabberd: the domain localhost with servertest's default
// accounts, an XEP-0114 listener accepting the components with
// servertest.Secret, and a c2s listener (SCRAM without TLS), both on
// loopback; cfg gives the privileges and delegations. The router is
// closed when the test ends. The returned Server describes it (Name
// "router", Domain, C2SAddr, ComponentAddr, Users); it cannot be
// restarted.
func Router(t *testing.T, cfg router.Config, components ...string) *servertest.Server {
	t.Helper()
	users := map[string]string{}
	for _, u := range servertest.DefaultUsers() {
		users[u.JID(servertest.LocalDomain)] = u.Password
	}
	cfg.Domains = []string{servertest.LocalDomain}
	cfg.Users = users
	cfg.Secrets = map[string]string{}
	for _, d := range components {
		cfg.Secrets[d] = servertest.Secret
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	r, err := router.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Errorf("closing the router: %v", err)
		}
	})
	compAddr, err := r.ListenComponents("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, c2sAddr, err := c2s.Listen(r, "127.0.0.1:0", c2s.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return &servertest.Server{Name: "router", Domain: servertest.LocalDomain, C2SAddr: c2sAddr.String(),
		ComponentAddr: compAddr.String(), Users: servertest.DefaultUsers()}
}

// Component starts a component for domain on srv serving h, waits until it
// is connected, and closes it when the test ends. onLink, when not nil, is
// its OnLink hook.
func Component(t *testing.T, srv *servertest.Server, domain string, h mux.Handler, log *slog.Logger, onLink func(component.LinkEvent)) *component.Component {
	t.Helper()
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c := &component.Component{
		Addr: srv.ComponentAddr, Domain: domain, Secret: servertest.Secret, Handler: h,
		BackoffBase: 50 * time.Millisecond, BackoffMax: 500 * time.Millisecond, Logger: log,
		OnLink: onLink,
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.Close(ctx)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("component %s: Run = %v, want nil after Close", domain, err)
			}
		case <-ctx.Done():
			t.Errorf("component %s: Run did not return", domain)
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for c.Stats().State != component.StateConnected {
		select {
		case err := <-done:
			t.Fatalf("component %s: Run = %v", domain, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("component %s not connected: %v", domain, c.Stats().LastError)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return c
}

// Login logs user in on srv with the resource, closing the client when the
// test ends.
func Login(t *testing.T, srv *servertest.Server, user, resource string) *client.Client {
	t.Helper()
	var pw string
	for _, u := range srv.Users {
		if u.Name == user {
			pw = u.Password
		}
	}
	j := jid.MustParse(user + "@" + srv.Domain + "/" + resource)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, srv.C2SAddr, client.Config{JID: j, Password: pw, AllowPlainWithoutTLS: true})
	if err != nil {
		t.Fatalf("login %s: %v", j, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Close(ctx)
	})
	return c
}

// Expect receives from c until a stanza matches, skipping the others (such
// as Prosody's empty <privilege/> message to every client), for up to
// timeout. It fails the test when none comes.
func Expect(t *testing.T, c *client.Client, timeout time.Duration, what string, match func(*stanza.Stanza) bool) *stanza.Stanza {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var skipped []string
	for {
		st, err := c.Recv(ctx)
		if err != nil {
			t.Fatalf("%s: waiting for %s: %v (skipped %d: %s)", c.JID(), what, err, len(skipped), strings.Join(skipped, " | "))
		}
		if match(st) {
			return st
		}
		skipped = append(skipped, st.String())
	}
}

// Available sends c's initial presence and waits until the server has
// processed it (its own presence comes back, RFC 6121 §4.2.2): a message
// to the bare JID can then reach the session.
func Available(t *testing.T, c *client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.SendPresence(ctx); err != nil {
		t.Fatalf("%s: presence: %v", c.JID(), err)
	}
	Expect(t, c, 5*time.Second, "its own presence", func(st *stanza.Stanza) bool {
		return st.Kind == stanza.Presence && st.Type == "" && st.From.Equal(c.JID())
	})
}

// Eventually polls cond every 10 ms until it holds, for up to timeout.
func Eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// LogRecords is a slog.Handler that keeps the messages of the records it
// handles, for tests that check what was logged.
type LogRecords struct {
	mu   sync.Mutex
	msgs []string
}

// Enabled implements slog.Handler: every level.
func (l *LogRecords) Enabled(context.Context, slog.Level) bool { return true }

// Handle implements slog.Handler.
func (l *LogRecords) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	l.mu.Lock()
	l.msgs = append(l.msgs, b.String())
	l.mu.Unlock()
	return nil
}

// WithAttrs implements slog.Handler.
func (l *LogRecords) WithAttrs([]slog.Attr) slog.Handler { return l }

// WithGroup implements slog.Handler.
func (l *LogRecords) WithGroup(string) slog.Handler { return l }

// Find returns the first message containing s.
func (l *LogRecords) Find(s string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.msgs {
		if strings.Contains(m, s) {
			return m, true
		}
	}
	return "", false
}
