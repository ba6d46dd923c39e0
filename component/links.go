package component

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"xmppkit.dev/internal/balance"
	"xmppkit.dev/ping"
	"xmppkit.dev/session"
	"xmppkit.dev/stanza"
)

// MaxLinks bounds Component.Links (ejabberd's component_number goes to
// 1000; a component needs far fewer).
const MaxLinks = 64

// Several links for one domain
//
// Each slot (one per Component.Links) keeps one link up and has its own
// session.Writer; the session (workers, iq tracker) is the component's,
// shared by all slots. A stanza goes to the slot that the bare JID of its
// recipient picks by rendezvous hashing (internal/balance) among the
// routed slots, so that the stanzas for one entity leave on one link, in
// order. The routed slots are those whose link is up or joining, or every
// slot when none is: stanzas then wait in the Writer of the slot their
// recipient would pick, all of one recipient's in the same one.
//
// The table (routeTable) changes only under rt.mu, and every change bumps
// its epoch and fences every routed Writer at the new epoch
// (Writer.Fence): a Deliver that chose its Writer by an older table gets
// session.ErrMoved (at once, or while waiting for room) and chooses again.
// So the order per recipient holds through every change:
//
//   - A link lost: its slot leaves the table; what its Writer had queued
//     and not written is taken out (Writer.Take) and routed again by the
//     new table, under the lock, before any later stanza: the recipients
//     it served move to the survivors, their queued stanzas first.
//     What the dead link had written already is lost with it or was
//     processed: XEP-0114 has no acknowledgements (SendConfirmed proves).
//   - A link joining: its slot enters the table "held": it takes its share
//     of recipients at once, but its Writer is attached to the connection
//     only after a barrier ping, written on every other live link after
//     everything they had queued before the change, was answered (or
//     failed, or PingTimeout passed): the server then has processed
//     every stanza those links carried for the recipients that moved, so
//     the new link's first stanza cannot overtake them (a server processes
//     its connections in parallel: two links have no order between them).
//     Joins run one at a time. Pieces moved into a held Writer go ahead of
//     what it holds, as they are older.
type routeTable struct {
	mu     sync.RWMutex
	epoch  uint64
	ids    []uint32   // the routed slots
	joinMu sync.Mutex // one join barrier at a time
}

// slotState is where a slot is in the table.
type slotState int8

const (
	slotDown     slotState = iota // no link, not routed to
	slotSettling                  // link lost less than settle ago: still routed to (its Writer queues)
	slotHeld                      // link up, joining: routed to, Writer not attached yet
	slotUp                        // link up, Writer attached
)

// settle is how long a lost link's recipients stay with its slot (their
// stanzas queue) before they move to the other links: the server may
// still be handling what the lost connection carried, which a stanza on
// another link could overtake; a link that comes back in that time takes
// them back with nothing moved (it is attached no earlier than settle
// after the loss).
const settle = 250 * time.Millisecond

// slot is one of the links a Component keeps up.
type slot struct {
	c       *Component
	idx     int
	w       *session.Writer
	confirm confirmState // barrier pings for confirmed sends (confirm.go)

	link  *link     // the live link, or nil; under c.mu
	state slotState // under c.rt.mu
	lost  time.Time // under c.rt.mu: when its last link was lost
	round uint64    // under c.rt.mu: counts losses, so that a stale settle timer does nothing
}

func (rt *routeTable) init(slots []*slot) {
	rt.ids = make([]uint32, len(slots))
	for i := range slots {
		rt.ids[i] = uint32(i)
	}
}

// slotKey pins a delivery to one slot's link (pings that test or fence a
// link must go out on it).
type slotKey struct{}

// onSlot returns ctx with deliveries pinned to s.
func onSlot(ctx context.Context, s *slot) context.Context {
	if len(s.c.slots) == 1 {
		return ctx
	}
	return context.WithValue(ctx, slotKey{}, s)
}

// deliver queues out on the Writer of its slot (session.Transport's
// Deliver).
func (c *Component) deliver(ctx context.Context, out session.Outgoing, sync bool) (uint64, error) {
	if len(c.slots) == 1 {
		return c.slots[0].w.Deliver(ctx, out, sync)
	}
	if s, ok := ctx.Value(slotKey{}).(*slot); ok {
		c.rt.mu.RLock()
		state := s.state
		c.rt.mu.RUnlock()
		if state == slotDown {
			return 0, session.NotSent(fmt.Errorf("%w: slot %d has no link", ErrDisconnected, s.idx))
		}
		return s.w.DeliverAt(ctx, out, sync, math.MaxUint64)
	}
	key := balance.Key(out.Stanza.To.Bare().String())
	for {
		c.rt.mu.RLock()
		epoch := c.rt.epoch
		s := c.slots[c.rt.ids[balance.Pick(key, c.rt.ids)]]
		c.rt.mu.RUnlock()
		link, err := s.w.DeliverAt(ctx, out, sync, epoch)
		if !errors.Is(err, session.ErrMoved) {
			return link, err
		}
	}
}

// retable recomputes the routed slots from their states, bumps the epoch
// and fences the routed Writers at it; c.rt.mu is held. When some slot is
// routed to, the slots without a link give up what waited in their Writers
// (while no slot was, everything waited where the recipient's pick over
// all slots put it) to the new table.
func (c *Component) retable() {
	rt := &c.rt
	rt.ids = rt.ids[:0]
	for _, s := range c.slots {
		if s.state != slotDown {
			rt.ids = append(rt.ids, uint32(s.idx))
		}
	}
	all := len(rt.ids) == 0
	if all {
		for _, s := range c.slots {
			rt.ids = append(rt.ids, uint32(s.idx))
		}
	}
	rt.epoch++
	for _, id := range rt.ids {
		c.slots[id].w.Fence(rt.epoch)
	}
	if all {
		return
	}
	for _, s := range c.slots {
		if s.state == slotDown {
			c.reroute(s.w.Take())
		}
	}
}

// reroute queues pieces taken from a Writer on the Writers their
// recipients pick now, keeping their order; c.rt.mu is held.
func (c *Component) reroute(ps []session.Piece) {
	if len(ps) == 0 {
		return
	}
	by := make(map[uint32][]session.Piece)
	var order []uint32
	for _, p := range ps {
		var key uint64
		if st, _ := p.Stanza(); st != nil {
			key = balance.Key(st.To.Bare().String())
		}
		id := c.rt.ids[balance.Pick(key, c.rt.ids)]
		if by[id] == nil {
			order = append(order, id)
		}
		by[id] = append(by[id], p)
	}
	for _, id := range order {
		s := c.slots[id]
		s.w.Put(by[id], s.state == slotHeld)
	}
	c.log.Debug("component: moved the queue of a lost link", "domain", c.Domain, "stanzas", len(ps), "links", len(order))
}

// leave starts s's settling after its link was lost: its recipients stay
// for settle, then (unless a link is back) move with what its Writer had
// queued to the slots that serve them now.
func (c *Component) leave(s *slot) {
	c.rt.mu.Lock()
	defer c.rt.mu.Unlock()
	s.lost = time.Now()
	s.round++
	if c.stopping() {
		// Stopping: what is queued is reported as not sent at the end.
		s.state = slotDown
		return
	}
	s.state = slotSettling
	round := s.round
	time.AfterFunc(settle, func() { c.settled(s, round) })
}

// settled ends s's settling: its recipients move to the other slots.
func (c *Component) settled(s *slot, round uint64) {
	c.rt.mu.Lock()
	defer c.rt.mu.Unlock()
	if s.state != slotSettling || s.round != round {
		return
	}
	s.state = slotDown
	if c.stopping() {
		return
	}
	ps := s.w.Take()
	c.retable()
	c.reroute(ps)
}

// join brings l's slot into the table (see routeTable) and attaches its
// Writer once the barrier pings on the other links were answered. It runs
// on the link's goroutine after the reader started.
func (c *Component) join(l *link) {
	s := l.s
	rt := &c.rt
	rt.joinMu.Lock()
	defer rt.joinMu.Unlock()
	rt.mu.Lock()
	var others []*slot
	for _, o := range c.slots {
		if o != s && o.state == slotUp {
			others = append(others, o)
		}
	}
	var wait time.Duration
	if s.state == slotSettling {
		// Back within its settling time: its recipients never moved, but
		// the server may still be handling what the lost link carried.
		wait = settle - time.Since(s.lost)
	}
	s.state = slotHeld
	c.retable()
	rt.mu.Unlock()

	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-l.ctx.Done():
		case <-c.closing:
		}
		t.Stop()
	}
	if len(others) > 0 && !c.stopping() {
		c.barrier(l, others)
	}
	rt.mu.Lock()
	if l.ctx.Err() == nil && s.state == slotHeld {
		s.state = slotUp
		s.w.Attach(l.conn, l.gen)
	}
	rt.mu.Unlock()
}

// barrier pings the server on each of others' links and waits for the
// answers, at most PingTimeout, less when l dies or a stop begins.
func (c *Component) barrier(l *link, others []*slot) {
	to := c.PingTo
	if to.IsZero() {
		to = defaultPingTo(c.domain)
	}
	ctx, cancel := context.WithTimeout(l.ctx, orDefault(c.PingTimeout, DefaultPingTimeout))
	defer cancel()
	stop := afterClose(c.closing, cancel)
	defer stop()
	t0 := time.Now()
	var wg sync.WaitGroup
	for _, o := range others {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := ping.Send(onSlot(ctx, o), c.sess, to)
			var se *stanza.Error
			if err != nil && !errors.As(err, &se) {
				c.log.Debug("component: join barrier ping failed", "domain", c.Domain, "slot", o.idx, "err", err)
			}
		}()
	}
	wg.Wait()
	c.log.Debug("component: link joined", "domain", c.Domain, "slot", l.s.idx, "barrier", time.Since(t0))
}
