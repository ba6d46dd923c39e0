package router

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"xmppkit.dev/metrics/metricstest"
	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRouterMetrics: sessions by kind, stanzas routed by kind, handshake
// latency, undelivered stanzas by outcome and reason, queued bytes, all
// read through the metrics.Registry the router was given; its gauges go
// away at Close.
func TestRouterMetrics(t *testing.T) {
	reg := metricstest.New()
	r, addr := newTestRouter(t, Config{Metrics: reg, SlowTimeout: 200 * time.Millisecond})
	comp := connectRaw(t, addr, "a.localhost")
	svc, err := r.Attach("svc.localhost", mux.New())
	if err != nil {
		t.Fatal(err)
	}
	alice := connect(t, r, "alice@localhost/a")
	available(t, alice, "")

	sessions := func(kind string) float64 { return reg.Value("xmppkit_router_sessions", "kind", kind) }
	for kind, want := range map[string]float64{"component": 1, "service": 1, "client": 1, "unauthenticated": 0} {
		if got := sessions(kind); got != want {
			t.Errorf("sessions{kind=%s} = %v, want %v\n%s", kind, got, want, reg.Series())
		}
	}
	if n, sum := reg.Count("xmppkit_router_handshake_seconds", "kind", "component"); n != 1 || sum <= 0 || sum > 5 {
		t.Errorf("component handshake: %d observations, %v s", n, sum)
	}

	before := reg.Value("xmppkit_router_stanzas_total", "kind", "message")
	comp.send("<message to='alice@localhost/a' from='a.localhost' type='chat'><body>hi</body></message>")
	if got := recvKind(t, alice, stanza.Message); got.Body() != "hi" {
		t.Fatalf("alice got %v", got)
	}
	if got := reg.Value("xmppkit_router_stanzas_total", "kind", "message"); got != before+1 {
		t.Errorf("stanzas{kind=message} went from %v to %v, want +1", before, got)
	}

	// A message to nobody is bounced with service-unavailable; an error to
	// a bare JID is dropped.
	comp.send("<message to='nobody@localhost' from='a.localhost' type='chat'><body>x</body></message>")
	if e := comp.recv(); e.Type != stanza.TypeError {
		t.Fatalf("no bounce: %v", e)
	}
	comp.send("<message to='alice@localhost' from='a.localhost' type='error'/>")
	comp.send("<message to='alice@localhost' from='evil.localhost' type='chat'/>")
	comp.recv() // the forbidden error for the forged from
	waitFor(t, "undelivered counts", func() bool {
		return reg.Value("xmppkit_router_undelivered_total", "outcome", "bounced", "reason", "service-unavailable") == 1 &&
			reg.Value("xmppkit_router_undelivered_total", "outcome", "dropped", "reason", ReasonErrorToBare) == 1 &&
			reg.Value("xmppkit_router_undelivered_total", "outcome", "denied", "reason", ReasonForgedFrom) == 1
	})

	// A slow component: its queue fills, the router kicks it.
	slow := connectRaw(t, addr, "slow.localhost")
	_ = slow // never reads
	big := "<message to='slow.localhost' type='chat'><body>" + strings.Repeat("x", 64<<10) + "</body></message>"
	sender := svc
	var queuedSeen float64
	for i := 0; i < 200 && reg.Value("xmppkit_router_kicked_total", "reason", "slow") == 0; i++ {
		st, err := stanza.Decode([]byte(big))
		if err != nil {
			t.Fatal(err)
		}
		sender.Send(ctxT(t), st)
		queuedSeen = max(queuedSeen, reg.Value("xmppkit_router_queue_bytes", "kind", "component"))
	}
	if reg.Value("xmppkit_router_kicked_total", "reason", "slow") != 1 {
		t.Fatalf("slow component not counted as kicked\n%s", reg.Series())
	}
	if queuedSeen < float64(DefaultMaxQueue) {
		t.Errorf("queue_bytes{kind=component} peaked at %v, want at least MaxQueue %d", queuedSeen, DefaultMaxQueue)
	}

	ctx := ctxT(t)
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"component", "service", "client", "unauthenticated"} {
		if n := reg.Gauges("xmppkit_router_sessions", "kind", kind); n != 0 {
			t.Errorf("sessions{kind=%s}: %d gauge functions left after Close", kind, n)
		}
	}
}

// TestClientHandshakeMetric: the c2s side reports accept-to-bind latency
// through ClientStream.Bind.
func TestClientHandshakeMetric(t *testing.T) {
	reg := metricstest.New()
	r, _ := newTestRouter(t, Config{Metrics: reg})
	a, b := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		cs, err := r.AcceptClient(b)
		if err != nil {
			return
		}
		time.Sleep(20 * time.Millisecond) // the negotiation
		if err := cs.Bind(mustJID("bob@localhost/x"), "", nil); err != nil {
			t.Error(err)
		}
		a.Close()
		cs.Serve() // ends at once: the client is gone
	}()
	go io.Copy(io.Discard, a)
	<-done
	if n, sum := reg.Count("xmppkit_router_handshake_seconds", "kind", "client"); n != 1 || sum < 0.02 {
		t.Errorf("client handshake: %d observations, %v s; want 1, at least 20 ms", n, sum)
	}
}

// nopRoute takes every stanza and keeps nothing.
type nopRoute struct{}

func (nopRoute) deliver(*packet) error { return nil }
func (nopRoute) kick(*stream.Error)    {}

// TestMetricsAndTapCostNothing: routing a stanza allocates nothing more
// with metrics than without, and nothing at all without taps.
func TestMetricsAndTapCostNothing(t *testing.T) {
	raw := []byte("<message to='n.localhost' from='alice@localhost/a' type='chat'><body>hi</body></message>")
	allocs := func(cfg Config) float64 {
		r, _ := newTestRouter(t, cfg)
		r.mu.Lock()
		r.comps["n.localhost"] = nopRoute{}
		r.mu.Unlock()
		el := readElement(t, raw)
		p := &packet{raw: raw}
		if !elementHeader(el, &p.h) {
			t.Fatal("no header")
		}
		return testing.AllocsPerRun(1000, func() {
			if err := r.dispatch(p); err != nil {
				t.Fatal(err)
			}
		})
	}
	without := allocs(Config{})
	with := allocs(Config{Metrics: metricstest.New()})
	if without != 0 || with != 0 {
		t.Errorf("allocations per routed stanza: %v without metrics, %v with; want 0 and 0", without, with)
	}
}

// TestTap: a tap sees each routed stanza once, with from stamped, as XML it
// may keep; a client's stanza without to too; nothing after remove.
func TestTap(t *testing.T) {
	r, addr := newTestRouter(t, Config{})
	var (
		mu  sync.Mutex
		got []*Traffic
	)
	remove := r.Tap(func(tr *Traffic) {
		mu.Lock()
		got = append(got, tr)
		mu.Unlock()
	})
	comp := connectRaw(t, addr, "a.localhost")
	alice := connect(t, r, "alice@localhost/a")
	available(t, alice, "") // presence without to: handled for the account
	msg := stanza.NewMessage(stanza.TypeChat, mustJID("a.localhost"), "<b>&amp;</b>")
	msg.ID = "m1"
	if err := alice.Send(ctxT(t), msg); err != nil {
		t.Fatal(err)
	}
	if st := comp.recv(); st.ID != "m1" {
		t.Fatalf("component got %v", st)
	}
	comp.send("<iq type='get' id='q1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	comp.recv() // the router's answer
	remove()
	alice.Send(ctxT(t), stanza.NewMessage(stanza.TypeChat, mustJID("a.localhost"), "after"))
	comp.recv()

	mu.Lock()
	defer mu.Unlock()
	var lines []string
	for _, tr := range got {
		lines = append(lines, tr.Kind.String()+" "+tr.Type+" "+tr.ID+" "+tr.From+" -> "+tr.To)
	}
	want := []string{
		"presence   alice@localhost/a -> ",
		"message chat m1 alice@localhost/a -> a.localhost",
		"iq get q1 a.localhost -> localhost",
		"iq result q1 localhost -> a.localhost",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("tapped:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	m := string(got[1].XML)
	if !strings.Contains(m, "from='alice@localhost/a'") && !strings.Contains(m, `from="alice@localhost/a"`) || !strings.Contains(m, "&lt;b&gt;&amp;amp;&lt;/b&gt;") {
		t.Errorf("tapped XML %s", m)
	}
	// The component's stanza had no from: the tap sees it stamped.
	if q := string(got[2].XML); !strings.Contains(q, "a.localhost") {
		t.Errorf("tapped XML %s lacks the stamped from", q)
	}
}

// TestPeers lists components, services and clients.
func TestPeers(t *testing.T) {
	r, addr := newTestRouter(t, Config{})
	connectRaw(t, addr, "b.localhost")
	if _, err := r.Attach("svc.localhost", mux.New()); err != nil {
		t.Fatal(err)
	}
	alice := connect(t, r, "alice@localhost/a")
	available(t, alice, "")
	connect(t, r, "bob@localhost/b")
	var lines []string
	for _, p := range r.Peers() {
		line := p.Kind + " " + p.Addr.String()
		if p.Available {
			line += " available"
		}
		if p.Remote != "" && !p.Since.IsZero() {
			line += " tcp"
		}
		lines = append(lines, line)
	}
	want := "component b.localhost tcp\nservice svc.localhost\nclient alice@localhost/a available\nclient bob@localhost/b"
	if got := strings.Join(lines, "\n"); got != want {
		t.Fatalf("Peers:\n%s\nwant:\n%s", got, want)
	}
}

// TestServiceSessionMetrics: a service attached in process reports its
// session's metrics under its domain into the router's Registry; its
// gauge goes when it is closed.
func TestServiceSessionMetrics(t *testing.T) {
	reg := metricstest.New()
	r, _ := newTestRouter(t, Config{Metrics: reg})
	m := mux.New()
	m.HandleIQFunc(stanza.TypeGet, "urn:xmpp:ping", "ping", func(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
		return s.Send(ctx, iq.Result())
	})
	sess, err := r.Attach("svc.localhost", m)
	if err != nil {
		t.Fatal(err)
	}
	alice := connect(t, r, "alice@localhost/a")
	iq := stanza.NewIQ(stanza.TypeGet, mustJID("svc.localhost"), stanza.Element{Space: "urn:xmpp:ping", Local: "ping"})
	if _, err := alice.SendIQ(ctxT(t), iq); err != nil {
		t.Fatal(err)
	}
	v := func(dir string) float64 {
		return reg.Value("xmppkit_stanzas_total", "domain", "svc.localhost", "direction", dir, "kind", "iq")
	}
	if v("in") != 1 || v("out") != 1 {
		t.Errorf("service iq in %v, out %v; want 1 and 1\n%s", v("in"), v("out"), reg.Series())
	}
	if n, _ := reg.Count("xmppkit_handler_duration_seconds", "domain", "svc.localhost"); n != 1 {
		t.Errorf("handler calls %d, want 1", n)
	}
	if reg.Gauges("xmppkit_inbound_queue_stanzas", "domain", "svc.localhost") != 1 {
		t.Error("no inbound queue gauge")
	}
	if err := sess.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if n := reg.Gauges("xmppkit_inbound_queue_stanzas", "domain", "svc.localhost"); n != 0 {
		t.Errorf("%d gauge functions left after the service closed", n)
	}
}
