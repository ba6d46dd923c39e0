package mux

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"reflect"
	"slices"
	"sync"

	"xmppkit.dev/internal/elem"
	"xmppkit.dev/stanza"
)

// Sender sends stanzas on behalf of a handler. Every transport's
// *session.Session implements it (a component's, a service attached to the
// router, an xmpptest client's, a c2s client's), with the same checks,
// error values and delivery rules (package session).
type Sender interface {
	// Send sends a stanza. It returns nil once the stanza is written or
	// queued for writing, and an error when it was not accepted (the
	// connection closed, the context ended, a from it may not use). st is
	// not modified, but may be passed on as is: do not modify it after.
	Send(ctx context.Context, st *stanza.Stanza) error
	// SendIQ sends an IQ get or set and waits for its answer (RFC 6120
	// §8.2.3): the result stanza, or the peer's error stanza as a
	// *stanza.Error (then the stanza is nil), or the context's error.
	SendIQ(ctx context.Context, iq *stanza.Stanza) (*stanza.Stanza, error)
}

// Handler handles one received stanza. A returned *stanza.Error becomes the
// error reply (see the package documentation for the rules).
type Handler interface {
	HandleStanza(ctx context.Context, s Sender, st *stanza.Stanza) error
}

// HandlerFunc adapts a function to a Handler.
type HandlerFunc func(ctx context.Context, s Sender, st *stanza.Stanza) error

// HandleStanza calls f.
func (f HandlerFunc) HandleStanza(ctx context.Context, s Sender, st *stanza.Stanza) error {
	return f(ctx, s, st)
}

// Middleware wraps a Handler, e.g. to log, measure or authorise.
type Middleware func(Handler) Handler

// Chain composes middleware: Chain(a, b, c)(h) is a(b(c(h))), so a sees
// each stanza first and its result last.
func Chain(mw ...Middleware) Middleware {
	return func(h Handler) Handler {
		for i := len(mw) - 1; i >= 0; i-- {
			h = mw[i](h)
		}
		return h
	}
}

// AnyType matches every type of message or presence in HandleMessage and
// HandlePresence except "error": a bounce reaches only a handler registered
// for stanza.TypeError, so that a catch-all handler cannot answer it and
// start a loop.
const AnyType = "*"

// iqKey is an IQ route: type, payload namespace and local name ("" for
// any), and the local name of the payload's first child element ("" for
// none: the route takes the payload whatever it holds).
type iqKey struct{ typ, space, local, action string }
type msgKey struct{ typ, space string }

// entry is a registered handler and the IQ namespaces it was registered
// for (what package disco takes as its implied features).
type entry struct {
	h    Handler
	iqNS []string
}

type route struct {
	h       Handler
	pattern string // for logs
	iqNS    string // the IQ payload namespace it implies as a feature
}

// ServeMux routes stanzas to handlers by kind, type and payload (see the
// package documentation for the order), in the manner of net/http's
// ServeMux: it routes and returns what the handler returns; the transport's
// session answers errors (package session). It is safe for concurrent use:
// handlers may be registered while stanzas are served. Its zero value is
// ready to use.
type ServeMux struct {
	mu       sync.RWMutex
	iq       map[iqKey]*route
	actions  map[iqKey]struct{} // {typ, space, local} with action routes
	msg      map[msgKey]*route
	msgNS    map[string]struct{} // namespaces with a message route
	pres     map[string]*route
	fallback [4]*route // indexed by stanza.Kind
	order    []entry   // registered handlers, each once, in registration order
	mw       []Middleware
	inner    Handler // dispatch wrapped in mw; nil means plain dispatch
}

// New returns an empty ServeMux.
func New() *ServeMux { return &ServeMux{} }

// HandleIQ registers h for IQs of type typ (stanza.TypeGet or
// stanza.TypeSet; "" registers both) whose payload element is local in
// namespace space; local "" matches any payload element in the namespace
// (RFC 6120 §8.2.3). Registering the same pattern twice panics, as does an
// empty namespace or another type.
func (m *ServeMux) HandleIQ(typ, space, local string, h Handler) {
	if space == "" {
		panic("mux: HandleIQ with an empty namespace")
	}
	if h == nil {
		panic("mux: nil handler")
	}
	types := iqTypes("HandleIQ", typ)
	m.addIQ(types, space, local, "", h)
}

// iqTypes returns the types a registration of typ stands for ("": get and
// set), panicking for another type.
func iqTypes(method, typ string) []string {
	switch typ {
	case "":
		return []string{stanza.TypeGet, stanza.TypeSet}
	case stanza.TypeGet, stanza.TypeSet:
		return []string{typ}
	}
	panic("mux: " + method + " type must be get, set or \"\", not " + typ)
}

// addIQ registers h for the IQ route of each type, panicking for a
// duplicate.
func (m *ServeMux) addIQ(types []string, space, local, action string, h Handler) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.iq == nil {
		m.iq = make(map[iqKey]*route)
	}
	pattern := func(t string) string {
		p := fmt.Sprintf("iq %s {%s}%s", t, space, local)
		if action != "" {
			p += "/" + action
		}
		return p
	}
	for _, t := range types {
		if _, dup := m.iq[iqKey{t, space, local, action}]; dup {
			panic("mux: duplicate IQ route " + pattern(t))
		}
	}
	for _, t := range types {
		m.iq[iqKey{t, space, local, action}] = &route{h: h, pattern: pattern(t), iqNS: space}
		if action != "" {
			if m.actions == nil {
				m.actions = make(map[iqKey]struct{})
			}
			m.actions[iqKey{t, space, local, ""}] = struct{}{}
		}
	}
	m.remember(h, space)
}

// HandleIQAction registers h for IQs of type typ (get, set, or "" for both)
// whose payload element is local in namespace space and whose first child
// element, in the same namespace, is action: the protocols that nest the
// request's verb inside one payload element, such as XEP-0060's
// <pubsub xmlns='http://jabber.org/protocol/pubsub'><subscribe .../></pubsub>
// (action "subscribe"), or <publish/> followed by <publish-options/>
// (action "publish"), and the owner actions in
// http://jabber.org/protocol/pubsub#owner (<configure/>, <delete/>, ...). A
// service registers one handler per action instead of switching on the
// child itself. An action route is more specific than HandleIQ's routes of
// the same payload, which take what no action route takes. Registering the
// same pattern twice panics, as does an empty namespace, local name or
// action, or another type.
func (m *ServeMux) HandleIQAction(typ, space, local, action string, h Handler) {
	if space == "" || local == "" || action == "" {
		panic("mux: HandleIQAction needs a namespace, a payload name and an action")
	}
	if h == nil {
		panic("mux: nil handler")
	}
	m.addIQ(iqTypes("HandleIQAction", typ), space, local, action, h)
}

// HandleIQActionFunc registers a function with HandleIQAction.
func (m *ServeMux) HandleIQActionFunc(typ, space, local, action string, f func(ctx context.Context, s Sender, iq *stanza.Stanza) error) {
	m.HandleIQAction(typ, space, local, action, HandlerFunc(f))
}

// HandleIQFunc registers a function with HandleIQ.
func (m *ServeMux) HandleIQFunc(typ, space, local string, f func(ctx context.Context, s Sender, iq *stanza.Stanza) error) {
	m.HandleIQ(typ, space, local, HandlerFunc(f))
}

// HandleMessage registers h for messages of type typ (RFC 6121 §5.2.2; ""
// and "normal" are the same, AnyType matches all) that carry a child element
// in namespace space; space "" matches any message of the type. Registering
// the same pattern twice panics.
func (m *ServeMux) HandleMessage(typ, space string, h Handler) {
	if h == nil {
		panic("mux: nil handler")
	}
	if typ == "" {
		typ = stanza.TypeNormal
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.msg == nil {
		m.msg = make(map[msgKey]*route)
		m.msgNS = make(map[string]struct{})
	}
	k := msgKey{typ, space}
	if _, dup := m.msg[k]; dup {
		panic(fmt.Sprintf("mux: duplicate message route %s {%s}", typ, space))
	}
	m.msg[k] = &route{h: h, pattern: fmt.Sprintf("message %s {%s}", typ, space)}
	if space != "" {
		m.msgNS[space] = struct{}{}
	}
	m.remember(h, "")
}

// HandleMessageFunc registers a function with HandleMessage.
func (m *ServeMux) HandleMessageFunc(typ, space string, f func(ctx context.Context, s Sender, msg *stanza.Stanza) error) {
	m.HandleMessage(typ, space, HandlerFunc(f))
}

// HandlePresence registers h for presence of type typ (RFC 6121 §4.7.1: ""
// is available, AnyType matches all). Registering the same type twice
// panics.
func (m *ServeMux) HandlePresence(typ string, h Handler) {
	if h == nil {
		panic("mux: nil handler")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pres == nil {
		m.pres = make(map[string]*route)
	}
	if _, dup := m.pres[typ]; dup {
		panic("mux: duplicate presence route " + typ)
	}
	m.pres[typ] = &route{h: h, pattern: "presence " + typ}
	m.remember(h, "")
}

// HandlePresenceFunc registers a function with HandlePresence.
func (m *ServeMux) HandlePresenceFunc(typ string, f func(ctx context.Context, s Sender, p *stanza.Stanza) error) {
	m.HandlePresence(typ, HandlerFunc(f))
}

// HandleFallback registers h for stanzas of the kind that no other route
// takes (for IQs: gets and sets only). Registering a kind twice panics.
func (m *ServeMux) HandleFallback(kind stanza.Kind, h Handler) {
	if h == nil {
		panic("mux: nil handler")
	}
	if kind < stanza.Message || kind > stanza.IQ {
		panic("mux: HandleFallback with an unknown kind")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fallback[kind] != nil {
		panic("mux: duplicate fallback for " + kind.String())
	}
	m.fallback[kind] = &route{h: h, pattern: kind.String() + " fallback"}
	m.remember(h, "")
}

// remember records h for Handlers, once per handler value (comparable
// handlers registered under several patterns are asked once); m.mu is held.
func (m *ServeMux) remember(h Handler, iqNS string) {
	i := -1
	// Value.Comparable, not Type.Comparable: a struct wrapping an
	// interface holding a func has a comparable type, and == on it panics.
	if reflect.ValueOf(h).Comparable() {
		i = slices.IndexFunc(m.order, func(e entry) bool {
			return reflect.TypeOf(e.h) == reflect.TypeOf(h) && reflect.ValueOf(e.h).Comparable() && e.h == h
		})
	}
	if i < 0 {
		m.order = append(m.order, entry{h: h})
		i = len(m.order) - 1
	}
	if iqNS != "" && !slices.Contains(m.order[i].iqNS, iqNS) {
		m.order[i].iqNS = append(m.order[i].iqNS, iqNS)
	}
}

// Use appends middleware around the dispatch: the first added sees each
// stanza first. It applies to stanzas served after it returns.
func (m *ServeMux) Use(mw ...Middleware) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mw = append(m.mw, mw...)
	m.inner = Chain(m.mw...)(HandlerFunc(m.dispatch))
}

// Handler returns the handler that would serve st and the pattern it was
// registered with, or nil and "" when none would.
func (m *ServeMux) Handler(st *stanza.Stanza) (h Handler, pattern string) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if r := m.match(st); r != nil {
		return r.h, r.pattern
	}
	return nil, ""
}

// match finds the route for st; m.mu is read-locked.
func (m *ServeMux) match(st *stanza.Stanza) *route {
	switch st.Kind {
	case stanza.IQ:
		if st.Type != stanza.TypeGet && st.Type != stanza.TypeSet {
			return nil
		}
		space, local := st.PayloadName()
		if _, ok := m.actions[iqKey{st.Type, space, local, ""}]; ok {
			if action := firstAction(st, space); action != "" {
				if r, ok := m.iq[iqKey{st.Type, space, local, action}]; ok {
					return r
				}
			}
		}
		if r, ok := m.iq[iqKey{st.Type, space, local, ""}]; ok {
			return r
		}
		if r, ok := m.iq[iqKey{st.Type, space, "", ""}]; ok {
			return r
		}
	case stanza.Message:
		typ := st.Type
		if typ == "" {
			typ = stanza.TypeNormal
		}
		if typ == stanza.TypeError {
			return m.errorRoute(st)
		}
		if len(m.msgNS) > 0 {
			for _, c := range st.Children() {
				if _, ok := m.msgNS[c.Space]; !ok || c.Space == "" {
					continue
				}
				if r, ok := m.msg[msgKey{typ, c.Space}]; ok {
					return r
				}
				if r, ok := m.msg[msgKey{AnyType, c.Space}]; ok {
					return r
				}
			}
		}
		if r, ok := m.msg[msgKey{typ, ""}]; ok {
			return r
		}
		if r, ok := m.msg[msgKey{AnyType, ""}]; ok {
			return r
		}
	case stanza.Presence:
		if st.Type == stanza.TypeError {
			return m.errorRoute(st)
		}
		if r, ok := m.pres[st.Type]; ok {
			return r
		}
		if r, ok := m.pres[AnyType]; ok {
			return r
		}
	default:
		return nil
	}
	return m.fallback[st.Kind]
}

// errorRoute finds the route for a message or presence of type error: only
// a registration for that type takes it (never AnyType or the fallback).
func (m *ServeMux) errorRoute(st *stanza.Stanza) *route {
	if st.Kind == stanza.Presence {
		return m.pres[stanza.TypeError]
	}
	for _, c := range st.Children() {
		if r, ok := m.msg[msgKey{stanza.TypeError, c.Space}]; ok && c.Space != "" {
			return r
		}
	}
	return m.msg[msgKey{stanza.TypeError, ""}]
}

// ErrUnhandled is what a ServeMux returns for a message or presence that no
// handler takes (and for an iq result or error: answers nobody waits for);
// the session drops such a stanza with a debug log (package session). An
// unrouted iq get or set yields stanza.ErrServiceUnavailable instead.
var ErrUnhandled = errors.New("mux: no handler for stanza")

// dispatch is the innermost handler: route lookup and call.
func (m *ServeMux) dispatch(ctx context.Context, s Sender, st *stanza.Stanza) error {
	if st.Kind == stanza.IQ && (st.Type == stanza.TypeGet || st.Type == stanza.TypeSet) {
		if n := len(st.Children()); n != 1 {
			return stanza.NewError(stanza.BadRequest, fmt.Sprintf("an iq %s must carry exactly one payload element, not %d", st.Type, n))
		}
	}
	m.mu.RLock()
	r := m.match(st)
	m.mu.RUnlock()
	if r == nil {
		if st.Kind == stanza.IQ && (st.Type == stanza.TypeGet || st.Type == stanza.TypeSet) {
			return stanza.ErrServiceUnavailable
		}
		return ErrUnhandled
	}
	return r.h.HandleStanza(ctx, s, st)
}

// HandleStanza routes st through the middleware to its handler and returns
// what the handler returned: stanza.ErrServiceUnavailable for an iq get or
// set that no route takes, bad-request for one without exactly one payload
// element (RFC 6120 §8.2.3), ErrUnhandled for any other stanza no route
// takes. It answers nothing itself: the session that called it turns the
// error into the reply RFC 6120 §8.3 owes (session.ReplyError), so a
// ServeMux mounted inside another one is answered once.
func (m *ServeMux) HandleStanza(ctx context.Context, s Sender, st *stanza.Stanza) error {
	m.mu.RLock()
	inner := m.inner
	m.mu.RUnlock()
	if inner == nil {
		return m.dispatch(ctx, s, st)
	}
	return inner.HandleStanza(ctx, s, st)
}

func firstChildName(st *stanza.Stanza) (space, local string) {
	if kids := st.Children(); len(kids) > 0 {
		return kids[0].Space, kids[0].Local
	}
	return "", ""
}

// firstAction returns the local name of the first child element of the
// iq's payload when that child is in the payload's namespace space, or "".
func firstAction(st *stanza.Stanza, space string) string {
	el, ok := st.PayloadElement()
	if !ok {
		return ""
	}
	n, err := elem.Parse(el.XML(), stanza.NSClient)
	if err != nil || len(n.Kids) == 0 || n.Kids[0].Space != space {
		return ""
	}
	return n.Kids[0].Local
}

// Handlers yields each handler registered on m, in registration order
// and once per handler value (a comparable handler registered under several
// patterns comes once), with the payload namespaces of its HandleIQ
// registrations (nil when it has none). The slice is the caller's to keep.
// It sees the registrations at the time of the call.
//
// Package disco walks it to answer XEP-0030 queries from what the
// registered handlers advertise; the mux itself knows nothing of discovery.
func (m *ServeMux) Handlers() iter.Seq2[Handler, []string] {
	m.mu.RLock()
	order := make([]entry, len(m.order))
	for i, e := range m.order {
		order[i] = entry{h: e.h, iqNS: slices.Clone(e.iqNS)}
	}
	m.mu.RUnlock()
	return func(yield func(Handler, []string) bool) {
		for _, e := range order {
			if !yield(e.h, e.iqNS) {
				return
			}
		}
	}
}
