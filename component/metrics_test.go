package component_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"xmppkit.dev/component"
	"xmppkit.dev/jid"
	"xmppkit.dev/metrics/metricstest"
	"xmppkit.dev/mux"
	"xmppkit.dev/ping"
	"xmppkit.dev/router"
	"xmppkit.dev/stanza"
)

func waitMetric(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestComponentMetrics: over TCP to the router, the component reports its
// link, handshake latency, reconnections and failed attempts, and its
// session the stanzas in and out by kind, the handler, and iq round trips,
// all under its domain; the gauges go when it stops.
func TestComponentMetrics(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	host := func() *router.Router {
		r, err := router.New(router.Config{Secrets: map[string]string{"svc.localhost": "s"}, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		waitMetric(t, "the component port", func() bool { _, err := r.ListenComponents(addr); return err == nil })
		return r
	}
	r := host()
	reg := metricstest.New()
	m := mux.New()
	ping.Handler{}.Register(m)
	// Messages get an error the session answers (and counts).
	h := mux.HandlerFunc(func(ctx context.Context, s mux.Sender, st *stanza.Stanza) error {
		if st.Kind == stanza.Message {
			return stanza.NewError(stanza.NotAcceptable, "no chat")
		}
		return m.HandleStanza(ctx, s, st)
	})
	c := &component.Component{Addr: addr, Domain: "svc.localhost", Secret: "s", Handler: h, Metrics: reg, Logger: quiet,
		BackoffBase: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond}
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	v := func(name string, labels ...string) float64 {
		return reg.Value(name, append([]string{"domain", "svc.localhost"}, labels...)...)
	}
	waitMetric(t, "link_up 1", func() bool { return v("xmppkit_component_link_up") == 1 })
	if n, sum := reg.Count("xmppkit_component_handshake_seconds", "domain", "svc.localhost"); n != 1 || sum <= 0 {
		t.Errorf("handshake: %d observations, %v s", n, sum)
	}

	alice, err := r.Connect(jid.MustParse("alice@localhost/a"))
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ping.Send(ctx, alice, jid.MustParse("svc.localhost")); err != nil {
		t.Fatal(err)
	}
	alice.Send(ctx, stanza.NewMessage(stanza.TypeChat, jid.MustParse("svc.localhost"), "hi"))
	if err := ping.Send(ctx, c, jid.MustParse("localhost")); err != nil { // the component asks the router
		t.Fatal(err)
	}
	waitMetric(t, "stanza counts", func() bool {
		return v("xmppkit_stanzas_total", "direction", "in", "kind", "iq") >= 2 && // alice's ping, the router's answer
			v("xmppkit_stanzas_total", "direction", "out", "kind", "iq") >= 2 && // the answer, the component's ping
			v("xmppkit_stanzas_total", "direction", "in", "kind", "message") == 1 &&
			v("xmppkit_stanzas_total", "direction", "out", "kind", "message") == 1 && // the not-acceptable error
			v("xmppkit_handler_errors_total") == 1
	})
	if n, _ := reg.Count("xmppkit_iq_roundtrip_seconds", "domain", "svc.localhost"); n != 1 {
		t.Errorf("iq round trips: %d, want 1", n)
	}
	if n, _ := reg.Count("xmppkit_handler_duration_seconds", "domain", "svc.localhost"); n != 2 {
		t.Errorf("handler calls: %d, want 2", n)
	}

	// The server goes away and comes back.
	r.Close(context.Background())
	waitMetric(t, "link_up 0", func() bool { return v("xmppkit_component_link_up") == 0 })
	waitMetric(t, "failed attempts", func() bool { return v("xmppkit_component_connect_failures_total") >= 1 })
	r2 := host()
	defer r2.Close(context.Background())
	waitMetric(t, "link_up again", func() bool { return v("xmppkit_component_link_up") == 1 })
	if got := v("xmppkit_component_reconnects_total"); got != 1 {
		t.Errorf("reconnects_total = %v, want 1", got)
	}

	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	if err := c.Close(cctx); err != nil && !errors.Is(err, component.ErrClosed) {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"xmppkit_component_link_up", "xmppkit_outbound_queue_bytes", "xmppkit_inbound_queue_stanzas"} {
		if n := reg.Gauges(g, "domain", "svc.localhost"); n != 0 {
			t.Errorf("%s: %d gauge functions left after the component stopped", g, n)
		}
	}
}
