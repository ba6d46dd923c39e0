package xmpptest_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
	"xmppkit.dev/xmpptest"
)

// echo is a small service: it echoes chat messages, answers a query IQ with
// the sender's address, and notifies a subscriber.
func echo() *mux.ServeMux {
	m := mux.New()
	m.HandleMessageFunc(stanza.TypeChat, "", func(ctx context.Context, s mux.Sender, msg *stanza.Stanza) error {
		if msg.Body() == "" {
			return nil // a typing notification: nothing to answer
		}
		return s.Send(ctx, msg.ReplyBody("echo: "+msg.Body()))
	})
	m.HandleIQFunc(stanza.TypeGet, "urn:example:whoami", "query", func(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
		return s.Send(ctx, iq.Result(stanza.TextElement("urn:example:whoami", "query", iq.From.String())))
	})
	m.HandleIQFunc(stanza.TypeSet, "urn:example:fail", "", func(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
		return stanza.NewError(stanza.NotAllowed, "no")
	})
	return m
}

func TestEnv(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("service", func(t *testing.T) {
		env := xmpptest.New(t, "echo.localhost", echo())
		alice := env.Client("alice")
		if alice.JID().String() != "alice@localhost/test" {
			t.Fatalf("JID %v", alice.JID())
		}
		alice.Message("", "hi")
		m := alice.ExpectBody("echo: hi")
		if m.From != env.Service {
			t.Fatalf("from %v", m.From)
		}
		res, err := alice.IQ("get", "<query xmlns='urn:example:whoami'/>")
		if err != nil || !strings.Contains(res.Payload(), "alice@localhost/test") {
			t.Fatalf("whoami: %v %v", res, err)
		}
		_, err = alice.IQ("set", "<x xmlns='urn:example:fail'/>")
		if !errors.Is(err, stanza.ErrNotAllowed) {
			t.Fatalf("fail: %v", err)
		}
		_, err = alice.IQ("get", "<x xmlns='urn:example:none'/>")
		if !errors.Is(err, stanza.ErrServiceUnavailable) {
			t.Fatalf("unhandled: %v", err)
		}
		// A second service, reached from the first one.
		env.Attach("upper.localhost", mux.HandlerFunc(func(ctx context.Context, s mux.Sender, msg *stanza.Stanza) error {
			if msg.Kind != stanza.Message {
				return nil
			}
			reply := msg.Reply()
			reply.SetPayloadElements(stanza.MustElement("<body>" + strings.ToUpper(msg.Body()) + "</body>"))
			return s.Send(ctx, reply)
		}))
		alice.Message("upper.localhost", "shout")
		alice.ExpectBody("SHOUT")
		// The router's own rules: no route to another server.
		alice.Message("bob@elsewhere.example", "x")
		alice.ExpectError(stanza.Message, stanza.RemoteServerNotFound)
		alice.ExpectNone(20 * time.Millisecond)
	})
	t.Run("clients and notifications", func(t *testing.T) {
		env := xmpptest.New(t, "echo.localhost", echo())
		phone := env.Client("bob/phone")
		laptop := env.Client("bob/laptop")
		phone.Available(1)
		laptop.Available(0)
		// Each resource sees the other's presence (RFC 6121 §4.2.2).
		if p := laptop.Expect(stanza.Presence); p.From != phone.JID() {
			t.Fatalf("laptop got presence from %v", p.From)
		}
		if p := phone.Expect(stanza.Presence); p.From != laptop.JID() {
			t.Fatalf("phone got presence from %v", p.From)
		}
		// A notification from the service to bob's bare JID reaches the
		// highest-priority resource (RFC 6121 §8.5.2.1.1).
		n := stanza.NewMessage(stanza.TypeChat, phone.JID().Bare(), "news")
		if err := env.Session.Send(context.Background(), n); err != nil {
			t.Fatal(err)
		}
		phone.ExpectBody("news")
		laptop.ExpectNone(20 * time.Millisecond)
		// Clients talk to each other by full JID.
		laptop.Message(phone.JID().String(), "hello phone")
		if m := phone.ExpectBody("hello phone"); m.From != laptop.JID() {
			t.Fatalf("from %v", m.From)
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines left, had %d", n, before)
	}
}

// In a service's test (a func TestEcho(t *testing.T)): attach its handler
// tree, connect a client, talk. The handlers run under the same rules as
// on a component (package session): errors answered, panics recovered,
// answers from the address written to.
func Example() {
	var t *testing.T // the test's *testing.T
	env := xmpptest.New(t, "echo.localhost", echo())
	alice := env.Client("alice")
	alice.Message("bot@echo.localhost", "1 < 2")
	got := alice.ExpectMessage()
	fmt.Println(got.From, got.Body())
	res, _ := alice.IQ("get", "<query xmlns='urn:example:whoami'/>")
	fmt.Println(res.Payload())
	// Nobody handles jabber:iq:last: the session answers service-unavailable.
	_, err := alice.IQ("get", "<query xmlns='jabber:iq:last'/>")
	fmt.Println(err)
	// The service sends on its own initiative through its session.
	env.Session.Send(context.Background(), stanza.NewMessage(stanza.TypeChat, alice.JID(), "news"))
	fmt.Println(alice.ExpectMessage().Body())
	// Prints:
	// bot@echo.localhost echo: 1 < 2
	// <query xmlns='urn:example:whoami'>alice@localhost/test</query>
	// stanza error: cancel service-unavailable
	// news
}
