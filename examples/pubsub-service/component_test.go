package main

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"xmppkit.dev/disco"
	"xmppkit.dev/examples/pubsub-service/pubsub"
	"xmppkit.dev/jid"
	"xmppkit.dev/router"
	"xmppkit.dev/stanza"
)

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestComponentMode runs the -server path against xmppkit's router acting as
// the host server (XEP-0114 over TCP), serves a request through it, then
// shuts down as on SIGTERM; a wrong secret is a clear error.
func TestComponentMode(t *testing.T) {
	r, err := router.New(router.Config{Domains: []string{"localhost"}, Secrets: map[string]string{"pubsub.localhost": "s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	addr, err := r.ListenComponents("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	cfg := config{server: addr.String(), domain: "pubsub.localhost", secret: "s3cret", data: data}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, &out) }()

	c, err := r.Connect(jid.MustParse("alice@localhost/a"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	create := func() error {
		iq := stanza.NewIQ(stanza.TypeSet, jid.MustParse("pubsub.localhost"))
		iq.SetPayloadElements(pubsub.CreateRequest("n", nil))
		rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer rcancel()
		_, err := c.SendIQ(rctx, iq)
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for err := create(); err != nil; err = create() {
		if time.Now().After(deadline) {
			t.Fatalf("component never served: %v\n%s", err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel() // as SIGTERM does
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after shutdown")
	}
	if !strings.Contains(out.String(), "component pubsub.localhost at "+addr.String()) || !strings.Contains(out.String(), "shutting down") {
		t.Fatalf("output: %s", out.String())
	}

	// The node is in the store.
	svc, _, err := openService(cfg, logger(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	if pg, _, err := svc.PageItems(disco.Query{To: jid.MustParse("pubsub.localhost")}); err != nil || len(pg.Items) != 1 || pg.Items[0].Node != "n" {
		t.Fatal("node lost after shutdown")
	}

	bad := cfg
	bad.secret, bad.memory = "wrong", true
	if err := run(context.Background(), bad, io.Discard); err == nil || !strings.Contains(err.Error(), "not-authorized") {
		t.Fatalf("wrong secret: %v", err)
	}
}
