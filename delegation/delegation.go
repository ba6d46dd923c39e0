package delegation

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"xmppkit.dev/disco"
	"xmppkit.dev/internal/forward"
	"xmppkit.dev/internal/linkstate"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/session"
	"xmppkit.dev/stanza"
)

// The two namespaces of XEP-0355 that servers speak. The component answers
// each server in the namespace it used.
const (
	// NS1 is XEP-0355 v0.4 (urn:xmpp:delegation:1), spoken by ejabberd
	// 23.01's mod_delegation.
	NS1 = "urn:xmpp:delegation:1"
	// NS2 is XEP-0355 v0.5 (urn:xmpp:delegation:2), spoken by Prosody's
	// mod_delegation (prosody-modules).
	NS2 = "urn:xmpp:delegation:2"
)

// The pseudo-namespaces of XEP-0355 v0.5 for bare JID discovery: a server
// that delegates them forwards the disco#info requests to its users' bare
// JIDs for nodes it does not know (§7.2.3, Remaining Discovery Infos) and
// the disco#items requests to their bare JIDs without a node (§7.2.4, Bare
// JID Disco Items). The forwarded IQs carry ordinary disco payloads.
const (
	BareDiscoInfo  = NS2 + ":bare:disco#info:*"
	BareDiscoItems = NS2 + ":bare:disco#items:*"
)

const nsDiscoInfo = "http://jabber.org/protocol/disco#info"

// Delegated is one namespace a server delegated to the component (§4.1),
// with the attributes it filters on: the server forwards only requests
// whose payload element carries all of them.
type Delegated struct {
	Namespace  string
	Attributes []string
}

// Info describes a delegated IQ to the handler serving it; FromContext
// returns it.
type Info struct {
	// Server is the server that forwarded the IQ.
	Server jid.JID
	// Version is the namespace it used, NS1 or NS2.
	Version string
	// To is the inner IQ's to as the server forwarded it: zero when the
	// user sent the IQ without one (Prosody), the user's bare JID or the
	// server otherwise. The IQ the handler gets has its To set to the
	// user's bare JID in the first case (RFC 6120 §10.3.3).
	To jid.JID
}

type ctxKey struct{}

// FromContext returns the Info of the delegated IQ a handler is serving,
// and false for any other stanza.
func FromContext(ctx context.Context) (Info, bool) {
	if r, ok := ctx.Value(ctxKey{}).(*replySender); ok {
		return r.info, true
	}
	return Info{}, false
}

// Manager is the managing entity's side of XEP-0355: it receives the IQs a
// server delegates to the component, hands the IQ inside to a handler tree
// as if its sender had sent it to the component, and wraps the answer back
// for the server. It also answers the server's disco#info queries about
// the delegated namespaces (ejabberd delegates only after they are
// answered) and keeps what the servers advertised. Mount it with Register;
// set the fields before. It is safe for concurrent use.
type Manager struct {
	// Handler serves the delegated IQs. Nil means the mux that Register
	// mounts the Manager on.
	Handler mux.Handler
	// Servers are the servers allowed to delegate: a delegated IQ or an
	// advertisement from any other address is refused (forbidden) or
	// ignored, and logged. Empty means the component's host server: the
	// domain the stanza was sent to without its first label ("localhost"
	// for "pubsub.localhost").
	Servers []jid.JID
	// DiscoFeatures gives the features (XEP-0030) to list for a delegated
	// namespace in the answer to the server's disco#info query for
	// "urn:xmpp:delegation:N::ns" (bare false) or
	// "urn:xmpp:delegation:N:bare:ns" (bare true), §7.2. Nil means: the
	// features that are ns or start with ns+"#" among what Handler (a
	// *mux.ServeMux, or a disco.FeatureProvider) advertises to a user of
	// the server, at the server (bare false) or at the user's own bare JID
	// (bare true): the disco providers' features, and the namespace of
	// each HandleIQ route of a handler that is no provider; when that is
	// nothing but a route in ns exists, ns itself; for another Handler, ns
	// itself. No feature makes the answer item-not-found, and ejabberd
	// then does not delegate the namespace.
	DiscoFeatures func(ns string, bare bool) []string
	// DiscoIdentities gives the identities for the same answers; nil means
	// none (the server adds what is listed to its own disco#info).
	DiscoIdentities func(ns string, bare bool) []disco.Identity
	// Sender, when set, wraps the Sender given to the handler of a
	// delegated IQ, e.g. privilege.Entity.OnBehalf so that the messages it
	// sends from the user's bare JID (MAM results) go out on the user's
	// behalf. The answer to the delegated IQ must still reach the wrapped
	// Sender's Send.
	Sender func(mux.Sender) mux.Sender
	// OnChange, when set, is called with a server's delegated namespaces
	// each time they change (an advertisement, Reset).
	OnChange func(server jid.JID, delegated []Delegated)
	// Logger receives what is refused and ignored; nil means
	// slog.Default().
	Logger *slog.Logger

	inner atomic.Pointer[handlerBox]

	changes linkstate.Notifier

	mu      sync.Mutex
	servers map[string]*advertised // by server domain
}

type handlerBox struct{ h mux.Handler }

type advertised struct {
	server    jid.JID
	version   string
	delegated map[string]Delegated
}

// Register mounts d on m: the delegated IQs (iq set with a <delegation/>
// in NS1 or NS2), the advertisements (messages with a <delegation/>), and
// a middleware that answers the server's disco#info queries for the
// delegation nodes before any other handler sees them.
func (d *Manager) Register(m *mux.ServeMux) {
	if d.Handler == nil {
		d.inner.CompareAndSwap(nil, &handlerBox{m})
	}
	m.HandleIQ(stanza.TypeSet, NS1, "delegation", d)
	m.HandleIQ(stanza.TypeSet, NS2, "delegation", d)
	m.HandleMessage(mux.AnyType, NS1, d)
	m.HandleMessage(mux.AnyType, NS2, d)
	m.Use(d.discoMiddleware)
}

// Features implements disco.FeatureProvider: the Manager advertises nothing
// itself (its routes serve the server, not users).
func (d *Manager) Features(jid.JID, string) []string { return nil }

func (d *Manager) handler() mux.Handler {
	if d.Handler != nil {
		return d.Handler
	}
	if b := d.inner.Load(); b != nil {
		return b.h
	}
	return nil
}

func (d *Manager) logger() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.Default()
}

// HandleStanza serves what Register routes to d.
func (d *Manager) HandleStanza(ctx context.Context, s mux.Sender, st *stanza.Stanza) error {
	switch st.Kind {
	case stanza.IQ:
		return d.delegatedIQ(ctx, s, st)
	case stanza.Message:
		for _, c := range st.Children() {
			if c.Local == "delegation" && (c.Space == NS1 || c.Space == NS2) {
				d.advertisement(ctx, st, c)
				return nil
			}
		}
	}
	return nil
}

// Errors of a delegated IQ the Manager refuses; the server (or whoever sent
// it) gets them as the error reply.
var (
	// ErrNotServer answers a <delegation/> from anyone but the server
	// (XEP-0355 §10, Security Considerations: only the server delegates).
	ErrNotServer = stanza.NewError(stanza.Forbidden, "only the server delegates")
	// ErrNested answers a delegated IQ that holds another delegation.
	ErrNested = stanza.NewError(stanza.BadRequest, "delegated iq inside a delegated iq")
)

// delegatedIQ unwraps a delegated IQ (§4.3), serves the inner IQ and wraps
// its answer.
func (d *Manager) delegatedIQ(ctx context.Context, s mux.Sender, outer *stanza.Stanza) error {
	log := d.logger()
	if !linkstate.IsServer(d.Servers, outer.From, outer.To) {
		log.WarnContext(ctx, "delegation: refusing a delegated iq not from the server",
			"from", outer.From.String(), "id", outer.ID)
		return ErrNotServer
	}
	if _, nested := FromContext(ctx); nested {
		return ErrNested
	}
	el, _ := outer.PayloadElement()
	inner, err := forward.Unwrap(el.XML())
	var bad *stanza.Error
	if inner == nil || (err != nil && !errors.As(err, &bad)) {
		log.WarnContext(ctx, "delegation: unreadable delegated iq", "from", outer.From.String(), "err", err)
		return stanza.NewError(stanza.BadRequest, "unreadable delegated iq")
	}
	if cerr := checkInner(inner, outer.From); cerr != nil {
		log.WarnContext(ctx, "delegation: refusing a delegated iq", "from", outer.From.String(), "err", cerr.Text)
		return cerr
	}
	info := Info{Server: outer.From, Version: el.Space, To: inner.To}
	replyFrom := inner.To
	if inner.To.IsZero() {
		inner.To = inner.From.Bare() // RFC 6120 §10.3.3: the sender's own account
		replyFrom = inner.To
	}
	rs := &replySender{s: s, outer: outer, inner: inner, version: el.Space, from: replyFrom, info: info}
	var hs mux.Sender = rs
	if d.Sender != nil {
		hs = d.Sender(rs)
	}
	if bad != nil {
		// The iq breaks RFC 6120 §8 (say, a get with two payloads): its
		// sender gets the error, through the server.
		return rs.Send(ctx, inner.ErrorReply(bad))
	}
	h := d.handler()
	if h == nil {
		return rs.Send(ctx, inner.ErrorReply(stanza.ErrServiceUnavailable))
	}
	// The inner iq gets the rules of every transport: a panic recovered,
	// the error answered by session.ReplyError (wrapped, through rs).
	serve := mux.HandlerFunc(func(ctx context.Context, _ mux.Sender, inner *stanza.Stanza) error {
		herr := session.Call(context.WithValue(ctx, ctxKey{}, rs), h, hs, inner)
		if herr != nil && !rs.done.Load() {
			se := session.ReplyError(inner, herr)
			var serr *stanza.Error
			if !errors.As(herr, &serr) {
				log.ErrorContext(ctx, "delegation: handler error", "id", inner.ID, "from", inner.From.String(), "err", herr)
			}
			if se != nil {
				return rs.Send(ctx, inner.ErrorReply(se))
			}
		}
		return nil
	})
	// Every delegated iq comes from the server: served here, they would
	// all wait on the server's one worker. On the worker of the user who
	// sent it, a slow request holds up only that user's stanzas.
	if sess := session.FromContext(ctx); sess != nil {
		if err := sess.Dispatch(ctx, inner, serve, rs); err == nil {
			return nil
		}
		// The user's worker is full (or the session is closing): served
		// here, in the server's order.
	}
	return serve(ctx, rs, inner)
}

// checkInner checks the forwarded IQ: a get or set from someone, to
// nobody (the sender's account), the server, or one of its users' bare
// JIDs; the server may not forward for another domain.
func checkInner(inner *stanza.Stanza, server jid.JID) *stanza.Error {
	switch {
	case inner.Kind != stanza.IQ || (inner.Type != stanza.TypeGet && inner.Type != stanza.TypeSet):
		return stanza.NewError(stanza.BadRequest, "the delegated stanza must be an iq get or set")
	case inner.ID == "" || inner.From.IsZero():
		return stanza.NewError(stanza.BadRequest, "the delegated iq has no id or no from")
	case !inner.To.IsZero() && (inner.To.Resource() != "" || inner.To.Domain() != server.Domain()):
		return stanza.NewError(stanza.Forbidden, "the delegated iq is not addressed to the server or one of its bare JIDs")
	}
	return nil
}

// replySender is the Sender of a delegated IQ's handler: the answer to the
// inner IQ is wrapped into the result of the outer one (§4.3); the rest
// passes through.
type replySender struct {
	s       mux.Sender
	outer   *stanza.Stanza
	inner   *stanza.Stanza
	version string
	from    jid.JID // the answer's from: the inner IQ's original to, or the user's bare JID
	info    Info
	done    atomic.Bool
}

// ErrAnswered is returned by the Sender of a delegated IQ's handler for a
// second answer to the IQ.
var ErrAnswered = errors.New("delegation: the delegated iq was already answered")

// Send wraps the answer to the delegated IQ (§4.3) for the server and
// passes every other stanza through.
func (r *replySender) Send(ctx context.Context, st *stanza.Stanza) error {
	if st.Kind != stanza.IQ || (st.Type != stanza.TypeResult && st.Type != stanza.TypeError) || st.ID != r.inner.ID {
		return r.s.Send(ctx, st)
	}
	if !r.done.CompareAndSwap(false, true) {
		return ErrAnswered
	}
	// Both servers check the answer: ejabberd wants from = the original to
	// (or the user's bare JID), to = the original from and the same id;
	// Prosody the to and the id, and forwards the from as it is.
	ans := st.Clone()
	ans.From, ans.To, ans.ID = r.from, r.inner.From, r.inner.ID
	ans.Lang = ""
	return r.s.Send(ctx, r.outer.Result(forward.Wrap(r.version, "delegation", ans)))
}

// SendIQ passes iq through.
func (r *replySender) SendIQ(ctx context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
	return r.s.SendIQ(ctx, iq)
}

// advertisement records a <delegation/> advertisement (§4.1). ejabberd
// sends one message per namespace (twice: for the server and for bare
// JIDs), Prosody one for all: they add up until Reset.
func (d *Manager) advertisement(ctx context.Context, st *stanza.Stanza, el stanza.Element) {
	log := d.logger()
	if !linkstate.IsServer(d.Servers, st.From, st.To) {
		log.WarnContext(ctx, "delegation: ignoring a <delegation/> advertisement not from the server",
			"from", st.From.String())
		return
	}
	if st.Type == stanza.TypeError {
		return
	}
	list, err := ParseAdvertisement(el)
	if err != nil {
		log.WarnContext(ctx, "delegation: unreadable advertisement", "from", st.From.String(), "err", err)
		return
	}
	d.mu.Lock()
	if d.servers == nil {
		d.servers = make(map[string]*advertised)
	}
	a := d.servers[st.From.Domain()]
	if a == nil {
		a = &advertised{server: st.From, delegated: make(map[string]Delegated)}
		d.servers[st.From.Domain()] = a
	}
	changed := a.version != el.Space
	a.version = el.Space
	for _, dl := range list {
		if old, ok := a.delegated[dl.Namespace]; !ok || !slices.Equal(old.Attributes, dl.Attributes) {
			a.delegated[dl.Namespace] = dl
			changed = true
		}
	}
	var snap []Delegated
	if changed {
		snap = a.list()
	}
	d.mu.Unlock()
	if changed {
		d.changes.Notify()
		log.InfoContext(ctx, "delegation: delegated", "server", st.From.String(), "version", el.Space,
			"namespaces", namespaces(snap))
		if d.OnChange != nil {
			d.OnChange(st.From, snap)
		}
	}
}

func namespaces(list []Delegated) []string {
	out := make([]string, len(list))
	for i, d := range list {
		out[i] = d.Namespace
	}
	return out
}

func (a *advertised) list() []Delegated {
	out := make([]Delegated, 0, len(a.delegated))
	for _, k := range slices.Sorted(maps.Keys(a.delegated)) {
		out = append(out, a.delegated[k])
	}
	return out
}

type wireDelegation struct {
	XMLName   xml.Name
	Delegated []struct {
		XMLName    xml.Name
		Namespace  string `xml:"namespace,attr"`
		Attributes []struct {
			XMLName xml.Name
			Name    string `xml:"name,attr"`
		} `xml:"attribute"`
	} `xml:"delegated"`
}

// ParseAdvertisement reads a <delegation/> advertisement (§4.1) in NS1 or
// NS2: the <delegated namespace='…'/> elements, with their <attribute
// name='…'/> filters. Elements in another namespace, and a <delegated/>
// without a namespace, are left out.
func ParseAdvertisement(el stanza.Element) ([]Delegated, error) {
	if el.Local != "delegation" || (el.Space != NS1 && el.Space != NS2) {
		return nil, fmt.Errorf("delegation: <%s xmlns='%s'/> is no advertisement", el.Local, el.Space)
	}
	var w wireDelegation
	if err := el.Unmarshal(&w); err != nil {
		return nil, fmt.Errorf("delegation: unreadable advertisement: %w", err)
	}
	var out []Delegated
	for _, dl := range w.Delegated {
		if dl.XMLName.Space != el.Space || dl.Namespace == "" {
			continue
		}
		var attrs []string
		for _, a := range dl.Attributes {
			if a.XMLName.Space == el.Space && a.Name != "" && !slices.Contains(attrs, a.Name) {
				attrs = append(attrs, a.Name)
			}
		}
		slices.Sort(attrs)
		out = append(out, Delegated{Namespace: dl.Namespace, Attributes: attrs})
	}
	return out, nil
}

// Delegated returns the namespaces server delegated on the current link,
// sorted.
func (d *Manager) Delegated(server jid.JID) []Delegated {
	d.mu.Lock()
	defer d.mu.Unlock()
	if a := d.servers[server.Domain()]; a != nil {
		return a.list()
	}
	return nil
}

// IsDelegated reports whether server delegated the namespace on the
// current link.
func (d *Manager) IsDelegated(server jid.JID, ns string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if a := d.servers[server.Domain()]; a != nil {
		_, ok := a.delegated[ns]
		return ok
	}
	return false
}

// Changed returns a channel that is closed at the next change of any
// server's delegations.
func (d *Manager) Changed() <-chan struct{} { return d.changes.Changed() }

// Wait waits until server has delegated ns on the current link, or
// returns ctx's error.
func (d *Manager) Wait(ctx context.Context, server jid.JID, ns string) error {
	return d.changes.Wait(ctx, func() bool { return d.IsDelegated(server, ns) })
}

// Reset forgets every delegation. Call it whenever the link to the server
// goes down or comes up, from the component's OnLink hook:
//
//	c.OnLink = func(component.LinkEvent) { d.Reset() }
//
// Servers remove the delegations of a disconnected component (ejabberd: of
// the whole domain when any of its connections closes) and delegate again
// after the next handshake. OnChange is called for each server that had
// delegated something.
func (d *Manager) Reset() {
	d.mu.Lock()
	old := d.servers
	d.servers = nil
	d.mu.Unlock()
	if len(old) > 0 {
		d.changes.Notify()
	}
	if d.OnChange == nil {
		return
	}
	for _, k := range slices.Sorted(maps.Keys(old)) {
		d.OnChange(old[k].server, nil)
	}
}
