package router

import (
	"encoding/xml"
	"maps"
	"slices"
	"strings"

	"xmppkit.dev/disco"
	"xmppkit.dev/internal/forward"
	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// The XEP-0355 v0.5 pseudo-namespaces for bare JID discovery (§7.2.3,
// §7.2.4).
const (
	bareDiscoInfo  = nsDelegation + ":bare:disco#info:*"
	bareDiscoItems = nsDelegation + ":bare:disco#items:*"
)

// nesting is what a component answered the router's disco#info queries
// about the namespaces delegated to it (XEP-0355 §7.2): merged into the
// router's own disco#info (main: at its domains; bare: at its accounts)
// while the component is connected.
type nesting struct {
	main, bare map[string]disco.Info // namespace → the answer
}

// askNesting sends comp the two disco#info queries per delegated namespace
// (nodes "urn:xmpp:delegation:2::NS" and "urn:xmpp:delegation:2:bare:NS")
// and records the answers, forgetting the previous link's.
func (r *Router) askNesting(comp jid.JID, dels []*Delegation) {
	g := &r.grants
	g.mu.Lock()
	if g.nested == nil {
		g.nested = map[string]*nesting{}
	}
	n := &nesting{main: map[string]disco.Info{}, bare: map[string]disco.Info{}}
	g.nested[comp.Domain()] = n
	g.mu.Unlock()
	from := r.serverJID()
	for _, dl := range dels {
		if dl.Namespace == bareDiscoInfo || dl.Namespace == bareDiscoItems {
			continue // no nesting for these (XEP-0355 §7.2.3)
		}
		ns := dl.Namespace
		for _, bare := range []bool{false, true} {
			node := nsDelegation + "::" + ns
			if bare {
				node = nsDelegation + ":bare:" + ns
			}
			q := stanza.NewIQ(stanza.TypeGet, comp, stanza.NewBuilder(nsDiscoInfo, "query").Attr("node", node).Element())
			q.From = from
			q.ID = discoPrefix + q.ID
			r.await(q.ID, func(f jid.JID) bool { return f.Domain() == comp.Domain() }, func(ans *stanza.Stanza, _ *stanza.Error) {
				if ans == nil || ans.Type != stanza.TypeResult {
					return // the component offers nothing to advertise for it
				}
				el, ok := ans.Child(nsDiscoInfo, "query")
				if !ok {
					return
				}
				info, err := disco.ParseInfo([]byte(el.XML()))
				if err != nil {
					return
				}
				g.mu.Lock()
				if g.nested[comp.Domain()] == n {
					if bare {
						n.bare[ns] = info
					} else {
						n.main[ns] = info
					}
				}
				g.mu.Unlock()
			})
			r.route(stanzaPacket(q))
		}
	}
}

// nestedInfo is a disco provider of the router's own mux: the identities
// and features the connected components answered for their delegated
// namespaces, at the router's domains and at its accounts (node "" only).
type nestedInfo struct{ r *Router }

func (n nestedInfo) collect(q disco.Query) (ids []disco.Identity, features []string) {
	if q.Node != "" {
		return nil, nil
	}
	g := &n.r.grants
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, comp := range slices.Sorted(maps.Keys(g.nested)) {
		if !n.r.isUp(comp) {
			continue
		}
		m := g.nested[comp].main
		if q.To.Local() != "" {
			m = g.nested[comp].bare
		}
		for _, ns := range slices.Sorted(maps.Keys(m)) {
			ids = append(ids, m[ns].Identities...)
			features = append(features, m[ns].Features...)
		}
	}
	return ids, features
}

// Features implements disco.FeatureProvider.
func (n nestedInfo) Features(q disco.Query) []string {
	_, f := n.collect(q)
	return slices.DeleteFunc(f, func(s string) bool { return s == nsDiscoInfo })
}

// Identities implements disco.IdentityProvider.
func (n nestedInfo) Identities(q disco.Query) []disco.Identity {
	ids, _ := n.collect(q)
	return ids
}

// delegation returns the delegation that takes st, an IQ get or set to a
// local domain (server) or to an account's bare JID, or nil.
func (r *Router) delegation(st *stanza.Stanza, server bool) *Delegation {
	g := &r.grants
	space, local := st.PayloadName()
	dl := g.deleg[space]
	if dl == nil && !server && st.Type == stanza.TypeGet && local == "query" {
		// XEP-0355 v0.5: bare JID disco the router cannot answer itself.
		switch space {
		case nsDiscoInfo:
			if payloadAttrs(st)["node"] != "" {
				dl = g.deleg[bareDiscoInfo]
			}
		case nsDiscoItems:
			dl = g.deleg[bareDiscoItems]
		}
	}
	if dl == nil || st.From.Domain() == dl.Component {
		// The managing entity's own requests are served as usual (§4.3.1).
		return nil
	}
	if !server && st.To.Resource() != "" {
		return nil
	}
	if len(dl.Filtering) > 0 {
		attrs := payloadAttrs(st)
		for _, a := range dl.Filtering {
			if _, ok := attrs[a]; !ok {
				return nil
			}
		}
	}
	return dl
}

// payloadAttrs returns the attributes of st's payload element by local
// name.
func payloadAttrs(st *stanza.Stanza) map[string]string {
	el, _ := st.PayloadElement()
	d := xml.NewDecoder(strings.NewReader(el.XML()))
	for {
		tok, err := d.Token()
		if err != nil {
			return nil
		}
		if se, ok := tok.(xml.StartElement); ok {
			out := make(map[string]string, len(se.Attr))
			for _, a := range se.Attr {
				out[a.Name.Local] = a.Value
			}
			return out
		}
	}
}

// delegate forwards st to the component its namespace is delegated to
// (XEP-0355 §4.3): an iq set from the server's domain whose
// <delegation><forwarded/></delegation> holds st. The component's answer
// goes to the requester once it passes the checks a server makes. It
// reports false for an IQ no delegation takes.
func (r *Router) delegate(st *stanza.Stanza, server bool) (bool, error) {
	if r.grants.deleg == nil {
		return false, nil
	}
	dl := r.delegation(st, server)
	if dl == nil {
		return false, nil
	}
	comp, _ := domainJID(dl.Component)
	host := st.To.DomainJID()
	if st.To.IsZero() {
		host = st.From.DomainJID()
	}
	fwd := st.Clone()
	fwd.Lang = ""
	out := stanza.NewIQ(stanza.TypeSet, comp, forward.Wrap(nsDelegation, "delegation", fwd))
	out.From = host
	out.ID = delegPrefix + out.ID
	req := st
	r.await(out.ID, func(f jid.JID) bool { return f.Domain() == comp.Domain() }, func(ans *stanza.Stanza, err *stanza.Error) {
		r.delegatedAnswer(req, ans, err)
	})
	if err := r.dispatch(stanzaPacket(out)); err != nil {
		r.unawait(out.ID)
		return true, err // the component is not connected: service-unavailable
	}
	return true, nil
}

// unawait forgets a wait whose IQ could not be sent.
func (r *Router) unawait(id string) {
	g := &r.grants
	g.mu.Lock()
	w := g.pending[id]
	delete(g.pending, id)
	g.mu.Unlock()
	if w != nil {
		w.timer.Stop()
	}
}

// errBadDelegatedAnswer is what the requester gets when the component's
// answer fails the checks (Prosody answers service-unavailable too).
var errBadDelegatedAnswer = stanza.NewError(stanza.ServiceUnavailable, "the component's answer was not valid")

// delegatedAnswer delivers the component's answer to a delegated request:
// the iq inside its result (a result or an error, with the request's id,
// to the requester, from the request's to or, for a request without to,
// from nobody or the requester's bare JID), or the component's own error.
func (r *Router) delegatedAnswer(req, ans *stanza.Stanza, err *stanza.Error) {
	if ans == nil {
		r.answerError(req, err)
		return
	}
	if ans.Type == stanza.TypeError {
		r.answerError(req, ans.Err())
		return
	}
	el, ok := ans.Child(nsDelegation, "delegation")
	if !ok {
		r.log.Warn("router: a delegated iq answered without <delegation/>", "component", ans.From.String(), "id", req.ID)
		r.answerError(req, errBadDelegatedAnswer)
		return
	}
	inner, uerr := forward.Unwrap(el.XML())
	fromOK := inner != nil && (inner.From == req.To || req.To.IsZero() && (inner.From.IsZero() || inner.From == req.From.Bare()))
	if inner == nil || uerr != nil || inner.Kind != stanza.IQ || (inner.Type != stanza.TypeResult && inner.Type != stanza.TypeError) ||
		inner.ID != req.ID || inner.To != req.From || !fromOK {
		r.log.Warn("router: a delegated iq answered with an invalid payload", "component", ans.From.String(), "id", req.ID, "err", uerr)
		r.answerError(req, errBadDelegatedAnswer)
		return
	}
	inner.NS = ""
	if req.To.IsZero() {
		// Answered from the address asked, as the router's own answers
		// are: nobody, for a request to the sender's own account.
		inner.From = jid.JID{}
	}
	if err := r.dispatch(stanzaPacket(inner)); err != nil {
		r.dropped(ReasonReplyUndeliverable, "to", inner.To.String(), "id", inner.ID, "err", err)
	}
}
