package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"xmppkit.dev/examples/daemon"
	"xmppkit.dev/examples/pubsub-service/pubsub"
	"xmppkit.dev/jid"
	"xmppkit.dev/router"
	"xmppkit.dev/stanza"
)

// TestLinksFlag runs the -server path with -links 3 against xmppkit's
// router taking three links for the domain: all three come up, the service
// is ready, requests of many senders (spread over the links by the router)
// are served, and a bad -links is refused.
func TestLinksFlag(t *testing.T) {
	r, err := router.New(router.Config{Domains: []string{"localhost"}, Secrets: map[string]string{"pubsub.localhost": "s3cret"},
		Links: map[string]int{"pubsub.localhost": 3}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	addr, err := r.ListenComponents("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config{server: addr.String(), domain: "pubsub.localhost", secret: "s3cret", memory: true, links: 3,
		health: daemon.NewHealth("starting"), stderr: io.Discard}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, &out) }()
	deadline := time.Now().Add(10 * time.Second)
	for r.Stats().Components < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 3 links up\n%s", r.Stats().Components, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ok, why := cfg.health.Ready(); !ok {
		t.Fatalf("not ready with 3 links up: %s", why)
	}
	for i := range 12 {
		c, err := r.Connect(jid.MustParse(fmt.Sprintf("u%d@localhost/r", i)))
		if err != nil {
			t.Fatal(err)
		}
		iq := stanza.NewIQ(stanza.TypeSet, jid.MustParse("pubsub.localhost"))
		iq.SetPayloadElements(pubsub.CreateRequest(fmt.Sprintf("n%d", i), nil))
		rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = c.SendIQ(rctx, iq)
		rcancel()
		c.Close()
		if err != nil {
			t.Fatalf("create from u%d: %v", i, err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if want := "component pubsub.localhost at " + addr.String() + " over 3 links"; !strings.Contains(out.String(), want) {
		t.Fatalf("output lacks %q:\n%s", want, out.String())
	}
	if _, err := parseConfig([]string{"-links", "0"}, io.Discard); err == nil {
		t.Fatal("-links 0 accepted")
	}
}
