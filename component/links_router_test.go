package component_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"xmppkit.dev/component"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/router"
	"xmppkit.dev/session"
	"xmppkit.dev/stanza"
)

func quietLog() *slog.Logger {
	if os.Getenv("XMPPKIT_DEBUG_LINKS") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// cutOne closes one forwarded connection, the oldest open one.
func (p *faultProxy) cutOne() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.links {
		select {
		case <-l.closed:
			continue
		default:
		}
		l.close()
		return true
	}
	return false
}

// TestLinksThroughRouter runs a component with three links against the
// router with the domain balanced over three links, over TCP: clients'
// messages are spread over the links by sender, each sender's echoes come
// back in order, and when one link is cut under load the component
// reconnects it while the others carry on, with every sender's order kept
// (what was in the cut connection's socket buffers is lost: XEP-0114 has
// no acknowledgements).
func TestLinksThroughRouter(t *testing.T) {
	const domain = "echo.localhost"
	r, err := router.New(router.Config{
		Secrets: map[string]string{domain: "s3cret"},
		Links:   map[string]int{domain: 3},
		Logger:  quietLog(),
	})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := r.ListenComponents("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r.Close(ctx)
	}()
	proxy := newFaultProxy(t, addr.String())

	var hmu sync.Mutex
	handled := map[string][]int{} // sender -> ids, in the order the handler saw them
	links := map[uint64]bool{}
	m := mux.New()
	m.HandleMessageFunc(stanza.TypeChat, "", func(ctx context.Context, s mux.Sender, msg *stanza.Stanza) error {
		n, _ := strconv.Atoi(msg.ID)
		hmu.Lock()
		handled[msg.From.Bare().String()] = append(handled[msg.From.Bare().String()], n)
		links[session.LinkID(ctx)] = true
		hmu.Unlock()
		return s.Send(ctx, msg.Reply())
	})
	c := &component.Component{Addr: proxy.addr(), Domain: domain, Secret: "s3cret", Handler: m, Links: 3,
		Logger: quietLog(), BackoffBase: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	waitLinks := func(what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for c.Stats().Links != 3 || r.Stats().Components != 3 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: component links %d, router links %d", what, c.Stats().Links, r.Stats().Components)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitLinks("start")

	const senders, per = 12, 150
	type result struct {
		ids   []int
		order bool
	}
	results := make([]result, senders)
	var wg sync.WaitGroup
	sent := make(chan struct{}, senders*per)
	for i := range senders {
		cl, err := r.Connect(jid.MustParse(fmt.Sprintf("u%d@localhost/r", i)))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		wg.Add(2)
		go func() {
			defer wg.Done()
			for k := range per {
				msg := stanza.NewMessage(stanza.TypeChat, jid.MustParse(domain), "hello")
				msg.ID = strconv.Itoa(k)
				if err := cl.Send(context.Background(), msg); err != nil {
					t.Error(err)
					return
				}
				sent <- struct{}{}
				time.Sleep(time.Millisecond)
			}
		}()
		go func() {
			defer wg.Done()
			res := &results[i]
			res.order = true
			for {
				rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
				st, err := cl.Recv(rctx)
				rcancel()
				if err != nil {
					return
				}
				if st.Kind != stanza.Message || st.Type == stanza.TypeError {
					continue
				}
				n, _ := strconv.Atoi(st.ID)
				if len(res.ids) > 0 && n <= res.ids[len(res.ids)-1] {
					res.order = false
				}
				res.ids = append(res.ids, n)
				if n == per-1 {
					return
				}
			}
		}()
	}
	// Cut one link a third of the way through.
	for range senders * per / 3 {
		<-sent
	}
	if !proxy.cutOne() {
		t.Fatal("no link to cut")
	}
	wg.Wait()
	waitLinks("after the cut")

	lost := 0
	for i, res := range results {
		if !res.order {
			t.Errorf("sender %d: echoes out of order: %v", i, res.ids)
		}
		lost += per - len(res.ids)
	}
	hmu.Lock()
	for s, ids := range handled {
		for j := 1; j < len(ids); j++ {
			if ids[j] <= ids[j-1] {
				t.Errorf("%s: the handler saw %d after %d", s, ids[j], ids[j-1])
			}
		}
	}
	nlinks := len(links)
	hmu.Unlock()
	if nlinks < 3 {
		t.Errorf("stanzas came on %d links, want at least 3", nlinks)
	}
	if lost > senders*per/10 {
		t.Errorf("%d of %d echoes lost: more than a cut connection's buffers", lost, senders*per)
	}
	t.Logf("lost %d of %d echoes across the cut; router moved %d stanzas; component: %d connects", lost, senders*per, r.Stats().Moved, c.Stats().Connects)
}
