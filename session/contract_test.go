package session_test

// The contract suite: the same handler contract checked over every
// transport, the way net/http runs its tests over HTTP/1 and HTTP/2:
//
//   - component: a component.Component over loopback TCP against a fake
//     XEP-0114 server written here (the peers are the server's users);
//   - router: a service attached in-process (router.Attach), peers are
//     in-memory clients (router.Connect);
//   - router-tcp: a component.Component attached to the router over
//     XEP-0114 on loopback, peers are in-memory clients;
//   - xmpptest: xmpptest.New and its clients.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"xmppkit.dev/component"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/router"
	"xmppkit.dev/session"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
	"xmppkit.dev/xmpptest"
)

var quiet = slog.New(slog.DiscardHandler)

// knobs are the session settings a case asks of every transport, by the
// names they all share.
type knobs struct {
	handlerTimeout time.Duration
}

// env is one transport running one service.
type env struct {
	svc    *session.Session // the service's Sender
	domain jid.JID          // the service's domain
	peer   func(name string) peer
	tcp    bool // the service's stanzas cross a real TCP connection
}

// peer is an entity that talks to the service.
type peer interface {
	addr() jid.JID
	send(t *testing.T, st *stanza.Stanza) // st.From is set to addr by the transport
	recv(t *testing.T, d time.Duration) (*stanza.Stanza, bool)
}

type transport struct {
	name  string
	start func(t *testing.T, h mux.Handler, k knobs) *env
}

var transports = []transport{
	{"component", startComponent},
	{"router", startRouter},
	{"router-tcp", startRouterTCP},
	{"xmpptest", startXmpptest},
}

// each runs f over every transport.
func each(t *testing.T, f func(t *testing.T, start func(h mux.Handler, k knobs) *env)) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			f(t, func(h mux.Handler, k knobs) *env { return tr.start(t, h, k) })
		})
	}
}

// closeOnCleanup stops s gracefully when the test ends.
func closeOnCleanup(t *testing.T, close func(context.Context) error) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
}

// --- router in process

func newRouter(t *testing.T, cfg router.Config) *router.Router {
	t.Helper()
	cfg.Logger = quiet
	r, err := router.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r.Close(ctx)
	})
	return r
}

func startRouter(t *testing.T, h mux.Handler, k knobs) *env {
	r := newRouter(t, router.Config{HandlerTimeout: k.handlerTimeout})
	s, err := r.Attach("svc.localhost", h)
	if err != nil {
		t.Fatal(err)
	}
	closeOnCleanup(t, s.Close)
	return &env{svc: s, domain: s.Addr(), peer: memPeers(t, r)}
}

// memPeers makes in-memory clients of r.
func memPeers(t *testing.T, r *router.Router) func(string) peer {
	return func(name string) peer {
		c, err := r.Connect(jid.MustParse(name + "@localhost/r"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return memPeer{c}
	}
}

type memPeer struct{ c *router.Client }

func (p memPeer) addr() jid.JID { return p.c.JID() }

func (p memPeer) send(t *testing.T, st *stanza.Stanza) {
	t.Helper()
	cp := *st
	cp.From = jid.JID{} // the router stamps it
	if err := p.c.Send(context.Background(), &cp); err != nil {
		t.Fatalf("peer send: %v", err)
	}
}

func (p memPeer) recv(t *testing.T, d time.Duration) (*stanza.Stanza, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	st, err := p.c.Recv(ctx)
	return st, err == nil
}

// --- xmpptest

func startXmpptest(t *testing.T, h mux.Handler, k knobs) *env {
	e := xmpptest.New(t, "svc.localhost", h, xmpptest.WithConfig(router.Config{HandlerTimeout: k.handlerTimeout, Logger: quiet}))
	return &env{svc: e.Session, domain: e.Service, peer: func(name string) peer {
		return memPeer{e.Client(name).Client}
	}}
}

// --- router over TCP: a component attached with XEP-0114

func runComponent(t *testing.T, c *component.Component) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("component Close: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("component Run = %v, want nil after Close", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for c.Stats().State != component.StateConnected {
		if time.Now().After(deadline) {
			t.Fatalf("component not connected: %v", c.Stats().LastError)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func startRouterTCP(t *testing.T, h mux.Handler, k knobs) *env {
	r := newRouter(t, router.Config{Secrets: map[string]string{"svc.localhost": "s3cret"}})
	addr, err := r.ListenComponents("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &component.Component{Addr: addr.String(), Domain: "svc.localhost", Secret: "s3cret", Handler: h,
		Logger: quiet, HandlerTimeout: k.handlerTimeout}
	runComponent(t, c)
	return &env{svc: c.Session(), domain: c.DomainJID(), peer: memPeers(t, r), tcp: true}
}

// --- component against a fake XEP-0114 server

// fakeServer is the server side of XEP-0114 for one component connection:
// it accepts any secret, hands what the component sends to the peers by
// their address, and writes what the peers send.
type fakeServer struct {
	t    *testing.T
	ln   net.Listener
	mu   sync.Mutex
	conn net.Conn
	wmu  sync.Mutex
	qs   map[jid.JID]chan *stanza.Stanza
	up   chan struct{}
}

func startComponent(t *testing.T, h mux.Handler, k knobs) *env {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fs := &fakeServer{t: t, ln: ln, qs: map[jid.JID]chan *stanza.Stanza{}, up: make(chan struct{})}
	done := make(chan struct{})
	go func() { defer close(done); fs.serve() }()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	c := &component.Component{Addr: ln.Addr().String(), Domain: "svc.example.test", Secret: "any", Handler: h,
		Logger: quiet, HandlerTimeout: k.handlerTimeout}
	runComponent(t, c)
	return &env{svc: c.Session(), domain: c.DomainJID(), tcp: true, peer: func(name string) peer {
		j := jid.MustParse(name + "@example.test/r")
		fs.mu.Lock()
		fs.qs[j] = make(chan *stanza.Stanza, 1024)
		fs.mu.Unlock()
		return fakePeer{fs, j}
	}}
}

func (fs *fakeServer) serve() {
	conn, err := fs.ln.Accept()
	if err != nil {
		return
	}
	defer conn.Close()
	rd := stream.NewReader(conn, stream.ReaderOptions{NS: stream.NSComponent})
	h, err := rd.ReadHeader()
	if err != nil {
		return
	}
	fs.mu.Lock()
	fs.conn = conn
	fs.mu.Unlock()
	fs.write("<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' from='" + h.To + "' id='contract'>")
	if el, err := rd.Next(); err != nil || !el.Is(stream.NSComponent, "handshake") {
		return
	}
	fs.write("<handshake/>")
	for {
		st, err := rd.ReadStanza()
		if err != nil {
			if errors.Is(err, io.EOF) {
				fs.write(stream.CloseTag)
			}
			return
		}
		if st == nil {
			continue
		}
		fs.mu.Lock()
		q := fs.qs[st.To]
		fs.mu.Unlock()
		if q != nil {
			q <- st
		}
	}
}

func (fs *fakeServer) write(s string) {
	fs.wmu.Lock()
	defer fs.wmu.Unlock()
	fs.mu.Lock()
	c := fs.conn
	fs.mu.Unlock()
	if c != nil {
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, s)
	}
}

type fakePeer struct {
	fs *fakeServer
	j  jid.JID
}

func (p fakePeer) addr() jid.JID { return p.j }

func (p fakePeer) send(t *testing.T, st *stanza.Stanza) {
	cp := *st
	cp.From = p.j // the server stamps its users' from
	p.fs.write(cp.String())
}

func (p fakePeer) recv(t *testing.T, d time.Duration) (*stanza.Stanza, bool) {
	p.fs.mu.Lock()
	q := p.fs.qs[p.j]
	p.fs.mu.Unlock()
	select {
	case st := <-q:
		return st, true
	case <-time.After(d):
		return nil, false
	}
}

// --- helpers

const wait = 5 * time.Second

// expect returns the next stanza for p, failing the test if none comes.
func expect(t *testing.T, p peer, what string) *stanza.Stanza {
	t.Helper()
	st, ok := p.recv(t, wait)
	if !ok {
		t.Fatalf("%s: nothing came to %s", what, p.addr())
	}
	return st
}

// expectNone fails the test if p receives anything within d.
func expectNone(t *testing.T, p peer, d time.Duration, what string) {
	t.Helper()
	if st, ok := p.recv(t, d); ok {
		t.Fatalf("%s: %s got %s", what, p.addr(), st)
	}
}

func iqTo(to jid.JID, typ, space, local string) *stanza.Stanza {
	return stanza.NewIQ(typ, to, stanza.Element{Space: space, Local: local})
}

// echoMux answers chat messages with their body from the address written
// to, and IQ gets per the test: urn:t:ok result, urn:t:stanza
// item-not-found, urn:t:plain a plain error, urn:t:panic a panic,
// urn:t:deadline waits for its context's end.
func echoMux(seen chan<- *stanza.Stanza) *mux.ServeMux {
	m := mux.New()
	m.HandleMessageFunc(stanza.TypeChat, "", func(ctx context.Context, s mux.Sender, msg *stanza.Stanza) error {
		if msg.Body() == "" {
			return nil
		}
		if strings.HasPrefix(msg.Body(), "fail") {
			return errors.New("a message handler failed")
		}
		if strings.HasPrefix(msg.Body(), "refuse") {
			return stanza.NewError(stanza.NotAcceptable, "refused")
		}
		if strings.HasPrefix(msg.Body(), "slow") {
			time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
		}
		return s.Send(ctx, msg.ReplyBody(msg.Body()))
	})
	m.HandleIQFunc(stanza.TypeGet, "urn:t:ok", "q", func(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
		return s.Send(ctx, iq.Result())
	})
	m.HandleIQFunc(stanza.TypeGet, "urn:t:stanza", "q", func(context.Context, mux.Sender, *stanza.Stanza) error {
		return fmt.Errorf("lookup: %w", stanza.ErrItemNotFound)
	})
	m.HandleIQFunc(stanza.TypeGet, "urn:t:plain", "q", func(context.Context, mux.Sender, *stanza.Stanza) error {
		return errors.New("database down")
	})
	m.HandleIQFunc(stanza.TypeGet, "urn:t:panic", "q", func(context.Context, mux.Sender, *stanza.Stanza) error {
		var m map[string]int
		//lint:ignore SA5000 a deliberate runtime panic, not a panic(value) call
		m["boom"]++
		return nil
	})
	m.HandleIQFunc(stanza.TypeGet, "urn:t:deadline", "q", func(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
		dl, ok := ctx.Deadline()
		<-ctx.Done()
		if seen != nil {
			r := iq.Result()
			r.SetPayloadElements(stanza.TextElement("urn:t:deadline", "dl", strconv.FormatBool(ok && !dl.IsZero())))
			seen <- r
		}
		return ctx.Err()
	})
	m.HandleFallback(stanza.IQ, mux.HandlerFunc(func(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
		return stanza.ErrServiceUnavailable
	}))
	return m
}

func TestContractEcho(t *testing.T) {
	each(t, func(t *testing.T, start func(mux.Handler, knobs) *env) {
		e := start(echoMux(nil), knobs{})
		alice := e.peer("alice")
		to := jid.MustParse("echo@" + e.domain.String())
		for _, body := range []string{"hi", "<b xmlns='urn:evil'>x</b>", "1 < 2 & 3 > 2"} {
			m := stanza.NewMessage(stanza.TypeChat, to, body)
			alice.send(t, m)
			r := expect(t, alice, "echo")
			if r.Body() != body || r.From != to || r.ID != m.ID || r.Type != stanza.TypeChat {
				t.Fatalf("echo of %q: %s", body, r)
			}
		}
		// A typing notification (no body) gets nothing.
		typing := stanza.NewMessage(stanza.TypeChat, to, "")
		typing.SetPayloadElements(stanza.Element{Space: "http://jabber.org/protocol/chatstates", Local: "composing"})
		alice.send(t, typing)
		expectNone(t, alice, 100*time.Millisecond, "typing notification")
	})
}

// Stanzas of one sender are handled, and answered, in the order sent,
// while senders are served in parallel.
func TestContractOrderPerSender(t *testing.T) {
	each(t, func(t *testing.T, start func(mux.Handler, knobs) *env) {
		e := start(echoMux(nil), knobs{})
		const n = 200
		peers := []peer{e.peer("alice"), e.peer("bob"), e.peer("carol")}
		for i := range n {
			for _, p := range peers {
				p.send(t, stanza.NewMessage(stanza.TypeChat, e.domain, "slow "+strconv.Itoa(i)))
			}
		}
		for _, p := range peers {
			for i := range n {
				r := expect(t, p, "ordered echo")
				if want := "slow " + strconv.Itoa(i); r.Body() != want {
					t.Fatalf("%s got %q, want %q: out of order", p.addr(), r.Body(), want)
				}
			}
		}
	})
}

// Errors become replies by one rule (session.ReplyError).
func TestContractErrorReplies(t *testing.T) {
	each(t, func(t *testing.T, start func(mux.Handler, knobs) *env) {
		e := start(echoMux(nil), knobs{})
		alice := e.peer("alice")
		for _, tt := range []struct {
			space string
			want  stanza.Condition
		}{
			{"urn:t:stanza", stanza.ItemNotFound},
			{"urn:t:plain", stanza.InternalServerError},
			{"urn:t:panic", stanza.InternalServerError},
			{"urn:t:nobody", stanza.ServiceUnavailable},
		} {
			iq := iqTo(e.domain, stanza.TypeGet, tt.space, "q")
			alice.send(t, iq)
			r := expect(t, alice, tt.space)
			if r.Type != stanza.TypeError || r.ID != iq.ID || r.Err().Condition != tt.want || r.From != e.domain {
				t.Fatalf("%s: got %s, want a %s error from %s", tt.space, r, tt.want, e.domain)
			}
		}
		// A malformed iq (two payloads) is answered bad-request, unhandled.
		bad := iqTo(e.domain, stanza.TypeGet, "urn:t:ok", "q")
		bad.SetPayloadElements(stanza.Element{Space: "urn:t:ok", Local: "q"}, stanza.Element{Space: "urn:t:ok", Local: "q"})
		alice.send(t, bad)
		if r := expect(t, alice, "two payloads"); r.Err() == nil || r.Err().Condition != stanza.BadRequest {
			t.Fatalf("two payloads: %s", r)
		}
		// A message handler's plain error is not answered; a stanza error is.
		alice.send(t, stanza.NewMessage(stanza.TypeChat, e.domain, "fail please"))
		alice.send(t, stanza.NewMessage(stanza.TypeChat, e.domain, "refuse please"))
		if r := expect(t, alice, "refused message"); r.Type != stanza.TypeError || r.Err().Condition != stanza.NotAcceptable {
			t.Fatalf("refused message: %s (the failed one must get nothing)", r)
		}
		// An error stanza is never answered, whatever the handler says.
		bounce := stanza.NewMessage(stanza.TypeChat, e.domain, "refuse").ErrorReply(stanza.ErrGone)
		bounce.To = e.domain
		alice.send(t, bounce)
		// After a panic, the service still answers.
		ok := iqTo(e.domain, stanza.TypeGet, "urn:t:ok", "q")
		alice.send(t, ok)
		if r := expect(t, alice, "after the panic"); r.Type != stanza.TypeResult || r.ID != ok.ID {
			t.Fatalf("after the panic: %s", r)
		}
		if st := e.svc.Stats(); st.HandlerPanics != 1 {
			t.Errorf("HandlerPanics %d, want 1", st.HandlerPanics)
		}
	})
}

// Each handler call's context carries the deadline and ends at it; the
// request is then answered internal-server-error.
func TestContractDeadline(t *testing.T) {
	each(t, func(t *testing.T, start func(mux.Handler, knobs) *env) {
		seen := make(chan *stanza.Stanza, 1)
		e := start(echoMux(seen), knobs{handlerTimeout: 100 * time.Millisecond})
		alice := e.peer("alice")
		t0 := time.Now()
		alice.send(t, iqTo(e.domain, stanza.TypeGet, "urn:t:deadline", "q"))
		r := expect(t, alice, "deadline")
		took := time.Since(t0)
		if r.Err() == nil || r.Err().Condition != stanza.InternalServerError {
			t.Fatalf("got %s, want internal-server-error", r)
		}
		if took < 100*time.Millisecond || took > 3*time.Second {
			t.Fatalf("answered after %v, want the 100 ms deadline", took)
		}
		if d := <-seen; !strings.Contains(d.Payload(), ">true<") {
			t.Fatalf("the handler's context had no deadline: %s", d)
		}
		// The next call gets a fresh context.
		alice.send(t, iqTo(e.domain, stanza.TypeGet, "urn:t:ok", "q"))
		if r := expect(t, alice, "after the deadline"); r.Type != stanza.TypeResult {
			t.Fatalf("after the deadline: %s", r)
		}
	})
}

// SendIQ's answer is an iq result or error with the id, from the address
// asked; anything else with that id is no answer. A pending id cannot be
// used twice.
func TestContractIQMatching(t *testing.T) {
	each(t, func(t *testing.T, start func(mux.Handler, knobs) *env) {
		others := make(chan *stanza.Stanza, 10)
		m := echoMux(nil)
		m.HandleFallback(stanza.Message, mux.HandlerFunc(func(_ context.Context, _ mux.Sender, st *stanza.Stanza) error {
			others <- st
			return nil
		}))
		e := start(recordIQAnswers(m, others), knobs{})
		alice, bob := e.peer("alice"), e.peer("bob")
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		type result struct {
			st  *stanza.Stanza
			err error
		}
		done := make(chan result, 1)
		req := iqTo(alice.addr(), stanza.TypeGet, "urn:t:ask", "q")
		req.ID = "ask-1"
		go func() {
			st, err := e.svc.SendIQ(ctx, req)
			done <- result{st, err}
		}()
		got := expect(t, alice, "the request")
		if got.ID != "ask-1" || got.From != e.domain {
			t.Fatalf("request %s", got)
		}
		// The same id again, while it waits.
		if _, err := e.svc.SendIQ(ctx, req); !errors.Is(err, session.ErrBadStanza) {
			t.Fatalf("duplicate id: %v, want ErrBadStanza", err)
		}
		// From another peer: no answer (it goes to the handler).
		bob.send(t, got.Result())
		// Of another kind: no answer.
		msg := stanza.NewMessage(stanza.TypeNormal, e.domain, "")
		msg.ID = "ask-1"
		msg.SetPayloadElements(stanza.Element{Space: "urn:t:other", Local: "x"})
		alice.send(t, msg)
		for range 2 {
			select {
			case st := <-others:
				if st.ID != "ask-1" {
					t.Fatalf("handler got %s", st)
				}
			case <-time.After(wait):
				t.Fatal("the wrong answers did not reach the handler")
			}
		}
		select {
		case r := <-done:
			t.Fatalf("SendIQ returned %v, %v on a wrong answer", r.st, r.err)
		default:
		}
		// The answer.
		res := got.Result(stanza.Element{Space: "urn:t:ask", Local: "a"})
		alice.send(t, res)
		r := <-done
		if r.err != nil || r.st.ID != "ask-1" || r.st.From != alice.addr() {
			t.Fatalf("SendIQ = %v, %v", r.st, r.err)
		}
		// An error answer is a *stanza.Error.
		go func() {
			st, err := e.svc.SendIQ(ctx, iqTo(alice.addr(), stanza.TypeGet, "urn:t:ask", "q"))
			done <- result{st, err}
		}()
		got = expect(t, alice, "the second request")
		alice.send(t, got.ErrorReply(stanza.ErrForbidden))
		if r := <-done; !errors.Is(r.err, stanza.ErrForbidden) || r.st != nil {
			t.Fatalf("error answer: %v, %v", r.st, r.err)
		}
		if n := e.svc.Stats().PendingIQs; n != 0 {
			t.Fatalf("%d pending iqs left", n)
		}
	})
}

// recordIQAnswers sends iq results and errors that reach the handler (no
// SendIQ took them) to ch, and serves the rest with m.
func recordIQAnswers(m *mux.ServeMux, ch chan<- *stanza.Stanza) mux.Handler {
	return mux.HandlerFunc(func(ctx context.Context, s mux.Sender, st *stanza.Stanza) error {
		if st.Kind == stanza.IQ && (st.Type == stanza.TypeResult || st.Type == stanza.TypeError) {
			ch <- st
			return nil
		}
		return m.HandleStanza(ctx, s, st)
	})
}

// The error values are the same on every transport.
func TestContractErrorValues(t *testing.T) {
	each(t, func(t *testing.T, start func(mux.Handler, knobs) *env) {
		e := start(echoMux(nil), knobs{})
		alice := e.peer("alice")
		ctx := context.Background()
		forged := stanza.NewMessage(stanza.TypeChat, alice.addr(), "x")
		forged.From = jid.MustParse("elsewhere.example")
		if err := e.svc.Send(ctx, forged); !errors.Is(err, session.ErrBadFrom) || !errors.Is(err, component.ErrBadFrom) || !errors.Is(err, router.ErrBadFrom) {
			t.Fatalf("foreign from: %v", err)
		}
		if _, err := e.svc.SendIQ(ctx, stanza.NewMessage("", alice.addr(), "x")); !errors.Is(err, session.ErrBadStanza) || !errors.Is(err, component.ErrBadStanza) {
			t.Fatalf("SendIQ(message): %v", err)
		}
		if _, err := e.svc.SendIQ(ctx, iqTo(jid.JID{}, stanza.TypeGet, "urn:t", "q")); !errors.Is(err, session.ErrBadStanza) {
			t.Fatalf("SendIQ without to: %v", err)
		}
		if err := e.svc.Send(ctx, &stanza.Stanza{Kind: stanza.IQ, Type: stanza.TypeResult, To: alice.addr()}); !errors.Is(err, session.ErrBadStanza) {
			t.Fatalf("iq result without id: %v", err)
		}
		// A from at the domain is kept.
		sub := stanza.NewMessage(stanza.TypeChat, alice.addr(), "from a room")
		sub.From = jid.MustParse("room@" + e.domain.String() + "/nick")
		if err := e.svc.Send(ctx, sub); err != nil {
			t.Fatal(err)
		}
		if r := expect(t, alice, "subaddress"); r.From != sub.From {
			t.Fatalf("from rewritten: %s", r)
		}
	})
}

// Close is a graceful stop: what the handlers have is handled, a waiting
// SendIQ ends with ErrClosed, later sends fail with ErrClosed.
func TestContractClose(t *testing.T) {
	each(t, func(t *testing.T, start func(mux.Handler, knobs) *env) {
		e := start(echoMux(nil), knobs{})
		alice := e.peer("alice")
		ctx := context.Background()
		waiting := make(chan error, 1)
		go func() {
			_, err := e.svc.SendIQ(ctx, iqTo(alice.addr(), stanza.TypeGet, "urn:t:never", "q"))
			waiting <- err
		}()
		if r := expect(t, alice, "the request that is never answered"); r.Kind != stanza.IQ {
			t.Fatalf("got %s", r)
		}
		// Close right after these arrive: it stops intake, but what the
		// service has taken is handled and its answers written.
		for i := range 20 {
			alice.send(t, stanza.NewMessage(stanza.TypeChat, e.domain, "slow "+strconv.Itoa(i)))
		}
		deadline := time.Now().Add(wait)
		for e.svc.Stats().StanzasIn < 20 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		cctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		if err := e.svc.Close(cctx); err != nil {
			t.Fatalf("Close: %v", err)
		}
		for i := range 20 {
			if r := expect(t, alice, "drained"); r.Body() != "slow "+strconv.Itoa(i) {
				t.Fatalf("got %s", r)
			}
		}
		if err := <-waiting; !errors.Is(err, session.ErrClosed) {
			t.Fatalf("waiting SendIQ: %v, want ErrClosed", err)
		}
		err := e.svc.Send(ctx, stanza.NewMessage(stanza.TypeChat, alice.addr(), "late"))
		if !errors.Is(err, session.ErrClosed) || !errors.Is(err, session.ErrNotSent) || !errors.Is(err, component.ErrClosed) || !errors.Is(err, router.ErrDetached) {
			t.Fatalf("Send after Close: %v", err)
		}
		if err := e.svc.Close(cctx); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
}

// The largest stanza a stream allows goes through, both ways, over real
// TCP where the transport has it.
func TestContractLargeStanza(t *testing.T) {
	each(t, func(t *testing.T, start func(mux.Handler, knobs) *env) {
		e := start(echoMux(nil), knobs{})
		alice := e.peer("alice")
		// 512 KiB is the element limit; leave room for the header.
		body := strings.Repeat("0123456789abcdef", (512<<10-1024)/16)
		alice.send(t, stanza.NewMessage(stanza.TypeChat, e.domain, body))
		r := expect(t, alice, "large echo")
		if r.Body() != body {
			t.Fatalf("large echo: %d bytes back, want %d", len(r.Body()), len(body))
		}
		if e.tcp {
			t.Logf("%d-byte stanza both ways over TCP", len(r.String()))
		}
	})
}
