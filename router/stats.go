package router

import (
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"xmppkit.dev/router/internal/limit"
)

// Stats is a snapshot of the router's state and counters (see
// Router.Stats). The counters count from New.
type Stats struct {
	// Components is the number of component links now (TCP and
	// in-process): one per domain, but for a domain of Config.Links, one
	// per link it has.
	Components int
	// Clients is the number of bound client resources now (client streams
	// and in-memory clients, RFC 6120 §7).
	Clients int
	// Unauthenticated is the number of connections that have not
	// authenticated yet, on all listeners.
	Unauthenticated int

	// Dropped counts stanzas the router did not deliver and answered with
	// nothing, because no answer is owed (an error stanza, an IQ result, a
	// presence or headline to nobody: RFC 6120 §8.3.1, RFC 6121 §8.5).
	Dropped uint64
	// Bounced counts error replies the router generated for stanzas it
	// could not deliver (RFC 6120 §8.3: service-unavailable,
	// remote-server-not-found, resource-constraint, ...).
	Bounced uint64
	// Denied counts what the router refused by policy: stanzas with a
	// forged from, streams ended for a client's invalid-from, connections
	// refused over the limits on unauthenticated connections.
	Denied uint64
	// Moved counts stanzas queued for a lost link of a domain of
	// Config.Links (not yet written to its connection) that were delivered
	// to another of its links instead.
	Moved uint64
	// Reasons counts the drops and denials by reason (the keys are the
	// Reason* constants).
	Reasons map[string]uint64
}

// Reasons of drops and denials, the keys of Stats.Reasons and the "reason"
// of their log records.
const (
	ReasonErrorNoRecipient    = "error-no-recipient"    // an error stanza or IQ result nobody takes (dropped)
	ReasonErrorToBare         = "error-to-bare-jid"     // a message or IQ error to an account's bare JID (RFC 6121 §8.5.2: dropped, as Prosody does)
	ReasonNoAvailableResource = "no-available-resource" // presence or headline to an account with no available resource
	ReasonUnboundResource     = "unbound-resource"      // presence, headline or error to a full JID with no session (RFC 6121 §8.5.3.2)
	ReasonToServer            = "to-server"             // presence or an IQ response to the router's own domain
	ReasonBadPresence         = "bad-presence"          // a client's presence without to of a type the server does not take
	ReasonUndecodable         = "undecodable"           // a stanza that could not be decoded to be answered
	ReasonReplyUndeliverable  = "reply-undeliverable"   // an error reply that could not be delivered either
	ReasonForgedFrom          = "forged-from"           // a component's from outside its domain (denied)
	ReasonInvalidFrom         = "invalid-from"          // a client's from that is not its own (denied, stream ended)
	ReasonUnauthLimit         = "unauthenticated-limit" // a connection over MaxUnauthPerIP or MaxUnauth (denied)
	ReasonIdle                = "idle"                  // a stream closed after IdleTimeout and an unanswered ping (denied)
)

// counters are the router's event counters.
type counters struct {
	dropped, bounced, denied atomic.Uint64
	moved                    atomic.Uint64

	mu      sync.Mutex
	reasons map[string]uint64
	// The Info log of drops and denials is rate limited to logBurst
	// records, refilled at logRate a second; suppressed records are
	// counted and reported with the next one.
	log limit.Log
}

const (
	logRate  = 10
	logBurst = 20
)

// Stats returns a snapshot of the router's state and counters.
func (r *Router) Stats() Stats {
	r.mu.RLock()
	s := Stats{Unauthenticated: r.unauthAll}
	for _, rt := range r.comps {
		s.Components += len(linksOf(rt))
	}
	for _, a := range r.users {
		s.Clients += len(a.res)
	}
	r.mu.RUnlock()
	s.Dropped, s.Bounced, s.Denied = r.stats.dropped.Load(), r.stats.bounced.Load(), r.stats.denied.Load()
	s.Moved = r.stats.moved.Load()
	r.stats.mu.Lock()
	s.Reasons = maps.Clone(r.stats.reasons)
	r.stats.mu.Unlock()
	if s.Reasons == nil {
		s.Reasons = map[string]uint64{}
	}
	return s
}

// dropped records a stanza dropped for reason (Stats.Dropped) and logs it
// at Info, rate limited; attrs describe it.
func (r *Router) dropped(reason string, attrs ...any) {
	r.stats.dropped.Add(1)
	r.m.countUndelivered("dropped", reason)
	r.record("router: stanza dropped", reason, attrs)
}

// denied records a refusal for reason (Stats.Denied) and logs it at Info,
// rate limited.
func (r *Router) denied(reason string, attrs ...any) {
	r.stats.denied.Add(1)
	r.m.countUndelivered("denied", reason)
	r.record("router: denied", reason, attrs)
}

// record counts reason and logs msg when the rate limit allows.
func (r *Router) record(msg, reason string, attrs []any) {
	c := &r.stats
	c.mu.Lock()
	if c.reasons == nil {
		c.reasons = map[string]uint64{}
	}
	c.reasons[reason]++
	c.mu.Unlock()
	ok, suppressed := c.log.Allow(time.Now())
	if !ok || !r.log.Enabled(r.ctx, slog.LevelInfo) {
		return
	}
	args := append([]any{"reason", reason}, attrs...)
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	r.log.Info(msg, args...)
}
