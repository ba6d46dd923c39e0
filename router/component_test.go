package router

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"xmppkit.dev/disco"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

func TestHandshake(t *testing.T) {
	_, addr := newTestRouter(t, Config{})
	tests := []struct {
		name, domain, secret string
		headerCond, cond     string
	}{
		{name: "success", domain: "a.localhost", secret: testSecret},
		{name: "case-insensitive domain", domain: "A.LocalHost", secret: testSecret},
		{name: "wrong secret", domain: "a.localhost", secret: "nope", cond: "not-authorized"},
		{name: "unknown domain", domain: "nope.localhost", headerCond: "host-unknown"},
		{name: "local domain", domain: "localhost", headerCond: "host-unknown"},
		{name: "malformed domain", domain: "a@@b", headerCond: "host-unknown"},
		{name: "empty secret", domain: "b.localhost", secret: "", cond: "not-authorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, h, err := dialRaw(t, addr, tt.domain)
			if tt.headerCond != "" {
				if err == nil {
					err = c.streamErr()
				}
				if got := condOf(err); got != tt.headerCond {
					t.Fatalf("after header: %q, want %q", got, tt.headerCond)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.NS != stream.NSComponent || h.ID == "" || !strings.EqualFold(h.From, tt.domain) {
				t.Fatalf("server header %+v", h)
			}
			err = c.handshake(tt.secret)
			if got := condOf(err); got != tt.cond {
				t.Fatalf("handshake: %q (%v), want %q", got, err, tt.cond)
			}
			if tt.cond == "" {
				// End the stream and wait for the router's close, so the
				// domain is free for the next case.
				c.send(stream.CloseTag)
				if err := c.streamErr(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestHandshakeBadInput(t *testing.T) {
	_, addr := newTestRouter(t, Config{HandshakeTimeout: 200 * time.Millisecond})
	tests := []struct {
		name, send, cond string
	}{
		{"garbage", "hello world", "not-well-formed"},
		{"client namespace", "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='a.localhost'>", "invalid-namespace"},
		{"timeout before header", "", "connection-timeout"},
		{"timeout before handshake", "<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='a.localhost'>", "connection-timeout"},
		{"stanza instead of handshake", "<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='a.localhost'><message to='x@localhost'/>", "not-authorized"},
		{"doctype", "<?xml version='1.0'?><!DOCTYPE x><stream:stream>", "restricted-xml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(10 * time.Second))
			nc.Write([]byte(tt.send))
			rd := stream.NewReader(nc, stream.ReaderOptions{})
			_, err = rd.ReadHeader()
			for err == nil {
				_, err = rd.Next()
			}
			if got := condOf(err); got != tt.cond {
				t.Fatalf("got %q (%v), want %q", got, err, tt.cond)
			}
		})
	}
}

func TestConflict(t *testing.T) {
	for _, policy := range []Conflict{RefuseNew, KickOld} {
		t.Run(fmt.Sprint(policy), func(t *testing.T) {
			r, addr := newTestRouter(t, Config{Conflict: policy})
			first := connectRaw(t, addr, "a.localhost")
			second, _, err := dialRaw(t, addr, "a.localhost")
			if err != nil {
				t.Fatal(err)
			}
			err = second.handshake(testSecret)
			b := connectRaw(t, addr, "b.localhost")
			switch policy {
			case RefuseNew:
				if condOf(err) != "conflict" {
					t.Fatalf("second: %v, want conflict", err)
				}
				// The first still works.
				b.send("<message to='a.localhost' id='m1'><body>hi</body></message>")
				if st := first.recv(); st.ID != "m1" {
					t.Fatalf("first got %v", st)
				}
			case KickOld:
				if err != nil {
					t.Fatalf("second: %v", err)
				}
				if got := condOf(first.streamErr()); got != "conflict" {
					t.Fatalf("first: %q, want conflict", got)
				}
				b.send("<message to='a.localhost' id='m2'><body>hi</body></message>")
				if st := second.recv(); st.ID != "m2" {
					t.Fatalf("second got %v", st)
				}
			}
			_ = r
		})
	}
	t.Run("in-process domain", func(t *testing.T) {
		r, addr := newTestRouter(t, Config{Conflict: KickOld})
		svc, err := r.Attach("c.localhost", mux.New())
		if err != nil {
			t.Fatal(err)
		}
		defer svc.Close(context.Background())
		c, _, err := dialRaw(t, addr, "c.localhost")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.handshake(testSecret); condOf(err) != "conflict" {
			t.Fatalf("got %v, want conflict", err)
		}
		if _, err := r.Attach("c.localhost", mux.New()); err == nil {
			t.Fatal("second Attach succeeded")
		}
	})
}

func TestMaxUnauthPerIP(t *testing.T) {
	_, addr := newTestRouter(t, Config{MaxUnauthPerIP: 2})
	var conns []net.Conn
	for range 2 {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		conns = append(conns, nc)
	}
	time.Sleep(50 * time.Millisecond) // let the router accept both
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	rd := stream.NewReader(nc, stream.ReaderOptions{})
	_, err = rd.ReadHeader()
	for err == nil {
		_, err = rd.Next()
	}
	if condOf(err) != "policy-violation" {
		t.Fatalf("third: %v, want policy-violation", err)
	}
	// Authenticating frees a slot.
	conns[0].Close()
	time.Sleep(50 * time.Millisecond)
	connectRaw(t, addr, "a.localhost")
}

func TestRoutingTCP(t *testing.T) {
	r, addr := newTestRouter(t, Config{})
	a := connectRaw(t, addr, "a.localhost")
	b := connectRaw(t, addr, "b.localhost")

	t.Run("forward", func(t *testing.T) {
		a.send("<message from='bot@a.localhost/x' to='user@b.localhost' id='1' type='chat'><body>hi &amp; bye</body></message>")
		st := b.recv()
		if st.From.String() != "bot@a.localhost/x" || st.To.String() != "user@b.localhost" || st.Body() != "hi & bye" {
			t.Fatalf("b got %v", st)
		}
	})
	t.Run("bytes forwarded as is", func(t *testing.T) {
		const raw = "<message  type=\"chat\" from='bot@a.localhost/x' to='user@b.localhost' id='r1'><body xml:lang='en'>a &lt; b</body><x xmlns='urn:x'><y/></x></message>"
		a.send(raw)
		el, err := b.rd.Next()
		if err != nil || string(el.Raw()) != raw {
			t.Fatalf("b got %q (%v)", el.Raw(), err)
		}
		// A missing from changes only the start tag.
		a.send("<message to='user@b.localhost' id='r2'><body>x</body></message>")
		el, err = b.rd.Next()
		if err != nil || string(el.Raw()) != "<message from='a.localhost' to='user@b.localhost' id='r2'><body>x</body></message>" {
			t.Fatalf("b got %q (%v)", el.Raw(), err)
		}
	})
	t.Run("missing from is stamped", func(t *testing.T) {
		a.send("<iq to='b.localhost' id='2' type='get'><ping xmlns='urn:xmpp:ping'/></iq>")
		st := b.recv()
		if st.From.String() != "a.localhost" || st.ID != "2" {
			t.Fatalf("b got %v", st)
		}
		b.send(st.Result().String())
		if res := a.recv(); res.Type != "result" || res.ID != "2" || res.From.String() != "b.localhost" {
			t.Fatalf("a got %v", res)
		}
	})
	t.Run("spoofed from", func(t *testing.T) {
		a.send("<message from='boss@b.localhost' to='user@b.localhost' id='3'><body>x</body></message>")
		st := a.recv()
		if st.ID != "3" || errCond(st) != "forbidden" {
			t.Fatalf("a got %v", st)
		}
		// Addressed to the component that sent it, from the router (RFC
		// 6120 §8.3.1), not to the forged address.
		if st.To.String() != "a.localhost" || st.From.String() != "localhost" {
			t.Fatalf("forbidden error from %s to %s, want from localhost to a.localhost", st.From, st.To)
		}
		// Nothing reached b: the next stanza b sees is this one.
		a.send("<message to='b.localhost' id='4'/>")
		if st := b.recv(); st.ID != "4" {
			t.Fatalf("b got %v", st)
		}
	})
	t.Run("non-canonical from is stamped canonical", func(t *testing.T) {
		// Equal to a JID of a.localhost only after RFC 7622 preparation:
		// forwarded with the canonical form, never the spelling sent.
		for i, tt := range []struct{ from, want string }{
			{"A.LOCALHOST.", "a.localhost"},
			{"Bot@A.localhost./Res", "bot@a.localhost/Res"}, // the resourcepart keeps its case
			{"a.localhost.", "a.localhost"},
		} {
			id := "canon" + strconv.Itoa(i)
			a.send("<message from='" + tt.from + "' to='user@b.localhost' id='" + id + "'><body>x</body></message>")
			el, err := b.rd.Next()
			if err != nil {
				t.Fatal(err)
			}
			if raw := string(el.Raw()); !strings.Contains(raw, " from='"+tt.want+"'") || strings.Contains(raw, tt.from) {
				t.Fatalf("from %q forwarded as %q, want from='%s'", tt.from, raw, tt.want)
			}
		}
	})
	t.Run("no to", func(t *testing.T) {
		a.send("<message id='5'><body>x</body></message>")
		if st := a.recv(); errCond(st) != "bad-request" {
			t.Fatalf("a got %v", st)
		}
	})
	t.Run("errors", func(t *testing.T) {
		tests := []struct{ send, cond, typ string }{
			{"<message to='x@remote.example' id='6'/>", "remote-server-not-found", "cancel"},
			{"<iq to='c.localhost' id='7' type='get'><query xmlns='jabber:iq:version'/></iq>", "service-unavailable", "wait"},
			{"<iq to='localhost' id='8' type='get'><query xmlns='jabber:iq:version'/></iq>", "service-unavailable", "cancel"},
			{"<message to='localhost' id='9'><body>x</body></message>", "service-unavailable", "cancel"},
			{"<message to='nobody@localhost' id='10'><body>x</body></message>", "service-unavailable", "cancel"},
			{"<iq to='nobody@localhost/r' id='11' type='set'><query xmlns='jabber:iq:version'/></iq>", "service-unavailable", "cancel"},
		}
		for _, tt := range tests {
			a.send(tt.send)
			st := a.recv()
			e := st.Err()
			if e == nil || string(e.Condition) != tt.cond || (tt.typ != "" && string(e.Type) != tt.typ) {
				t.Errorf("%s: got %v", tt.send, st)
			}
		}
		// An error stanza is never answered: the next thing a sees is the ping answer.
		a.send("<message to='x@remote.example' id='e1' type='error'><error type='cancel'><gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>")
		a.send("<iq to='localhost' id='p1' type='get'><ping xmlns='urn:xmpp:ping'/></iq>")
		if st := a.recv(); st.ID != "p1" || st.Type != "result" || st.From.String() != "localhost" {
			t.Fatalf("got %v", st)
		}
	})
	t.Run("server disco", func(t *testing.T) {
		a.send("<iq to='localhost' id='d1' type='get'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
		st := a.recv()
		info, err := disco.ParseInfo([]byte(st.Payload()))
		if st.Type != "result" || err != nil || len(info.Identities) != 1 || info.Identities[0].Category != "server" || !info.HasFeature("urn:xmpp:ping") {
			t.Fatalf("got %v (%v)", st, err)
		}
		a.send("<iq to='localhost' id='d2' type='get'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
		st = a.recv()
		_, items, err := disco.ParseItems([]byte(st.Payload()))
		if st.Type != "result" || err != nil || len(items) != 2 || items[0].JID.String() != "a.localhost" || items[1].JID.String() != "b.localhost" {
			t.Fatalf("got %v (%v)", st, err)
		}
		a.send("<iq to='localhost' id='d3' type='get'><query xmlns='http://jabber.org/protocol/disco#info' node='x'/></iq>")
		if st := a.recv(); errCond(st) != "item-not-found" {
			t.Fatalf("got %v", st)
		}
	})
	_ = r
}

func TestInProcessAndTCP(t *testing.T) {
	r, addr := newTestRouter(t, Config{})
	m := mux.New()
	m.HandleMessageFunc(mux.AnyType, "", func(ctx context.Context, s mux.Sender, msg *stanza.Stanza) error {
		reply := msg.Reply()
		reply.SetPayload("<body>echo: " + msg.Body() + "</body>")
		return s.Send(ctx, reply)
	})
	var sender mux.Sender
	got := make(chan *stanza.Stanza, 1)
	m.HandleIQFunc(stanza.TypeGet, "urn:x:ask", "ask", func(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
		sender = s
		// Ask the TCP component back, while its IQ waits.
		res, err := s.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, jid.MustParse("a.localhost"), stanza.MustElement("<q xmlns='urn:x:back'/>")))
		if err != nil {
			return err
		}
		got <- res
		return s.Send(ctx, iq.Result())
	})
	svc, err := r.Attach("echo.localhost", m)
	if err != nil {
		t.Fatal(err)
	}
	a := connectRaw(t, addr, "a.localhost")
	a.send("<message from='u@a.localhost' to='echo.localhost' id='1'><body>hello</body></message>")
	st := a.recv()
	if st.Body() != "echo: hello" || st.From.String() != "echo.localhost" || st.To.String() != "u@a.localhost" {
		t.Fatalf("got %v", st)
	}
	a.send("<iq to='echo.localhost' id='q1' type='get'><ask xmlns='urn:x:ask'/></iq>")
	back := a.recv()
	if back.From.String() != "echo.localhost" || back.Type != "get" {
		t.Fatalf("got %v", back)
	}
	res := back.Result()
	res.SetPayload("<q xmlns='urn:x:back'>42</q>")
	a.send(res.String())
	if st := a.recv(); st.ID != "q1" || st.Type != "result" {
		t.Fatalf("got %v", st)
	}
	if res := <-got; !strings.Contains(res.Payload(), "42") {
		t.Fatalf("SendIQ got %v", res)
	}
	// Bad from from an in-process sender.
	bad := stanza.NewMessage("", jid.MustParse("a.localhost"), "x")
	bad.From = jid.MustParse("a.localhost")
	if err := sender.Send(ctxT(t), bad); !errors.Is(err, ErrBadFrom) {
		t.Fatalf("spoofed Send: %v", err)
	}
	// Unhandled IQ: service-unavailable from the mux.
	a.send("<iq to='echo.localhost' id='q2' type='get'><x xmlns='urn:x:none'/></iq>")
	if st := a.recv(); errCond(st) != "service-unavailable" {
		t.Fatalf("got %v", st)
	}
	// Detached: the domain answers service-unavailable (wait).
	svc.Close(ctxT(t))
	svc.Close(ctxT(t))
	a.send("<iq to='echo.localhost' id='q3' type='get'><ask xmlns='urn:x:ask'/></iq>")
	if st := a.recv(); errCond(st) != "service-unavailable" || st.Err().Type != stanza.Wait {
		t.Fatalf("got %v", st)
	}
}
