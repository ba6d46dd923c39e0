package component

import (
	"sync"
	"sync/atomic"
	"time"
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
var HandlerBuckets = [...]time.Duration{
	100 * time.Microsecond, time.Millisecond, 10 * time.Millisecond,
	100 * time.Millisecond, time.Second, 10 * time.Second,
}

// Stats is a snapshot of a Component's counters.
type Stats struct {
	State          State
	ConnectedSince time.Time // zero when not connected
	Connects       uint64    // successful handshakes
	Reconnects     uint64    // established links lost (each followed by a new attempt)
	LastError      error     // the last connection or link error (errors.Is/As work on it)

	StanzasIn, StanzasOut uint64 // stanzas received and written
	BytesIn, BytesOut     uint64 // bytes read and written, handshake included
	SendFailed            uint64 // Send/SendIQ calls whose stanza was not written
	InboundDropped        uint64 // received stanzas not handled (shutdown, link loss)
	// IgnoredElements counts top-level elements from the server that are
	// not stanzas (RFC 6120 §4.9.3.20): ignored, logged at Debug only.
	IgnoredElements uint64

	QueueDepth int // stanzas waiting on the outbound queue
	QueueCap   int
	PendingIQs int // SendIQ calls waiting for an answer

	Pings, PingTimeouts uint64 // XEP-0199 pings answered, and unanswered

	HandlerCalls  uint64
	HandlerErrors uint64 // handlers that returned an error (stanza errors included)
	HandlerPanics uint64
	HandlerTotal  time.Duration // summed handler time
	HandlerMax    time.Duration
	// HandlerHist[i] counts handler calls that took at most HandlerBuckets[i]
	// (and more than the bucket before); the last entry counts the rest.
	HandlerHist [len(HandlerBuckets) + 1]uint64
}

// counters is the live, concurrently updated form of Stats.
type counters struct {
	state                   atomic.Int32
	connects, reconnects    atomic.Uint64
	stanzasIn, stanzasOut   atomic.Uint64
	bytesIn, bytesOut       atomic.Uint64
	writes                  atomic.Uint64 // write calls on the connection (for benchmarks)
	sendFailed              atomic.Uint64
	inboundDropped          atomic.Uint64
	ignoredElements         atomic.Uint64
	pings, pingTimeouts     atomic.Uint64
	handlerCalls, handlerEr atomic.Uint64
	handlerPanics           atomic.Uint64
	handlerTotal            atomic.Int64
	handlerMax              atomic.Int64
	hist                    [len(HandlerBuckets) + 1]atomic.Uint64

	mu      sync.Mutex
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

func (c *counters) linkUp() {
	c.mu.Lock()
	c.upSince = time.Now()
	c.mu.Unlock()
	c.setState(StateConnected)
}

func (c *counters) linkDown() {
	c.mu.Lock()
	c.upSince = time.Time{}
	c.mu.Unlock()
}

func (c *counters) setLastError(err error) {
	c.mu.Lock()
	c.lastErr = err
	c.mu.Unlock()
}

func (c *counters) observeHandler(d time.Duration, err error) {
	c.handlerCalls.Add(1)
	if err != nil {
		c.handlerEr.Add(1)
	}
	c.handlerTotal.Add(int64(d))
	for {
		m := c.handlerMax.Load()
		if int64(d) <= m || c.handlerMax.CompareAndSwap(m, int64(d)) {
			break
		}
	}
	i := 0
	for i < len(HandlerBuckets) && d > HandlerBuckets[i] {
		i++
	}
	c.hist[i].Add(1)
}

func (c *counters) snapshot() Stats {
	s := Stats{
		State:           State(c.state.Load()),
		Connects:        c.connects.Load(),
		Reconnects:      c.reconnects.Load(),
		StanzasIn:       c.stanzasIn.Load(),
		StanzasOut:      c.stanzasOut.Load(),
		BytesIn:         c.bytesIn.Load(),
		BytesOut:        c.bytesOut.Load(),
		SendFailed:      c.sendFailed.Load(),
		InboundDropped:  c.inboundDropped.Load(),
		IgnoredElements: c.ignoredElements.Load(),
		Pings:           c.pings.Load(),
		PingTimeouts:    c.pingTimeouts.Load(),
		HandlerCalls:    c.handlerCalls.Load(),
		HandlerErrors:   c.handlerEr.Load(),
		HandlerPanics:   c.handlerPanics.Load(),
		HandlerTotal:    time.Duration(c.handlerTotal.Load()),
		HandlerMax:      time.Duration(c.handlerMax.Load()),
	}
	for i := range c.hist {
		s.HandlerHist[i] = c.hist[i].Load()
	}
	c.mu.Lock()
	s.LastError = c.lastErr
	s.ConnectedSince = c.upSince
	c.mu.Unlock()
	return s
}
