package router

import (
	"context"
	"errors"
	"slices"

	"xmppkit.dev/disco"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/ping"
	"xmppkit.dev/stanza"
)

// newOwnMux returns the handlers with which the router answers IQs for its
// own domains and, on their behalf, for its accounts' bare JIDs (RFC 6121
// §8.5.2.1.3): XEP-0199 ping and XEP-0030 disco#info and disco#items, built
// from the same disco and ping handlers a service mounts.
func (r *Router) newOwnMux() *mux.ServeMux {
	m := mux.New()
	ping.Handler{}.Register(m)
	d := disco.New(m)
	d.AddProvider(serverInfo{r})
	d.AddProvider(nestedInfo{r}) // what delegated components advertise (delegation.go)
	d.Register(m)
	return m
}

// serverInfo is what the router advertises (XEP-0030): at a local domain
// the server identity and, as items, the domains of the connected
// components (§4); at an account's bare JID the registered-account
// identity (the Registrar's account/registered).
type serverInfo struct{ r *Router }

func (s serverInfo) Identities(q disco.Query) []disco.Identity {
	if q.Node != "" {
		return nil
	}
	if q.To.Local() == "" {
		return []disco.Identity{{Category: "server", Type: "im", Name: "xmppkit router"}}
	}
	return []disco.Identity{{Category: "account", Type: "registered"}}
}

func (s serverInfo) Items(q disco.Query) []disco.Item {
	if q.Node != "" || q.To.Local() != "" {
		return nil
	}
	s.r.mu.RLock()
	domains := make([]string, 0, len(s.r.comps))
	for d := range s.r.comps {
		domains = append(domains, d)
	}
	s.r.mu.RUnlock()
	slices.Sort(domains)
	items := make([]disco.Item, 0, len(domains))
	for _, d := range domains {
		if j, err := jid.New("", d, ""); err == nil {
			items = append(items, disco.Item{JID: j})
		}
	}
	return items
}

// answerIQ answers an IQ get or set for the server (server true) or on
// behalf of an account (RFC 6121 §8.5.2.1.3) through the router's own mux,
// which answers what it does not serve with service-unavailable (RFC 6120
// §8.4). Every answer comes from the address the request was sent to.
func (r *Router) answerIQ(st *stanza.Stanza, server bool) error {
	from := st.To
	if !server && st.To.IsZero() {
		// A client's IQ without to is for its own account (RFC 6120
		// §10.3.3): ask about its bare JID, and answer without a from, as
		// the request had no to.
		st = st.Clone()
		st.To = st.From.Bare()
	}
	return r.own.HandleStanza(context.Background(), ownSender{r: r, from: from}, st)
}

// ownSender delivers the answers of the router's own handlers from the
// address the request was sent to; one that cannot be delivered is dropped
// with a debug record, as any bounce is.
type ownSender struct {
	r    *Router
	from jid.JID
}

func (s ownSender) Send(_ context.Context, st *stanza.Stanza) error {
	st.From = s.from
	if err := s.r.dispatch(stanzaPacket(st)); err != nil {
		s.r.log.Debug("router: server answer undeliverable", "to", st.To.String(), "id", st.ID, "err", err)
	}
	return nil
}

var errOwnSendIQ = errors.New("router: the server's own handlers send no IQs")

func (s ownSender) SendIQ(context.Context, *stanza.Stanza) (*stanza.Stanza, error) {
	return nil, errOwnSendIQ
}
