package bridge_test

import (
	"context"
	"sync"
	"testing"

	"xmppkit.dev/bridge"
	"xmppkit.dev/bridge/bridgetest"
	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// byJID logs users in to the in-memory network by their JID's localpart,
// with no registration values: a network that needs no credentials.
type byJID struct{ n *bridgetest.Network }

func (b byJID) Login(ctx context.Context, acct bridge.Account, ev *bridge.Events) (bridge.Session, error) {
	acct.Values = map[string]string{"username": acct.JID.Local(), "password": "pw"}
	return b.n.Login(ctx, acct, ev)
}

// TestOpenGateway: with Config.Open a user who never registered is logged
// in by their first available presence and talks to contacts; without it
// the same user gets registration-required.
func TestOpenGateway(t *testing.T) {
	for _, open := range []bool{true, false} {
		n := bridgetest.NewNetwork()
		acc := n.Account("carol")
		if err := acc.AddContact(bridge.Contact{ID: "bob", Name: "Bob"}); err != nil {
			t.Fatal(err)
		}
		env := bridgetest.New(t, bridge.Config{Name: "Memnet", Network: byJID{n}, Open: open})
		u := env.Client("carol")
		u.Subscribe()
		u.Available(0)
		if !open {
			m := stanza.NewMessage(stanza.TypeChat, u.Puppet("bob"), "hi")
			u.MustSend(m)
			e := u.Expect(func(st *stanza.Stanza) bool { return st.Kind == stanza.Message && st.Type == stanza.TypeError }, "an error")
			if err := e.Err(); err == nil || err.Condition != stanza.RegistrationRequired {
				t.Errorf("closed gateway: %s", e)
			}
			if acc.Logins() != 0 {
				t.Errorf("closed gateway logged an unregistered user in")
			}
			continue
		}
		u.WaitConnected()
		if acc.Logins() != 1 {
			t.Fatalf("open gateway: %d logins", acc.Logins())
		}
		u.Say("bob", "hello")
		if s := next(t, acc); s.Event.(*bridge.Message).Body != "hello" {
			t.Errorf("sent: %+v", s)
		}
	}
}

// TestIntercept: Config.Intercept sees stanzas before the kit; what it
// handles never reaches the kit (its error goes back to the sender), the
// rest does.
func TestIntercept(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	env := bridgetest.New(t, bridge.Config{Name: "Memnet",
		Intercept: func(ctx context.Context, s mux.Sender, st *stanza.Stanza) (bool, error) {
			if st.Kind != stanza.Message || st.To.Local() != "raw" {
				return false, nil
			}
			mu.Lock()
			seen = append(seen, st.Body())
			mu.Unlock()
			return true, stanza.NewError(stanza.NotAcceptable, "raw line refused: "+st.Body())
		}})
	acc := env.Network().Account("alice")
	if err := acc.AddContact(bridge.Contact{ID: "bob", Name: "Bob"}); err != nil {
		t.Fatal(err)
	}
	u := env.Register("alice", map[string]string{"username": "alice", "password": "pw"})
	u.Say("raw", "PRIVMSG x :y")
	e := u.Expect(func(st *stanza.Stanza) bool { return st.Kind == stanza.Message && st.Type == stanza.TypeError }, "the interceptor's error")
	if err := e.Err(); err == nil || err.Condition != stanza.NotAcceptable || err.Text != "raw line refused: PRIVMSG x :y" {
		t.Errorf("intercepted: %s", e)
	}
	u.Say("bob", "hello")
	if s := next(t, acc); s.Event.(*bridge.Message).Body != "hello" {
		t.Errorf("sent: %+v", s)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 {
		t.Errorf("intercepted %v", seen)
	}
}
