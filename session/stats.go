package session

import (
	"sync/atomic"
	"time"
)

// HandlerBuckets are the upper bounds of the handler latency histogram in
// Stats.HandlerHist; the last bucket counts everything slower.
var HandlerBuckets = [...]time.Duration{
	100 * time.Microsecond, time.Millisecond, 10 * time.Millisecond,
	100 * time.Millisecond, time.Second, 10 * time.Second,
}

// Stats is a snapshot of a Session's counters.
type Stats struct {
	StanzasIn  uint64 // stanzas received (Receive)
	StanzasOut uint64 // stanzas written (or routed)
	// SendFailed counts stanzas given to Send, SendIQ or SendConfirmed that
	// were not written: those whose call returned an error wrapping
	// ErrNotSent, and those queued (the call returned nil) that could not
	// be written after all (Config.SendFailed). Stanzas refused as
	// malformed (ErrBadStanza, ErrBadFrom) are not counted.
	SendFailed uint64
	// InboundDropped counts received stanzas not handled: refused while
	// closing, abandoned on abort, or waited in vain for a full queue.
	InboundDropped uint64
	PendingIQs     int // SendIQ calls waiting for an answer

	HandlerCalls  uint64
	HandlerErrors uint64 // calls that returned an error (stanza errors included)
	HandlerPanics uint64
	HandlerTotal  time.Duration // summed handler time
	HandlerMax    time.Duration
	// HandlerHist[i] counts handler calls that took at most HandlerBuckets[i]
	// (and more than the bucket before); the last entry counts the rest.
	HandlerHist [len(HandlerBuckets) + 1]uint64
}

// counters is the live, concurrently updated form of Stats.
type counters struct {
	stanzasIn, stanzasOut   atomic.Uint64
	sendFailed              atomic.Uint64
	inboundDropped          atomic.Uint64
	handlerCalls, handlerEr atomic.Uint64
	handlerPanics           atomic.Uint64
	handlerTotal            atomic.Int64
	handlerMax              atomic.Int64
	hist                    [len(HandlerBuckets) + 1]atomic.Uint64
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

// Stats returns a snapshot of the session's counters.
func (s *Session) Stats() Stats {
	c := &s.stats
	st := Stats{
		StanzasIn:      c.stanzasIn.Load(),
		StanzasOut:     c.stanzasOut.Load(),
		SendFailed:     c.sendFailed.Load(),
		InboundDropped: c.inboundDropped.Load(),
		PendingIQs:     s.iq.len(),
		HandlerCalls:   c.handlerCalls.Load(),
		HandlerErrors:  c.handlerEr.Load(),
		HandlerPanics:  c.handlerPanics.Load(),
		HandlerTotal:   time.Duration(c.handlerTotal.Load()),
		HandlerMax:     time.Duration(c.handlerMax.Load()),
	}
	for i := range c.hist {
		st.HandlerHist[i] = c.hist[i].Load()
	}
	return st
}
