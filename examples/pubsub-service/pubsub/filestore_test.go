package pubsub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"xmppkit.dev/journal"
)

func openFS(t *testing.T, dir string, opts journal.Options) *FileStore {
	t.Helper()
	opts.NoSync = true
	opts.Logger = quietLogger()
	fs, err := OpenFileStoreWith(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func mustWrite(t *testing.T, s Store, fn func(tx Tx) error) {
	t.Helper()
	wait, err := s.Write(context.Background(), fn)
	if err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
}

func payloadOfItem(t *testing.T, s Store, k Key, id string) (string, error) {
	t.Helper()
	var p string
	err := s.Read(context.Background(), func(tx Tx) error {
		it, err := tx.Item(k, id)
		if err == nil {
			p = it.Payload
		}
		return err
	})
	return p, err
}

func segments(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, segPrefix+"*"+segSuffix))
	return m
}

var nk = Key{"", "n"}

// TestFileStoreUnwrittenPayload: a transaction whose payload frame did not
// reach its segment whole (the process died before the fsync its wait does,
// so it was never acknowledged) is skipped at start as a whole: the item it
// replaced is still there, and so is everything before.
func TestFileStoreUnwrittenPayload(t *testing.T) {
	dir := t.TempDir()
	fs := openFS(t, dir, journal.Options{})
	mustWrite(t, fs, func(tx Tx) error {
		if err := tx.CreateNode(&Node{Key: nk, Config: DefaultConfig(), Creator: "o@x"}); err != nil {
			return err
		}
		return tx.PutItem(nk, &Item{ID: "a", Time: time.Now(), Payload: "<v xmlns='urn:v'>first</v>"})
	})
	mustWrite(t, fs, func(tx Tx) error {
		if err := tx.PutItem(nk, &Item{ID: "a", Time: time.Now(), Payload: "<v xmlns='urn:v'>second</v>"}); err != nil {
			return err
		}
		return tx.PutSubscription(Subscription{Key: nk, JID: "s@x", SubID: "1", State: SubSubscribed, Options: DefaultSubOptions()})
	})
	fs.Close()
	// The last frame is torn: cut its segment inside it.
	seg := segments(t, dir)[0]
	b, _ := os.ReadFile(seg)
	os.WriteFile(seg, b[:len(b)-5], 0o600)

	fs = openFS(t, dir, journal.Options{})
	defer fs.Close()
	if p, err := payloadOfItem(t, fs, nk, "a"); err != nil || !strings.Contains(p, "first") {
		t.Fatalf("item after the skipped transaction: %q %v", p, err)
	}
	fs.Read(context.Background(), func(tx Tx) error {
		if subs, _ := tx.Subscriptions(nk); len(subs) != 0 {
			t.Errorf("the skipped transaction's subscription is there: %v", subs)
		}
		return nil
	})
	// The store goes on: new payloads land after the cut.
	mustWrite(t, fs, func(tx Tx) error {
		return tx.PutItem(nk, &Item{ID: "b", Time: time.Now(), Payload: "<v xmlns='urn:v'>third</v>"})
	})
	if p, _ := payloadOfItem(t, fs, nk, "b"); !strings.Contains(p, "third") {
		t.Fatalf("payload written after recovery: %q", p)
	}
}

// TestFileStoreDamagedSegment: a flipped bit in an acknowledged payload is
// refused at start, naming the segment; with DropCorrupt the item is
// dropped, the damage kept beside the segment, and the rest served.
func TestFileStoreDamagedSegment(t *testing.T) {
	dir := t.TempDir()
	fs := openFS(t, dir, journal.Options{})
	mustWrite(t, fs, func(tx Tx) error {
		if err := tx.CreateNode(&Node{Key: nk, Config: DefaultConfig(), Creator: "o@x"}); err != nil {
			return err
		}
		for i := 0; i < 3; i++ {
			if err := tx.PutItem(nk, &Item{ID: fmt.Sprint(i), Time: time.Now(), Payload: fmt.Sprintf("<v xmlns='urn:v'>%d</v>", i)}); err != nil {
				return err
			}
		}
		return nil
	})
	fs.Close()
	seg := segments(t, dir)[0]
	b, _ := os.ReadFile(seg)
	b[len(b)-3] ^= 1 // inside the last payload
	os.WriteFile(seg, b, 0o600)

	_, err := OpenFileStoreWith(dir, journal.Options{NoSync: true, Logger: quietLogger()})
	if !errors.Is(err, journal.ErrCorrupt) || !strings.Contains(err.Error(), filepath.Base(seg)) || !strings.Contains(err.Error(), "DropCorrupt") {
		t.Fatalf("damaged segment: %v", err)
	}
	fs = openFS(t, dir, journal.Options{DropCorrupt: true})
	if _, err := payloadOfItem(t, fs, nk, "2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("damaged item: %v", err)
	}
	if p, err := payloadOfItem(t, fs, nk, "1"); err != nil || !strings.Contains(p, "1") {
		t.Fatalf("an intact item: %q %v", p, err)
	}
	if kept, _ := filepath.Glob(seg + ".dropped-*"); len(kept) != 1 {
		t.Fatalf("damage not kept beside the segment: %v", kept)
	}
	fs.Close()
	// Compacted away: the next start needs no flag.
	fs = openFS(t, dir, journal.Options{})
	defer fs.Close()
	if p, err := payloadOfItem(t, fs, nk, "0"); err != nil || !strings.Contains(p, "0") {
		t.Fatalf("after the second start: %q", p)
	}
}

// TestFileStoreCompaction: replaced and retracted payloads leave dead
// frames; compaction copies the live ones out of mostly dead segments and
// deletes those, so the disk stays about the size of the live data, and the
// state is the same after reopening.
func TestFileStoreCompaction(t *testing.T) {
	dir := t.TempDir()
	fs := openFS(t, dir, journal.Options{})
	fs.SegmentBytes = 16 << 10
	fs.CompactMin = 100
	fs.CompactEvery = 10
	payload := "<v xmlns='urn:v'>" + strings.Repeat("x", 1000) + "</v>"
	mustWrite(t, fs, func(tx Tx) error { return tx.CreateNode(&Node{Key: nk, Config: DefaultConfig(), Creator: "o@x"}) })
	for i := 0; i < 2000; i++ {
		mustWrite(t, fs, func(tx Tx) error {
			return tx.PutItem(nk, &Item{ID: fmt.Sprint(i % 10), Time: time.Now(), Payload: payload})
		})
	}
	var disk int64
	for _, s := range segments(t, dir) {
		st, _ := os.Stat(s)
		disk += st.Size()
	}
	if live := int64(10 * (len(payload) + 40)); disk > 4*live+2*fs.SegmentBytes {
		t.Fatalf("segments hold %d bytes for %d live: not compacted", disk, live)
	}
	before := dumpStore(t, fs)
	fs.Close()
	fs = openFS(t, dir, journal.Options{})
	defer fs.Close()
	if after := dumpStore(t, fs); after != before {
		t.Fatalf("after reopening:\n%s\nwant\n%s", after, before)
	}
	t.Logf("2000 publishes of 1 KB over 10 ids: %d segment bytes on disk, %d segments", disk, len(segments(t, dir)))
}

func dumpStore(t *testing.T, s Store) string {
	t.Helper()
	var b strings.Builder
	s.Read(context.Background(), func(tx Tx) error {
		items, err := tx.Items(nk, ItemQuery{Payloads: true})
		for _, it := range items {
			fmt.Fprintf(&b, "%s %d %d %q\n", it.ID, it.Seq, it.Size, it.Payload)
		}
		return err
	})
	return b.String()
}

// TestFileStoreLegacy: a directory written by the store's first form (one
// op per record, payloads inline) opens, serves the same state and is
// rewritten in the current form.
func TestFileStoreLegacy(t *testing.T) {
	dir := t.TempDir()
	l, err := journal.Open(dir, journal.Options{NoSync: true}, func([]byte) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	for _, op := range []map[string]any{
		{"op": "create", "node": "n", "config": cfg, "jid": "o@x", "t": 1},
		{"op": "affiliate", "node": "n", "jid": "p@x", "aff": "publisher"},
		{"op": "subscribe", "node": "n", "jid": "s@x/r", "subid": "s1"},
		{"op": "publish", "node": "n", "item": "a", "payload": "<v xmlns='urn:v'>a</v>", "t": 2},
		{"op": "publish", "node": "n", "item": "b", "payload": "<v xmlns='urn:v'>b</v>", "t": 3},
		{"op": "retract", "node": "n", "item": "a"},
	} {
		rec, _ := json.Marshal(op)
		if err := l.AppendSync(rec); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	fs := openFS(t, dir, journal.Options{})
	check := func(s Store) {
		t.Helper()
		if p, err := payloadOfItem(t, s, nk, "b"); err != nil || p != "<v xmlns='urn:v'>b</v>" {
			t.Fatalf("item b: %q %v", p, err)
		}
		if _, err := payloadOfItem(t, s, nk, "a"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("retracted item a: %v", err)
		}
		s.Read(context.Background(), func(tx Tx) error {
			affs, _ := tx.Affiliations(nk)
			subs, _ := tx.Subscriptions(nk)
			if len(affs) != 2 || len(subs) != 1 || subs[0].State != SubSubscribed || !subs[0].Options.Deliver {
				t.Fatalf("migrated affiliations %v, subscriptions %v", affs, subs)
			}
			return nil
		})
	}
	check(fs)
	fs.Close()
	if len(segments(t, dir)) != 1 {
		t.Fatalf("payloads not moved to a segment")
	}
	fs = openFS(t, dir, journal.Options{})
	defer fs.Close()
	check(fs)
}

// TestFileStoreMemory: the payloads are on disk, not in memory: storing 40
// MB of items grows the heap by the index only.
func TestFileStoreMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 40 MB")
	}
	dir := t.TempDir()
	fs := openFS(t, dir, journal.Options{})
	defer fs.Close()
	const nodes, perNode, size = 40, 250, 4000
	payload := "<v xmlns='urn:v'>" + strings.Repeat("p", size) + "</v>"
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	start := heap()
	for n := 0; n < nodes; n++ {
		k := Key{"", fmt.Sprintf("node%d", n)}
		mustWrite(t, fs, func(tx Tx) error {
			if err := tx.CreateNode(&Node{Key: k, Config: DefaultConfig(), Creator: "o@x"}); err != nil {
				return err
			}
			for i := 0; i < perNode; i++ {
				if err := tx.PutItem(k, &Item{ID: fmt.Sprintf("item-%04d", i), Publisher: "o@x", Time: time.Now(), Payload: payload}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	grown := int64(heap()) - int64(start)
	total := int64(nodes * perNode * len(payload))
	perItem := grown / (nodes * perNode)
	t.Logf("%d items, %d MB of payload: heap grew %d KB (%d bytes per item)", nodes*perNode, total>>20, grown>>10, perItem)
	if grown > total/10 {
		t.Fatalf("heap grew %d bytes for %d bytes of payload: payloads are kept in memory", grown, total)
	}
	if p, err := payloadOfItem(t, fs, Key{"", "node7"}, "item-0123"); err != nil || p != payload {
		t.Fatalf("payload read back: %v", err)
	}
}
