package router

import (
	"net"
	"time"

	"xmppkit.dev/router/internal/limit"
	"xmppkit.dev/stream"
)

// trustTTL is how long a source address that authenticated stays one that
// the reserve of unauthenticated connections is kept for.
const trustTTL = 24 * time.Hour

// addUnauth counts a connection from the source address of nc that has not
// authenticated, by its limit key (an IPv4 address, an IPv6 /64); at
// Config.MaxUnauthPerIP from that source it counts nothing and returns the
// policy-violation to refuse it with, and likewise at Config.MaxUnauth in
// all, except that a source that authenticated in the last 24 hours may
// still use the Config.UnauthReserve slots above MaxUnauth: a flood of
// unauthenticated connections from many addresses does not lock out the
// users who logged in before it. It returns the source's host and key.
func (r *Router) addUnauth(nc net.Conn) (host string, refused *stream.Error) {
	host = nc.RemoteAddr().String()
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	key := limit.Key(host)
	trusted := r.trusted.Has(key, time.Now())
	r.mu.Lock()
	over := ""
	switch {
	case r.unauth[key] >= r.cfg.MaxUnauthPerIP:
		over = "MaxUnauthPerIP"
	case r.unauthAll >= r.cfg.MaxUnauth+r.cfg.UnauthReserve:
		over = "MaxUnauth"
	case r.unauthAll >= r.cfg.MaxUnauth && !trusted:
		over = "MaxUnauth"
	default:
		r.unauth[key]++
		r.unauthAll++
	}
	r.mu.Unlock()
	switch over {
	case "MaxUnauth":
		r.denied(ReasonUnauthLimit, "remote", host, "limit", over)
		return host, stream.NewError(stream.PolicyViolation, "too many unauthenticated connections")
	case "MaxUnauthPerIP":
		r.denied(ReasonUnauthLimit, "remote", host, "limit", over)
		return host, stream.NewError(stream.PolicyViolation, "too many unauthenticated connections from your address")
	}
	return host, nil
}

// doneUnauth stops counting a connection of addUnauth from host.
func (r *Router) doneUnauth(host string) {
	key := limit.Key(host)
	r.mu.Lock()
	if r.unauth[key]--; r.unauth[key] <= 0 {
		delete(r.unauth, key)
	}
	r.unauthAll--
	r.mu.Unlock()
}

// trust records that host authenticated (see addUnauth).
func (r *Router) trust(host string) { r.trusted.Add(limit.Key(host), time.Now()) }
