package delegation

import (
	"context"
	"slices"
	"strings"

	"xmppkit.dev/disco"
	"xmppkit.dev/internal/linkstate"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// Node returns the disco#info node the server queries for a namespace
// (XEP-0355 §7.2): "urn:xmpp:delegation:N::ns" for requests to the server,
// "urn:xmpp:delegation:N:bare:ns" for requests to its users' bare JIDs;
// version is NS1 or NS2.
func Node(version, ns string, bare bool) string {
	if bare {
		return version + ":bare:" + ns
	}
	return version + "::" + ns
}

// ParseNode splits a delegation disco node into its version, namespace and
// kind; ok is false for any other node.
func ParseNode(node string) (version, ns string, bare, ok bool) {
	for _, v := range [...]string{NS1, NS2} {
		rest, found := strings.CutPrefix(node, v)
		if !found {
			continue
		}
		if ns, found := strings.CutPrefix(rest, "::"); found && ns != "" {
			return v, ns, false, true
		}
		if ns, found := strings.CutPrefix(rest, ":bare:"); found && ns != "" {
			return v, ns, true, true
		}
	}
	return "", "", false, false
}

// discoMiddleware answers the server's disco#info queries for the
// delegation nodes (§7.2): ejabberd grants a delegation only once they are
// answered with a result, and both servers merge what is listed into their
// own disco#info. Queries from anyone else go on to the handlers.
func (d *Manager) discoMiddleware(next mux.Handler) mux.Handler {
	return mux.HandlerFunc(func(ctx context.Context, s mux.Sender, st *stanza.Stanza) error {
		if st.Kind != stanza.IQ || st.Type != stanza.TypeGet {
			return next.HandleStanza(ctx, s, st)
		}
		if space, local := st.PayloadName(); space != nsDiscoInfo || local != "query" || len(st.Children()) != 1 {
			return next.HandleStanza(ctx, s, st)
		}
		el, _ := st.PayloadElement()
		if !strings.Contains(el.XML(), "urn:xmpp:delegation:") {
			return next.HandleStanza(ctx, s, st)
		}
		var q struct {
			Node string `xml:"node,attr"`
		}
		if el.Unmarshal(&q) != nil {
			return next.HandleStanza(ctx, s, st)
		}
		version, ns, bare, ok := ParseNode(q.Node)
		if !ok || !linkstate.IsServer(d.Servers, st.From, st.To) {
			return next.HandleStanza(ctx, s, st)
		}
		features := d.features(st, ns, bare)
		if len(features) == 0 {
			d.logger().InfoContext(ctx, "delegation: no handler for a namespace the server would delegate; refused",
				"server", st.From.String(), "namespace", ns, "bare", bare, "version", version)
			return stanza.NewError(stanza.ItemNotFound, "")
		}
		b := stanza.NewBuilder(nsDiscoInfo, "query").Attr("node", q.Node)
		if d.DiscoIdentities != nil {
			for _, id := range d.DiscoIdentities(ns, bare) {
				b.Child("", "identity").Attr("category", id.Category).Attr("type", id.Type).
					OptAttr("name", id.Name).OptAttr("xml:lang", id.Lang).End()
			}
		}
		for _, f := range features {
			b.Child("", "feature").Attr("var", f).End()
		}
		return s.Send(ctx, st.Result(b.Element()))
	})
}

// probeUser is the localpart of the account in whose name the Manager
// asks its handlers what they offer at the users' bare JIDs: the server's
// query is about every user, and providers answer per requester (a MAM
// archive is offered to its owner only).
const probeUser = "delegation-probe"

// features lists what to advertise for a delegated namespace (see
// Manager.DiscoFeatures): what the handlers advertise (disco providers,
// and the namespaces of IQ routes of handlers that are no providers) for
// a user of the server querying the server (bare false) or its own
// account (bare true); when nothing is advertised but the mux has an IQ
// route in ns, ns itself.
func (d *Manager) features(st *stanza.Stanza, ns string, bare bool) []string {
	if d.DiscoFeatures != nil {
		return d.DiscoFeatures(ns, bare)
	}
	user, err := jid.New(probeUser, st.From.Domain(), "")
	if err != nil {
		return nil
	}
	q := disco.Query{From: user, To: st.From}
	if bare {
		q.To = user
	}
	var all []string
	routed := false
	switch h := d.handler().(type) {
	case *mux.ServeMux:
		for hh, iqNS := range h.Handlers() {
			routed = routed || slices.Contains(iqNS, ns)
			if fp, ok := hh.(disco.FeatureProvider); ok {
				all = append(all, fp.Features(q)...)
			} else {
				all = append(all, iqNS...)
			}
		}
	case disco.FeatureProvider:
		all = h.Features(q)
	default:
		return []string{ns}
	}
	var out []string
	for _, f := range all {
		if (f == ns || strings.HasPrefix(f, ns+"#")) && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	if len(out) == 0 && routed {
		out = []string{ns}
	}
	slices.Sort(out)
	return out
}
