package pubsub

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"xmppkit.dev/stanza"
)

// fanout publishes n items to one node with subs subscribers and checks that
// every subscriber receives every event, in publish order. It returns the
// elapsed time.
func fanout(t testing.TB, store Store, subs, n int) time.Duration {
	env := newEnv(t, store)
	pub := env.client("owner@localhost/p")
	pub.ok("set", NS, e("create", "node", "load"), e("configure").form(cfg("pubsub#max_items", "100")))
	clients := make([]*client, subs)
	for i := range clients {
		c := env.client(fmt.Sprintf("s%d@localhost/r", i))
		c.ok("set", NS, e("subscribe", "node", "load", "jid", c.JID().String()))
		clients[i] = c
	}
	var wg sync.WaitGroup
	errs := make(chan error, subs)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for want := 0; want < n; want++ {
				st, err := c.Recv(ctx)
				if err != nil {
					errs <- fmt.Errorf("%s: after %d events: %v", c.JID(), want, err)
					return
				}
				ev, ok := st.Child(NSEvent, "event")
				if !ok {
					errs <- fmt.Errorf("%s: not an event: %s", c.JID(), st)
					return
				}
				x := ev.XML()
				i := strings.Index(x, "<item id='p")
				got := -1
				if i >= 0 {
					got, _ = strconv.Atoi(x[i+len("<item id='p") : i+len("<item id='p")+strings.IndexByte(x[i+len("<item id='p"):], '\'')])
				}
				if got != want {
					errs <- fmt.Errorf("%s: event %d is item %d", c.JID(), want, got)
					return
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		iq := stanza.NewIQ("set", svcJID, PublishRequest("load", "p"+strconv.Itoa(i), stanza.TextElement("urn:load", "n", strconv.Itoa(i)), nil))
		if _, err := pub.SendIQ(ctx, iq); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return elapsed
}

// TestLoad: 100 subscribers on one node, 10,000 publishes (10 and 500 with
// -short); every subscriber gets every event, in order.
func TestLoad(t *testing.T) {
	subs, n := 100, 10000
	if testing.Short() {
		subs, n = 10, 500
	}
	d := fanout(t, nil, subs, n)
	t.Logf("%d publishes to %d subscribers: %v, %.0f events/s", n, subs, d, float64(subs*n)/d.Seconds())
}

// BenchmarkFanout measures publishes to one node with 100 subscribers
// through the in-process router; events/s counts delivered notifications.
func BenchmarkFanout(b *testing.B) {
	for _, c := range []struct {
		name  string
		store func(b *testing.B) Store
	}{
		{"memory", func(*testing.B) Store { return nil }},
		{"file-fsync", func(b *testing.B) Store {
			s, err := OpenFileStore(b.TempDir(), false)
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			const subs = 100
			d := fanout(b, c.store(b), subs, b.N)
			b.ReportMetric(float64(subs*b.N)/d.Seconds(), "events/s")
			b.ReportMetric(float64(b.N)/d.Seconds(), "publishes/s")
		})
	}
}

// BenchmarkPublishParallel measures durable publishes (fsync) from 16
// publishers at once: concurrent requests share fsyncs (group commit).
func BenchmarkPublishParallel(b *testing.B) {
	for _, mode := range []string{"memory", "file-nosync", "file-fsync"} {
		b.Run(mode, func(b *testing.B) {
			var store Store
			if mode != "memory" {
				fs, err := OpenFileStore(b.TempDir(), mode == "file-nosync")
				if err != nil {
					b.Fatal(err)
				}
				store = fs
			}
			env := newEnv(b, store)
			owner := env.client("owner@localhost/o")
			owner.ok("set", NS, e("create", "node", "n"), e("configure").form(cfg("pubsub#publish_model", "open")))
			const P = 16
			clients := make([]*client, P)
			for i := range clients {
				clients[i] = env.client(fmt.Sprintf("p%d@localhost/r", i))
			}
			var next work
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for _, c := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.take(b.N) {
						iq := stanza.NewIQ("set", svcJID, PublishRequest("n", "", v(""), nil))
						if _, err := c.SendIQ(context.Background(), iq); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "publishes/s")
		})
	}
}

// work hands out b.N units of work to several goroutines.
type work struct {
	mu sync.Mutex
	n  int
}

func (s *work) take(max int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n >= max {
		return false
	}
	s.n++
	return true
}
