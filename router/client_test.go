package router

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

func connect(t *testing.T, r *Router, full string) *Client {
	t.Helper()
	c, err := r.Connect(jid.MustParse(full))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func available(t *testing.T, c *Client, prio string) {
	t.Helper()
	p := stanza.NewPresence("", jid.JID{})
	if prio != "" {
		p.SetPayload("<priority>" + prio + "</priority>")
	}
	if err := c.Send(ctxT(t), p); err != nil {
		t.Fatal(err)
	}
	// The router echoes it to the client first (RFC 6121 §4.2.2).
	if got := recvKind(t, c, stanza.Presence); got.From != c.JID() || got.To != c.JID() {
		t.Fatalf("%v: first presence %v, want the echo of its own", c.JID(), got)
	}
}

// expectNone checks that nothing arrives for c within a short time.
func expectNone(t *testing.T, c *Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if st, err := c.Recv(ctx); err == nil {
		t.Fatalf("%v got unexpected %v", c.JID(), st)
	}
}

func recvKind(t *testing.T, c *Client, kind stanza.Kind) *stanza.Stanza {
	t.Helper()
	for {
		st, err := c.Recv(ctxT(t))
		if err != nil {
			t.Fatalf("%v: %v", c.JID(), err)
		}
		if st.Kind == kind {
			return st
		}
	}
}

// drain discards what is queued for c.
func drain(c *Client) {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, err := c.Recv(ctx)
		cancel()
		if err != nil {
			return
		}
	}
}

func TestClientDelivery(t *testing.T) {
	r, _ := newTestRouter(t, Config{})
	hi := connect(t, r, "alice@localhost/hi")
	lo := connect(t, r, "alice@localhost/lo")
	neg := connect(t, r, "alice@localhost/neg")
	off := connect(t, r, "alice@localhost/off") // bound, never available
	bob := connect(t, r, "bob@localhost/x")
	available(t, hi, "5")
	available(t, lo, "1")
	available(t, neg, "-1")
	// Presence broadcast to the user's other available resources.
	if p := recvKind(t, hi, stanza.Presence); p.From.String() != "alice@localhost/lo" {
		t.Fatalf("hi got presence from %v", p.From)
	}
	drain(hi)
	drain(lo)
	drain(neg)
	drain(off)

	ctx := ctxT(t)
	alice := jid.MustParse("alice@localhost")
	// chat to the bare JID: the highest priority only (RFC 6121 §8.5.2.1.1).
	bob.Send(ctx, stanza.NewMessage(stanza.TypeChat, alice, "to bare"))
	if m := recvKind(t, hi, stanza.Message); m.Body() != "to bare" || m.From.String() != "bob@localhost/x" {
		t.Fatalf("hi got %v", m)
	}
	expectNone(t, lo)
	expectNone(t, neg)
	expectNone(t, off)
	// headline: every non-negative available resource.
	bob.Send(ctx, stanza.NewMessage(stanza.TypeHeadline, alice, "news"))
	recvKind(t, hi, stanza.Message)
	recvKind(t, lo, stanza.Message)
	expectNone(t, neg)
	// to a full JID: that resource, even a negative or unavailable one.
	bob.Send(ctx, stanza.NewMessage(stanza.TypeChat, jid.MustParse("alice@localhost/off"), "direct"))
	if m := recvKind(t, off, stanza.Message); m.Body() != "direct" {
		t.Fatalf("off got %v", m)
	}
	// to an unbound full JID: chat goes as to the bare JID (§8.5.3.2.1).
	bob.Send(ctx, stanza.NewMessage(stanza.TypeChat, jid.MustParse("alice@localhost/gone"), "redirected"))
	if m := recvKind(t, hi, stanza.Message); m.Body() != "redirected" {
		t.Fatalf("hi got %v", m)
	}
	// IQ to the bare JID is answered by the server for the account, to the
	// account itself (and its subscribed contacts, see TestAccountIQGate).
	res, err := lo.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, alice, stanza.MustElement("<ping xmlns='urn:xmpp:ping'/>")))
	if err != nil || res.Type != "result" || res.From != alice {
		t.Fatalf("ping bare: %v %v", res, err)
	}
	_, err = lo.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, alice, stanza.MustElement("<query xmlns='jabber:iq:version'/>")))
	if condOf(err) != "service-unavailable" {
		t.Fatalf("version to bare: %v", err)
	}
	// IQ to an unbound full JID: service-unavailable (§8.5.3.2.3).
	_, err = bob.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, jid.MustParse("alice@localhost/gone"), stanza.MustElement("<ping xmlns='urn:xmpp:ping'/>")))
	if condOf(err) != "service-unavailable" {
		t.Fatalf("iq to gone resource: %v", err)
	}
	// IQ between full JIDs is routed; the answer comes back to SendIQ.
	go func() {
		iq := recvKind(t, lo, stanza.IQ)
		lo.Send(context.Background(), iq.Result())
	}()
	if res, err := bob.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, jid.MustParse("alice@localhost/lo"), stanza.MustElement("<q xmlns='urn:x'/>"))); err != nil || res.From.String() != "alice@localhost/lo" {
		t.Fatalf("iq to lo: %v %v", res, err)
	}
	// No available resource: chat bounces with service-unavailable.
	carol := connect(t, r, "carol@localhost/c")
	bob.Send(ctx, stanza.NewMessage(stanza.TypeChat, jid.MustParse("carol@localhost"), "x"))
	if m := recvKind(t, bob, stanza.Message); errCond(m) != "service-unavailable" {
		t.Fatalf("bob got %v", m)
	}
	_ = carol
	// A message without to goes to the sender's own bare JID (RFC 6120 §10.3.1).
	lo.Send(ctx, stanza.NewMessage(stanza.TypeChat, jid.JID{}, "note to self"))
	if m := recvKind(t, hi, stanza.Message); m.Body() != "note to self" || m.From.String() != "alice@localhost/lo" {
		t.Fatalf("hi got %v", m)
	}
	// Going away: the other resources see unavailable presence.
	drain(hi)
	lo.Close()
	if p := recvKind(t, hi, stanza.Presence); p.Type != "unavailable" || p.From.String() != "alice@localhost/lo" {
		t.Fatalf("hi got %v", p)
	}
}

func TestClientConflict(t *testing.T) {
	t.Run("refuse", func(t *testing.T) {
		r, _ := newTestRouter(t, Config{})
		connect(t, r, "a@localhost/r")
		if _, err := r.Connect(jid.MustParse("a@localhost/r")); condOf(err) != "conflict" {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("kick", func(t *testing.T) {
		r, _ := newTestRouter(t, Config{Conflict: KickOld})
		old := connect(t, r, "a@localhost/r")
		nw := connect(t, r, "a@localhost/r")
		if _, err := old.Recv(ctxT(t)); err != ErrDetached {
			t.Fatalf("old: %v", err)
		}
		other := connect(t, r, "b@localhost/r")
		other.Send(ctxT(t), stanza.NewMessage("", nw.JID(), "hi"))
		if m := recvKind(t, nw, stanza.Message); m.Body() != "hi" {
			t.Fatalf("new got %v", m)
		}
	})
	t.Run("bad jids", func(t *testing.T) {
		r, _ := newTestRouter(t, Config{})
		for _, s := range []string{"a@localhost", "localhost/r", "a@elsewhere/r"} {
			if _, err := r.Connect(jid.MustParse(s)); err == nil {
				t.Errorf("Connect(%s) succeeded", s)
			}
		}
	})
}

// recRoute is a route that records what it is given, as bytes.
type recRoute struct {
	mu     sync.Mutex
	got    []string
	kicked *stream.Error
}

func (rr *recRoute) deliver(p *packet) error {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if p.raw != nil {
		rr.got = append(rr.got, string(p.raw))
	} else {
		rr.got = append(rr.got, p.st.String())
	}
	return nil
}

func (rr *recRoute) kick(e *stream.Error) { rr.kicked = e }

// TestFromClientRaw drives the c2s entry point with raw elements, as the
// c2s listener does.
func TestFromClientRaw(t *testing.T) {
	r, _ := newTestRouter(t, Config{})
	var alice, bob recRoute
	ca, err := r.bindClient(jid.MustParse("alice@localhost/a"), &alice)
	if err != nil {
		t.Fatal(err)
	}
	defer r.unbindClient(ca)
	cb, err := r.bindClient(jid.MustParse("bob@localhost/b"), &bob)
	if err != nil {
		t.Fatal(err)
	}
	defer r.unbindClient(cb)
	var scratch []byte
	tests := []struct {
		send, want, cond string
	}{
		// from is stamped: only the start tag changes.
		{send: "<message to='bob@localhost/b' id='1'><body>x</body></message>",
			want: "<message from='alice@localhost/a' to='bob@localhost/b' id='1'><body>x</body></message>"},
		{send: "<message from='alice@localhost' to='bob@localhost/b' id='2'/>",
			want: "<message from='alice@localhost/a' to='bob@localhost/b' id='2'/>"},
		{send: "<message from='alice@localhost/a' to='bob@localhost/b' id='3'/>",
			want: "<message from='alice@localhost/a' to='bob@localhost/b' id='3'/>"},
		{send: "<message from='bob@localhost/b' to='bob@localhost/b' id='4'/>", cond: "invalid-from"},
		// Any from that is not the client's, malformed ones included, ends
		// the stream (RFC 6120 §8.1.2.1, §4.9.3.9).
		{send: "<message from='alice@localhost/other' to='bob@localhost/b'/>", cond: "invalid-from"},
		{send: "<message from='localhost' to='bob@localhost/b'/>", cond: "invalid-from"},
		{send: "<message from='a@@b' to='bob@localhost/b'/>", cond: "invalid-from"},
		{send: "<message from='' to='bob@localhost/b'/>", cond: "invalid-from"},
		{send: "<message from='" + strings.Repeat("a", 3000) + "@localhost' to='bob@localhost/b'/>", cond: "invalid-from"},
		{send: "<message from='alice@localhost/a' to='a@@b'/>", cond: ""}, // jid-malformed bounced to alice
		{send: "<foo/>", cond: "unsupported-stanza-type"},
	}
	for _, tt := range tests {
		bob.got = nil
		err := r.fromClient(ca, clientElement(t, tt.send), &scratch)
		if got := condOf(err); got != tt.cond {
			t.Errorf("%s: %q, want %q", tt.send, got, tt.cond)
			continue
		}
		if tt.want != "" && (len(bob.got) != 1 || bob.got[0] != tt.want) {
			t.Errorf("%s: bob got %q", tt.send, bob.got)
		}
	}
	// An error answer to alice: routed back to her route.
	alice.got = nil
	if err := r.fromClient(ca, clientElement(t, "<iq to='nobody@localhost/x' id='5' type='get'><q xmlns='u'/></iq>"), &scratch); err != nil {
		t.Fatal(err)
	}
	if len(alice.got) != 1 || !strings.Contains(alice.got[0], "service-unavailable") {
		t.Fatalf("alice got %q", alice.got)
	}
}

// clientElement reads raw as the first element of a jabber:client stream, as
// the c2s listener gets it from its stream.Reader.
func clientElement(t *testing.T, raw string) *stream.Element {
	t.Helper()
	rd := stream.NewReader(strings.NewReader("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"+raw), stream.ReaderOptions{})
	if _, err := rd.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	el, err := rd.Next()
	if err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return el
}
