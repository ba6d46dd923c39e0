package mux

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"reflect"
	"runtime/debug"
	"slices"
	"sync"

	"xmppkit.dev/stanza"
)

// Sender sends stanzas on behalf of a handler: a component session and the
// router's in-process attachment implement it.
type Sender interface {
	// Send queues a stanza for delivery. It returns an error when the
	// stanza was not accepted (the connection closed, the context ended).
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

type iqKey struct{ typ, space, local string }
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
// package documentation for the order). It is safe for concurrent use:
// handlers may be registered while stanzas are served. Its zero value is
// ready to use and logs to slog.Default().
type ServeMux struct {
	mu       sync.RWMutex
	iq       map[iqKey]*route
	msg      map[msgKey]*route
	msgNS    map[string]struct{} // namespaces with a message route
	pres     map[string]*route
	fallback [4]*route // indexed by stanza.Kind
	order    []entry   // registered handlers, each once, in registration order
	mw       []Middleware
	inner    Handler // dispatch wrapped in mw; nil means plain dispatch
	log      *slog.Logger
}

// Option configures a ServeMux made by New.
type Option func(*ServeMux)

// WithLogger sets the logger for dropped stanzas (debug), handler errors and
// panics (error). Without it the mux logs to slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(m *ServeMux) { m.log = l }
}

// New returns an empty ServeMux.
func New(opts ...Option) *ServeMux {
	m := &ServeMux{}
	for _, o := range opts {
		o(m)
	}
	return m
}

func (m *ServeMux) logger() *slog.Logger {
	if m.log != nil {
		return m.log
	}
	return slog.Default()
}

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
	var types []string
	switch typ {
	case "":
		types = []string{stanza.TypeGet, stanza.TypeSet}
	case stanza.TypeGet, stanza.TypeSet:
		types = []string{typ}
	default:
		panic("mux: HandleIQ type must be get, set or \"\", not " + typ)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.iq == nil {
		m.iq = make(map[iqKey]*route)
	}
	for _, t := range types {
		if _, dup := m.iq[iqKey{t, space, local}]; dup {
			panic(fmt.Sprintf("mux: duplicate IQ route %s {%s}%s", t, space, local))
		}
	}
	for _, t := range types {
		k := iqKey{t, space, local}
		m.iq[k] = &route{h: h, pattern: fmt.Sprintf("iq %s {%s}%s", t, space, local), iqNS: space}
	}
	m.remember(h, space)
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
		if r, ok := m.iq[iqKey{st.Type, space, local}]; ok {
			return r
		}
		if r, ok := m.iq[iqKey{st.Type, space, ""}]; ok {
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

// ErrUnhandled is what the dispatch inside the middleware returns for a
// message or presence that no handler takes; ServeMux.HandleStanza drops
// such a stanza with a debug log. (An unhandled IQ get/set yields
// stanza.ErrServiceUnavailable instead.)
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

// HandleStanza routes st to its handler and applies the error rules of the
// package documentation. It returns nil: handler errors are answered and
// logged, as is a failure to send the error reply, so that a caller (a
// component, a router, an enclosing ServeMux) never answers twice.
func (m *ServeMux) HandleStanza(ctx context.Context, s Sender, st *stanza.Stanza) error {
	err := m.serve(ctx, s, st)
	if err == nil {
		return nil
	}
	log := m.logger()
	if errors.Is(err, ErrUnhandled) {
		if log.Enabled(ctx, slog.LevelDebug) {
			space, local := firstChildName(st)
			log.DebugContext(ctx, "mux: dropped unhandled stanza", "kind", st.Kind.String(), "type", st.Type,
				"id", st.ID, "from", st.From.String(), "to", st.To.String(), "payload", "{"+space+"}"+local)
		}
		return nil
	}
	owed := st.Kind == stanza.IQ && (st.Type == stanza.TypeGet || st.Type == stanza.TypeSet)
	var se *stanza.Error
	isStanzaErr := errors.As(err, &se)
	var p *panicError
	if errors.As(err, &p) {
		log.ErrorContext(ctx, "mux: handler panic", "kind", st.Kind.String(), "type", st.Type, "id", st.ID,
			"from", st.From.String(), "panic", fmt.Sprint(p.v), "stack", string(p.stack))
	} else if !isStanzaErr {
		log.ErrorContext(ctx, "mux: handler error", "kind", st.Kind.String(), "type", st.Type, "id", st.ID,
			"from", st.From.String(), "err", err)
	}
	if st.Type == stanza.TypeError || (st.Kind == stanza.IQ && !owed) {
		return nil // never answer an error or an IQ response (RFC 6120 §8.3.1)
	}
	switch {
	case isStanzaErr:
	case owed:
		se = stanza.ErrInternalServerError
	default:
		return nil
	}
	reply := st.ErrorReply(se)
	if reply == nil {
		return nil
	}
	if serr := s.Send(ctx, reply); serr != nil {
		log.ErrorContext(ctx, "mux: error reply not sent", "condition", string(se.Condition), "to", st.From.String(),
			"id", st.ID, "err", serr)
	}
	return nil
}

// serve runs the middleware chain and the dispatch, turning a panic into an
// error.
func (m *ServeMux) serve(ctx context.Context, s Sender, st *stanza.Stanza) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{v: v, stack: debug.Stack()}
		}
	}()
	m.mu.RLock()
	inner := m.inner
	m.mu.RUnlock()
	if inner == nil {
		return m.dispatch(ctx, s, st)
	}
	return inner.HandleStanza(ctx, s, st)
}

type panicError struct {
	v     any
	stack []byte
}

func (p *panicError) Error() string { return fmt.Sprintf("mux: handler panic: %v", p.v) }

func firstChildName(st *stanza.Stanza) (space, local string) {
	if kids := st.Children(); len(kids) > 0 {
		return kids[0].Space, kids[0].Local
	}
	return "", ""
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
