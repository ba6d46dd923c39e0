package bridge

import (
	"errors"
	"fmt"

	"xmppkit.dev/jid"
)

// Addresser maps legacy ids (of contacts and groups) to JID localparts at
// the gateway and back. The default, Escaped, is XEP-0106 escaping: every
// id a network gives has an address, and the address gives the id back.
//
// Localparts are prepared by RFC 7622 (case-folded): a network whose ids
// differ only in case needs an Addresser of its own that encodes it.
type Addresser interface {
	// Local returns the localpart of the id's JID (before preparation).
	Local(id string) (string, error)
	// ID returns the legacy id of a localpart (as prepared in a JID).
	ID(local string) (string, error)
}

// Escaped is the default Addresser: XEP-0106 JID escaping
// (jid.Escape/jid.Unescape).
type Escaped struct{}

// Local escapes id with XEP-0106.
func (Escaped) Local(id string) (string, error) {
	if id == "" {
		return "", errEmptyID
	}
	return jid.Escape(id), nil
}

// ID unescapes a localpart with XEP-0106.
func (Escaped) ID(local string) (string, error) {
	if local == "" {
		return "", errEmptyID
	}
	return jid.Unescape(local), nil
}

var errEmptyID = errors.New("bridge: empty legacy id")

// JID returns the JID of a legacy id at the gateway (a puppet or a room).
func (g *Gateway) JID(id string) (jid.JID, error) {
	local, err := g.addr.Local(id)
	if err != nil {
		return jid.JID{}, err
	}
	j, err := jid.New(local, g.domain.Domain(), "")
	if err != nil {
		return jid.JID{}, fmt.Errorf("%w: id %q has no JID: %v", ErrMalformed, id, err)
	}
	return j, nil
}

// ID returns the legacy id of a JID at the gateway, or "" and false for the
// gateway itself or another domain.
func (g *Gateway) ID(j jid.JID) (string, bool) {
	if j.Domain() != g.domain.Domain() || j.Local() == "" {
		return "", false
	}
	id, err := g.addr.ID(j.Local())
	if err != nil || id == "" {
		return "", false
	}
	return id, true
}

// puppet returns the JID of a legacy id, or the gateway's when it has none
// (logged: it is an id the network should not have given).
func (g *Gateway) puppet(id string) jid.JID {
	j, err := g.JID(id)
	if err != nil {
		g.log.Warn("bridge: legacy id without a JID", "id", id, "err", err)
		return g.domain
	}
	return j
}

// resolve returns the legacy id of to as the user of from knows it: the
// ids the network gave the user keep their case, which JID preparation
// folds (RFC 7622 §3.3); an id the user's session does not know is the
// Addresser's.
func (g *Gateway) resolve(from, to jid.JID) (string, bool) {
	id, ok := g.ID(to)
	if !ok {
		return "", false
	}
	if u := g.user(from, false); u != nil {
		u.mu.Lock()
		defer u.mu.Unlock()
		if k, ok := u.known[to.Local()]; ok {
			return k, true
		}
	}
	return id, true
}

// idLocked is resolve for the user, under u.mu.
func (u *user) idLocked(j jid.JID) string {
	if k, ok := u.known[j.Local()]; ok && j.Domain() == u.g.domain.Domain() {
		return k
	}
	id, _ := u.g.ID(j)
	return id
}
