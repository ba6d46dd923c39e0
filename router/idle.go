package router

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

// idlePingPrefix starts the id of the XEP-0199 pings the router sends to an
// idle client (see Config.IdleTimeout); their answers are expected, not
// dropped stanzas.
const idlePingPrefix = "xk-idle-"

// activityConn records when bytes last arrived on a connection: any input
// counts, whitespace keepalives (RFC 6120 §4.6.1) included.
type activityConn struct {
	net.Conn
	last atomic.Int64 // unix nanoseconds
}

func (a *activityConn) Read(b []byte) (int, error) {
	n, err := a.Conn.Read(b)
	if n > 0 {
		a.last.Store(time.Now().UnixNano())
	}
	return n, err
}

// idleSince returns the time of the last input.
func (a *activityConn) idleSince() time.Time { return time.Unix(0, a.last.Load()) }

// idleWatch ends a stream that stays silent (Config.IdleTimeout): after
// IdleTimeout without input it sends an XEP-0199 ping from the server
// (any answer, or any other input, is a sign of life); after pingWait more
// without input it ends the stream with connection-timeout.
type idleWatch struct {
	r        *Router
	c        *conn
	ac       *activityConn
	to, from jid.JID
	idle     time.Duration
	pingWait time.Duration

	mu     sync.Mutex
	t      *time.Timer
	pinged time.Time // when the ping went out; zero when none is pending
	done   bool
}

// watchIdle starts watching c (reading through ac) for a client bound to
// to, and returns the function that stops it. It does nothing when
// Config.IdleTimeout is negative.
func (r *Router) watchIdle(c *conn, ac *activityConn, to jid.JID) (stop func()) {
	if r.cfg.IdleTimeout < 0 || ac == nil {
		return func() {}
	}
	w := &idleWatch{r: r, c: c, ac: ac, to: to, from: r.serverJID(), idle: r.cfg.IdleTimeout,
		pingWait: min(r.cfg.IdleTimeout, time.Minute)}
	if ac.last.Load() == 0 {
		ac.last.Store(time.Now().UnixNano())
	}
	w.mu.Lock()
	w.t = time.AfterFunc(w.idle, w.check)
	w.mu.Unlock()
	return func() {
		w.mu.Lock()
		w.done = true
		w.t.Stop()
		w.mu.Unlock()
	}
}

// check runs when the timer fires.
func (w *idleWatch) check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return
	}
	now := time.Now()
	last := w.ac.idleSince()
	switch {
	case !w.pinged.IsZero() && last.After(w.pinged):
		w.pinged = time.Time{} // alive: back to watching
		w.t.Reset(w.idle - now.Sub(last))
	case !w.pinged.IsZero():
		w.r.denied(ReasonIdle, "to", w.to.String(), "idle", now.Sub(last).Round(time.Second).String())
		w.c.kick(stream.NewError(stream.ConnectionTimeout, "idle: no answer to the server's ping"))
	case now.Sub(last) < w.idle:
		w.t.Reset(w.idle - now.Sub(last))
	default:
		ping := stanza.NewIQ(stanza.TypeGet, w.to, stanza.Element{Space: "urn:xmpp:ping", Local: "ping"})
		ping.ID = idlePingPrefix + ping.ID
		ping.From = w.from
		w.pinged = now
		w.t.Reset(w.pingWait)
		go w.c.deliver(stanzaPacket(ping)) // may wait for room; never under w.mu
	}
}
