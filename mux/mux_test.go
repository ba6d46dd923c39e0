package mux_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/mux/muxtest"
	"xmppkit.dev/stanza"
)

func decode(t testing.TB, raw string) *stanza.Stanza {
	t.Helper()
	st, err := stanza.Decode([]byte(raw))
	if err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return st
}

// tag returns a handler that records its name in *got.
func tag(name string, got *string) mux.Handler {
	return mux.HandlerFunc(func(context.Context, mux.Sender, *stanza.Stanza) error {
		*got = name
		return nil
	})
}

// serve runs st through m with a Recorder and fails the test if the mux
// sent anything itself: a pure router answers nothing, it returns.
func serve(t *testing.T, m *mux.ServeMux, st *stanza.Stanza) error {
	t.Helper()
	var rec muxtest.Recorder
	err := m.HandleStanza(context.Background(), &rec, st)
	if sent := rec.Sent(); len(sent) != 0 {
		t.Errorf("the mux sent %v for %s", sent, st)
	}
	return err
}

func TestRoutingPrecedence(t *testing.T) {
	var got string
	m := mux.New()
	m.HandleIQ(stanza.TypeGet, "urn:a", "query", tag("iq get a query", &got))
	m.HandleIQ(stanza.TypeGet, "urn:a", "", tag("iq get a *", &got))
	m.HandleIQ("", "urn:b", "q", tag("iq get/set b q", &got))
	m.HandleFallback(stanza.IQ, tag("iq fallback", &got))
	m.HandleMessage(stanza.TypeChat, "urn:chatstates", tag("msg chat chatstates", &got))
	m.HandleMessage(mux.AnyType, "urn:chatstates", tag("msg * chatstates", &got))
	m.HandleMessage(mux.AnyType, "urn:receipts", tag("msg * receipts", &got))
	m.HandleMessage(stanza.TypeChat, "", tag("msg chat", &got))
	m.HandleMessage("", "", tag("msg normal", &got))
	m.HandleMessage(mux.AnyType, "", tag("msg *", &got))
	m.HandlePresence("", tag("presence available", &got))
	m.HandlePresence(mux.AnyType, tag("presence *", &got))

	tests := []struct{ in, want string }{
		{`<iq type='get' id='1' from='a@x/r' to='svc.x'><query xmlns='urn:a'/></iq>`, "iq get a query"},
		{`<iq type='get' id='1' from='a@x/r' to='svc.x'><other xmlns='urn:a'/></iq>`, "iq get a *"},
		{`<iq type='set' id='1' from='a@x/r' to='svc.x'><query xmlns='urn:a'/></iq>`, "iq fallback"},
		{`<iq type='set' id='1' from='a@x/r' to='svc.x'><q xmlns='urn:b'/></iq>`, "iq get/set b q"},
		{`<iq type='get' id='1' from='a@x/r' to='svc.x'><q xmlns='urn:b'/></iq>`, "iq get/set b q"},
		{`<iq type='get' id='1' from='a@x/r' to='svc.x'><q xmlns='urn:c'/></iq>`, "iq fallback"},
		{`<message type='chat' from='a@x/r' to='svc.x'><body>hi</body><active xmlns='urn:chatstates'/></message>`, "msg chat chatstates"},
		{`<message type='groupchat' from='a@x/r' to='svc.x'><active xmlns='urn:chatstates'/></message>`, "msg * chatstates"},
		// The first child with a registered namespace decides.
		{`<message type='chat' from='a@x/r' to='svc.x'><request xmlns='urn:receipts'/><active xmlns='urn:chatstates'/></message>`, "msg * receipts"},
		{`<message type='chat' from='a@x/r' to='svc.x'><body>hi</body><x xmlns='urn:unknown'/></message>`, "msg chat"},
		{`<message from='a@x/r' to='svc.x'><body>hi</body></message>`, "msg normal"},
		{`<message type='normal' from='a@x/r' to='svc.x'><body>hi</body></message>`, "msg normal"},
		{`<message type='headline' from='a@x/r' to='svc.x'><body>hi</body></message>`, "msg *"},
		{`<presence from='a@x/r' to='svc.x'/>`, "presence available"},
		{`<presence type='subscribe' from='a@x' to='svc.x'/>`, "presence *"},
	}
	for _, tt := range tests {
		got = ""
		st := decode(t, tt.in)
		var rec muxtest.Recorder
		if err := m.HandleStanza(context.Background(), &rec, st); err != nil {
			t.Errorf("%s: %v", tt.in, err)
		}
		if got != tt.want {
			t.Errorf("%s\n served by %q, want %q", tt.in, got, tt.want)
		}
		if len(rec.Sent()) != 0 {
			t.Errorf("%s: sent %v", tt.in, rec.Sent())
		}
		if _, pattern := m.Handler(st); pattern == "" {
			t.Errorf("%s: Handler reports no pattern", tt.in)
		}
	}
}

func TestUnhandledIQ(t *testing.T) {
	m := mux.New()
	m.HandleMessage(mux.AnyType, "", tag("m", new(string)))
	for _, typ := range []string{"get", "set"} {
		in := decode(t, `<iq type='`+typ+`' id='abc' from='juliet@capulet.lit/balcony' to='svc.capulet.lit'><query xmlns='jabber:iq:nothing'/></iq>`)
		err := serve(t, m, in)
		var se *stanza.Error
		if !errors.As(err, &se) || !errors.Is(err, stanza.ErrServiceUnavailable) || se.Type != stanza.Cancel {
			t.Errorf("%s: HandleStanza = %v, want service-unavailable (cancel)", typ, err)
		}
	}
}

// What no route takes comes back as ErrUnhandled (the session drops it);
// a handler registered for error stanzas returns what it returns (the
// session never answers an error stanza).
func TestNotRouted(t *testing.T) {
	m := mux.New()
	failing := mux.HandlerFunc(func(context.Context, mux.Sender, *stanza.Stanza) error {
		return stanza.NewError(stanza.NotAcceptable, "no")
	})
	m.HandleMessage(stanza.TypeError, "", failing)
	m.HandlePresence(stanza.TypeError, failing)
	for _, tt := range []struct {
		in   string
		want error
	}{
		{`<iq type='result' id='1' from='a@x/r' to='svc.x'/>`, mux.ErrUnhandled},
		{`<iq type='error' id='1' from='a@x/r' to='svc.x'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`, mux.ErrUnhandled},
		{`<message type='chat' from='a@x/r' to='svc.x'><body>nobody listens</body></message>`, mux.ErrUnhandled},
		{`<presence from='a@x/r' to='svc.x'/>`, mux.ErrUnhandled},
		{`<message type='error' from='a@x/r' to='svc.x'><error type='cancel'><gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`, stanza.ErrNotAcceptable},
		{`<presence type='error' from='a@x/r' to='svc.x'><error type='cancel'><gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>`, stanza.ErrNotAcceptable},
	} {
		if err := serve(t, m, decode(t, tt.in)); !errors.Is(err, tt.want) {
			t.Errorf("%s: HandleStanza = %v, want %v", tt.in, err, tt.want)
		}
	}
}

// A handler's error comes back unchanged: the mux neither answers nor logs
// it (session.ReplyError does, once, for every transport).
func TestHandlerErrors(t *testing.T) {
	appErr := &stanza.Error{Type: stanza.Modify, Condition: stanza.NotAcceptable, Text: "too long"}
	plain := errors.New("database down")
	for _, in := range []string{
		`<iq type='set' id='7' from='a@x/r' to='svc.x'><q xmlns='urn:t'/></iq>`,
		`<message type='chat' id='7' from='a@x/r' to='svc.x'><body>x</body></message>`,
		`<presence id='7' from='a@x/r' to='svc.x'/>`,
	} {
		for _, want := range []error{appErr, fmt.Errorf("wrapped: %w", stanza.ErrForbidden), plain} {
			m := mux.New()
			h := mux.HandlerFunc(func(context.Context, mux.Sender, *stanza.Stanza) error { return want })
			m.HandleIQ("", "urn:t", "q", h)
			m.HandleMessage(mux.AnyType, "", h)
			m.HandlePresence(mux.AnyType, h)
			if err := serve(t, m, decode(t, in)); err != want {
				t.Errorf("%s: HandleStanza = %v, want %v as is", in, err, want)
			}
		}
	}
}

// A panic goes through the mux to its caller: the session recovers it (and
// answers internal-server-error where an answer is owed).
func TestPanicPropagates(t *testing.T) {
	m := mux.New()
	m.HandleMessageFunc(mux.AnyType, "", func(context.Context, mux.Sender, *stanza.Stanza) error {
		panic("message handler exploded")
	})
	defer func() {
		if v := recover(); v != "message handler exploded" {
			t.Errorf("recovered %v", v)
		}
	}()
	m.HandleStanza(context.Background(), &muxtest.Recorder{}, decode(t, `<message from='a@x/r' to='svc.x'><body>x</body></message>`))
	t.Error("no panic")
}

func TestBadIQPayloadCount(t *testing.T) {
	m := mux.New()
	m.HandleFallback(stanza.IQ, tag("fallback", new(string)))
	for _, payload := range [][]stanza.Element{nil, {{Space: "urn:a", Local: "a"}, {Space: "urn:b", Local: "b"}}} {
		iq := stanza.NewIQ(stanza.TypeGet, jid.MustParse("svc.x"), payload...)
		iq.From = jid.MustParse("a@x/r")
		if err := serve(t, m, iq); !errors.Is(err, stanza.ErrBadRequest) {
			t.Errorf("%d children: HandleStanza = %v, want bad-request", len(payload), err)
		}
	}
}

func TestMiddlewareOrder(t *testing.T) {
	var order []string
	var mu sync.Mutex
	mw := func(name string) mux.Middleware {
		return func(next mux.Handler) mux.Handler {
			return mux.HandlerFunc(func(ctx context.Context, s mux.Sender, st *stanza.Stanza) error {
				mu.Lock()
				order = append(order, name+" in")
				mu.Unlock()
				err := next.HandleStanza(ctx, s, st)
				mu.Lock()
				order = append(order, fmt.Sprintf("%s out %v", name, err))
				mu.Unlock()
				return err
			})
		}
	}
	m := mux.New()
	m.HandleIQFunc(stanza.TypeGet, "urn:x", "q", func(context.Context, mux.Sender, *stanza.Stanza) error {
		order = append(order, "handler")
		return nil
	})
	m.Use(mw("a"), mux.Chain(mw("b"), mw("c")))
	m.Use(mw("d"))
	var rec muxtest.Recorder
	if err := m.HandleStanza(context.Background(), &rec, decode(t, `<iq type='get' id='1' from='a@x/r' to='svc.x'><q xmlns='urn:x'/></iq>`)); err != nil {
		t.Fatal(err)
	}
	want := []string{"a in", "b in", "c in", "d in", "handler", "d out <nil>", "c out <nil>", "b out <nil>", "a out <nil>"}
	if !slices.Equal(order, want) {
		t.Errorf("order %q\nwant  %q", order, want)
	}
	// Middleware sees unhandled stanzas too, with the error that will be answered.
	order = nil
	if err := serve(t, m, decode(t, `<iq type='get' id='2' from='a@x/r' to='svc.x'><q xmlns='urn:none'/></iq>`)); !errors.Is(err, stanza.ErrServiceUnavailable) {
		t.Fatalf("HandleStanza = %v", err)
	}
	if len(order) != 8 || !strings.Contains(order[7], "service-unavailable") {
		t.Errorf("unhandled through middleware: %q", order)
	}
}

func TestLoggingMiddleware(t *testing.T) {
	var logs bytes.Buffer
	m := mux.New()
	m.Use(mux.Logging(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	m.HandleIQFunc(stanza.TypeSet, "urn:x", "q", func(context.Context, mux.Sender, *stanza.Stanza) error {
		return stanza.ErrConflict
	})
	if err := serve(t, m, decode(t, `<iq type='set' id='L1' from='a@x/r' to='svc.x'><q xmlns='urn:x'/></iq>`)); !errors.Is(err, stanza.ErrConflict) {
		t.Fatalf("HandleStanza = %v", err)
	}
	out := logs.String()
	for _, want := range []string{"level=INFO", "kind=iq", "type=set", "id=L1", "from=a@x/r", "payload={urn:x}q", "conflict"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

func TestDuplicatePanics(t *testing.T) {
	cases := map[string]func(m *mux.ServeMux){
		"iq":       func(m *mux.ServeMux) { m.HandleIQ(stanza.TypeGet, "urn:a", "q", tag("", new(string))) },
		"iq both":  func(m *mux.ServeMux) { m.HandleIQ("", "urn:a", "q", tag("", new(string))) },
		"message":  func(m *mux.ServeMux) { m.HandleMessage("normal", "", tag("", new(string))) },
		"presence": func(m *mux.ServeMux) { m.HandlePresence("", tag("", new(string))) },
		"fallback": func(m *mux.ServeMux) { m.HandleFallback(stanza.Message, tag("", new(string))) },
	}
	for name, reg := range cases {
		m := mux.New()
		m.HandleIQ(stanza.TypeGet, "urn:a", "q", tag("", new(string)))
		m.HandleMessage("", "", tag("", new(string)))
		m.HandlePresence("", tag("", new(string)))
		m.HandleFallback(stanza.Message, tag("", new(string)))
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: duplicate registration did not panic", name)
				}
			}()
			reg(m)
		}()
	}
	for name, reg := range map[string]func(m *mux.ServeMux){
		"empty ns": func(m *mux.ServeMux) { m.HandleIQ(stanza.TypeGet, "", "q", tag("", new(string))) },
		"bad type": func(m *mux.ServeMux) { m.HandleIQ(stanza.TypeResult, "urn:a", "q", tag("", new(string))) },
		"nil":      func(m *mux.ServeMux) { m.HandleIQ(stanza.TypeGet, "urn:a", "q", nil) },
		"kind":     func(m *mux.ServeMux) { m.HandleFallback(0, tag("", new(string))) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: did not panic", name)
				}
			}()
			reg(mux.New())
		}()
	}
}

// both is one handler value registered under several patterns.
type both struct{ name string }

func (both) HandleStanza(context.Context, mux.Sender, *stanza.Stanza) error { return nil }

func TestHandlers(t *testing.T) {
	m := mux.New()
	ping := tag("", new(string))
	m.HandleIQ(stanza.TypeGet, "urn:xmpp:ping", "ping", ping)
	b := both{"b"}
	m.HandleIQ("", "jabber:iq:register", "query", b)
	m.HandleMessage(mux.AnyType, "", b)
	m.HandleIQ(stanza.TypeGet, "jabber:iq:gateway", "query", b)
	m.HandleIQ(stanza.TypeSet, "jabber:iq:gateway", "query", b)
	m.HandlePresence(mux.AnyType, tag("", new(string)))
	type reg struct {
		h    mux.Handler
		iqNS []string
	}
	var got []reg
	for h, ns := range m.Handlers() {
		got = append(got, reg{h, ns})
	}
	if len(got) != 3 {
		t.Fatalf("%d handlers, want 3 (a comparable handler registered four times comes once): %v", len(got), got)
	}
	if !slices.Equal(got[0].iqNS, []string{"urn:xmpp:ping"}) {
		t.Errorf("first: %q", got[0].iqNS)
	}
	if got[1].h != mux.Handler(b) || !slices.Equal(got[1].iqNS, []string{"jabber:iq:register", "jabber:iq:gateway"}) {
		t.Errorf("second: %v %q, want b with both namespaces once, in registration order", got[1].h, got[1].iqNS)
	}
	if got[2].iqNS != nil {
		t.Errorf("presence handler with IQ namespaces %q", got[2].iqNS)
	}
	// The caller owns the slices; an early break stops the walk.
	got[1].iqNS[0] = "changed"
	n := 0
	for _, ns := range m.Handlers() {
		if slices.Contains(ns, "changed") {
			t.Error("Handlers shares its slices with the mux")
		}
		n++
		break
	}
	if n != 1 {
		t.Errorf("walked %d after break", n)
	}
}

func TestConcurrentRegistration(t *testing.T) {
	m := mux.New()
	in := decode(t, `<iq type='get' id='c' from='a@x/r' to='svc.x'><q xmlns='urn:0:0'/></iq>`)
	var rec muxtest.Recorder
	var served, unrouted atomic.Int32
	count := mux.HandlerFunc(func(context.Context, mux.Sender, *stanza.Stanza) error {
		served.Add(1)
		return nil
	})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for j := range 50 {
				m.HandleIQ(stanza.TypeGet, fmt.Sprintf("urn:%d:%d", i, j), "q", count)
				for range m.Handlers() {
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range 50 {
				if errors.Is(m.HandleStanza(context.Background(), &rec, in), stanza.ErrServiceUnavailable) {
					unrouted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	// Each stanza was served, or unrouted (service-unavailable) before its
	// route existed.
	if got := int(served.Load()) + int(unrouted.Load()); got != 200 {
		t.Errorf("%d served + unrouted, want 200", got)
	}
	var ns []string
	for _, n := range m.Handlers() {
		ns = append(ns, n...)
	}
	if len(ns) != 200 {
		t.Errorf("%d IQ namespaces after concurrent registration", len(ns))
	}
}

func TestZeroValueServeMux(t *testing.T) {
	var m mux.ServeMux
	m.HandlePresence(mux.AnyType, tag("p", new(string)))
	in := decode(t, `<iq type='get' id='z' from='a@x/r' to='svc.x'><q xmlns='urn:q'/></iq>`)
	if err := serve(t, &m, in); !errors.Is(err, stanza.ErrServiceUnavailable) {
		t.Errorf("zero ServeMux: %v", err)
	}
}

func TestUnmatched(t *testing.T) {
	m := mux.New()
	m.HandlePresenceFunc(stanza.TypeUnavailable, func(context.Context, mux.Sender, *stanza.Stanza) error { return nil })
	for _, st := range []*stanza.Stanza{
		decode(t, `<presence from='a@x/r' to='svc.x'/>`),
		decode(t, `<iq type='result' id='r' from='a@x/r' to='svc.x'/>`),
		{Kind: 0, From: jid.MustParse("a@x")},
	} {
		if h, p := m.Handler(st); h != nil || p != "" {
			t.Errorf("%v: Handler = %v, %q", st.Kind, h, p)
		}
		if err := serve(t, m, st); !errors.Is(err, mux.ErrUnhandled) {
			t.Errorf("%v: %v", st.Kind, err)
		}
	}
	if h, p := m.Handler(decode(t, `<presence type='unavailable' from='a@x/r' to='svc.x'/>`)); h == nil || p != "presence unavailable" {
		t.Errorf("Handler = %v, %q", h, p)
	}
}

func TestErrorStanzasOnlyToErrorRoutes(t *testing.T) {
	var got string
	m := mux.New()
	m.HandleMessage(mux.AnyType, "", tag("msg *", &got))
	m.HandleMessage(mux.AnyType, "urn:x", tag("msg * x", &got))
	m.HandleFallback(stanza.Message, tag("msg fallback", &got))
	m.HandlePresence(mux.AnyType, tag("pres *", &got))
	m.HandleFallback(stanza.Presence, tag("pres fallback", &got))
	bounceMsg := `<message type='error' from='a@x/r' to='svc.x'><x xmlns='urn:x'/><error type='cancel'><gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`
	bouncePres := `<presence type='error' from='a@x/r' to='svc.x'><error type='cancel'><gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>`
	for _, in := range []string{bounceMsg, bouncePres} {
		got = ""
		if err := serve(t, m, decode(t, in)); !errors.Is(err, mux.ErrUnhandled) {
			t.Fatal(err)
		}
		if got != "" {
			t.Errorf("bounce served by %q", got)
		}
	}
	m.HandleMessage(stanza.TypeError, "urn:x", tag("msg error x", &got))
	m.HandleMessage(stanza.TypeError, "", tag("msg error", &got))
	m.HandlePresence(stanza.TypeError, tag("pres error", &got))
	for in, want := range map[string]string{
		bounceMsg:  "msg error x",
		bouncePres: "pres error",
		`<message type='error' from='a@x/r' to='svc.x'><error type='cancel'><gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`: "msg error",
	} {
		got = ""
		if err := m.HandleStanza(context.Background(), &muxtest.Recorder{}, decode(t, in)); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("served by %q, want %q", got, want)
		}
	}
}

// wrapped is a handler whose type is comparable but whose value (an
// interface holding a func) is not.
type wrapped struct{ mux.Handler }

func TestRegisterUncomparableValue(t *testing.T) {
	m := mux.New()
	h := mux.HandlerFunc(func(context.Context, mux.Sender, *stanza.Stanza) error { return nil })
	m.HandleIQ(stanza.TypeGet, "urn:a", "q", wrapped{h}) // panicked when remembered
	m.HandleIQ(stanza.TypeGet, "urn:b", "q", wrapped{h})
	n := 0
	for range m.Handlers() {
		n++
	}
	if n != 2 {
		t.Fatalf("%d handlers, want 2 (uncomparable values are listed apart)", n)
	}
}

func TestIQActions(t *testing.T) {
	const ps, owner = "http://jabber.org/protocol/pubsub", "http://jabber.org/protocol/pubsub#owner"
	var got string
	m := mux.New()
	m.HandleIQAction(stanza.TypeSet, ps, "pubsub", "publish", tag("publish", &got))
	m.HandleIQAction("", ps, "pubsub", "subscribe", tag("subscribe", &got))
	m.HandleIQAction(stanza.TypeGet, ps, "pubsub", "items", tag("items", &got))
	m.HandleIQAction("", owner, "pubsub", "configure", tag("owner configure", &got))
	m.HandleIQ("", ps, "pubsub", tag("pubsub *", &got))
	m.HandleIQ("", ps, "", tag("ns *", &got))
	for _, tt := range []struct{ in, want string }{
		{`<iq type='set' id='1' from='a@x/r' to='ps.x'><pubsub xmlns='` + ps + `'><publish node='n'><item/></publish><publish-options/></pubsub></iq>`, "publish"},
		{`<iq type='set' id='1' from='a@x/r' to='ps.x'><pubsub xmlns='` + ps + `'>
			<subscribe node='n' jid='a@x'/><options/></pubsub></iq>`, "subscribe"},
		{`<iq type='get' id='1' from='a@x/r' to='ps.x'><pubsub xmlns='` + ps + `'><subscribe node='n' jid='a@x'/></pubsub></iq>`, "subscribe"},
		{`<iq type='get' id='1' from='a@x/r' to='ps.x'><pubsub xmlns='` + ps + `'><items node='n'/></pubsub></iq>`, "items"},
		// items is registered for get only; publish for set only.
		{`<iq type='set' id='1' from='a@x/r' to='ps.x'><pubsub xmlns='` + ps + `'><items node='n'/></pubsub></iq>`, "pubsub *"},
		{`<iq type='get' id='1' from='a@x/r' to='ps.x'><pubsub xmlns='` + ps + `'><publish node='n'/></pubsub></iq>`, "pubsub *"},
		// The action is the first child, in the payload's namespace.
		{`<iq type='set' id='1' from='a@x/r' to='ps.x'><pubsub xmlns='` + ps + `'><publish-options/><publish node='n'/></pubsub></iq>`, "pubsub *"},
		{`<iq type='set' id='1' from='a@x/r' to='ps.x'><pubsub xmlns='` + ps + `'><publish xmlns='urn:other'/></pubsub></iq>`, "pubsub *"},
		{`<iq type='set' id='1' from='a@x/r' to='ps.x'><p:pubsub xmlns:p='` + ps + `'><p:publish node='n'/></p:pubsub></iq>`, "publish"},
		{`<iq type='set' id='1' from='a@x/r' to='ps.x'><pubsub xmlns='` + ps + `'/></iq>`, "pubsub *"},
		{`<iq type='set' id='1' from='a@x/r' to='ps.x'><pubsub xmlns='` + ps + `'>text only</pubsub></iq>`, "pubsub *"},
		{`<iq type='set' id='1' from='a@x/r' to='ps.x'><pubsub xmlns='` + owner + `'><configure node='n'/></pubsub></iq>`, "owner configure"},
		{`<iq type='set' id='1' from='a@x/r' to='ps.x'><other xmlns='` + ps + `'><publish/></other></iq>`, "ns *"},
	} {
		got = ""
		st := decode(t, tt.in)
		if err := serve(t, m, st); err != nil {
			t.Errorf("%s: %v", tt.in, err)
		}
		if got != tt.want {
			t.Errorf("%s\n served by %q, want %q", tt.in, got, tt.want)
		}
	}
	// An owner action without a route and without a payload route.
	err := serve(t, m, decode(t, `<iq type='set' id='1' from='a@x/r' to='ps.x'><pubsub xmlns='`+owner+`'><delete node='n'/></pubsub></iq>`))
	if !errors.Is(err, stanza.ErrServiceUnavailable) {
		t.Errorf("unrouted owner action: %v", err)
	}
	if _, p := m.Handler(decode(t, `<iq type='set' id='1' from='a@x/r' to='ps.x'><pubsub xmlns='`+ps+`'><publish node='n'/></pubsub></iq>`)); p != "iq set {"+ps+"}pubsub/publish" {
		t.Errorf("pattern %q", p)
	}
	// Action registrations imply their namespace, once per handler.
	var ns []string
	for _, n := range m.Handlers() {
		ns = append(ns, n...)
	}
	if !slices.Contains(ns, owner) || !slices.Contains(ns, ps) {
		t.Errorf("implied namespaces %q", ns)
	}
	for name, f := range map[string]func(){
		"duplicate": func() { m.HandleIQAction(stanza.TypeSet, ps, "pubsub", "publish", tag("", new(string))) },
		"both":      func() { m.HandleIQAction("", ps, "pubsub", "items", tag("", new(string))) },
		"no action": func() { m.HandleIQAction(stanza.TypeSet, ps, "pubsub", "", tag("", new(string))) },
		"no local":  func() { m.HandleIQAction(stanza.TypeSet, ps, "", "x", tag("", new(string))) },
		"bad type":  func() { m.HandleIQAction("result", ps, "pubsub", "x", tag("", new(string))) },
		"nil":       func() { m.HandleIQAction(stanza.TypeSet, ps, "pubsub", "y", nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}
