package privilege

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"

	"xmppkit.dev/disco"
	"xmppkit.dev/internal/linkstate"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// DefaultMaxPresences bounds how many full JIDs an Entity tracks as online
// when MaxPresences is zero.
const DefaultMaxPresences = 100_000

// Entity is the privileged entity's side of XEP-0356: it reads the
// advertisements of the servers the component is attached to, keeps what
// they granted, and performs the privileged operations, each of which
// returns an error matching ErrNotGranted when the server did not grant
// it. Mount it with Register; set the fields before. It is safe for
// concurrent use.
//
// Grants live as long as the link to the server: call Reset from the
// component's OnLink hook (servers revoke every privilege on disconnect,
// and advertise again after the next handshake).
type Entity struct {
	// Servers are the servers whose advertisements are believed: an
	// advertisement from any other address is ignored and logged, as is
	// one from a JID with a localpart or a resource. Empty means the
	// component's host server only: the domain the advertisement was sent
	// to without its first label ("localhost" for "priv.localhost").
	Servers []jid.JID
	// OnChange, when set, is called with a server's new grants each time
	// they change (an advertisement that differs from the last, Reset).
	// It runs on the goroutine that handled the advertisement; it must not
	// block for long.
	OnChange func(g Grants)
	// OnRosterPush, when set, receives the roster pushes (RFC 6121 §2.1.6)
	// a server sends for its users under the v0.4 roster permission with
	// push. Each is acknowledged after OnRosterPush returns.
	OnRosterPush func(ctx context.Context, user jid.JID, item RosterItem)
	// Presence, when set, receives every available and unavailable
	// presence after the Entity recorded it; Register mounts the Entity
	// for those two presence types, so that a service handles them here.
	Presence mux.Handler
	// MaxPresences bounds the number of full JIDs tracked as online
	// (default DefaultMaxPresences): presences past it are passed on but
	// not recorded.
	MaxPresences int
	// Logger receives what is ignored (forged advertisements, parts of an
	// advertisement not believed); nil means slog.Default().
	Logger *slog.Logger

	changes linkstate.Notifier

	mu      sync.Mutex
	grants  map[string]Grants // by server domain
	online  map[string]map[string]struct{}
	nOnline int
	full    bool // the presence table reached MaxPresences (logged once)
}

// Register mounts e on m: messages carrying a <privilege/> in NS1 or NS2
// (the advertisements), roster pushes (iq set jabber:iq:roster), and
// available and unavailable presence (passed on to Presence).
func (e *Entity) Register(m *mux.ServeMux) {
	m.HandleMessage(mux.AnyType, NS1, e)
	m.HandleMessage(mux.AnyType, NS2, e)
	m.HandleIQ(stanza.TypeSet, NSRoster, "query", e)
	m.HandlePresence("", e)
	m.HandlePresence(stanza.TypeUnavailable, e)
}

// Features implements disco.FeatureProvider: the Entity advertises
// nothing (its roster route is for pushes from servers, not a service to
// users).
func (e *Entity) Features(disco.Query) []string { return nil }

func (e *Entity) logger() *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	return slog.Default()
}

// HandleStanza serves the stanzas Register routes to e.
func (e *Entity) HandleStanza(ctx context.Context, s mux.Sender, st *stanza.Stanza) error {
	switch st.Kind {
	case stanza.Message:
		for _, c := range st.Children() {
			if c.Local == "privilege" && (c.Space == NS1 || c.Space == NS2) {
				e.advertised(ctx, st, c)
				return nil
			}
		}
		return nil
	case stanza.IQ:
		return e.rosterPush(ctx, s, st)
	case stanza.Presence:
		e.observe(ctx, st)
		if e.Presence != nil {
			return e.Presence.HandleStanza(ctx, s, st)
		}
	}
	return nil
}

// advertised handles a <privilege/> advertisement (§3.2).
func (e *Entity) advertised(ctx context.Context, st *stanza.Stanza, el stanza.Element) {
	log := e.logger()
	if !linkstate.IsServer(e.Servers, st.From, st.To) {
		log.WarnContext(ctx, "privilege: ignoring a <privilege/> advertisement not from the server",
			"from", st.From.String(), "to", st.To.String())
		return
	}
	if st.Type == stanza.TypeError {
		return
	}
	g, notes, err := ParseAdvertisement(st.From, el)
	if err != nil {
		log.WarnContext(ctx, "privilege: unreadable advertisement", "from", st.From.String(), "err", err)
		return
	}
	for _, n := range notes {
		log.InfoContext(ctx, "privilege: advertisement: "+n, "from", st.From.String())
	}
	log.InfoContext(ctx, "privilege: granted", "grants", g.String())
	e.set(g)
}

// set stores g as its server's grants and notifies a change.
func (e *Entity) set(g Grants) {
	e.mu.Lock()
	key := g.Server.Domain()
	old, had := e.grants[key]
	if had && old.Equal(g) {
		e.mu.Unlock()
		return
	}
	if e.grants == nil {
		e.grants = make(map[string]Grants)
	}
	e.grants[key] = g
	if old.Presence > g.Presence {
		e.prunePresencesLocked()
	}
	e.mu.Unlock()
	e.changes.Notify()
	if e.OnChange != nil {
		e.OnChange(g)
	}
}

// Reset forgets every grant and every tracked presence. Call it whenever
// the link to the server goes down or comes up, from the component's
// OnLink hook:
//
//	c.OnLink = func(component.LinkEvent) { p.Reset() }
//
// A server revokes the privileges of a disconnected component (ejabberd:
// of every connection of the domain, when any of them closes) and
// advertises them again right after the next handshake, which the
// component handles only after OnLink returned. OnChange is called with
// the empty grants of each server that had advertised.
func (e *Entity) Reset() {
	e.mu.Lock()
	old := e.grants
	e.grants = nil
	e.online, e.nOnline, e.full = nil, 0, false
	e.mu.Unlock()
	if len(old) > 0 {
		e.changes.Notify()
	}
	if e.OnChange == nil {
		return
	}
	for _, k := range slices.Sorted(maps.Keys(old)) {
		e.OnChange(Grants{Server: old[k].Server})
	}
}

// Grants returns what server granted (the zero Grants, with Server set,
// when it advertised nothing on the current link).
func (e *Entity) Grants(server jid.JID) Grants {
	e.mu.Lock()
	defer e.mu.Unlock()
	if g, ok := e.grants[server.Domain()]; ok {
		return g
	}
	return Grants{Server: server.DomainJID()}
}

// All returns the grants of every server that advertised on the current
// link, sorted by server.
func (e *Entity) All() []Grants {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Grants, 0, len(e.grants))
	for _, k := range slices.Sorted(maps.Keys(e.grants)) {
		out = append(out, e.grants[k])
	}
	return out
}

// Changed returns a channel that is closed at the next change of any
// server's grants. To wait for a condition, take the channel, check, and
// wait on it if the condition does not hold yet.
func (e *Entity) Changed() <-chan struct{} { return e.changes.Changed() }

// Wait waits until server has advertised on the current link (servers
// advertise right after the handshake) and returns its grants, or returns
// ctx's error.
func (e *Entity) Wait(ctx context.Context, server jid.JID) (Grants, error) {
	var g Grants
	err := e.changes.Wait(ctx, func() bool {
		g = e.Grants(server)
		return g.Version != ""
	})
	return g, err
}

// need returns the grants of user's server, or a NotGrantedError when ok
// says they do not allow the operation.
func (e *Entity) need(server jid.JID, what string, ok func(Grants) bool) (Grants, error) {
	g := e.Grants(server)
	if !ok(g) {
		return g, &NotGrantedError{Server: server.DomainJID(), Need: what}
	}
	return g, nil
}

// userJID checks that user is an account: a JID with a localpart. It
// returns the bare JID.
func userJID(user jid.JID) (jid.JID, error) {
	if user.IsZero() || user.Local() == "" {
		return jid.JID{}, errors.Join(ErrBadJID, errors.New("privilege: the user "+user.String()+" is no account JID"))
	}
	return user.Bare(), nil
}
