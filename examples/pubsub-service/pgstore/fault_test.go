package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"xmppkit.dev/examples/pubsub-service/pgstore"
	"xmppkit.dev/examples/pubsub-service/pubsub"
	"xmppkit.dev/servertest"
	"xmppkit.dev/stanza"
	"xmppkit.dev/xmpptest"
)

// faultCycles is XMPPKIT_PG_FAULTS: how many times TestRestartUnderLoad
// takes PostgreSQL down (1 by default; the cycles alternate a fast
// shutdown and a SIGKILL).
func faultCycles(t *testing.T) int {
	v := os.Getenv("XMPPKIT_PG_FAULTS")
	if v == "" {
		return 1
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("XMPPKIT_PG_FAULTS=%q: want a number of restarts, such as 10", v)
	}
	return n
}

// serve runs the pubsub service on st on xmpptest's in-process router,
// with a node anyone may publish to that keeps every item.
func serve(tb testing.TB, st pubsub.Store, node string) *xmpptest.Env {
	tb.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	limits := pubsub.DefaultLimits()
	limits.MaxItemsPerNode = 1 << 20 // keep every item, to check them all
	svc, err := pubsub.New(pubsub.Options{Store: st, Logger: quiet, Limits: limits})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { svc.Close() })
	x := xmpptest.New(tb, "pubsub.localhost", svc.Handler(), xmpptest.WithLogger(quiet))
	owner := x.Client("owner")
	if _, err := owner.SendIQ(ctx, stanza.NewIQ(stanza.TypeSet, x.Service, pubsub.CreateRequest(node, pubsub.NodeConfig("pubsub#max_items", "max", "pubsub#publish_model", "open")))); err != nil {
		tb.Fatal(err)
	}
	return x
}

// TestRestartUnderLoad runs the pubsub service on a private PostgreSQL
// with publishers at full speed and takes the database down and up again
// under them: while it is down, publishes fail with a stanza error
// (wait/resource-constraint, or internal-server-error for a commit whose
// outcome the lost connection hid), never anything else; after it is
// back, publishes succeed again without anyone reopening the store (the
// pool reconnects); and every publish that was acknowledged is in the
// database with its payload at the end. XMPPKIT_PG_FAULTS=N takes it down
// N times, alternating a fast shutdown and a SIGKILL.
func TestRestartUnderLoad(t *testing.T) {
	srv := servertest.Postgres(t, servertest.PostgresOptions{})
	url, err := srv.CreateDatabase("faults")
	if err != nil {
		t.Fatal(err)
	}
	st, err := pgstore.Open(ctx, url, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	x := serve(t, st, "load")

	const publishers = 4
	var (
		mu      sync.Mutex
		acked   = map[string]string{} // id → payload
		failed  = map[stanza.Condition]int{}
		phase   atomic.Int32 // 0 up, 1 down, 2 up again
		afterUp atomic.Int64 // acknowledged since the last start
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	for p := range publishers {
		c := x.Client(fmt.Sprintf("p%d", p))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("p%d-%d", p, i)
				el := stanza.TextElement("urn:test", "n", fmt.Sprintf("%d & %d", p, i))
				rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				_, err := c.SendIQ(rctx, stanza.NewIQ(stanza.TypeSet, x.Service, pubsub.PublishRequest("load", id, el, nil)))
				cancel()
				var se *stanza.Error
				switch {
				case err == nil:
					mu.Lock()
					acked[id] = el.XML()
					mu.Unlock()
					afterUp.Add(1)
				case errors.As(err, &se) && (se.Condition == stanza.ResourceConstraint && se.Type == stanza.Wait || se.Condition == stanza.InternalServerError):
					mu.Lock()
					failed[se.Condition]++
					mu.Unlock()
					time.Sleep(20 * time.Millisecond) // a client backing off
				default:
					t.Errorf("publish %s (database phase %d): %v, want success or wait/resource-constraint or internal-server-error", id, phase.Load(), err)
					return
				}
			}
		}()
	}
	// waitAcks waits for n more acknowledgements, or fails.
	waitAcks := func(n int64, what string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for afterUp.Load() < n {
			if time.Now().After(deadline) {
				close(stop)
				wg.Wait()
				t.Fatalf("%s: %d publishes acknowledged in 20 s, want %d", what, afterUp.Load(), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitAcks(200, "before the restart")
	var downFailures int
	cycles := faultCycles(t)
	for cycle := range cycles {
		phase.Store(1)
		mu.Lock()
		before := failed[stanza.ResourceConstraint] + failed[stanza.InternalServerError]
		mu.Unlock()
		if cycle%2 == 0 {
			err = srv.Stop()
		} else {
			err = srv.Kill()
		}
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond) // down: every publish fails
		mu.Lock()
		downFailures += failed[stanza.ResourceConstraint] + failed[stanza.InternalServerError] - before
		mu.Unlock()
		afterUp.Store(0)
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		phase.Store(2)
		start := time.Now()
		waitAcks(1, fmt.Sprintf("restart %d", cycle+1))
		first := time.Since(start)
		waitAcks(200, fmt.Sprintf("restart %d", cycle+1))
		t.Logf("restart %d: the first publish acknowledged %v after the start, 200 after %v", cycle+1, first.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	}
	close(stop)
	wg.Wait()
	if downFailures == 0 {
		t.Fatal("no publish failed while PostgreSQL was down: the test did not exercise the outage")
	}

	// Every acknowledged publish is there, with its payload, seen by a
	// store opened afresh.
	st2, err := pgstore.Open(ctx, url, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	var items []*pubsub.Item
	if err := st2.Read(ctx, func(tx pubsub.Tx) (err error) {
		items, err = tx.Items(pubsub.Key{Node: "load"}, pubsub.ItemQuery{Payloads: true})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	stored := make(map[string]string, len(items))
	for _, it := range items {
		stored[it.ID] = it.Payload
	}
	mu.Lock()
	defer mu.Unlock()
	lost := 0
	for id, payload := range acked {
		if stored[id] != payload {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged publishes lost across %d restarts", lost, len(acked), cycles)
	}
	t.Logf("%d acknowledged publishes all kept across %d restarts (%d stored); failed while down or reconnecting: %v",
		len(acked), cycles, len(items), failed)
}
