package component

import (
	"sync"
	"sync/atomic"
	"time"
	"xmppkit.dev/session"
)

// State is the connection state of a Component.
type State int32

// The states a Component goes through.
const (
	StateIdle       State = iota // Run not called yet
	StateConnecting              // dialing or in the handshake
	StateConnected               // authenticated, serving
	StateBackoff                 // waiting before the next attempt
	StateClosing                 // Close in progress
	StateClosed                  // Run has returned
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case StateIdle:
		return "idle"
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	case StateBackoff:
		return "backoff"
	case StateClosing:
		return "closing"
	case StateClosed:
		return "closed"
	}
	return "unknown"
}

// HandlerBuckets are the upper bounds of the handler latency histogram in
// Stats.HandlerHist; the last bucket counts everything slower.
var HandlerBuckets = session.HandlerBuckets

// Stats is a snapshot of a Component's counters: its session's (stanzas
// in and out, send failures, handler calls, errors, panics and latencies,
// pending SendIQ calls) and its link's.
type Stats struct {
	session.Stats

	State          State
	ConnectedSince time.Time // zero when not connected
	Connects       uint64    // successful handshakes
	Reconnects     uint64    // established links lost (each followed by a new attempt)
	LastError      error     // the last connection or link error (errors.Is/As work on it)

	BytesIn, BytesOut uint64 // bytes read and written, handshake included
	Writes            uint64 // write calls on the connections
	// IgnoredElements counts top-level elements from the server that are
	// not stanzas (RFC 6120 §4.9.3.20): ignored, logged at Debug only.
	IgnoredElements uint64

	QueueBytes int // bytes queued for the server, not yet taken for a write
	// Links is the number of links up now (at most the Component's Links).
	Links int

	Pings, PingTimeouts uint64 // XEP-0199 pings answered, and unanswered
}

// counters is the live, concurrently updated form of Stats.
type counters struct {
	state                atomic.Int32
	connects, reconnects atomic.Uint64
	bytesIn, bytesOut    atomic.Uint64
	writes               atomic.Uint64 // write calls on the connection
	ignoredElements      atomic.Uint64
	pings, pingTimeouts  atomic.Uint64

	mu      sync.Mutex
	up      int // links up
	lastErr error
	upSince time.Time
}

func (c *counters) setState(s State) {
	// Closed is final; closing is only left for closed.
	for {
		old := State(c.state.Load())
		if old == StateClosed || (old == StateClosing && s != StateClosed) {
			return
		}
		if c.state.CompareAndSwap(int32(old), int32(s)) {
			return
		}
	}
}

// linkUp counts a link up and returns how many are.
func (c *counters) linkUp() int {
	c.mu.Lock()
	c.up++
	if c.up == 1 {
		c.upSince = time.Now()
	}
	n := c.up
	c.mu.Unlock()
	c.setState(StateConnected)
	return n
}

// linkDown counts a link down and returns how many are up.
func (c *counters) linkDown() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.up--
	if c.up == 0 {
		c.upSince = time.Time{}
	}
	return c.up
}

func (c *counters) setLastError(err error) {
	c.mu.Lock()
	c.lastErr = err
	c.mu.Unlock()
}

func (c *counters) snapshot() Stats {
	s := Stats{
		State:           State(c.state.Load()),
		Connects:        c.connects.Load(),
		Reconnects:      c.reconnects.Load(),
		BytesIn:         c.bytesIn.Load(),
		BytesOut:        c.bytesOut.Load(),
		Writes:          c.writes.Load(),
		IgnoredElements: c.ignoredElements.Load(),
		Pings:           c.pings.Load(),
		PingTimeouts:    c.pingTimeouts.Load(),
	}
	c.mu.Lock()
	s.LastError = c.lastErr
	s.ConnectedSince = c.upSince
	s.Links = c.up
	c.mu.Unlock()
	if s.Links > 0 && (s.State == StateConnecting || s.State == StateBackoff) {
		// Another link is reconnecting; the component is served.
		s.State = StateConnected
	}
	return s
}
