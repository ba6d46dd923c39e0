package bridge

import (
	"errors"
	"sync"
	"testing"
	"time"

	"xmppkit.dev/jid"
)

// sess is a session of the Actors tests: wanted while want > 0.
type sess struct {
	a    *Actor
	want int
	log  []string
}

func startSess(t *testing.T, r *Actors[*sess], user, account string) *sess {
	t.Helper()
	s, err := r.Start(KeyOf(jid.MustParse(user), account), func(a *Actor) (*sess, func() bool) {
		s := &sess{a: a, want: 1}
		return s, func() bool { return s.want <= 0 }
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestActors: several sessions per user keyed by account, work run in
// order on the session's goroutine, the session ending when its idle hook
// says so (and forgotten: a new Start makes a new one), Do and Call
// refused after the end, events posted after the end dropped, Shutdown
// refusing new sessions and waiting for the others.
func TestActors(t *testing.T) {
	var r Actors[*sess]
	a := startSess(t, &r, "alice@localhost/phone", "libera")
	b := startSess(t, &r, "alice@localhost", "oftc")
	c := startSess(t, &r, "bob@localhost", "libera")
	if again := startSess(t, &r, "alice@localhost/laptop", "libera"); again != a {
		t.Fatal("Start made a second session for one key")
	}
	if got := r.Of(jid.MustParse("alice@localhost")); len(got) != 2 || got[0] != a || got[1] != b {
		t.Fatalf("Of(alice): %v", got)
	}
	if got, ok := r.Get(KeyOf(jid.MustParse("bob@localhost"), "libera")); !ok || got != c {
		t.Fatalf("Get(bob): %v %v", got, ok)
	}
	// Work (Do, taken means run next) and events (Post, queued) all run,
	// on the actor's goroutine (the race detector checks a.log).
	for i := 0; i < 100; i++ {
		if i%2 == 0 {
			a.a.Do(func() { a.log = append(a.log, "do") })
		} else {
			a.a.Post(func() { a.log = append(a.log, "ev") }, nil)
		}
	}
	ran := func() error {
		if len(a.log) != 100 {
			return errors.New("not yet")
		}
		return nil
	}
	for deadline := time.Now().Add(5 * time.Second); a.a.Call(ran, ErrClosed) != nil; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the work and events were not all run")
		}
	}
	// Unwanted: the actor ends after this step.
	if !a.a.Do(func() { a.want = 0 }) {
		t.Fatal("Do refused on a live actor")
	}
	select {
	case <-a.a.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the actor did not end when idle")
	}
	if a.a.Context().Err() == nil {
		t.Error("the context of an ended actor is live")
	}
	if a.a.Do(func() {}) {
		t.Error("Do taken by an ended actor")
	}
	if err := a.a.Call(func() error { return nil }, ErrClosed); !errors.Is(err, ErrClosed) {
		t.Errorf("Call on an ended actor: %v", err)
	}
	if a.a.Post(func() { t.Error("event run after the end") }, nil) {
		t.Error("Post taken by an ended actor")
	}
	stop := make(chan struct{})
	close(stop)
	var blocked sync.WaitGroup
	blocked.Add(1)
	go func() { defer blocked.Done(); b.a.DoOr(func() {}, stop) }()
	blocked.Wait()
	if _, ok := r.Get(a.a.Key()); ok {
		t.Error("an ended session is still held")
	}
	if a2 := startSess(t, &r, "alice@localhost", "libera"); a2 == a {
		t.Error("Start returned the ended session")
	}
	r.Shutdown(func(s *sess) { s.a.Do(func() { s.want = 0 }); <-s.a.Done() })
	if len(r.Keys()) != 0 {
		t.Errorf("after Shutdown: %v", r.Keys())
	}
	if _, err := r.Start(KeyOf(jid.MustParse("carol@localhost"), ""), func(a *Actor) (*sess, func() bool) {
		return &sess{}, func() bool { return true }
	}); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Shutdown: %v", err)
	}
}
