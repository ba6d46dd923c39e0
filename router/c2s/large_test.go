package c2s

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"xmppkit.dev/component"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/router"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

// largeBody returns a body text of n bytes.
func largeBody(n int) string { return strings.Repeat("x", n) }

// TestLargeStanzaC2S: a stanza above Config.MaxQueue but within the stanza
// limit reaches a client that reads normally, over TCP, and neither side is
// closed (issue 18 item 1: a 300 KB message closed the recipient with
// resource-constraint because it could never fit a 256 KiB queue).
func TestLargeStanzaC2S(t *testing.T) {
	_, l, addr := newC2S(t, router.Config{SlowTimeout: time.Second}, Config{})
	a := mustLogin(t, addr, l, "alice@localhost", "alicepw")
	b := mustLogin(t, addr, l, "bob@localhost/desk", "bobpw")
	for _, n := range []int{300 << 10, 500 << 10} {
		msg := stanza.NewMessage(stanza.TypeChat, b.JID(), largeBody(n))
		msg.ID = "big" + strconv.Itoa(n)
		if err := a.Send(ctxT(t), msg); err != nil {
			t.Fatal(err)
		}
		got := c2sRecv(t, b, stanza.Message)
		if got.ID != msg.ID || len(got.Body()) != n {
			t.Fatalf("bob got id %q with a %d-byte body, want %q with %d", got.ID, len(got.Body()), msg.ID, n)
		}
	}
	// Both streams live on.
	ping := stanza.NewMessage(stanza.TypeChat, a.JID(), "still here")
	if err := b.Send(ctxT(t), ping); err != nil {
		t.Fatal(err)
	}
	if got := c2sRecv(t, a, stanza.Message); got.Body() != "still here" {
		t.Fatalf("alice got %s", got)
	}
}

// TestLargeStanzaComponent: the same over the XEP-0114 listener: a 300 KB
// and a 500 KB message from a client reach a TCP component, whose link
// stays up.
func TestLargeStanzaComponent(t *testing.T) {
	r, compAddr := newTestRouter(t, router.Config{Users: testUsers, SlowTimeout: time.Second})
	l, ca, err := Listen(r, "127.0.0.1:0", Config{})
	if err != nil {
		t.Fatal(err)
	}
	addr := ca.String()
	comp := connectRaw(t, compAddr, "gw.localhost")
	a := mustLogin(t, addr, l, "alice@localhost", "alicepw")
	for _, n := range []int{300 << 10, 500 << 10} {
		msg := stanza.NewMessage(stanza.TypeChat, jid.MustParse("gw.localhost"), largeBody(n))
		msg.ID = "big" + strconv.Itoa(n)
		if err := a.Send(ctxT(t), msg); err != nil {
			t.Fatal(err)
		}
		got := comp.recv()
		if got.ID != msg.ID || len(got.Body()) != n {
			t.Fatalf("component got id %q with a %d-byte body, want %q with %d", got.ID, len(got.Body()), msg.ID, n)
		}
		// And back: the component answers with the same size.
		comp.send("<message to='" + a.JID().String() + "' id='back" + strconv.Itoa(n) + "'><body>" + largeBody(n) + "</body></message>")
		back := c2sRecv(t, a, stanza.Message)
		if back.ID != "back"+strconv.Itoa(n) || len(back.Body()) != n {
			t.Fatalf("alice got id %q with a %d-byte body", back.ID, len(back.Body()))
		}
	}
}

// TestSlowReaderClosed: a client that never reads while another sends it
// 3000 stanzas of 60 KB is closed with resource-constraint within a bounded
// time, the sender's stanzas that could not be queued bounce to it with an
// error, and the sender's stream lives on (issue 18 item 12).
func TestSlowReaderClosed(t *testing.T) {
	const slow = 300 * time.Millisecond
	r, l, addr := newC2S(t, router.Config{SlowTimeout: slow}, Config{})
	a := mustLogin(t, addr, l, "alice@localhost", "alicepw")
	b := mustLogin(t, addr, l, "bob@localhost/desk", "bobpw")
	_ = b // bob never reads: his client's receive queue and socket fill up
	body := largeBody(60 << 10)
	bounced := make(chan string, 4096)
	go func() {
		for {
			st, err := a.Recv(context.Background())
			if err != nil {
				close(bounced)
				return
			}
			if st.Type == stanza.TypeError {
				bounced <- errCond(st)
			}
		}
	}()
	start := time.Now()
	closedAt := time.Duration(0)
	for i := range 3000 {
		msg := stanza.NewMessage(stanza.TypeChat, b.JID(), body)
		msg.ID = "m" + strconv.Itoa(i)
		if err := a.Send(ctxT(t), msg); err != nil {
			t.Fatalf("alice's send %d: %v", i, err)
		}
		if closedAt == 0 && r.Stats().Clients < 2 {
			closedAt = time.Since(start)
			break
		}
	}
	if closedAt == 0 {
		deadline := time.Now().Add(4 * slow)
		for r.Stats().Clients == 2 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if r.Stats().Clients == 2 {
			t.Fatalf("the reader that never reads is still connected %v after 3000 x 60 KB", time.Since(start))
		}
		closedAt = time.Since(start)
	}
	t.Logf("never-reading client closed after %v", closedAt)
	// alice learns about what was not delivered.
	select {
	case c := <-bounced:
		if c != string(stanza.ResourceConstraint) && c != string(stanza.ServiceUnavailable) {
			t.Errorf("bounce condition %q", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no bounce reached the sender")
	}
	// bob, reading at last, finds the stream error after what was queued.
	var err error
	for {
		if _, err = b.Recv(ctxT(t)); err != nil {
			break
		}
	}
	if se := (*stream.Error)(nil); !errors.As(b.Err(), &se) || se.Condition != stream.ResourceConstraint {
		t.Logf("bob's stream ended with %v / %v (the router may have cut the link before he read the error)", err, b.Err())
	}
	// alice is fine.
	if err := a.Send(ctxT(t), stanza.NewMessage(stanza.TypeChat, a.JID(), "self")); err != nil {
		t.Fatal(err)
	}
}

// TestStreamIDsUnpredictable: the ids of the router's stream headers, read
// over TCP on both listeners, share no structure (issue 18 item 9: they were
// a random prefix plus a counter, so one id predicted the next).
func TestStreamIDsUnpredictable(t *testing.T) {
	r, compAddr := newTestRouter(t, router.Config{Users: testUsers})
	_, ca, err := Listen(r, "127.0.0.1:0", Config{})
	if err != nil {
		t.Fatal(err)
	}
	headerID := func(addr, header string) string {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		io.WriteString(nc, header)
		rd := stream.NewReader(nc, stream.ReaderOptions{})
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		h, err := rd.ReadHeader()
		if err != nil {
			t.Fatal(err)
		}
		return h.ID
	}
	var ids []string
	for range 4 {
		ids = append(ids,
			headerID(compAddr, "<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='gw.localhost'>"),
			headerID(ca.String(), "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"))
	}
	for i := 1; i < len(ids); i++ {
		if d := bitDiff(ids[i-1], ids[i]); ids[i-1] == ids[i] || d < 30 {
			t.Fatalf("stream ids %q and %q differ in %d bits", ids[i-1], ids[i], d)
		}
	}
}

func bitDiff(a, b string) int {
	n := 0
	for i := range min(len(a), len(b)) {
		for x := a[i] ^ b[i]; x != 0; x &= x - 1 {
			n++
		}
	}
	return n
}

// TestLargeStanzaComponentPackage: the same through the component package
// over TCP: a service that echoes what it gets answers 300 KB and 500 KB
// messages whole, and its link stays up (the component's own queue must
// take one stanza of the maximum size too).
func TestLargeStanzaComponentPackage(t *testing.T) {
	r, compAddr := newTestRouter(t, router.Config{Users: testUsers, SlowTimeout: time.Second})
	l, ca, err := Listen(r, "127.0.0.1:0", Config{})
	if err != nil {
		t.Fatal(err)
	}
	m := mux.New()
	m.HandleMessageFunc(stanza.TypeChat, "", func(ctx context.Context, s mux.Sender, st *stanza.Stanza) error {
		reply := stanza.NewMessage(stanza.TypeChat, st.From, st.Body())
		reply.ID, reply.From = "echo-"+st.ID, st.To
		return s.Send(ctx, reply)
	})
	comp := &component.Component{Addr: compAddr, Domain: "gw.localhost", Secret: testSecret, Handler: m, Logger: quietLogger()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- comp.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	a := mustLogin(t, ca.String(), l, "alice@localhost", "alicepw")
	for _, n := range []int{300 << 10, 500 << 10} {
		msg := stanza.NewMessage(stanza.TypeChat, jid.MustParse("gw.localhost"), largeBody(n))
		msg.ID = "big" + strconv.Itoa(n)
		// The component may still be connecting: the first sends can bounce.
		var back *stanza.Stanza
		for try := 0; back == nil && try < 50; try++ {
			if err := a.Send(ctxT(t), msg); err != nil {
				t.Fatal(err)
			}
			got := c2sRecv(t, a, stanza.Message)
			if got.Type == stanza.TypeError {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			back = got
		}
		if back == nil || back.ID != "echo-"+msg.ID || len(back.Body()) != n {
			t.Fatalf("echo of %d bytes: %v", n, back)
		}
	}
	if st := comp.Stats(); st.LastError != nil {
		t.Fatalf("the component's link failed: %v", st.LastError)
	}
}
