package bridge_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"xmppkit.dev/bridge"
	"xmppkit.dev/bridge/bridgetest"
	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// TestEventsForUnknownUsers: a network serving every user on one
// connection reports an event for someone who is not logged in.
func TestEventsForUnknownUsers(t *testing.T) {
	env, acc, u := setup(t)
	err := env.Gateway.Emit(ctx(t), jid.MustParse("nobody@localhost"), &bridge.Message{Chat: "bob", From: "bob", Body: "hi"})
	if !errors.Is(err, bridge.ErrUnknownUser) {
		t.Fatalf("unknown user: %v", err)
	}
	// The known user is reached by JID too.
	if err := env.Gateway.Emit(ctx(t), u.JID(), &bridge.Message{Chat: "bob", From: "bob", ID: "k1", Body: "by jid"}); err != nil {
		t.Fatal(err)
	}
	u.Expect(func(st *stanza.Stanza) bool { return st.Body() == "by jid" }, "the message by JID")
	_ = acc
}

// TestMalformedEvents: what cannot be shown is refused with ErrMalformed,
// the user is told once, and the session goes on.
func TestMalformedEvents(t *testing.T) {
	_, acc, u := setup(t)
	for _, ev := range []bridge.Event{
		&bridge.Message{Chat: "", From: "bob", Body: "no chat"},
		&bridge.Message{Chat: "bob", From: "bob", ID: "bad\xffid", Body: "x"},
		&bridge.Message{Chat: "bob", From: "bob", ID: "ctl\x01", Body: "x"},
		&bridge.Message{Chat: "bob", From: "bob", ID: strings.Repeat("i", 2000), Body: "x"},
		&bridge.Message{Chat: "bob", From: "bob"},
		&bridge.Reaction{Chat: "bob", From: "bob"},
		&bridge.ChatState{Chat: "bob", From: "bob", State: "dancing"},
		&bridge.Contact{ID: "eve", Show: "sleepy"},
		&bridge.Participant{Group: "g"},
		&bridge.Join{Group: "g"},
		nil,
	} {
		if err := acc.Emit(ctx(t), ev); !errors.Is(err, bridge.ErrMalformed) {
			t.Errorf("%#v: %v, want ErrMalformed", ev, err)
		}
	}
	notices := 0
	u.Expect(func(st *stanza.Stanza) bool {
		if st.Kind == stanza.Message && strings.Contains(st.Body(), "cannot show") {
			notices++
		}
		return notices == 1
	}, "the notice")
	// Text that XML cannot carry is still shown (U+FFFD), ids are fine.
	if err := acc.Emit(ctx(t), &bridge.Message{Chat: "bob", From: "bob", ID: "ok1", Body: "nul\x00 and \xff bytes, ]]> <b>"}); err != nil {
		t.Fatal(err)
	}
	got := u.Expect(func(st *stanza.Stanza) bool { return st.ID == "ok1" }, "the message after the bad ones")
	if !strings.Contains(got.Body(), "<b>") || !strings.Contains(got.Body(), "]]>") {
		t.Fatalf("body %q", got.Body())
	}
	u.ExpectNoMessage(100 * time.Millisecond) // one notice only
}

// TestLongBodySplit: a text longer than a stanza may hold arrives whole,
// in parts.
func TestLongBodySplit(t *testing.T) {
	_, acc, u := setup(t)
	long := strings.Repeat("0123456789 é€😀\n", 30000) // ~550 KB
	if err := acc.Emit(ctx(t), &bridge.Message{Chat: "bob", From: "bob", ID: "big", Body: long}); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for b.Len() < len(long) {
		m := u.ExpectFrom(stanza.Message, "bob")
		b.WriteString(m.Body())
	}
	if b.String() != long {
		t.Fatalf("got %d bytes back, want %d", b.Len(), len(long))
	}
}

// TestFloodPacesOneUserOnly: a network that floods one user is slowed for
// that user, who is told once; nothing is lost or reordered, and another
// user's messages pass meanwhile.
func TestFloodPacesOneUserOnly(t *testing.T) {
	env := bridgetest.New(t, bridge.Config{Name: "Memnet", EventBurst: 50, EventInterval: time.Millisecond})
	netw := env.Network()
	netw.Account("alice").AddContact(bridge.Contact{ID: "bob"})
	netw.Account("carol").AddContact(bridge.Contact{ID: "bob"})
	alice := env.Register("alice", map[string]string{"username": "alice", "password": "pw"})
	carol := env.Register("carol", map[string]string{"username": "carol", "password": "pw"})
	const n = 2000
	start := time.Now()
	var wg sync.WaitGroup
	wg.Add(1)
	var floodErr error
	go func() {
		defer wg.Done()
		for i := 0; i < n; i++ {
			if err := netw.Account("alice").Emit(context.Background(), &bridge.Message{Chat: "bob", From: "bob", ID: fmt.Sprint("f", i), Body: fmt.Sprint(i)}); err != nil {
				floodErr = err
				return
			}
		}
	}()
	// carol is served at once.
	time.Sleep(10 * time.Millisecond)
	t0 := time.Now()
	netw.Account("carol").Message(ctx(t), "bob", "for carol")
	carol.Expect(func(st *stanza.Stanza) bool { return st.Body() == "for carol" }, "carol's message")
	carolTook := time.Since(t0)
	told := false
	for i := 0; i < n; i++ {
		m := alice.Expect(func(st *stanza.Stanza) bool {
			if st.Kind == stanza.Message && st.From.Equal(env.Gateway.Domain()) && strings.Contains(st.Body(), "slowed") {
				told = true
				return false
			}
			return st.Kind == stanza.Message && st.From.Equal(alice.Puppet("bob"))
		}, fmt.Sprint("message ", i))
		if m.Body() != fmt.Sprint(i) {
			t.Fatalf("message %d is %q: lost or reordered", i, m.Body())
		}
	}
	wg.Wait()
	if floodErr != nil {
		t.Fatal(floodErr)
	}
	for _, st := range alice.Inbox() {
		if strings.Contains(st.Body(), "slowed") {
			told = true
		}
	}
	took := time.Since(start)
	t.Logf("%d events in %v (burst 50, then 1/ms); carol's message took %v meanwhile", n, took, carolTook)
	if !told {
		t.Error("alice was not told of the pacing")
	}
	if took < time.Duration(n-50)*time.Millisecond*8/10 {
		t.Errorf("%d events in %v: not paced", n, took)
	}
	if carolTook > 500*time.Millisecond {
		t.Errorf("carol waited %v behind alice's flood", carolTook)
	}
}

// panicky is a network whose session panics on Send.
type panicky struct{ *bridgetest.Network }

func (p panicky) Login(ctx context.Context, acct bridge.Account, ev *bridge.Events) (bridge.Session, error) {
	s, err := p.Network.Login(ctx, acct, ev)
	if err != nil {
		return nil, err
	}
	return panicSession{s}, nil
}

type panicSession struct{ bridge.Session }

func (panicSession) Send(ctx context.Context, ev bridge.Event) (string, error) {
	if m, ok := ev.(*bridge.Message); ok && m.Body == "boom" {
		panic("the network's code broke")
	}
	return "", bridge.ErrUnsupported
}

// TestBrokenNetworkCode: a Session that panics or refuses answers the
// user's stanza with an error; the gateway and the user's session go on.
func TestBrokenNetworkCode(t *testing.T) {
	netw := bridgetest.NewNetwork()
	env := bridgetest.New(t, bridge.Config{Name: "Memnet", Network: panicky{netw}, Registration: bridgetest.Fields()})
	netw.Account("alice").AddContact(bridge.Contact{ID: "bob"})
	u := env.Register("alice", map[string]string{"username": "alice", "password": "pw"})
	u.Say("bob", "boom")
	e := u.Expect(func(st *stanza.Stanza) bool { return st.Type == stanza.TypeError }, "the error for boom")
	if err := e.Err(); err.Condition != stanza.InternalServerError {
		t.Fatalf("%v", e)
	}
	u.Say("bob", "unsupported")
	e = u.Expect(func(st *stanza.Stanza) bool { return st.Type == stanza.TypeError }, "the error for the unsupported message")
	if err := e.Err(); err.Condition != stanza.FeatureNotImplemented {
		t.Fatalf("%v", e)
	}
	// Chat states the network cannot carry are not errors.
	cs := stanza.NewMessage(stanza.TypeChat, u.Puppet("bob"), "")
	cs.SetPayloadElements(stanza.Element{Space: bridge.NSChatStates, Local: "composing"})
	u.MustSend(cs)
	u.ExpectNoMessage(100 * time.Millisecond)
}

// recording is a network that keeps the Events of every login.
type recording struct {
	*bridgetest.Network
	mu  sync.Mutex
	evs []*bridge.Events
}

func (r *recording) Login(ctx context.Context, acct bridge.Account, ev *bridge.Events) (bridge.Session, error) {
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
	return r.Network.Login(ctx, acct, ev)
}

func (r *recording) events(i int) *bridge.Events {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i >= len(r.evs) {
		return nil
	}
	return r.evs[i]
}

// TestEmitAfterEnd: a session's Events refuse events once it has ended (a
// Disconnected, a newer login, the user going offline), so a network's
// stale reader cannot speak for a newer session.
func TestEmitAfterEnd(t *testing.T) {
	netw := &recording{Network: bridgetest.NewNetwork()}
	env := bridgetest.New(t, bridge.Config{Name: "Memnet", Network: netw, Registration: bridgetest.Fields(), ReconnectMin: 10 * time.Millisecond})
	acc := netw.Account("alice")
	acc.AddContact(bridge.Contact{ID: "bob"})
	u := env.Register("alice", map[string]string{"username": "alice", "password": "pw"})
	first := netw.events(0)
	if err := acc.Drop(errors.New("reset"), true); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the second login", func() bool { return netw.events(1) != nil && acc.Online() })
	if err := first.Emit(ctx(t), &bridge.Message{Chat: "bob", From: "bob", Body: "stale"}); !errors.Is(err, bridge.ErrClosed) {
		t.Fatalf("the first session's Events: %v, want ErrClosed", err)
	}
	if err := netw.events(1).Emit(ctx(t), &bridge.Message{Chat: "bob", From: "bob", ID: "fresh", Body: "fresh"}); err != nil {
		t.Fatal(err)
	}
	u.Expect(func(st *stanza.Stanza) bool { return st.ID == "fresh" }, "the new session's message")
	u.MustSend(stanza.NewPresence(stanza.TypeUnavailable, jid.JID{}))
	eventually(t, "the logout", func() bool { return !acc.Online() })
	if err := netw.events(1).Emit(ctx(t), &bridge.Message{Chat: "bob", From: "bob", Body: "late"}); !errors.Is(err, bridge.ErrClosed) {
		t.Fatalf("after logout: %v", err)
	}
}

// TestLoginFailures: a refused login is told to the user and not retried;
// another is retried with backoff.
func TestLoginFailures(t *testing.T) {
	env := bridgetest.New(t, bridge.Config{Name: "Memnet", ReconnectMin: 20 * time.Millisecond, ReconnectMax: 40 * time.Millisecond})
	acc := env.Network().Account("alice")
	acc.FailLogins(errors.New("server busy"))
	u := env.Client("alice")
	if err := u.Register(map[string]string{"username": "alice", "password": "pw"}); err != nil {
		t.Fatal(err)
	}
	u.Subscribe()
	u.Available(0)
	u.Expect(func(st *stanza.Stanza) bool {
		return st.Kind == stanza.Presence && st.Type == stanza.TypeUnavailable && strings.Contains(st.String(), "server busy; retrying in 20ms")
	}, "the login failure")
	acc.FailLogins(nil)
	u.WaitConnected()

	// Wrong credentials: told, not retried.
	bad := env.Client("mallory")
	env.Network().Account("mallory")
	if err := bad.Register(map[string]string{"username": "mallory", "password": "wrong"}); err == nil {
		t.Fatal("the registration with a wrong password was accepted")
	}
}
