package component_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"xmppkit.dev/component"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/router"
	"xmppkit.dev/stanza"
)

// TestSeveralDomains: one process, several component domains, one link
// each, with a shared handler tree and with trees of their own. Each
// answer and each unsolicited send leaves from its own domain; closing one
// component leaves the others serving.
func TestSeveralDomains(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	domains := []string{"a.localhost", "b.localhost", "c.localhost"}
	secrets := map[string]string{}
	for _, d := range domains {
		secrets[d] = "secret-" + d
	}
	r, err := router.New(router.Config{Secrets: secrets, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	addr, err := r.ListenComponents("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	echo := func(tag string) *mux.ServeMux {
		m := mux.New()
		m.HandleMessageFunc(stanza.TypeChat, "", func(ctx context.Context, s mux.Sender, msg *stanza.Stanza) error {
			return s.Send(ctx, msg.ReplyBody(tag+" "+msg.To.String()))
		})
		return m
	}
	shared := echo("shared")
	handlers := map[string]mux.Handler{"a.localhost": shared, "b.localhost": shared, "c.localhost": echo("own")}
	comps := map[string]*component.Component{}
	done := make(chan error, len(domains))
	for _, d := range domains {
		c := &component.Component{Addr: addr.String(), Domain: d, Secret: secrets[d], Handler: handlers[d], Logger: quiet}
		comps[d] = c
		go func() { done <- c.Run(context.Background()) }()
	}
	for _, c := range comps {
		deadline := time.Now().Add(10 * time.Second)
		for c.Stats().State != component.StateConnected {
			if time.Now().After(deadline) {
				t.Fatalf("%s not connected: %v", c.Domain, c.Stats().LastError)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	alice, err := r.Connect(jid.MustParse("alice@localhost/r"))
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	recv := func() *stanza.Stanza {
		t.Helper()
		st, err := alice.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	for _, d := range domains {
		to := jid.MustParse("bot@" + d)
		alice.Send(ctx, stanza.NewMessage(stanza.TypeChat, to, "hi"))
		want := map[string]string{"a.localhost": "shared", "b.localhost": "shared", "c.localhost": "own"}[d] + " " + to.String()
		if got := recv(); got.From != to || got.Body() != want {
			t.Fatalf("%s answered %s, want %q from %s", d, got, want, to)
		}
		// Unsolicited, through the component's session: from its domain.
		if err := comps[d].Session().Send(ctx, stanza.NewMessage(stanza.TypeChat, alice.JID(), "hello")); err != nil {
			t.Fatal(err)
		}
		if got := recv(); got.From.String() != d {
			t.Fatalf("unsolicited send from %s came from %s", d, got.From)
		}
	}
	// Stop b: a and c go on.
	if err := comps["b.localhost"].Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run after Close = %v", err)
	}
	alice.Send(ctx, stanza.NewMessage(stanza.TypeChat, jid.MustParse("b.localhost"), "anyone?"))
	if got := recv(); got.Type != stanza.TypeError || got.Err().Condition != stanza.ServiceUnavailable {
		t.Fatalf("to the stopped domain: %s", got)
	}
	for _, d := range []string{"a.localhost", "c.localhost"} {
		alice.Send(ctx, stanza.NewMessage(stanza.TypeChat, jid.MustParse(d), "still there?"))
		if got := recv(); got.From.String() != d || got.Type != stanza.TypeChat {
			t.Fatalf("%s after b stopped: %s", d, got)
		}
		if err := comps[d].Close(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("Run after Close = %v", err)
		}
	}
}
