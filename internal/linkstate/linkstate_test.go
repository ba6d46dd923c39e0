package linkstate

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"xmppkit.dev/jid"
)

func TestIsServer(t *testing.T) {
	j := jid.MustParse
	for _, c := range []struct {
		servers  []jid.JID
		from, to string
		want     bool
	}{
		{nil, "localhost", "priv.localhost", true},
		{nil, "example.net", "pubsub.a.example.net", false},
		{nil, "a.example.net", "pubsub.a.example.net", true},
		{nil, "alice@localhost", "priv.localhost", false},
		{nil, "localhost/r", "priv.localhost", false},
		{nil, "localhost", "localhost", false},
		{nil, "localhost", "priv.localhost/x", true},
		{[]jid.JID{j("chat.example.org")}, "chat.example.org", "priv.localhost", true},
		{[]jid.JID{j("chat.example.org")}, "localhost", "priv.localhost", false},
	} {
		from := jid.JID{}
		if c.from != "" {
			from = j(c.from)
		}
		if got := IsServer(c.servers, from, j(c.to)); got != c.want {
			t.Errorf("IsServer(%v, %s, %s) = %v", c.servers, c.from, c.to, got)
		}
	}
	if IsServer(nil, jid.JID{}, j("priv.localhost")) {
		t.Error("the zero JID speaks for a server")
	}
}

func TestNotifier(t *testing.T) {
	var n Notifier
	ch := n.Changed()
	if ch != n.Changed() {
		t.Fatal("two channels before a change")
	}
	done := make(chan error, 1)
	var ready atomic.Bool
	go func() { done <- n.Wait(context.Background(), ready.Load) }()
	n.Notify() // cond false: Wait goes on
	select {
	case <-ch:
	default:
		t.Fatal("Notify did not close the channel")
	}
	select {
	case err := <-done:
		t.Fatalf("Wait returned %v before cond held", err)
	case <-time.After(20 * time.Millisecond):
	}
	ready.Store(true)
	n.Notify()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := n.Wait(ctx, func() bool { return false }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v", err)
	}
}
