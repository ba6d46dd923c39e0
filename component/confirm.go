package component

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"xmppkit.dev/ping"
	"xmppkit.dev/session"
	"xmppkit.dev/stanza"
)

// confirmState batches confirmed sends behind barrier pings. A round runs
// while stanzas wait for confirmation: it closes the open batch, sends one
// XEP-0199 ping to the server and waits for the answer.
type confirmState struct {
	mu      sync.Mutex
	open    *barrier // the batch that senders join; nil when empty
	running bool     // a goroutine runs rounds
}

// barrier is one batch of written stanzas and the ping that confirms them.
type barrier struct {
	done chan struct{} // closed when gen and err are final
	gen  uint64        // the session that carried the ping and its answer; 0 if none did
	err  error         // why the batch was not confirmed
}

// SendConfirmed sends st like Send and then waits until the server has
// processed it: XEP-0114 streams have no acknowledgements (no XEP-0198), but
// a server handles the stanzas of one stream in order, so once an IQ written
// after st on the same connection is answered (a result or an error), st
// was processed: routed to its recipient, stored, or bounced with an error
// stanza. One such barrier ping (XEP-0199, to PingTo, waiting up to
// PingTimeout) confirms every stanza written before it, so concurrent
// callers share the cost of one round trip.
//
// It returns nil once st is confirmed; an error wrapping ErrNotSent when st
// was never written (it certainly did not reach the server); and an error
// wrapping ErrUnconfirmed when st was written but the link died, the ping
// was not answered in time, or ctx ended before the answer. "Processed"
// is as far as the server's answer proves: a server that crashes after
// handing the stanza to a recipient's connection can still lose it in that
// connection's buffers; only the recipient can acknowledge it
// end to end (for example with XEP-0184 receipts). Stats.SendFailed counts
// only the stanzas that were not written, not the unconfirmed ones.
func (c *Component) SendConfirmed(ctx context.Context, st *stanza.Stanza) error {
	if err := c.init(); err != nil {
		return session.NotSent(err)
	}
	return c.sess.SendConfirmed(ctx, st)
}

// confirmLink waits until a barrier ping written after the stanza that
// went out on link is answered, the ping written on that same link
// (session.Transport's Confirm); the answer may arrive on any link.
func (c *Component) confirmLink(ctx context.Context, link uint64) error {
	l := c.linkOf(link)
	if l == nil {
		return fmt.Errorf("%w: link lost after the stanza was written", ErrDisconnected)
	}
	// The stanza is written on link; the barrier joined now is pinged only
	// after this point, so its ping follows the stanza on the wire.
	b := l.s.joinBarrier()
	select {
	case <-b.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	switch {
	case b.err != nil:
		return b.err
	case b.gen != link:
		return fmt.Errorf("%w: link lost after the stanza was written", ErrDisconnected)
	}
	return nil
}

// joinBarrier returns the slot's open batch, creating it and starting the
// goroutine that runs rounds when needed.
func (s *slot) joinBarrier() *barrier {
	cs := &s.confirm
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.open == nil {
		cs.open = &barrier{done: make(chan struct{})}
	}
	if !cs.running {
		cs.running = true
		go s.confirmLoop()
	}
	return cs.open
}

// confirmLoop runs barrier rounds until no batch is open, then exits.
func (s *slot) confirmLoop() {
	cs := &s.confirm
	for {
		cs.mu.Lock()
		b := cs.open
		cs.open = nil
		if b == nil {
			cs.running = false
			cs.mu.Unlock()
			return
		}
		cs.mu.Unlock()
		b.gen, b.err = s.barrierRound()
		close(b.done)
	}
}

// barrierRound pings the server on the slot's link and returns the link
// that carried the ping. The slot's live link is sampled before the ping
// and after the answer: generations only grow, so when both samples agree
// the ping went out on that one link, after every stanza it confirms, and
// that link was up when the answer came.
func (s *slot) barrierRound() (uint64, error) {
	c := s.c
	before := s.liveLink()
	if before == 0 {
		return 0, fmt.Errorf("%w: no link to confirm on", ErrDisconnected)
	}
	to := c.PingTo
	if to.IsZero() {
		to = defaultPingTo(c.domain)
	}
	ctx, cancel := context.WithTimeout(onSlot(context.Background(), s), orDefault(c.PingTimeout, DefaultPingTimeout))
	defer cancel()
	_, err := c.sess.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, to, stanza.Element{Space: ping.NS, Local: "ping"}))
	var serr *stanza.Error
	if err != nil && !errors.As(err, &serr) {
		// An error answer proves processing as well as a result does.
		return 0, fmt.Errorf("barrier ping to %s: %w", to, err)
	}
	if after := s.liveLink(); after != before {
		return 0, fmt.Errorf("%w: link replaced during the barrier ping", ErrDisconnected)
	}
	return before, nil
}

// liveLink returns the number of the slot's live link, 0 when none.
func (s *slot) liveLink() uint64 {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	if s.link == nil {
		return 0
	}
	return s.link.gen
}
