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

func quietMux(buf *bytes.Buffer) *mux.ServeMux {
	return mux.New(mux.WithLogger(slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))))
}

func TestRoutingPrecedence(t *testing.T) {
	var got string
	var logs bytes.Buffer
	m := quietMux(&logs)
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
	var logs bytes.Buffer
	m := quietMux(&logs)
	m.HandleMessage(mux.AnyType, "", tag("m", new(string)))
	for _, typ := range []string{"get", "set"} {
		in := decode(t, `<iq type='`+typ+`' id='abc' from='juliet@capulet.lit/balcony' to='svc.capulet.lit'><query xmlns='jabber:iq:nothing'/></iq>`)
		var rec muxtest.Recorder
		if err := m.HandleStanza(context.Background(), &rec, in); err != nil {
			t.Fatal(err)
		}
		sent := rec.Sent()
		if len(sent) != 1 {
			t.Fatalf("%s: sent %d stanzas", typ, len(sent))
		}
		r := sent[0]
		if r.Kind != stanza.IQ || r.Type != stanza.TypeError || r.ID != "abc" ||
			r.To.String() != "juliet@capulet.lit/balcony" || r.From.String() != "svc.capulet.lit" {
			t.Errorf("%s: reply %s", typ, r)
		}
		if err := r.Err(); !errors.Is(err, stanza.ErrServiceUnavailable) || err.Type != stanza.Cancel {
			t.Errorf("%s: reply error %v", typ, err)
		}
	}
}

func TestNotAnswered(t *testing.T) {
	var logs bytes.Buffer
	m := quietMux(&logs)
	failing := mux.HandlerFunc(func(context.Context, mux.Sender, *stanza.Stanza) error {
		return stanza.NewError(stanza.NotAcceptable, "no")
	})
	m.HandleMessage(stanza.TypeError, "", failing)
	m.HandlePresence(stanza.TypeError, failing)
	for _, in := range []string{
		`<iq type='result' id='1' from='a@x/r' to='svc.x'/>`,
		`<iq type='error' id='1' from='a@x/r' to='svc.x'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`,
		`<message type='chat' from='a@x/r' to='svc.x'><body>nobody listens</body></message>`,
		`<presence from='a@x/r' to='svc.x'/>`,
		// Handlers that fail on an error stanza still produce no reply.
		`<message type='error' from='a@x/r' to='svc.x'><error type='cancel'><gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`,
		`<presence type='error' from='a@x/r' to='svc.x'><error type='cancel'><gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>`,
	} {
		var rec muxtest.Recorder
		if err := m.HandleStanza(context.Background(), &rec, decode(t, in)); err != nil {
			t.Errorf("%s: %v", in, err)
		}
		if n := len(rec.Sent()); n != 0 {
			t.Errorf("%s: answered with %v", in, rec.Sent())
		}
	}
	if !strings.Contains(logs.String(), "dropped unhandled stanza") {
		t.Errorf("no debug log for dropped stanzas:\n%s", logs.String())
	}
}

func TestHandlerErrors(t *testing.T) {
	appErr := &stanza.Error{Type: stanza.Modify, Condition: stanza.NotAcceptable, Text: "too long"}
	plain := errors.New("database down")
	tests := []struct {
		name    string
		in      string
		err     error
		want    stanza.Condition // "" for no reply
		wantLog string
	}{
		{"iq stanza error", `<iq type='set' id='7' from='a@x/r' to='svc.x'><q xmlns='urn:t'/></iq>`, appErr, stanza.NotAcceptable, ""},
		{"iq wrapped stanza error", `<iq type='get' id='7' from='a@x/r' to='svc.x'><q xmlns='urn:t'/></iq>`, fmt.Errorf("wrapped: %w", stanza.ErrForbidden), stanza.Forbidden, ""},
		{"iq plain error", `<iq type='get' id='7' from='a@x/r' to='svc.x'><q xmlns='urn:t'/></iq>`, plain, stanza.InternalServerError, "database down"},
		{"message stanza error", `<message type='chat' id='7' from='a@x/r' to='svc.x'><body>x</body></message>`, appErr, stanza.NotAcceptable, ""},
		{"message plain error", `<message type='chat' id='7' from='a@x/r' to='svc.x'><body>x</body></message>`, plain, "", "database down"},
		{"presence plain error", `<presence id='7' from='a@x/r' to='svc.x'/>`, plain, "", "database down"},
	}
	for _, tt := range tests {
		var logs bytes.Buffer
		m := quietMux(&logs)
		h := mux.HandlerFunc(func(context.Context, mux.Sender, *stanza.Stanza) error { return tt.err })
		m.HandleIQ("", "urn:t", "q", h)
		m.HandleMessage(mux.AnyType, "", h)
		m.HandlePresence(mux.AnyType, h)
		var rec muxtest.Recorder
		in := decode(t, tt.in)
		if err := m.HandleStanza(context.Background(), &rec, in); err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
		sent := rec.Sent()
		if tt.want == "" {
			if len(sent) != 0 {
				t.Errorf("%s: replied %v", tt.name, sent)
			}
		} else {
			if len(sent) != 1 {
				t.Fatalf("%s: sent %v", tt.name, sent)
			}
			r := sent[0]
			if r.Type != stanza.TypeError || r.ID != "7" || !r.To.Equal(in.From) || !r.From.Equal(in.To) || r.Kind != in.Kind {
				t.Errorf("%s: reply %s", tt.name, r)
			}
			if e := r.Err(); e.Condition != tt.want {
				t.Errorf("%s: condition %s, want %s", tt.name, e.Condition, tt.want)
			}
		}
		if tt.wantLog != "" && !strings.Contains(logs.String(), tt.wantLog) {
			t.Errorf("%s: error not logged:\n%s", tt.name, logs.String())
		}
	}
}

func TestPanicRecovered(t *testing.T) {
	var logs bytes.Buffer
	m := quietMux(&logs)
	m.HandleIQFunc(stanza.TypeGet, "urn:boom", "q", func(_ context.Context, _ mux.Sender, st *stanza.Stanza) error {
		i := len(st.ID) + 10
		return fmt.Errorf("%d", []int{1}[i]) // a runtime panic: index out of range
	})
	m.HandleMessageFunc(mux.AnyType, "", func(context.Context, mux.Sender, *stanza.Stanza) error {
		panic("message handler exploded")
	})
	var rec muxtest.Recorder
	if err := m.HandleStanza(context.Background(), &rec, decode(t, `<iq type='get' id='p' from='a@x/r' to='svc.x'><q xmlns='urn:boom'/></iq>`)); err != nil {
		t.Fatal(err)
	}
	if r := rec.Last(); r == nil || r.ID != "p" || !errors.Is(r.Err(), stanza.ErrInternalServerError) {
		t.Errorf("reply %v", r)
	}
	if !strings.Contains(logs.String(), "handler panic") || !strings.Contains(logs.String(), "mux_test.go") {
		t.Errorf("panic not logged with stack:\n%s", logs.String())
	}
	rec.Reset()
	if err := m.HandleStanza(context.Background(), &rec, decode(t, `<message from='a@x/r' to='svc.x'><body>x</body></message>`)); err != nil {
		t.Fatal(err)
	}
	if len(rec.Sent()) != 0 {
		t.Errorf("message panic answered: %v", rec.Sent())
	}
	if !strings.Contains(logs.String(), "message handler exploded") {
		t.Error("message panic not logged")
	}
}

func TestBadIQPayloadCount(t *testing.T) {
	var logs bytes.Buffer
	m := quietMux(&logs)
	m.HandleFallback(stanza.IQ, tag("fallback", new(string)))
	for _, payload := range [][]stanza.Element{nil, {{Space: "urn:a", Local: "a"}, {Space: "urn:b", Local: "b"}}} {
		iq := stanza.NewIQ(stanza.TypeGet, jid.MustParse("svc.x"), payload...)
		iq.From = jid.MustParse("a@x/r")
		var rec muxtest.Recorder
		if err := m.HandleStanza(context.Background(), &rec, iq); err != nil {
			t.Fatal(err)
		}
		if r := rec.Last(); r == nil || !errors.Is(r.Err(), stanza.ErrBadRequest) {
			t.Errorf("%d children: reply %v", len(payload), r)
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
	var logs bytes.Buffer
	m := quietMux(&logs)
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
	if err := m.HandleStanza(context.Background(), &rec, decode(t, `<iq type='get' id='2' from='a@x/r' to='svc.x'><q xmlns='urn:none'/></iq>`)); err != nil {
		t.Fatal(err)
	}
	if len(order) != 8 || !strings.Contains(order[7], "service-unavailable") {
		t.Errorf("unhandled through middleware: %q", order)
	}
	if r := rec.Last(); !errors.Is(r.Err(), stanza.ErrServiceUnavailable) {
		t.Errorf("reply %v", r)
	}
}

func TestLoggingMiddleware(t *testing.T) {
	var logs bytes.Buffer
	m := quietMux(&logs)
	m.Use(mux.Logging(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	m.HandleIQFunc(stanza.TypeSet, "urn:x", "q", func(context.Context, mux.Sender, *stanza.Stanza) error {
		return stanza.ErrConflict
	})
	var rec muxtest.Recorder
	if err := m.HandleStanza(context.Background(), &rec, decode(t, `<iq type='set' id='L1' from='a@x/r' to='svc.x'><q xmlns='urn:x'/></iq>`)); err != nil {
		t.Fatal(err)
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
	var logs bytes.Buffer
	m := quietMux(&logs)
	in := decode(t, `<iq type='get' id='c' from='a@x/r' to='svc.x'><q xmlns='urn:0:0'/></iq>`)
	var rec muxtest.Recorder
	var served atomic.Int32
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
				_ = m.HandleStanza(context.Background(), &rec, in)
			}
		}()
	}
	wg.Wait()
	// Each stanza was served, or answered service-unavailable before its
	// route existed.
	if got := int(served.Load()) + len(rec.Sent()); got != 200 {
		t.Errorf("%d served + answered, want 200", got)
	}
	var ns []string
	for _, n := range m.Handlers() {
		ns = append(ns, n...)
	}
	if len(ns) != 200 {
		t.Errorf("%d IQ namespaces after concurrent registration", len(ns))
	}
}

type failingSender struct{ muxtest.Recorder }

func (f *failingSender) Send(context.Context, *stanza.Stanza) error { return errors.New("link down") }

func TestReplyNotSent(t *testing.T) {
	var logs bytes.Buffer
	m := quietMux(&logs)
	in := decode(t, `<iq type='get' id='x' from='a@x/r' to='svc.x'><q xmlns='urn:none'/></iq>`)
	if err := m.HandleStanza(context.Background(), &failingSender{}, in); err != nil {
		t.Errorf("HandleStanza = %v, want nil (the failure is logged)", err)
	}
	if !strings.Contains(logs.String(), "error reply not sent") || !strings.Contains(logs.String(), "link down") {
		t.Errorf("failure not logged:\n%s", logs.String())
	}
}

func TestZeroValueServeMux(t *testing.T) {
	var m mux.ServeMux
	m.HandlePresence(mux.AnyType, tag("p", new(string)))
	var rec muxtest.Recorder
	in := decode(t, `<iq type='get' id='z' from='a@x/r' to='svc.x'><q xmlns='urn:q'/></iq>`)
	if err := m.HandleStanza(context.Background(), &rec, in); err != nil {
		t.Fatal(err)
	}
	if r := rec.Last(); r == nil || !errors.Is(r.Err(), stanza.ErrServiceUnavailable) {
		t.Errorf("zero ServeMux reply %v", r)
	}
}

func TestUnmatched(t *testing.T) {
	var logs bytes.Buffer
	m := quietMux(&logs)
	m.HandlePresenceFunc(stanza.TypeUnavailable, func(context.Context, mux.Sender, *stanza.Stanza) error { return nil })
	for _, st := range []*stanza.Stanza{
		decode(t, `<presence from='a@x/r' to='svc.x'/>`),
		decode(t, `<iq type='result' id='r' from='a@x/r' to='svc.x'/>`),
		{Kind: 0, From: jid.MustParse("a@x")},
	} {
		if h, p := m.Handler(st); h != nil || p != "" {
			t.Errorf("%v: Handler = %v, %q", st.Kind, h, p)
		}
		var rec muxtest.Recorder
		if err := m.HandleStanza(context.Background(), &rec, st); err != nil || len(rec.Sent()) != 0 {
			t.Errorf("%v: %v, sent %v", st.Kind, err, rec.Sent())
		}
	}
	if h, p := m.Handler(decode(t, `<presence type='unavailable' from='a@x/r' to='svc.x'/>`)); h == nil || p != "presence unavailable" {
		t.Errorf("Handler = %v, %q", h, p)
	}
}

func TestErrorStanzasOnlyToErrorRoutes(t *testing.T) {
	var got string
	var logs bytes.Buffer
	m := quietMux(&logs)
	m.HandleMessage(mux.AnyType, "", tag("msg *", &got))
	m.HandleMessage(mux.AnyType, "urn:x", tag("msg * x", &got))
	m.HandleFallback(stanza.Message, tag("msg fallback", &got))
	m.HandlePresence(mux.AnyType, tag("pres *", &got))
	m.HandleFallback(stanza.Presence, tag("pres fallback", &got))
	bounceMsg := `<message type='error' from='a@x/r' to='svc.x'><x xmlns='urn:x'/><error type='cancel'><gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`
	bouncePres := `<presence type='error' from='a@x/r' to='svc.x'><error type='cancel'><gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>`
	for _, in := range []string{bounceMsg, bouncePres} {
		got = ""
		if err := m.HandleStanza(context.Background(), &muxtest.Recorder{}, decode(t, in)); err != nil {
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
