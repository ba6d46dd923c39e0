package bridge

import (
	"context"
	"sort"
	"strings"
	"sync"

	"xmppkit.dev/jid"
)

// Key names one legacy session of a user: the user's bare JID and the
// account on the network the session is logged in to. A network with one
// account per user uses Account ""; one where a user holds several at
// once uses a key per account (the IRC transport: the IRC server's name).
type Key struct {
	User    string // the user's bare JID
	Account string
}

// KeyOf returns the Key of a user (bare or full JID) and an account.
func KeyOf(user jid.JID, account string) Key {
	return Key{User: user.Bare().String(), Account: account}
}

// Actor runs the work of one legacy session on a goroutine of its own,
// one function at a time: the state of the session needs no lock when
// only its functions touch it. The XMPP side hands it work with Do and
// Call (taken by the actor, so run, or refused once it has ended); the
// network side (a connection's reader) queues its events with Post, which
// does not wait for the actor while the queue has room; a queued event is
// dropped if the actor ends first (events of a session that ended are
// moot).
//
// After each function the actor asks its idle hook (see Actors.Start)
// whether the session is still wanted; when it is not, the actor ends:
// Do and Call fail from then on and Done is closed. Whether a session is
// wanted is the network's call: while the user is online, or (a network
// that keeps the user present while offline, such as IRC channels the
// user stays in) as long as the network says so.
type Actor struct {
	key    Key
	cmds   chan func() // unbuffered: taken means run
	events chan func() // buffered (Actors.Queue)
	done   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	idle   func() bool
}

// Key returns the session's key.
func (a *Actor) Key() Key { return a.key }

// Do hands f to the actor's goroutine, which runs it next, and reports
// whether it was taken: false when the actor has ended.
func (a *Actor) Do(f func()) bool { return a.DoOr(f, nil) }

// DoOr is Do that also gives up (false) when stop is closed first: for a
// reader that must not wait on an actor that is busy shutting it down.
func (a *Actor) DoOr(f func(), stop <-chan struct{}) bool { return a.hand(a.cmds, f, stop) }

// Post queues f, an event of the network, behind the events before it;
// it waits only while the queue is full, and gives up (false) when the
// actor has ended or stop is closed. A queued event is dropped when the
// actor ends before running it.
func (a *Actor) Post(f func(), stop <-chan struct{}) bool { return a.hand(a.events, f, stop) }

func (a *Actor) hand(ch chan<- func(), f func(), stop <-chan struct{}) bool {
	select {
	case <-a.done: // first: the events queue may have room after the end
		return false
	default:
	}
	select {
	case ch <- f:
		return true
	case <-a.done:
		return false
	case <-stop:
		return false
	}
}

// Call runs f on the actor's goroutine and returns its error; gone is
// returned when the actor has ended before taking it.
func (a *Actor) Call(f func() error, gone error) error {
	ch := make(chan error, 1)
	if !a.Do(func() { ch <- f() }) {
		return gone
	}
	return <-ch
}

// Done is closed when the actor has ended.
func (a *Actor) Done() <-chan struct{} { return a.done }

// Context ends when the actor ends or Cancel is called: for the
// session's network operations (a dial).
func (a *Actor) Context() context.Context { return a.ctx }

// Cancel ends the actor's Context (the actor goes on until its idle hook
// says it is no longer wanted).
func (a *Actor) Cancel() { a.cancel() }

func (a *Actor) run(r actorSet) {
	defer r.ended(a)
	defer a.cancel()
	for {
		select {
		case f := <-a.cmds:
			f()
		case f := <-a.events:
			f()
		}
		if a.idle() {
			return
		}
	}
}

type actorSet interface{ ended(*Actor) }

// Actors holds the legacy sessions of a gateway's users, each an Actor
// under its Key, with the session's own state S (a pointer type): several
// per user (one per account), started on demand and forgotten when they
// end. The zero value is ready to use.
type Actors[S any] struct {
	// Queue bounds the events waiting for each actor (Post blocks beyond
	// it); default DefaultQueue.
	Queue int

	mu     sync.Mutex
	m      map[Key]*slot[S]
	closed bool
	wg     sync.WaitGroup
}

type slot[S any] struct {
	a *Actor
	s S
}

// Get returns the session at key, if there is one.
func (r *Actors[S]) Get(key Key) (S, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if sl, ok := r.m[key]; ok {
		return sl.s, true
	}
	var zero S
	return zero, false
}

// Start returns the session at key, making it when there is none: start
// is given the new Actor (not yet running) and returns the session's
// state and its idle hook, asked after each function whether the session
// may end (see Actor). start runs under the set's lock: it must only build
// the state, and post its first work with Do if it has any. Start returns
// ErrClosed once Shutdown was called.
func (r *Actors[S]) Start(key Key, start func(a *Actor) (s S, idle func() bool)) (S, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if sl, ok := r.m[key]; ok {
		return sl.s, nil
	}
	var zero S
	if r.closed {
		return zero, ErrClosed
	}
	q := r.Queue
	if q <= 0 {
		q = DefaultQueue
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &Actor{key: key, cmds: make(chan func()), events: make(chan func(), q), done: make(chan struct{}), ctx: ctx, cancel: cancel}
	s, idle := start(a)
	a.idle = idle
	if r.m == nil {
		r.m = make(map[Key]*slot[S])
	}
	r.m[key] = &slot[S]{a: a, s: s}
	r.wg.Add(1)
	go a.run(r)
	return s, nil
}

func (r *Actors[S]) ended(a *Actor) {
	r.mu.Lock()
	if sl, ok := r.m[a.key]; ok && sl.a == a {
		delete(r.m, a.key)
	}
	r.mu.Unlock()
	close(a.done)
	r.wg.Done()
}

// Of returns the sessions of a user (bare or full JID), by account.
func (r *Actors[S]) Of(user jid.JID) []S {
	u := user.Bare().String()
	return r.filter(func(k Key) bool { return k.User == u })
}

// All returns every session, by user and account.
func (r *Actors[S]) All() []S { return r.filter(func(Key) bool { return true }) }

// Keys returns the keys of every session, by user and account.
func (r *Actors[S]) Keys() []Key {
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := make([]Key, 0, len(r.m))
	for k := range r.m {
		keys = append(keys, k)
	}
	sortKeys(keys)
	return keys
}

func (r *Actors[S]) filter(keep func(Key) bool) []S {
	r.mu.Lock()
	defer r.mu.Unlock()
	var keys []Key
	for k := range r.m {
		if keep(k) {
			keys = append(keys, k)
		}
	}
	sortKeys(keys)
	out := make([]S, 0, len(keys))
	for _, k := range keys {
		out = append(out, r.m[k].s)
	}
	return out
}

func sortKeys(keys []Key) {
	sort.Slice(keys, func(i, j int) bool {
		if c := strings.Compare(keys[i].User, keys[j].User); c != 0 {
			return c < 0
		}
		return keys[i].Account < keys[j].Account
	})
}

// Shutdown refuses new sessions (Start returns ErrClosed), calls stop for
// each session (which should make it unwanted and wait for it, or not),
// and waits until every actor has ended.
func (r *Actors[S]) Shutdown(stop func(S)) {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	for _, s := range r.All() {
		stop(s)
	}
	r.wg.Wait()
}
