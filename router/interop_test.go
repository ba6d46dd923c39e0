package router

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"xmppkit.dev/component"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/servertest"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

// waitRoute waits until domain has a route on r.
func waitRoute(t *testing.T, r *Router, domain string, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r.mu.RLock()
		_, up := r.comps[domain]
		r.mu.RUnlock()
		if up {
			return
		}
		select {
		case err := <-done:
			t.Fatalf("%s ended before connecting: %v", domain, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never connected", domain)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestComponentPackage: xmppkit's own XEP-0114 client against the router,
// talking to an in-process component both ways.
func TestComponentPackage(t *testing.T) {
	r, addr := newTestRouter(t, Config{})
	m := mux.New()
	m.HandleIQFunc(stanza.TypeGet, "urn:x:echo", "echo", func(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
		return s.Send(ctx, iq.Result(stanza.MustElement("<echo xmlns='urn:x:echo'>from "+iq.From.String()+"</echo>")))
	})
	c := &component.Component{Addr: addr, Domain: "a.localhost", Secret: testSecret, Handler: m, Logger: quietLogger(), KeepAlive: -1}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	waitRoute(t, r, "a.localhost", done)

	// TCP component → in-process.
	inproc := mux.New()
	inproc.HandleIQFunc(stanza.TypeGet, "urn:x:echo", "echo", func(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
		return s.Send(ctx, iq.Result(stanza.MustElement("<echo xmlns='urn:x:echo'>inproc</echo>")))
	})
	senders := make(chan mux.Sender, 1)
	inproc.HandleMessageFunc(mux.AnyType, "", func(ctx context.Context, s mux.Sender, msg *stanza.Stanza) error {
		senders <- s
		return nil
	})
	svc, err := r.Attach("b.localhost", inproc)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close(context.Background())
	res, err := c.SendIQ(ctxT(t), stanza.NewIQ(stanza.TypeGet, jid.MustParse("b.localhost"), stanza.MustElement("<echo xmlns='urn:x:echo'/>")))
	if err != nil || !strings.Contains(res.Payload(), "inproc") {
		t.Fatalf("component → in-process: %v %v", res, err)
	}
	// In-process → TCP component, through an in-memory client too.
	cl := connect(t, r, "u@localhost/r")
	res, err = cl.SendIQ(ctxT(t), stanza.NewIQ(stanza.TypeGet, jid.MustParse("a.localhost"), stanza.MustElement("<echo xmlns='urn:x:echo'/>")))
	if err != nil || !strings.Contains(res.Payload(), "from u@localhost/r") {
		t.Fatalf("client → component: %v %v", res, err)
	}
	cl.Send(ctxT(t), stanza.NewMessage("", jid.MustParse("b.localhost"), "hi"))
	var sender mux.Sender
	select {
	case sender = <-senders:
	case <-time.After(5 * time.Second):
		t.Fatal("in-process component got no message")
	}
	res, err = sender.SendIQ(ctxT(t), stanza.NewIQ(stanza.TypeGet, jid.MustParse("a.localhost"), stanza.MustElement("<echo xmlns='urn:x:echo'/>")))
	if err != nil || !strings.Contains(res.Payload(), "from b.localhost") {
		t.Fatalf("in-process → component: %v %v", res, err)
	}
	// Unroutable, seen by the component package as a typed stanza error.
	_, err = c.SendIQ(ctxT(t), stanza.NewIQ(stanza.TypeGet, jid.MustParse("x.example"), stanza.MustElement("<echo xmlns='urn:x:echo'/>")))
	if !errors.Is(err, stanza.ErrRemoteServerNotFound) {
		t.Fatalf("unroutable: %v", err)
	}
	if err := c.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run: %v, want nil after Close", err)
	}
}

// TestComponentPackageErrors: the component package sees the router's
// handshake refusals as the typed errors it documents.
func TestComponentPackageErrors(t *testing.T) {
	_, addr := newTestRouter(t, Config{})
	for _, tt := range []struct {
		domain, secret string
		want           error
	}{
		{"a.localhost", "wrong", stream.ErrNotAuthorized},
		{"zzz.localhost", testSecret, stream.ErrHostUnknown},
	} {
		c := &component.Component{Addr: addr, Domain: tt.domain, Secret: tt.secret, Logger: quietLogger()}
		err := c.Run(ctxT(t))
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.domain, err, tt.want)
		}
	}
}

const slixmppComponent = `
import sys, logging, asyncio
import slixmpp

domain, secret, host, port = sys.argv[1:5]
logging.basicConfig(level=logging.ERROR)

class Comp(slixmpp.ComponentXMPP):
    def __init__(self):
        super().__init__(domain, secret, host, int(port))
        self.add_event_handler("session_start", lambda e: print("online", flush=True))
        self.add_event_handler("message", self.message)

    def message(self, msg):
        if msg['body'] == 'quit':
            self.disconnect()
            return
        reply = msg.reply("slixmpp says: " + msg['body'])
        reply.send()

c = Comp()
c.connect()
c.process(forever=False)
print("done", flush=True)
`

// TestSlixmppComponent: slixmpp's ComponentXMPP (software not written here)
// attaches to the router over TCP and answers a message sent by an xmppkit
// in-process component.
func TestSlixmppComponent(t *testing.T) {
	servertest.Python(t)
	r, addr := newTestRouter(t, Config{})
	host, port, _ := net.SplitHostPort(addr)
	got := make(chan *stanza.Stanza, 1)
	m := mux.New()
	m.HandleMessageFunc(mux.AnyType, "", func(ctx context.Context, s mux.Sender, msg *stanza.Stanza) error {
		got <- msg
		return nil
	})
	svc, err := r.Attach("b.localhost", m)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close(context.Background())
	a := mustJID("b.localhost")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	var out string
	go func() {
		var err error
		out, err = servertest.RunPython(t, ctx, slixmppComponent, "py.localhost", testSecret, host, port)
		done <- err
	}()
	waitRoute(t, r, "py.localhost", done)

	// The in-process component sends on its own initiative.
	s := svc
	msg := stanza.NewMessage(stanza.TypeChat, mustJID("bot@py.localhost"), "hello & <welcome>")
	msg.From = mustJID("svc@b.localhost/x")
	if err := s.Send(ctxT(t), msg); err != nil {
		t.Fatal(err)
	}
	select {
	case reply := <-got:
		if reply.Body() != "slixmpp says: hello & <welcome>" || reply.From.String() != "bot@py.localhost" || reply.To.String() != "svc@b.localhost/x" {
			t.Fatalf("reply %v", reply)
		}
	case err := <-done:
		t.Fatalf("slixmpp ended: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no reply from slixmpp")
	}
	quit := stanza.NewMessage(stanza.TypeChat, mustJID("bot@py.localhost"), "quit")
	quit.From = a
	s.Send(ctxT(t), quit)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "online") || !strings.Contains(out, "done") {
		t.Fatalf("slixmpp output %q", out)
	}
}
