package disco

import (
	"cmp"
	"iter"
	"slices"

	"xmppkit.dev/form"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/rsm"
)

// Identity is a XEP-0030 §3.1 identity: category and type from the XMPP
// Registrar's disco categories, an optional human-readable name and its
// xml:lang.
type Identity struct {
	Category string
	Type     string
	Name     string
	Lang     string
}

// compareIdentity orders identities as XEP-0115 §5.1 sorts them: category,
// type, xml:lang, then name.
func compareIdentity(a, b Identity) int {
	return cmp.Or(cmp.Compare(a.Category, b.Category), cmp.Compare(a.Type, b.Type),
		cmp.Compare(a.Lang, b.Lang), cmp.Compare(a.Name, b.Name))
}

// Item is a XEP-0030 §4.1 item: an entity (JID), an optional node at it,
// and an optional human-readable name.
type Item struct {
	JID  jid.JID
	Node string
	Name string
}

// Query is one disco#info or disco#items request (XEP-0030 §3.1, §4.1):
// who asks (From, zero when unknown, e.g. for a capabilities hash computed
// ahead of time), the queried JID (To) and node. A provider may answer
// differently per requester (§3.1: an entity may show a requester only what
// it is allowed to use, as XEP-0050 §2.2 does for commands); what it gives a
// zero From is what everybody may see.
type Query struct {
	From jid.JID
	To   jid.JID
	Node string
	// Page is the XEP-0059 request a disco#items query carried (the zero
	// rsm.Query when it carried none), and Limit the most items the
	// Handler answers with: what an ItemPager pages by. Zero in disco#info
	// queries.
	Page  rsm.Query
	Limit int
}

// FeatureProvider is implemented by a handler that advertises XEP-0030
// features (§3.1 <feature var=.../>) for a query. A handler that implements
// it decides its features entirely: the namespaces of its HandleIQ
// registrations are then not added for it.
type FeatureProvider interface {
	Features(q Query) []string
}

// IdentityProvider is implemented by a handler that gives XEP-0030
// identities (§3.1) for a query.
type IdentityProvider interface {
	Identities(q Query) []Identity
}

// ItemProvider is implemented by a handler that lists XEP-0030 items (§4.1)
// for a query.
type ItemProvider interface {
	Items(q Query) []Item
}

// ItemPager is implemented by an ItemProvider whose item lists can be long
// and are kept in order elsewhere (a store): for a disco#items query it
// answers one page (XEP-0059, q.Page within q.Limit items) instead of the
// whole list. ok false means it has no such list at q: the Handler then
// asks its Items. When a pager answers, its page is the whole answer:
// items other providers list at that JID and node are left out.
type ItemPager interface {
	ItemProvider
	PageItems(q Query) (p rsm.Page[Item], ok bool, err error)
}

// FormProvider is implemented by a handler that adds XEP-0128 extended
// information (data forms with a FORM_TYPE) to disco#info for a query.
type FormProvider interface {
	Forms(q Query) []form.Form
}

// handlerLister is what a Handler walks: *mux.ServeMux, and any composite
// handler (a service with a mux of its own) that lists its handlers the
// same way.
type handlerLister interface {
	Handlers() iter.Seq2[mux.Handler, []string]
}

// maxNesting bounds how deep nested handler lists are walked (a mux in a
// mux in a mux...), so that a cycle cannot loop forever.
const maxNesting = 8

// advertised is what the registered handlers advertise for one JID and
// node.
type advertised struct {
	identities []Identity
	features   []string
	forms      []form.Form
	items      []Item
	// paging: a disco#items query, whose ItemPagers are asked for a page.
	paging bool
	paged  *rsm.Page[Item]
	err    error
}

// gather collects what the handlers listed by src advertise for the query: each handler's providers, the IQ namespaces of a handler that is
// not a FeatureProvider (node "" only), and, for a registered handler that
// lists handlers itself, what those advertise.
func gather(src handlerLister, q Query, paging bool) advertised {
	a := advertised{paging: paging}
	if src != nil {
		a.walk(src, q, 0)
	}
	return a
}

func (a *advertised) walk(src handlerLister, q Query, depth int) {
	for h, iqNS := range src.Handlers() {
		inner, nested := h.(handlerLister)
		if nested && depth < maxNesting {
			a.walk(inner, q, depth+1)
		}
		if nested {
			iqNS = nil // a nested mux's handlers speak for it
		}
		a.ask(h, iqNS, q)
	}
}

// ask adds what p advertises at the JID and node; iqNS are the namespaces
// it implies when it is not a FeatureProvider (node "" only).
func (a *advertised) ask(p any, iqNS []string, q Query) {
	if fp, ok := p.(FeatureProvider); ok {
		a.features = append(a.features, fp.Features(q)...)
	} else if q.Node == "" {
		a.features = append(a.features, iqNS...)
	}
	if ip, ok := p.(IdentityProvider); ok {
		a.identities = append(a.identities, ip.Identities(q)...)
	}
	if fp, ok := p.(FormProvider); ok {
		a.forms = append(a.forms, fp.Forms(q)...)
	}
	if pp, ok := p.(ItemPager); ok && a.paging && a.paged == nil {
		pg, ok, err := pp.PageItems(q)
		if err != nil && a.err == nil {
			a.err = err
		}
		if ok || err != nil {
			a.paged = &pg
			return
		}
	}
	if ip, ok := p.(ItemProvider); ok {
		a.items = appendItems(a.items, ip.Items(q)...)
	}
}

// isProvider reports whether p implements one of the provider interfaces.
func isProvider(p any) bool {
	switch p.(type) {
	case FeatureProvider, IdentityProvider, ItemProvider, FormProvider:
		return true
	}
	return false
}

// appendItems appends the items whose JID and node are not yet listed.
func appendItems(out []Item, items ...Item) []Item {
	for _, it := range items {
		if !slices.ContainsFunc(out, func(o Item) bool { return o.JID.Equal(it.JID) && o.Node == it.Node }) {
			out = append(out, it)
		}
	}
	return out
}
