package privilege

import (
	"context"
	"slices"
	"strings"

	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// observe records an available or unavailable presence (XEP-0356 §6.3,
// §6.6) from a full JID when some server's presence permission covers its
// sender: its own users for managed_entity, anyone for roster. Such a
// presence looks like any directed presence, so the table may also hold
// entities that sent the component their presence themselves.
func (e *Entity) observe(ctx context.Context, p *stanza.Stanza) {
	from := p.From
	if from.Resource() == "" || (p.Type != "" && p.Type != stanza.TypeUnavailable) {
		return
	}
	bare, res := from.Bare().String(), from.Resource()
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.coveredLocked(from) {
		return
	}
	if p.Type == stanza.TypeUnavailable {
		if rs := e.online[bare]; rs != nil {
			if _, ok := rs[res]; ok {
				delete(rs, res)
				e.nOnline--
			}
			if len(rs) == 0 {
				delete(e.online, bare)
			}
		}
		return
	}
	rs := e.online[bare]
	if _, ok := rs[res]; ok {
		return
	}
	limit := e.MaxPresences
	if limit <= 0 {
		limit = DefaultMaxPresences
	}
	if e.nOnline >= limit {
		if !e.full {
			e.full = true
			e.logger().WarnContext(ctx, "privilege: presence table full, presences no longer recorded", "max", limit)
		}
		return
	}
	if rs == nil {
		if e.online == nil {
			e.online = make(map[string]map[string]struct{})
		}
		rs = make(map[string]struct{}, 1)
		e.online[bare] = rs
	}
	rs[res] = struct{}{}
	e.nOnline++
}

// coveredLocked reports whether a presence permission covers from; e.mu
// is held.
func (e *Entity) coveredLocked(from jid.JID) bool {
	if g, ok := e.grants[from.Domain()]; ok && g.Presence >= ManagedEntity {
		return true
	}
	for _, g := range e.grants {
		if g.Presence == RosterContacts {
			return true
		}
	}
	return false
}

// prunePresencesLocked drops the entries that no presence permission
// covers any more; e.mu is held.
func (e *Entity) prunePresencesLocked() {
	for bare, rs := range e.online {
		j, err := jid.Parse(bare)
		if err != nil || !e.coveredLocked(j) {
			e.nOnline -= len(rs)
			delete(e.online, bare)
		}
	}
}

// Online returns the full JIDs of user (a bare JID) that are available, as
// far as the presences the server forwards under the presence permission
// tell (XEP-0356 §6): the server's own users with managed_entity or roster,
// their contacts with roster. The order is sorted. It returns a
// NotGrantedError when no permission covers user, so that "nobody online"
// and "cannot know" stay apart. The table starts empty at each link: a
// server sends the current presences of its users after the handshake.
func (e *Entity) Online(user jid.JID) ([]jid.JID, error) {
	if user.IsZero() {
		return nil, ErrBadJID
	}
	bare := user.Bare()
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.coveredLocked(bare) {
		return nil, &NotGrantedError{Server: bare.DomainJID(), Need: "presence"}
	}
	var out []jid.JID
	for r := range e.online[bare.String()] {
		if j, err := bare.WithResource(r); err == nil {
			out = append(out, j)
		}
	}
	slices.SortFunc(out, func(a, b jid.JID) int { return strings.Compare(a.String(), b.String()) })
	return out, nil
}
