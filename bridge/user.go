package bridge

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

type state int

const (
	offline    state = iota // no session
	connecting              // Login running
	online                  // a Session
)

// user is one registered user of the gateway. Everything under mu is the
// kit's view of the user; the Session is called only from the user's
// goroutine (run), started when there is work and ended when the user is
// offline with nothing left to do.
type user struct {
	g   *Gateway
	jid jid.JID // bare

	mu         sync.Mutex
	acct       Account
	registered bool
	devices    []jid.JID // full JIDs online, oldest first
	state      state
	sess       Session
	gen        uint64 // session generation: Events of an older one are refused
	evs        *Events
	contacts   map[string]*contact
	groups     map[string]*group
	ids        *idMap // the clients' ids of the user's messages <-> legacy ids
	sids       *idMap // group messages: archive stanza-ids <-> legacy ids
	queue      chan func(context.Context)
	running    bool
	retry      *time.Timer
	backoff    time.Duration
	lastErr    string
	told       map[string]bool // notices given in this process (flood, malformed, ...)
	stopping   bool
	reflected  map[string]time.Time // ids of own messages sent through the message privilege
	outbox     []*stanza.Stanza     // what the rooms sent, for the ops after the lock
	known      map[string]string    // JID localpart -> legacy id, for the ids the network gave

	emitMu sync.Mutex // orders Emit calls
	bucket bucket
}

func newUser(g *Gateway, bare jid.JID) *user {
	return &user{
		g: g, jid: bare,
		contacts:  make(map[string]*contact),
		groups:    make(map[string]*group),
		ids:       newIDMap(g.cfg.IDs),
		sids:      newIDMap(g.cfg.IDs),
		queue:     make(chan func(context.Context), g.cfg.Queue),
		backoff:   g.cfg.ReconnectMin,
		told:      make(map[string]bool),
		reflected: make(map[string]time.Time),
		known:     make(map[string]string),
		bucket:    bucket{burst: g.cfg.EventBurst, every: g.cfg.EventInterval, tokens: float64(g.cfg.EventBurst)},
	}
}

// user returns the user of a JID, loading the account from the store;
// it returns nil for a JID that is not registered unless create is set or
// the gateway is open (Config.Open: every user counts as registered).
func (g *Gateway) user(j jid.JID, create bool) *user {
	bare := j.Bare()
	key := bare.String()
	g.mu.Lock()
	u := g.users[key]
	g.mu.Unlock()
	if u != nil {
		return u
	}
	acct, ok := g.cfg.Store.Get(bare)
	if !ok && !create && !g.cfg.Open {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if u := g.users[key]; u != nil {
		return u
	}
	u = newUser(g, bare)
	u.acct, u.registered = acct, ok || g.cfg.Open
	if !ok {
		u.acct = Account{JID: bare, Values: map[string]string{}}
	}
	g.users[key] = u
	return u
}

// loggedIn returns the user of j when it has a session (or is logging in).
func (g *Gateway) loggedIn(j jid.JID) *user {
	g.mu.Lock()
	u := g.users[j.Bare().String()]
	g.mu.Unlock()
	if u == nil {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.state == offline {
		return nil
	}
	return u
}

func (g *Gateway) isClosed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closed
}

// wantSession reports whether the user should be logged in. Under u.mu.
func (u *user) wantSession() bool {
	return u.registered && len(u.devices) > 0 && !u.stopping
}

// post queues work for the user's goroutine, starting it if needed; it
// reports false when the queue is full.
func (u *user) post(f func(context.Context)) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.postLocked(f)
}

func (u *user) postLocked(f func(context.Context)) bool {
	if !u.running {
		u.running = true
		u.g.wg.Add(1)
		go u.run()
	}
	select {
	case u.queue <- f:
		return true
	default:
		return false
	}
}

// run is the user's goroutine: it runs the queued work (logins, the
// Session's calls) one at a time, and the login retries.
func (u *user) run() {
	defer u.g.wg.Done()
	for {
		u.mu.Lock()
		var retryC <-chan time.Time
		if u.retry != nil {
			retryC = u.retry.C
		}
		if len(u.queue) == 0 && retryC == nil && u.state == offline {
			u.running = false
			u.mu.Unlock()
			return
		}
		u.mu.Unlock()
		select {
		case f := <-u.queue:
			f(u.g.ctx)
		case <-retryC:
			u.mu.Lock()
			u.retry = nil
			u.mu.Unlock()
			u.login(u.g.ctx)
		case <-u.g.ctx.Done():
			u.mu.Lock()
			if u.retry != nil {
				u.retry.Stop()
				u.retry = nil
			}
			u.running = false
			u.mu.Unlock()
			return
		}
	}
}

// online records a device of the user that is available, and logs the user
// in if needed.
func (u *user) deviceOnline(full jid.JID) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if i := slices.Index(u.devices, full); i >= 0 {
		return
	}
	u.devices = append(u.devices, full)
	if u.wantSession() && u.state == offline && u.retry == nil {
		u.postLocked(u.login)
	} else if u.state == online {
		// A new device: tell it the gateway's state and the contacts'
		// presence (its server probes them too, but a probe can race the
		// login).
		u.postLocked(func(ctx context.Context) {
			u.gatewayPresence(ctx, full)
			u.mu.Lock()
			var ops []op
			for _, c := range u.contacts {
				if !c.hidden {
					ops = append(ops, u.sendOp(u.puppetPresence(c, full)))
				}
			}
			u.mu.Unlock()
			for _, f := range ops {
				if f(ctx) != nil {
					return
				}
			}
		})
	}
}

// deviceOffline forgets a device; the last one logs the user out.
func (u *user) deviceOffline(full jid.JID) {
	u.mu.Lock()
	defer u.mu.Unlock()
	i := slices.Index(u.devices, full)
	if i < 0 {
		return
	}
	u.devices = slices.Delete(u.devices, i, i+1)
	u.leaveRooms(full)
	if len(u.devices) == 0 {
		if u.retry != nil {
			u.retry.Stop()
			u.retry = nil
		}
		if u.state != offline {
			u.postLocked(func(ctx context.Context) { u.logout(ctx, "", false) })
		}
	}
}

// login runs Network.Login on the user's goroutine.
func (u *user) login(ctx context.Context) {
	g := u.g
	u.mu.Lock()
	if u.state != offline || !u.wantSession() || g.isClosed() {
		u.mu.Unlock()
		return
	}
	acct := u.acct.clone()
	u.state = connecting
	u.gen++
	gen := u.gen
	evs := &Events{u: u, gen: gen}
	u.evs = evs
	u.mu.Unlock()
	u.gatewayPresence(ctx, jid.JID{})

	lctx, cancel := context.WithTimeout(ctx, g.cfg.LoginTimeout)
	sess, err := safeLogin(lctx, g.cfg.Network, acct, evs)
	cancel()

	u.mu.Lock()
	if u.gen != gen || u.state != connecting {
		// A Disconnected during Login, or a shutdown: this session is over.
		u.mu.Unlock()
		if sess != nil {
			u.closeSession(ctx, sess)
		}
		return
	}
	if err != nil {
		u.state = offline
		u.evs = nil
		u.gen++
		why := err.Error()
		again := !errors.Is(err, ErrAuth) && u.wantSession()
		if again {
			why += "; retrying in " + roundDur(u.backoff)
			u.scheduleRetry()
		}
		first := u.lastErr != why
		u.lastErr = why
		u.mu.Unlock()
		g.log.Info("bridge: login failed", "user", u.jid, "err", err, "retry", again)
		u.gatewayPresence(ctx, jid.JID{})
		if first {
			u.notice(ctx, "Login failed: "+why)
		}
		return
	}
	u.sess = sess
	u.state = online
	u.backoff = g.cfg.ReconnectMin
	u.lastErr = ""
	want := u.wantSession()
	u.mu.Unlock()
	g.log.Info("bridge: logged in", "user", u.jid)
	u.gatewayPresence(ctx, jid.JID{})
	if !want {
		u.logout(ctx, "", false)
	}
}

func safeLogin(ctx context.Context, n Network, acct Account, evs *Events) (s Session, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("bridge: Login panicked: %v\n%s", r, debug.Stack())
		}
	}()
	s, err = n.Login(ctx, acct, evs)
	if err == nil && s == nil {
		err = errors.New("bridge: Login returned no Session")
	}
	return s, err
}

// scheduleRetry arms the login retry with the current backoff and doubles
// it. Under u.mu, on the user's goroutine.
func (u *user) scheduleRetry() {
	if u.retry != nil {
		u.retry.Stop()
	}
	u.retry = time.NewTimer(u.backoff)
	u.backoff *= 2
	if u.backoff > u.g.cfg.ReconnectMax {
		u.backoff = u.g.cfg.ReconnectMax
	}
}

// logout closes the session. With tell, the user's devices (still online)
// see the contacts go offline and are told why.
func (u *user) logout(ctx context.Context, why string, tell bool) {
	u.mu.Lock()
	sess := u.sess
	u.sess = nil
	was := u.state
	u.state = offline
	u.gen++
	u.evs = nil
	if u.retry != nil {
		u.retry.Stop()
		u.retry = nil
	}
	var out []op
	if tell {
		out = u.contactsOffline(why)
	}
	out = append(out, u.endRooms(why)...)
	clear(u.contacts)
	clear(u.groups)
	clear(u.known)
	u.mu.Unlock()
	if sess != nil {
		u.closeSession(ctx, sess)
	}
	if was != offline {
		u.g.log.Info("bridge: logged out", "user", u.jid, "why", why)
	}
	for _, f := range out {
		if err := f(ctx); err != nil {
			break
		}
	}
	if tell {
		u.gatewayPresence(ctx, jid.JID{})
	}
}

func (u *user) closeSession(ctx context.Context, s Session) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), u.g.cfg.SendTimeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			u.g.log.Error("bridge: Session.Close panicked", "user", u.jid, "panic", r, "stack", string(debug.Stack()))
		}
	}()
	if err := s.Close(cctx); err != nil {
		u.g.log.Info("bridge: Session.Close", "user", u.jid, "err", err)
	}
}

// disconnected handles a Disconnected event: the session is over; the
// user's goroutine closes it and, with retry, logs in again later.
func (u *user) disconnected(ev *Disconnected) []op {
	why := "the connection to the network was lost"
	if ev.Err != nil {
		why += ": " + ev.Err.Error()
	}
	sess := u.sess
	u.sess = nil
	u.state = offline
	u.gen++
	u.evs = nil
	out := u.contactsOffline(why)
	out = append(out, u.endRooms(why)...)
	clear(u.contacts)
	clear(u.groups)
	clear(u.known)
	retry := ev.Retry
	u.postLocked(func(ctx context.Context) {
		if sess != nil {
			u.closeSession(ctx, sess)
		}
		u.mu.Lock()
		text := why
		if retry && u.wantSession() {
			text += "; retrying in " + roundDur(u.backoff)
			u.scheduleRetry()
		}
		u.lastErr = text
		u.mu.Unlock()
		u.gatewayPresence(ctx, jid.JID{})
		u.notice(ctx, "Disconnected: "+text)
	})
	u.g.log.Info("bridge: session lost", "user", u.jid, "err", ev.Err, "retry", ev.Retry)
	return out
}

// shutdown logs the user out for good (gateway closing, registration
// removed) and waits until it is done.
func (u *user) shutdown(why string) {
	done := make(chan struct{})
	u.mu.Lock()
	u.stopping = true
	if !u.postLocked(func(ctx context.Context) { u.logout(ctx, why, true); close(done) }) {
		u.mu.Unlock()
		return
	}
	u.mu.Unlock()
	select {
	case <-done:
	case <-time.After(u.g.cfg.SendTimeout + time.Second):
		u.g.log.Warn("bridge: logout did not finish", "user", u.jid)
	}
}

// Events is where a Session reports what happens on the network for its
// user (see Emit). One is given to each Network.Login; it is safe for
// concurrent use.
type Events struct {
	u   *user
	gen uint64
}

// User returns the bare JID of the user the events are for.
func (e *Events) User() jid.JID { return e.u.jid }

// Emit shows an event of the network to the user: a message from a
// contact, a contact's presence, a group's participants, and so on (see
// Event). It returns once the stanzas it makes were handed to the XMPP
// server (the event is then acknowledged: nothing more can lose it in the
// gateway), or with an error saying why not:
//
//   - ErrClosed: the session has ended (the user went offline, a
//     Disconnected was emitted): the event is not shown;
//   - an error wrapping ErrMalformed: the event cannot be shown (an empty
//     chat id, say); the user is told once per session;
//   - ctx's error: Emit was waiting for the pacing (a network that sends
//     one user more than Config.EventBurst events at once is slowed to one
//     per Config.EventInterval, and the user is told), or for the server;
//   - the error of the XMPP link, when the stanza could not be sent.
//
// Emit may be called from any goroutine, also from within Session.Send.
// Calls for one user are handled one at a time, in order.
func (e *Events) Emit(ctx context.Context, ev Event) error {
	u := e.u
	u.emitMu.Lock()
	defer u.emitMu.Unlock()
	if !e.live() {
		return ErrClosed
	}
	if ev == nil {
		return fmt.Errorf("%w: nil event", ErrMalformed)
	}
	if wait, flooded := u.bucket.take(time.Now()); wait > 0 {
		if flooded {
			u.noticeOnce(ctx, "flood", "The network is sending more than the gateway shows at once; what follows is slowed down, nothing is dropped.")
			u.g.log.Warn("bridge: event flood, pacing", "user", u.jid)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	if err := validate(ev); err != nil {
		u.noticeOnce(ctx, "malformed", "The network sent something the gateway cannot show ("+err.Error()+"); it was left out.")
		u.g.log.Warn("bridge: malformed event", "user", u.jid, "err", err)
		return err
	}
	u.mu.Lock()
	if u.gen != e.gen || u.state == offline {
		u.mu.Unlock()
		return ErrClosed
	}
	out, err := u.apply(ctx, ev)
	u.mu.Unlock()
	if err != nil {
		return err
	}
	for _, f := range out {
		if err := f(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (e *Events) live() bool {
	e.u.mu.Lock()
	defer e.u.mu.Unlock()
	return e.u.gen == e.gen && e.u.state != offline
}

// bucket is a token bucket: burst tokens, one more every interval.
type bucket struct {
	burst  int
	every  time.Duration
	tokens float64
	last   time.Time
	slowed bool
}

// take takes a token at now and returns how long to wait for it (0 when
// there was one) and whether this is the start of a flood.
func (b *bucket) take(now time.Time) (time.Duration, bool) {
	if !b.last.IsZero() {
		b.tokens += float64(now.Sub(b.last)) / float64(b.every)
		if b.tokens > float64(b.burst) {
			b.tokens = float64(b.burst)
			b.slowed = false
		}
	}
	b.last = now
	b.tokens--
	if b.tokens >= 0 {
		return 0, false
	}
	wait := time.Duration(-b.tokens * float64(b.every))
	first := !b.slowed
	b.slowed = true
	return wait, first
}

// roundDur shows a backoff to the user: seconds, or milliseconds below one.
func roundDur(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
