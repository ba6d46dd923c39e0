package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"xmppkit.dev/examples/pubsub-service/pgstore"
	"xmppkit.dev/examples/pubsub-service/pubsub"
	"xmppkit.dev/examples/pubsub-service/pubsub/storetest"
	"xmppkit.dev/servertest"
)

func TestMain(m *testing.M) { os.Exit(servertest.Main(m)) }

// open opens a Store on url, closed at the end of the test.
func open(t testing.TB, url string) *pgstore.Store {
	t.Helper()
	s, err := pgstore.Open(context.Background(), url, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformance runs the pubsub package's Store suite against
// PostgreSQL 15, each subtest on a database of its own.
func TestConformance(t *testing.T) {
	srv := servertest.Shared(t, servertest.KindPostgres)
	urls := map[pubsub.Store]string{}
	storetest.Run(t, storetest.Config{
		Open: func(t *testing.T) pubsub.Store {
			url := srv.Database(t)
			s := open(t, url)
			urls[s] = url
			return s
		},
		Reopen: func(t *testing.T, s pubsub.Store) pubsub.Store {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			return open(t, urls[s])
		},
	})
}

var ctx = context.Background()

func mustWrite(t *testing.T, s pubsub.Store, fn func(tx pubsub.Tx) error) {
	t.Helper()
	if _, err := s.Write(ctx, fn); err != nil {
		t.Fatal(err)
	}
}

// write is Write retrying conflicts (deadlocks between instances) as the
// service does.
func write(s pubsub.Store, fn func(tx pubsub.Tx) error) error {
	for attempt := 0; ; attempt++ {
		_, err := s.Write(ctx, fn)
		if errors.Is(err, pubsub.ErrConflict) && attempt < 8 {
			continue
		}
		return err
	}
}

var when = time.Date(2026, 12, 4, 23, 0, 0, 0, time.UTC)

// create makes a node with the default configuration.
func create(t *testing.T, s pubsub.Store, k pubsub.Key) {
	t.Helper()
	mustWrite(t, s, func(tx pubsub.Tx) error {
		return tx.CreateNode(&pubsub.Node{Key: k, Config: pubsub.DefaultConfig(), Created: when, Creator: "o@x"})
	})
}

// TestSharedDatabase runs two Store values (two service instances) on one
// database at once: concurrent creates of one node (one wins, the others
// get ErrExists), publishes (every Seq once, the node's order the
// database's, each writer's own order kept), a read-modify-write of
// affiliations (serialized: exactly one owner), subscriptions, and a
// max_items trim that must not lose updates; Usage stays exact.
func TestSharedDatabase(t *testing.T) {
	srv := servertest.Shared(t, servertest.KindPostgres)
	url := srv.Database(t)
	stores := []*pgstore.Store{open(t, url), open(t, url)}
	on := func(i int) *pgstore.Store { return stores[i%len(stores)] }

	t.Run("Create", func(t *testing.T) {
		const racers = 16
		errs := make([]error, racers)
		var wg sync.WaitGroup
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = write(on(i), func(tx pubsub.Tx) error {
					return tx.CreateNode(&pubsub.Node{Key: pubsub.Key{Node: "race"}, Config: pubsub.DefaultConfig(), Created: when, Creator: fmt.Sprintf("r%d@x", i)})
				})
			}()
		}
		wg.Wait()
		won := 0
		for i, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, pubsub.ErrExists):
				t.Errorf("create %d: %v, want ErrExists", i, err)
			}
		}
		if won != 1 {
			t.Fatalf("%d creates of one node committed, want 1", won)
		}
	})

	k := pubsub.Key{Node: "shared"}
	create(t, on(0), k)

	t.Run("Publish", func(t *testing.T) {
		const writers, each = 6, 30
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					err := write(on(w), func(tx pubsub.Tx) error {
						return tx.PutItem(k, &pubsub.Item{ID: fmt.Sprintf("w%d-%03d", w, i), Publisher: "p@x", Time: when, Payload: "<v xmlns='urn:v'/>"})
					})
					if err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		var items []*pubsub.Item
		if err := on(1).Read(ctx, func(tx pubsub.Tx) (err error) {
			items, err = tx.Items(k, pubsub.ItemQuery{OldestFirst: true})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if len(items) != writers*each {
			t.Fatalf("%d items, want %d", len(items), writers*each)
		}
		last := map[string]string{}
		for i, it := range items {
			if i > 0 && it.Seq <= items[i-1].Seq {
				t.Fatalf("item %d: Seq %d after %d", i, it.Seq, items[i-1].Seq)
			}
			w := it.ID[:strings.IndexByte(it.ID, '-')]
			if it.ID <= last[w] {
				t.Fatalf("writer %s: %s after %s: a writer's own order lost", w, it.ID, last[w])
			}
			last[w] = it.ID
		}
	})

	t.Run("Affiliations", func(t *testing.T) {
		// Each racer reads the affiliations and makes itself owner when
		// there is none yet, else publisher: without serialization two
		// would see no owner.
		ak := pubsub.Key{Node: "affs"}
		create(t, on(0), ak)
		const racers = 12
		var wg sync.WaitGroup
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := write(on(i), func(tx pubsub.Tx) error {
					affs, err := tx.Affiliations(ak)
					if err != nil {
						return err
					}
					aff := pubsub.AffOwner
					for _, a := range affs {
						if a.Affiliation == pubsub.AffOwner {
							aff = pubsub.AffPublisher
						}
					}
					time.Sleep(time.Millisecond) // widen the window
					return tx.SetAffiliation(pubsub.Affiliation{Key: ak, JID: fmt.Sprintf("a%d@x", i), Affiliation: aff})
				})
				if err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		var affs []pubsub.Affiliation
		if err := on(1).Read(ctx, func(tx pubsub.Tx) (err error) {
			affs, err = tx.Affiliations(ak)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		owners := 0
		for _, a := range affs {
			if a.Affiliation == pubsub.AffOwner {
				owners++
			}
		}
		if len(affs) != racers || owners != 1 {
			t.Fatalf("%d affiliations with %d owners, want %d with 1", len(affs), owners, racers)
		}
	})

	t.Run("Subscriptions", func(t *testing.T) {
		// Racers subscribe (two each) and unsubscribe one of theirs; a
		// "limit" of 20 subscriptions per node is checked by reading
		// them in the same transaction, as the service does.
		const racers, limit = 16, 20
		var wg sync.WaitGroup
		var mu sync.Mutex
		refused := 0
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range 2 {
					var full bool
					err := write(on(i), func(tx pubsub.Tx) error {
						subs, err := tx.Subscriptions(k)
						if err != nil {
							return err
						}
						if full = len(subs) >= limit; full {
							return nil
						}
						return tx.PutSubscription(pubsub.Subscription{Key: k, JID: fmt.Sprintf("s%d@x/r", i), SubID: fmt.Sprintf("%d-%d", i, j),
							State: pubsub.SubSubscribed, Options: pubsub.DefaultSubOptions(), Created: when})
					})
					if err != nil {
						t.Error(err)
					}
					if full {
						mu.Lock()
						refused++
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		var subs []pubsub.Subscription
		var u pubsub.Usage
		if err := on(1).Read(ctx, func(tx pubsub.Tx) (err error) {
			if subs, err = tx.Subscriptions(k); err != nil {
				return err
			}
			u, err = tx.Usage()
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if len(subs) != limit || refused != 2*racers-limit {
			t.Fatalf("%d subscriptions (%d refused), want %d (%d refused)", len(subs), refused, limit, 2*racers-limit)
		}
		if u.Subscriptions != limit {
			t.Fatalf("Usage.Subscriptions %d, want %d", u.Subscriptions, limit)
		}
	})

	t.Run("Trim", func(t *testing.T) {
		// Publish and trim to max in one transaction from both stores:
		// the node never keeps more than max, and the newest survive.
		tk := pubsub.Key{Node: "trim"}
		create(t, on(0), tk)
		const writers, each, max = 4, 20, 5
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					err := write(on(w), func(tx pubsub.Tx) error {
						if err := tx.PutItem(tk, &pubsub.Item{ID: fmt.Sprintf("w%d-%d", w, i), Time: when, Payload: "<v xmlns='urn:v'/>"}); err != nil {
							return err
						}
						old, err := tx.Items(tk, pubsub.ItemQuery{})
						if err != nil {
							return err
						}
						for _, it := range old[min(max, len(old)):] {
							if _, err := tx.DeleteItem(tk, it.ID); err != nil {
								return err
							}
						}
						return nil
					})
					if err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		var n int
		var u pubsub.Usage
		if err := on(1).Read(ctx, func(tx pubsub.Tx) (err error) {
			if n, _, err = tx.ItemStats(tk); err != nil {
				return err
			}
			u, err = tx.Usage()
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if n != max {
			t.Fatalf("%d items kept, want %d", n, max)
		}
		// Usage is exact: the race node, "shared" with its items and
		// subscriptions, "affs" with its affiliations, "trim".
		want := pubsub.Usage{Nodes: 4, Items: 6*30 + max, Subscriptions: 20}
		if u.Nodes != want.Nodes || u.Items != want.Items || u.Subscriptions != want.Subscriptions {
			t.Fatalf("Usage %+v, want nodes/items/subscriptions %+v", u, want)
		}
	})
}

// TestMigrateItemCounters opens a database made before the per-node item
// counters (they are dropped here): Open adds and fills them, and
// ItemStats counts the items that were there.
func TestMigrateItemCounters(t *testing.T) {
	srv := servertest.Shared(t, servertest.KindPostgres)
	url := srv.Database(t)
	s := open(t, url)
	k := pubsub.Key{Node: "old"}
	create(t, s, k)
	for i := range 3 {
		mustWrite(t, s, func(tx pubsub.Tx) error {
			return tx.PutItem(k, &pubsub.Item{ID: fmt.Sprint(i), Time: when, Payload: "<v xmlns='urn:v'/>"})
		})
	}
	s.Close()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "ALTER TABLE pubsub_nodes DROP COLUMN item_count, DROP COLUMN item_bytes; DROP TABLE pubsub_schema"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	s = open(t, url)
	if err := s.Read(ctx, func(tx pubsub.Tx) error {
		n, b, err := tx.ItemStats(k)
		if err == nil && (n != 3 || b != 3*int64(len("<v xmlns='urn:v'/>"))) {
			err = fmt.Errorf("ItemStats %d items, %d bytes after the migration, want 3, %d", n, b, 3*len("<v xmlns='urn:v'/>"))
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// TestOpenWhileWriting: an instance (re)starting on a database whose
// schema is current takes no table lock, so it neither waits for the
// other instances' transactions nor stalls their writes.
func TestOpenWhileWriting(t *testing.T) {
	srv := servertest.Shared(t, servertest.KindPostgres)
	url := srv.Database(t)
	open(t, url)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// What a writer of another instance holds until it commits.
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	for _, tbl := range []string{"pubsub_nodes", "pubsub_affiliations", "pubsub_subscriptions", "pubsub_items", "pubsub_usage"} {
		if _, err := tx.Exec(ctx, "LOCK TABLE "+tbl+" IN ROW EXCLUSIVE MODE"); err != nil {
			t.Fatal(err)
		}
	}
	octx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	s, err := pgstore.Open(octx, url, pgstore.Options{})
	if err != nil {
		t.Fatalf("Open while another transaction writes: %v", err)
	}
	s.Close()
}

// TestPoolMaxConnsParam: the URL's pool_max_conns is the pool's size: with
// 1, a Read waits while a Write holds the only connection.
func TestPoolMaxConnsParam(t *testing.T) {
	srv := servertest.Shared(t, servertest.KindPostgres)
	s := open(t, srv.Database(t)+"&pool_max_conns=1")
	hold, held := make(chan struct{}), make(chan struct{})
	go func() {
		s.Write(ctx, func(tx pubsub.Tx) error {
			close(held)
			<-hold
			return nil
		})
	}()
	<-held
	rctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err := s.Read(rctx, func(tx pubsub.Tx) error { return nil })
	cancel()
	close(hold)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Read while the one connection is taken: %v, want a deadline exceeded", err)
	}
	if err := s.Read(ctx, func(tx pubsub.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
}
