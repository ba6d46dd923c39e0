package router

import (
	"bytes"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"xmppkit.dev/internal/balance"
	"xmppkit.dev/jid"
	"xmppkit.dev/ping"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

// Balanced component domains (Config.Links)
//
// A domain of Config.Links has a group as its route: up to Links members,
// each a TCP component connection or an in-process attachment, each
// holding a slot number (the lowest free one when it joined). A stanza
// goes to the member that the sender's bare JID picks by rendezvous
// hashing over the members' slots (internal/balance), so one sender's
// stanzas go to one member, in order, and the pick depends only on the
// slots present: a member lost moves only its senders, a member that
// takes its slot back takes exactly those back. An iq result or error
// goes to the member that sent the request (g.asked), whatever the hash
// says, so that its session's tracker gets it.
//
// Per-sender order through changes. Deliveries choose a member under
// g.mu (read) and write under the member's own lock (read), checking
// that the table they chose by is still the member's (epoch). A member
// that holds (joining or settling) keeps what is routed to it in the
// group (held) instead of writing it:
//
//   - A link lost (leave): the member settles for settle (250 ms): what
//     its connection had not taken back (stream.Writer.Abandon, which
//     refuses every later stanza, so nothing can land behind what it
//     returns; a write cut short gives back the element it cut) and what
//     is routed to it meanwhile is held, so that the component, which may
//     still be handling what the lost connection carried, is not overtaken
//     on another link. A link of the domain that connects meanwhile takes
//     the member's slot and everything held (a reconnect moves nothing).
//     Otherwise, after settle (settled), the member leaves the table and
//     what it held is delivered by the new table, ahead of anything later.
//     What the connection had written is lost with it, or processed:
//     XEP-0114 has no acks.
//   - A link joining (add): it takes its senders at once, but what is
//     routed to it is held until every other member answered a ping
//     written behind what it carried (each fenced first: a delivery that
//     chose it by the old table chooses again), or joinWait passed; then
//     the held stanzas are delivered, in order, ahead of anything later. A
//     component that shares one session over its links (package component)
//     hence handles a moved sender's stanzas in order; separate processes
//     get them in order. Joins run one at a time.
//
// ejabberd's balancing (its issue 2215) hashes a sender onto the list of
// connections as each node sees it, modulo its length: every change of the
// list moves most senders, and nodes disagree. Slots and rendezvous
// hashing move only what must move, and any router that sees the same
// slots picks the same member.
type group struct {
	r      *Router
	domain jid.JID
	max    int

	mu      sync.RWMutex
	epoch   uint64
	members []*member // in the table, by join order
	slots   []uint32  // the members' slots, in the same order
	dead    bool      // emptied: the router's route goes; a newcomer makes a new group

	joinMu sync.Mutex // one join barrier at a time

	askMu  sync.Mutex
	asked  map[askKey]askEntry
	sweepN int // the size at which asked is swept next
}

// member is one link of a group.
type member struct {
	g    *group
	rt   route // *conn or *attachment
	slot uint32

	mu    sync.RWMutex // deliveries hold it shared; a fence or leave exclusively
	epoch uint64       // under mu: deliveries chosen by an older table choose again

	// holding (under g.mu): routed to, but what is routed to it waits in
	// held: while it joins (until the join barrier is done), and while it
	// settles after its link was lost.
	holding  bool
	settling bool        // under g.mu: its link is lost; it leaves at settleEnd unless a newcomer takes its slot
	until    time.Time   // under g.mu: the end of its settling (and of its taker's hold)
	gone     atomic.Bool // left the table (set under g.mu)

	heldMu sync.Mutex
	held   []*stanza.Stanza // what was routed to it while holding
}

// askKey identifies an iq request a member sent: its id and the address
// it went to (the answer comes from there).
type askKey struct {
	id   string
	peer jid.JID
}

type askEntry struct {
	m  *member
	at time.Time
}

const (
	// joinWait bounds the join barrier: a member whose peers do not
	// answer the pings in time is released anyway.
	joinWait = 2 * time.Second
	// settle is how long a lost link's senders wait before they move to
	// the other links: the component may still be handling what the lost
	// connection carried to it (what was in its socket when it broke), and
	// a link that comes back in that time takes them back with nothing
	// moved.
	settle = 250 * time.Millisecond
	// maxHeld releases a joining member early when this much waits for it.
	maxHeld = 4096
	// askTTL is how long an iq request's asker is remembered.
	askTTL = 2 * time.Minute
	// maxAsked bounds the remembered requests of one domain.
	maxAsked = 1 << 16
)

// barrierPrefix starts the ids of the join barrier pings (grants.go's
// pending answers).
const barrierPrefix = "xk-bar-"

// links returns how many links domain may have (Config.Links), 1 for an
// unlisted domain.
func (r *Router) links(domain string) int {
	if n := r.cfg.Links[domain]; n > 1 {
		return n
	}
	return 1
}

// addMember makes rt a link of the balanced domain (r.mu held): it joins
// the domain's group, made when needed. It returns the member, or nil when
// the group is full under RefuseNew; under KickOld a full group takes the
// newcomer and returns the oldest member as evict, which the caller kicks
// after releasing r.mu.
func (r *Router) addMember(domain jid.JID, rt route) (m, evict *member) {
	g, _ := r.comps[domain.Domain()].(*group)
	if g == nil || g.isDead() {
		g = &group{r: r, domain: domain, max: r.links(domain.Domain())}
		r.comps[domain.Domain()] = g
	}
	return g.add(rt, r.cfg.Conflict == KickOld)
}

func (g *group) isDead() bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.dead
}

// add puts rt in the table in the lowest free slot; see addMember.
func (g *group) add(rt route, kickOld bool) (m, evict *member) {
	g.mu.Lock()
	if g.liveLocked() >= g.max {
		if !kickOld {
			g.mu.Unlock()
			return nil, nil
		}
		// The newcomer replaces the oldest link, taking its slot and its
		// queue, as a settling member's.
		evict = g.members[0]
		if !evict.settling {
			evict.settling, evict.holding, evict.until = true, true, time.Now()
			g.takeBacklog(evict)
		}
	}
	m = &member{g: g, rt: rt}
	// A newcomer takes the slot of a member that is settling (its link
	// came back, or another took its place), with what waits for it.
	var taken *member
	for _, o := range g.members {
		if o.settling && (taken == nil || o.until.Before(taken.until)) {
			taken = o
		}
	}
	if taken != nil {
		m.slot, m.until = taken.slot, taken.until
		g.removeLocked(taken)
		taken.heldMu.Lock()
		m.held, taken.held = taken.held, nil
		taken.heldMu.Unlock()
	} else {
		for slices.Contains(g.slots, m.slot) {
			m.slot++
		}
	}
	alone := len(g.members) == 0 && taken == nil
	g.members = append(g.members, m)
	g.slots = append(g.slots, m.slot)
	g.epoch++
	m.epoch = g.epoch
	m.holding = !alone
	g.mu.Unlock()
	if !alone {
		go g.barrier(m)
	}
	return m, evict
}

// removeLocked takes m out of the table; g.mu is held.
func (g *group) removeLocked(m *member) {
	m.gone.Store(true)
	for i, o := range g.members {
		if o == m {
			g.members = append(g.members[:i], g.members[i+1:]...)
			g.slots = append(g.slots[:i], g.slots[i+1:]...)
			break
		}
	}
	g.epoch++
}

// leave starts m's departure after its link ended (or is ending): what
// its connection had not taken is taken back (Abandon) and m holds it,
// and whatever else is routed to it, while it settles; then settled moves
// it all to the members serving its senders, or a newcomer takes m's slot
// and everything with it.
func (g *group) leave(m *member) {
	g.mu.Lock()
	if m.gone.Load() || m.settling {
		g.mu.Unlock()
		return
	}
	m.settling, m.holding = true, true
	m.until = time.Now().Add(settle)
	// Under the lock, so that a newcomer taking m's slot takes it all.
	g.takeBacklog(m)
	g.mu.Unlock()
	g.r.log.Debug("router: component link lost, its senders wait", "domain", g.domain.String(), "slot", m.slot, "for", settle)
	if g.r.ctx.Err() != nil {
		g.settled(m)
		return
	}
	time.AfterFunc(settle, func() { g.settled(m) })
}

// takeBacklog stops deliveries to m's connection and puts what it had not
// taken ahead of what m holds; g.mu is held (deliveries in progress to m
// hold only m.mu).
func (g *group) takeBacklog(m *member) {
	c, tcp := m.rt.(*conn)
	if !tcp {
		m.mu.Lock() // wait for the deliveries in progress to m
		m.epoch = math.MaxUint64
		m.mu.Unlock()
		return
	}
	// Deliveries waiting for room in its queue give up now (errGone: they
	// choose again) instead of at SlowTimeout, and a write in progress
	// ends.
	c.dead.Store(true)
	c.wrote()
	_ = c.nc.SetWriteDeadline(time.Now())
	m.mu.Lock()
	m.epoch = math.MaxUint64
	backlog, written := c.w.Abandon()
	m.mu.Unlock()
	var sts []*stanza.Stanza
	eachElement(backlog, written, func(el *stream.Element) {
		var p packet
		p.raw = el.Raw()
		if elementHeader(el, &p.h) {
			if st, _ := p.stanza(); st != nil {
				sts = append(sts, st)
			}
		}
	})
	if len(sts) == 0 {
		return
	}
	m.heldMu.Lock()
	m.held = append(sts, m.held...)
	m.heldMu.Unlock()
}

// settled ends m's settling: unless a newcomer took its slot, it leaves
// the table and what it holds goes to the members serving its senders now
// (or bounces when none is left: the route then goes).
func (g *group) settled(m *member) {
	g.mu.Lock()
	if m.gone.Load() {
		g.mu.Unlock()
		return
	}
	g.removeLocked(m)
	empty := len(g.members) == 0
	if empty {
		g.dead = true
	}
	m.heldMu.Lock()
	held := m.held
	m.held = nil
	m.heldMu.Unlock()
	into := map[*member][]*stanza.Stanza{} // for members that hold: ahead of what they hold
	var order []*member
	var bounces []bounced // after the lock: a bounce may be routed to this domain
	moved := 0
	for _, st := range held {
		p := stanzaPacket(st)
		t := g.pickLocked(p)
		switch {
		case t == nil:
			bounces = append(bounces, bounced{st, errComponentDown})
		case t.holding:
			if into[t] == nil {
				order = append(order, t)
			}
			into[t] = append(into[t], st)
			moved++
		default:
			if err := t.force(p); err != nil {
				bounces = append(bounces, bounced{st, err})
			} else {
				moved++
			}
		}
	}
	for _, t := range order {
		t.heldMu.Lock()
		t.held = append(into[t], t.held...)
		t.heldMu.Unlock()
	}
	links := len(g.members)
	g.mu.Unlock()
	if empty {
		r := g.r
		r.mu.Lock()
		if r.comps[g.domain.Domain()] == g {
			delete(r.comps, g.domain.Domain())
		}
		r.mu.Unlock()
	}
	g.r.stats.moved.Add(uint64(moved))
	g.bounce(bounces)
	if len(held) > 0 {
		g.r.log.Info("router: moved a lost component link's queue", "domain", g.domain.String(),
			"slot", m.slot, "stanzas", moved, "bounced", len(bounces), "links", links)
	}
}

// bounced is a stanza to bounce once the group's lock is released.
type bounced struct {
	st  *stanza.Stanza
	err error
}

// bounce bounces bs (g.mu not held).
func (g *group) bounce(bs []bounced) {
	for _, b := range bs {
		if b.st != nil {
			g.r.bounce(stanzaPacket(b.st), b.err)
		}
	}
}

// eachElement calls f with each element of b, a run of whole top-level
// elements in the component namespace (a connection's queue), but those
// that end within its first written bytes (the connection took them).
func eachElement(b []byte, written int, f func(*stream.Element)) {
	const hdr = "<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams'>"
	rd := stream.NewReader(io.MultiReader(strings.NewReader(hdr), bytes.NewReader(b)), stream.ReaderOptions{NS: stream.NSComponent})
	if _, err := rd.ReadHeader(); err != nil {
		return
	}
	pos := 0
	for {
		el, err := rd.Next()
		if err != nil {
			return
		}
		raw := el.Raw()
		if pos < written {
			// Elements follow each other in b, maybe with whitespace
			// (keepalives) between them.
			if i := bytes.Index(b[pos:], raw); i >= 0 {
				pos += i + len(raw)
				if pos <= written {
					continue
				}
			}
		}
		f(el)
	}
}

// asked reports whether p answers an iq that m sent.
func (m *member) asked(p *packet) bool { return m.g.asker(p) == m }

// pickLocked returns the member p goes to (g.mu held in either mode): the
// asker of an iq answer, else the sender's bare JID's pick; nil when the
// group is empty.
func (g *group) pickLocked(p *packet) *member {
	if len(g.members) == 0 {
		return nil
	}
	if m := g.asker(p); m != nil && !m.gone.Load() {
		return m
	}
	return g.members[balance.Pick(balance.Key(p.h.from.Bare().String()), g.slots)]
}

// deliver implements route: the chosen member gets p, or holds it while
// it joins. A member that turns out to be gone (its connection died, or
// it was too slow and was kicked) leaves at once and p goes to the next
// pick, as its queue does.
func (g *group) deliver(p *packet) error {
	for {
		g.mu.RLock()
		m := g.pickLocked(p)
		if m == nil {
			g.mu.RUnlock()
			return errGone
		}
		epoch := g.epoch
		if m.holding && !(m.asked(p) && !m.settling) {
			// An answer to an iq it asked goes to its session's tracker,
			// in no order with the rest: only the rest waits.
			st, err := p.stanza()
			if st == nil {
				g.mu.RUnlock()
				return err
			}
			m.heldMu.Lock()
			m.held = append(m.held, st)
			full := len(m.held) >= maxHeld
			m.heldMu.Unlock()
			settling := m.settling
			g.mu.RUnlock()
			if full && !settling {
				go g.release(m)
			}
			return nil
		}
		g.mu.RUnlock()
		m.mu.RLock()
		if m.epoch > epoch {
			m.mu.RUnlock()
			continue // the table changed: choose again
		}
		err := m.rt.deliver(p)
		m.mu.RUnlock()
		if err == nil {
			g.answered(p)
			return nil
		}
		if !m.lost(err) {
			return err
		}
		g.leave(m) // it holds what comes next; its reader finishes the rest
	}
}

// lost reports whether err, from delivering to the member, means its link
// is gone (or was cut as too slow): the group then moves on without it.
func (m *member) lost(err error) bool {
	if _, ok := m.rt.(*conn); ok {
		return err == errGone || err == errQueueFull
	}
	return err == errGone
}

// force delivers p to m ignoring the queue bound (moved stanzas were
// admitted once).
func (m *member) force(p *packet) error {
	c, ok := m.rt.(*conn)
	if !ok {
		return m.rt.deliver(p)
	}
	var b []byte
	if p.raw != nil && !p.h.prefixed && (p.h.xmlns == "" || p.h.xmlns == c.ns) {
		b = p.raw
	} else {
		st, err := p.stanza()
		if st == nil {
			return err
		}
		if st.NS != "" {
			cp := *st
			cp.NS = ""
			st = &cp
		}
		b = st.AppendXML(nil)
	}
	c.queued.Add(int64(len(b)))
	if err := c.w.WriteRaw(b); err != nil {
		return errGone
	}
	return nil
}

// kick implements route: every member's stream ends with e.
func (g *group) kick(e *stream.Error) {
	for _, m := range g.snapshot() {
		m.rt.kick(e)
	}
}

// snapshot returns the members now.
func (g *group) snapshot() []*member {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return append([]*member(nil), g.members...)
}

// linksOf returns the routes of rt's links that are up (a group's members
// but the settling ones), or rt itself.
func linksOf(rt route) []route {
	g, ok := rt.(*group)
	if !ok {
		return []route{rt}
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	var out []route
	for _, m := range g.members {
		if !m.settling {
			out = append(out, m.rt)
		}
	}
	return out
}

// barrier fences the other members, pings each TCP one behind what it
// carries, and releases m once all answered or joinWait passed. An
// in-process member is fenced only: a delivery to it is handed to its
// session synchronously, so it has what it was given.
//
// Barriers run one at a time: a member that joins while another is still
// joining may take senders whose stanzas that one holds, which go out
// only when it is released; the later barrier then pings behind them.
func (g *group) barrier(m *member) {
	r := g.r
	g.joinMu.Lock()
	defer g.joinMu.Unlock()
	g.mu.Lock()
	until := m.until
	g.mu.Unlock()
	if d := time.Until(until); d > 0 {
		// It took a settling member's slot: what that member's lost
		// connection carried gets the rest of the settling time.
		select {
		case <-time.After(d):
		case <-r.ctx.Done():
		}
	}
	g.mu.Lock()
	if m.gone.Load() {
		g.mu.Unlock()
		return
	}
	var others []*member
	for _, o := range g.members {
		if o != m && !o.settling {
			others = append(others, o)
		}
	}
	g.epoch++
	epoch := g.epoch
	g.mu.Unlock()
	answers := make(chan *member, len(others))
	var pinged []*member
	for _, o := range others {
		o.mu.Lock()
		if o.epoch < epoch {
			o.epoch = epoch
		}
		if _, tcp := o.rt.(*conn); !tcp {
			o.mu.Unlock()
			continue
		}
		id := barrierPrefix + stanza.NewID()
		iq := stanza.NewIQ(stanza.TypeGet, g.domain, stanza.Element{Space: ping.NS, Local: "ping"})
		iq.ID, iq.From = id, r.serverJID()
		r.await(id, func(from jid.JID) bool { return from.Domain() == g.domain.Domain() },
			func(*stanza.Stanza, *stanza.Error) { answers <- o })
		err := o.force(stanzaPacket(iq))
		o.mu.Unlock()
		if err == nil {
			pinged = append(pinged, o)
		}
	}
	t := time.NewTimer(joinWait)
	defer t.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	waiting := map[*member]bool{}
	for _, o := range pinged {
		waiting[o] = true
	}
wait:
	for len(waiting) > 0 {
		select {
		case o := <-answers:
			delete(waiting, o)
		case <-tick.C:
			// A member lost meanwhile will not answer; its stanzas are
			// held now.
			g.dropLost(waiting)
		case <-t.C:
			r.log.Warn("router: component links did not answer the join barrier in time", "domain", g.domain.String(), "slot", m.slot, "waited", joinWait)
			break wait
		case <-r.ctx.Done():
			break wait
		}
	}
	g.release(m)
}

// dropLost removes from waiting the members that settle or left.
func (g *group) dropLost(waiting map[*member]bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	for o := range waiting {
		if o.settling || o.gone.Load() {
			delete(waiting, o)
		}
	}
}

// release ends m's join: what it holds is delivered, in order, ahead of
// anything routed to it later.
func (g *group) release(m *member) {
	g.mu.Lock()
	if !m.holding || m.settling || m.gone.Load() {
		g.mu.Unlock()
		return
	}
	m.holding = false
	m.heldMu.Lock()
	held := m.held
	m.held = nil
	m.heldMu.Unlock()
	var bounces []bounced
	for _, st := range held {
		p := stanzaPacket(st)
		if err := m.force(p); err != nil {
			bounces = append(bounces, bounced{st, err})
		}
	}
	g.mu.Unlock()
	g.bounce(bounces)
	g.r.log.Debug("router: component link joined", "domain", g.domain.String(), "slot", m.slot, "held", len(held))
}

// noteAsk remembers that m sent the iq request p, so that its answer goes
// back to m.
func (g *group) noteAsk(m *member, p *packet) {
	if p.h.kind != stanza.IQ || (p.h.typ != stanza.TypeGet && p.h.typ != stanza.TypeSet) || p.h.id == "" {
		return
	}
	now := time.Now()
	// The header's strings point into the packet's bytes: copy them.
	peer, err := jid.Parse(strings.Clone(p.h.to.String()))
	if err != nil {
		return
	}
	k := askKey{id: strings.Clone(p.h.id), peer: peer}
	g.askMu.Lock()
	defer g.askMu.Unlock()
	if g.asked == nil {
		g.asked = map[askKey]askEntry{}
		g.sweepN = 1024
	}
	if len(g.asked) >= g.sweepN {
		for k, e := range g.asked {
			if now.Sub(e.at) > askTTL || e.m.gone.Load() {
				delete(g.asked, k)
			}
		}
		if len(g.asked) >= maxAsked {
			clear(g.asked) // answers go by the hash then
		}
		g.sweepN = max(1024, 2*len(g.asked))
	}
	g.asked[k] = askEntry{m: m, at: now}
}

// isAnswer reports whether p is an iq result or error.
func isAnswer(p *packet) bool {
	return p.h.kind == stanza.IQ && (p.h.typ == stanza.TypeResult || p.h.typ == stanza.TypeError)
}

// asker returns the member that sent the request p answers, or nil.
func (g *group) asker(p *packet) *member {
	if !isAnswer(p) {
		return nil
	}
	g.askMu.Lock()
	defer g.askMu.Unlock()
	return g.asked[askKey{id: p.h.id, peer: p.h.from}].m
}

// answered forgets the request p, a delivered answer, answers.
func (g *group) answered(p *packet) {
	if !isAnswer(p) {
		return
	}
	g.askMu.Lock()
	delete(g.asked, askKey{id: p.h.id, peer: p.h.from})
	g.askMu.Unlock()
}

// hasRoom reports whether the group takes another member without evicting.
func (g *group) hasRoom() bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.liveLocked() < g.max
}

// liveLocked counts the members whose link is up (not settling); g.mu is
// held.
func (g *group) liveLocked() int {
	n := 0
	for _, m := range g.members {
		if !m.settling {
			n++
		}
	}
	return n
}
