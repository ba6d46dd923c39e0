package disco

import (
	"context"
	"encoding/xml"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"xmppkit.dev/form"
	"xmppkit.dev/mux"
	"xmppkit.dev/rsm"
	"xmppkit.dev/stanza"
)

// Namespaces of XEP-0030 and XEP-0115.
const (
	NSInfo  = "http://jabber.org/protocol/disco#info"  // XEP-0030 §3
	NSItems = "http://jabber.org/protocol/disco#items" // XEP-0030 §4
	NSCaps  = "http://jabber.org/protocol/caps"        // XEP-0115
)

// Info is the content of a disco#info result (XEP-0030 §3.1) with its
// XEP-0128 extended information forms.
type Info struct {
	Node       string
	Identities []Identity
	Features   []string
	Forms      []form.Form
}

// HasFeature reports whether the info lists the feature.
func (i Info) HasFeature(feature string) bool { return slices.Contains(i.Features, feature) }

// DefaultMaxItems is the most items of a disco#items answer of a Handler
// whose MaxItems is zero.
const DefaultMaxItems = 1000

// DefaultIdentity is the identity a Handler gives when nothing else names
// one, since XEP-0030 §3.1 requires at least one: a generic component.
var DefaultIdentity = Identity{Category: "component", Type: "generic"}

// Handler answers disco#info and disco#items get requests (XEP-0030 §3,
// §4). Build it with New; it is safe for concurrent use.
//
// Its answers combine what the handlers registered on its ServeMux
// advertise, asked at every query (see FeatureProvider, IdentityProvider,
// ItemProvider and FormProvider; a HandleIQ registration of a handler that
// is not a FeatureProvider implies its payload namespace as a feature of
// the empty node), with what is added to the Handler itself (AddIdentity,
// AddFeature, AddItem, AddForm, AddProvider). A registered handler that lists handlers
// of its own the way *mux.ServeMux does (a Handlers method) is walked too.
//
// What is added to the Handler describes the service itself: it applies
// when the queried JID has no localpart (the component's domain, with or
// without a resource). Answers for JIDs with a localpart, such as the
// contacts a gateway bridges, come from the providers alone, which see the
// queried JID.
//
// A node is known when it is "" or when the providers or the Handler's own
// tables give anything for it at the queried JID; the empty node of a JID
// with a localpart is known when a provider gives it an identity. An
// unknown node or JID gets item-not-found (XEP-0030 §3.2, §4.2). Every info
// answer includes the disco#info feature and at least one identity
// (DefaultIdentity when none is given).
//
// Mount one Handler per ServeMux, after or before the services: a service
// registers its own handlers and never a Handler of its own, so that
// several services compose on one mux.
type Handler struct {
	// MaxItems bounds the items of one disco#items answer: a longer list
	// is paged with XEP-0059 (the answer carries the <set/> to page on),
	// as is any list a query asks to page. Zero means DefaultMaxItems.
	MaxItems int

	src *mux.ServeMux

	mu        sync.RWMutex
	nodes     map[string]*static
	providers []any
}

type static struct {
	identities []Identity
	features   []string
	forms      []form.Form
	items      []Item
}

// New returns a Handler answering from the handlers registered on m (nil
// for none) and from what is added to it. Register it on the same m.
func New(m *mux.ServeMux) *Handler {
	return &Handler{src: m, nodes: make(map[string]*static)}
}

// Register mounts h on m for disco#info and disco#items get requests.
func (h *Handler) Register(m *mux.ServeMux) {
	m.HandleIQ(stanza.TypeGet, NSInfo, "query", h)
	m.HandleIQ(stanza.TypeGet, NSItems, "query", h)
}

// AddProvider adds p to what h asks at every query, as if p were a handler
// registered on h's ServeMux: p implements one or more of FeatureProvider,
// IdentityProvider, ItemProvider and FormProvider, and sees every queried
// JID and node. It is for what advertises without handling stanzas (a
// server's identity and items, say); a handler registered on the mux is
// asked without it. AddProvider panics when p implements none of the four.
func (h *Handler) AddProvider(p any) {
	if !isProvider(p) {
		panic(fmt.Sprintf("disco: AddProvider with %T, which implements no provider interface", p))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.providers = append(h.providers, p)
}

func (h *Handler) node(node string) *static {
	n := h.nodes[node]
	if n == nil {
		n = &static{}
		h.nodes[node] = n
	}
	return n
}

// AddIdentity adds an identity to the node's info at the service's own JID.
func (h *Handler) AddIdentity(node string, id Identity) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.node(node)
	n.identities = append(n.identities, id)
}

// AddFeature adds features to the node's info at the service's own JID.
func (h *Handler) AddFeature(node string, features ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.node(node)
	n.features = append(n.features, features...)
}

// AddForm adds a XEP-0128 extended information form to the node's info at
// the service's own JID. The form should be of type result with a hidden FORM_TYPE.
func (h *Handler) AddForm(node string, f form.Form) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.node(node)
	n.forms = append(n.forms, f)
}

// AddItem adds an item to the node's item list at the service's own JID.
// An item with a zero JID is answered with the queried JID: a node of the
// service itself (XEP-0030 §4.2).
func (h *Handler) AddItem(node string, it Item) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.node(node)
	n.items = append(n.items, it)
}

// collect gathers everything known about the JID and node from the
// registered handlers and from h, and whether the node is known at all.
func (h *Handler) collect(q Query) (Info, []Item, bool) {
	info, items, known, _ := h.collectPaged(q, false)
	return info, items, known
}

// collectPaged is collect; with paging, the ItemPagers are asked for a page,
// returned when one answers.
func (h *Handler) collectPaged(q Query, paging bool) (Info, []Item, bool, *advertised) {
	to, node := q.To, q.Node
	var src handlerLister
	if h.src != nil {
		src = h.src
	}
	a := gather(src, q, paging)
	h.mu.RLock()
	providers := h.providers
	h.mu.RUnlock()
	for _, p := range providers {
		a.ask(p, nil, q)
	}
	info := Info{Node: node, Identities: a.identities, Features: a.features, Forms: a.forms}
	items := a.items
	added := false
	if to.Local() == "" {
		h.mu.RLock()
		if n := h.nodes[node]; n != nil {
			added = true
			info.Identities = append(info.Identities, n.identities...)
			info.Features = append(info.Features, n.features...)
			info.Forms = append(info.Forms, n.forms...)
			items = appendItems(items, n.items...)
		}
		h.mu.RUnlock()
	}
	if to.Local() != "" && node == "" {
		// An account or contact exists when a provider gives it an
		// identity: the features of the service's handlers apply to every
		// JID and prove nothing.
		return info, items, len(info.Identities) > 0 || a.paged != nil, &a
	}
	known := node == "" || added || len(info.Identities) > 0 || len(info.Features) > 0 ||
		len(info.Forms) > 0 || len(items) > 0 || a.paged != nil
	return info, items, known, &a
}

func itemUID(it Item) string {
	if it.Node != "" {
		return it.JID.String() + "\x00" + it.Node
	}
	return it.JID.String()
}

// itemsPage answers a disco#items query: the ItemPager's page, or the
// whole list, paged (XEP-0059) when the query asks or it is longer than
// MaxItems. set is the <set/> to send (nil for a whole list).
func (h *Handler) itemsPage(q Query) (items []Item, set *rsm.Result, known bool, err error) {
	limit := h.MaxItems
	if limit <= 0 {
		limit = DefaultMaxItems
	}
	q.Limit = limit
	_, items, known, a := h.collectPaged(q, true)
	if a.err != nil {
		return nil, nil, known, a.err
	}
	if a.paged != nil {
		r := a.paged.Result
		return a.paged.Items, &r, true, nil
	}
	if !known {
		return nil, nil, false, nil
	}
	for i := range items {
		if items[i].JID.IsZero() {
			items[i].JID = q.To // an item at the queried entity itself
		}
	}
	if q.Page.IsZero() && len(items) <= limit {
		return items, nil, true, nil
	}
	pg, err := rsm.Paginate[Item](rsm.Slice(items, itemUID), q.Page, limit)
	if err != nil {
		return nil, nil, true, err
	}
	return pg.Items, &pg.Result, true, nil
}

// Info returns the disco#info answer to the query (XEP-0030 §3.1) and
// whether the node is known: identities sorted and unique (at least
// one), features sorted and unique including disco#info, and forms unique
// by FORM_TYPE.
func (h *Handler) Info(q Query) (Info, bool) {
	node := q.Node
	info, _, known := h.collect(q)
	if !known {
		// XEP-0115 §6.2: a query for "node#ver" with the current ver is a
		// query for the entity's own info.
		i := strings.LastIndexByte(node, '#')
		if i < 0 {
			return Info{}, false
		}
		root, ok := h.Info(Query{From: q.From, To: q.To})
		if !ok {
			return Info{}, false
		}
		if ver, err := CapsHash(root); err != nil || ver != node[i+1:] {
			return Info{}, false
		}
		root.Node = node
		return root, true
	}
	slices.SortFunc(info.Identities, compareIdentity)
	info.Identities = slices.Compact(info.Identities)
	if len(info.Identities) == 0 {
		info.Identities = []Identity{DefaultIdentity}
	}
	info.Features = append(info.Features, NSInfo)
	if node == "" {
		info.Features = append(info.Features, NSItems) // a Handler answers both
	}
	slices.Sort(info.Features)
	info.Features = slices.Compact(info.Features)
	// Keep the first form of each FORM_TYPE, and one copy of identical
	// forms (the source usually repeats h's own).
	var kept []form.Form
	for _, f := range info.Forms {
		ft := f.FormType()
		if !slices.ContainsFunc(kept, func(k form.Form) bool {
			return (ft != "" && k.FormType() == ft) || reflect.DeepEqual(k, f)
		}) {
			kept = append(kept, f)
		}
	}
	info.Forms = kept
	return info, true
}

// ItemsFor returns the disco#items answer to the query (XEP-0030 §4.1)
// and whether the node is known.
func (h *Handler) ItemsFor(q Query) ([]Item, bool) {
	_, items, known := h.collect(q)
	return items, known
}

// HandleStanza answers a disco#info or disco#items get (XEP-0030 §3.1,
// §4.1); it returns item-not-found for an unknown node and bad-request for a
// payload it cannot read.
func (h *Handler) HandleStanza(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
	if iq.Kind != stanza.IQ || iq.Type != stanza.TypeGet {
		return stanza.NewError(stanza.BadRequest, "disco: only iq get is served")
	}
	var q struct {
		XMLName xml.Name
		Node    string `xml:"node,attr"`
	}
	if err := iq.Unmarshal(&q); err != nil {
		return stanza.NewError(stanza.BadRequest, "disco: unreadable query")
	}
	switch q.XMLName.Space {
	case NSInfo:
		info, ok := h.Info(Query{From: iq.From, To: iq.To, Node: q.Node})
		if !ok {
			return stanza.NewError(stanza.ItemNotFound, "")
		}
		el, err := stanza.MarshalElement(infoToWire(info))
		if err != nil {
			return fmt.Errorf("disco: encoding answer: %w", err)
		}
		return s.Send(ctx, iq.Result(el))
	case NSItems:
		el, _ := iq.PayloadElement()
		page, _, err := rsm.FindQuery(el)
		if err != nil {
			return err
		}
		items, set, ok, err := h.itemsPage(Query{From: iq.From, To: iq.To, Node: q.Node, Page: page})
		if err != nil {
			return err
		}
		if !ok {
			return stanza.NewError(stanza.ItemNotFound, "")
		}
		return s.Send(ctx, iq.Result(itemsElement(q.Node, items, set)))
	}
	return stanza.NewError(stanza.ServiceUnavailable, "")
}

var _ mux.Handler = (*Handler)(nil)
