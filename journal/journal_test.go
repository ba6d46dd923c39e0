package journal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"xmppkit.dev/metrics/metricstest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func collect(t testing.TB, dir string, opts Options) (*Log, []string) {
	t.Helper()
	var got []string
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	l, err := Open(dir, opts, func(rec []byte) error {
		got = append(got, string(rec))
		return nil
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l, got
}

func appendAll(t testing.TB, l *Log, recs ...string) {
	t.Helper()
	for _, r := range recs {
		if err := l.AppendSync([]byte(r)); err != nil {
			t.Fatal(err)
		}
	}
}

func equal(a, b []string) bool { return fmt.Sprint(a) == fmt.Sprint(b) && len(a) == len(b) }

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	l, got := collect(t, dir, Options{})
	if len(got) != 0 {
		t.Fatalf("fresh journal replayed %q", got)
	}
	want := []string{"a", "", "ccc", string(bytes.Repeat([]byte{0xff, 0}, 1000))}
	appendAll(t, l, want...)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := l.Append([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	l, got = collect(t, dir, Options{})
	defer l.Close()
	if !equal(got, want) {
		t.Fatalf("replayed %q, want %q", got, want)
	}
	if l.Records() != len(want) {
		t.Fatalf("Records = %d", l.Records())
	}
}

// TestTornTail cuts the log at every byte of its last record: each cut
// recovers exactly the records before it, and the journal stays appendable.
func TestTornTail(t *testing.T) {
	src := t.TempDir()
	l, _ := collect(t, src, Options{})
	appendAll(t, l, "one", "two", "three-is-longer")
	l.Close()
	data, err := os.ReadFile(filepath.Join(src, "log-0"))
	if err != nil {
		t.Fatal(err)
	}
	lastStart := len(data) - (frameHeader + len("three-is-longer"))
	for cut := lastStart; cut < len(data); cut++ {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "log-0"), data[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		l, got := collect(t, dir, Options{})
		if !equal(got, []string{"one", "two"}) {
			t.Fatalf("cut at %d: replayed %q", cut, got)
		}
		appendAll(t, l, "four")
		l.Close()
		l, got = collect(t, dir, Options{})
		l.Close()
		if !equal(got, []string{"one", "two", "four"}) {
			t.Fatalf("cut at %d, after append: %q", cut, got)
		}
	}
}

// TestBadTail damages the end of a log in the ways issue 18 found
// recovery silent and destructive about. Only a torn (incomplete) last
// record is dropped on its own, with a log record and its bytes kept beside
// the log; anything else makes Open refuse with a *CorruptError saying what
// would be lost, unless Options.DropCorrupt, which cuts the log at the
// damage and keeps what it cut.
func TestBadTail(t *testing.T) {
	src := t.TempDir()
	l, _ := collect(t, src, Options{})
	appendAll(t, l, "one", "two", "three")
	l.Close()
	data, _ := os.ReadFile(filepath.Join(src, "log-0"))
	n := len(data)
	last := n - frameHeader - len("three")
	cases := []struct {
		name   string
		mutate func([]byte) []byte
		want   []string // replayed: on its own when torn, with DropCorrupt otherwise
		torn   bool
		// for damage: where it starts and how many intact records follow
		off     int
		records int
	}{
		{"torn last record", func(b []byte) []byte { return b[:n-2] }, []string{"one", "two"}, true, last, 0},
		{"truncated to half", func(b []byte) []byte { return b[:last+frameHeader/2] }, []string{"one", "two"}, true, last, 0},
		{"bit flipped in the last complete record", func(b []byte) []byte { b[n-1] ^= 1; return b }, []string{"one", "two"}, false, last, 0},
		{"zeroed tail", func(b []byte) []byte {
			copy(b[last-3:], make([]byte, n-last+3))
			return b
		}, []string{"one"}, false, last - frameHeader - len("two"), 0},
		{"zeros appended", func(b []byte) []byte { return append(b, make([]byte, 4096)...) }, []string{"one", "two", "three"}, false, n, 0},
		{"empty log", func(b []byte) []byte { return nil }, nil, false, 0, 0},
		{"bit flipped in the middle", func(b []byte) []byte { b[last-1] ^= 0x40; return b }, []string{"one"}, false, last - frameHeader - len("two"), 1},
		{"garbage length in the middle", func(b []byte) []byte { b[last-frameHeader-len("two")] ^= 0x10; return b }, []string{"one"}, false, last - frameHeader - len("two"), 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			b := c.mutate(bytes.Clone(data))
			os.WriteFile(filepath.Join(dir, "log-0"), b, 0o600)
			var logged bytes.Buffer
			opts := Options{Logger: slog.New(slog.NewTextHandler(&logged, nil))}
			var got []string
			replay := func(rec []byte) error { got = append(got, string(rec)); return nil }
			l, err := Open(dir, opts, replay)
			if !c.torn {
				var ce *CorruptError
				if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
					t.Fatalf("err = %v, want a *CorruptError", err)
				}
				if ce.File != "log-0" || ce.Offset != int64(c.off) || ce.Bytes != int64(len(b)-c.off) || ce.Records != c.records {
					t.Fatalf("CorruptError %+v, want offset %d, %d bytes, %d records", ce, c.off, len(b)-c.off, c.records)
				}
				if after, _ := os.ReadFile(filepath.Join(dir, "log-0")); !bytes.Equal(after, b) {
					t.Fatal("a refused Open changed the log")
				}
				got = nil
				opts.DropCorrupt = true
				l, err = Open(dir, opts, replay)
			}
			if err != nil {
				t.Fatal(err)
			}
			if !equal(got, c.want) {
				t.Fatalf("replayed %q, want %q", got, c.want)
			}
			d := l.Dropped()
			if len(d) != 1 || d[0].Torn != c.torn || d[0].Bytes != int64(len(b)-c.off) || d[0].Offset != int64(c.off) {
				t.Fatalf("Dropped() = %+v", d)
			}
			if d[0].Bytes > 0 {
				kept, err := os.ReadFile(d[0].Kept)
				if err != nil || !bytes.Equal(kept, b[c.off:]) {
					t.Fatalf("kept %q (%v), want the dropped bytes", kept, err)
				}
			}
			if !strings.Contains(logged.String(), "offset="+strconv.Itoa(c.off)) || !strings.Contains(logged.String(), "bytes=") {
				t.Fatalf("log: %s", logged.String())
			}
			appendAll(t, l, "four")
			l.Close()
			// The journal is sound again: no flag needed.
			got = nil
			l, err = Open(dir, Options{}, replay)
			if err != nil {
				t.Fatal(err)
			}
			l.Close()
			if want := append(append([]string(nil), c.want...), "four"); !equal(got, want) {
				t.Fatalf("after recovery and an append: %q, want %q", got, want)
			}
		})
	}
}

// TestLocked: a journal directory is open in one Log at a time; the second
// Open names the holder's pid (issue 18 item 2: two services on one
// directory lost each other's acknowledged changes).
func TestLocked(t *testing.T) {
	dir := t.TempDir()
	l, _ := collect(t, dir, Options{})
	_, err := Open(dir, Options{}, func([]byte) error { return nil })
	var le *LockedError
	if !errors.As(err, &le) || !errors.Is(err, ErrLocked) || le.PID != strconv.Itoa(os.Getpid()) {
		t.Fatalf("second Open: %v", err)
	}
	if !strings.Contains(err.Error(), "in use by pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("message %q", err)
	}
	l.Close()
	l, _ = collect(t, dir, Options{})
	l.Close()
}

// TestNewerLogWithoutSnapshot: a log that follows a snapshot that is gone
// is refused, not deleted as stale.
func TestNewerLogWithoutSnapshot(t *testing.T) {
	dir := t.TempDir()
	l, _ := collect(t, dir, Options{})
	appendAll(t, l, "a")
	l.Compact(func(w func([]byte) error) error { return w([]byte("a")) })
	appendAll(t, l, "b")
	l.Close()
	os.Remove(filepath.Join(dir, snapshotName))
	_, err := Open(dir, Options{}, func([]byte) error { return nil })
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.File != "log-1" || ce.Records != 2 {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "log-1")); err != nil {
		t.Fatalf("log-1: %v", err)
	}
}

func TestCompact(t *testing.T) {
	dir := t.TempDir()
	l, _ := collect(t, dir, Options{})
	appendAll(t, l, "a", "b", "c")
	// The state is "the last record"; compaction keeps only it.
	if err := l.Compact(func(w func([]byte) error) error { return w([]byte("c")) }); err != nil {
		t.Fatal(err)
	}
	if l.Records() != 0 {
		t.Fatalf("Records after Compact = %d", l.Records())
	}
	appendAll(t, l, "d")
	if err := l.Compact(func(w func([]byte) error) error {
		if err := w([]byte("c")); err != nil {
			return err
		}
		return w([]byte("d"))
	}); err != nil {
		t.Fatal(err)
	}
	appendAll(t, l, "e")
	l.Close()
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !equal(names, []string{"lock", "log-2", "snapshot"}) {
		t.Fatalf("files %q", names)
	}
	l, got := collect(t, dir, Options{})
	l.Close()
	if !equal(got, []string{"c", "d", "e"}) {
		t.Fatalf("replayed %q", got)
	}

	// A crash before the rename leaves snapshot.tmp: ignored and removed.
	os.WriteFile(filepath.Join(dir, snapshotTmp), []byte("half"), 0o600)
	// A crash after the rename but before the old log was removed leaves a
	// stale log of an older generation: ignored and removed.
	os.WriteFile(filepath.Join(dir, "log-1"), AppendFrame(nil, []byte("stale")), 0o600)
	// A crash before the new log was created: no log of the generation.
	os.Remove(filepath.Join(dir, "log-2"))
	l, got = collect(t, dir, Options{})
	l.Close()
	if !equal(got, []string{"c", "d"}) {
		t.Fatalf("after simulated crash replayed %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "log-1")); err == nil {
		t.Fatal("stale log-1 kept")
	}
	if _, err := os.Stat(filepath.Join(dir, snapshotTmp)); err == nil {
		t.Fatal("snapshot.tmp kept")
	}
}

func TestCorruptSnapshot(t *testing.T) {
	dir := t.TempDir()
	l, _ := collect(t, dir, Options{})
	appendAll(t, l, "a")
	l.Compact(func(w func([]byte) error) error { return w([]byte("a")) })
	l.Close()
	p := filepath.Join(dir, snapshotName)
	b, _ := os.ReadFile(p)
	os.WriteFile(p, b[:len(b)-1], 0o600)
	if _, err := Open(dir, Options{}, func([]byte) error { return nil }); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("truncated snapshot: %v", err)
	}
	// Told to, Open keeps the snapshot's intact records (here its header).
	l, got := collect(t, dir, Options{DropCorrupt: true})
	if len(got) != 0 || len(l.Dropped()) != 1 || l.Dropped()[0].File != snapshotName {
		t.Fatalf("replayed %q, dropped %+v", got, l.Dropped())
	}
	l.Close()
	l, _ = collect(t, dir, Options{})
	l.Close()
	os.WriteFile(p, AppendFrame(nil, []byte("not a header")), 0o600)
	if _, err := Open(dir, Options{}, func([]byte) error { return nil }); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("bad header: %v", err)
	}
}

func TestReplayError(t *testing.T) {
	dir := t.TempDir()
	l, _ := collect(t, dir, Options{})
	appendAll(t, l, "a")
	l.Close()
	boom := errors.New("boom")
	if _, err := Open(dir, Options{}, func([]byte) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
}

func TestMaxRecord(t *testing.T) {
	l, _ := collect(t, t.TempDir(), Options{MaxRecord: 4})
	defer l.Close()
	if _, err := l.Append([]byte("12345")); err == nil {
		t.Fatal("oversized record accepted")
	}
}

// TestConcurrent appends from many goroutines: every acknowledged record is
// replayed, and each goroutine's records keep their order.
func TestConcurrent(t *testing.T) {
	dir := t.TempDir()
	l, _ := collect(t, dir, Options{})
	const G, N = 8, 200
	var wg sync.WaitGroup
	for g := 0; g < G; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < N; i++ {
				if err := l.AppendSync([]byte(fmt.Sprintf("%d/%d", g, i))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	l.Close()
	_, got := collect(t, dir, Options{})
	if len(got) != G*N {
		t.Fatalf("replayed %d records, want %d", len(got), G*N)
	}
	next := make([]int, G)
	for _, r := range got {
		var g, i int
		fmt.Sscanf(r, "%d/%d", &g, &i)
		if i != next[g] {
			t.Fatalf("goroutine %d: record %d after %d", g, i, next[g]-1)
		}
		next[g]++
	}
}

func BenchmarkAppendSync(b *testing.B) {
	for _, par := range []int{1, 16} {
		b.Run(fmt.Sprintf("writers=%d", par), func(b *testing.B) {
			l, _ := collect(b, b.TempDir(), Options{})
			defer l.Close()
			rec := bytes.Repeat([]byte("x"), 200)
			b.SetParallelism(par)
			b.SetBytes(int64(len(rec)))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := l.AppendSync(rec); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// TestMetrics: each group commit is timed and each record counted, under
// the journal's name.
func TestMetrics(t *testing.T) {
	reg := metricstest.New()
	dir := t.TempDir()
	l, err := Open(dir, Options{Metrics: reg, Name: "pubsub"}, func([]byte) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := range 3 {
		if err := l.AppendSync([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if got := reg.Value("xmppkit_journal_records_total", "store", "pubsub"); got != 3 {
		t.Errorf("records_total = %v, want 3", got)
	}
	if n, sum := reg.Count("xmppkit_journal_commit_seconds", "store", "pubsub"); n != 3 || sum <= 0 {
		t.Errorf("commit_seconds: %d observations summing %v s, want 3 (one fsync each)", n, sum)
	}
	// Without a Name, the directory's base name.
	reg2 := metricstest.New()
	l2, err := Open(filepath.Join(t.TempDir(), "rosters"), Options{Metrics: reg2}, func([]byte) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	l2.AppendSync([]byte("x"))
	l2.Close()
	if got := reg2.Value("xmppkit_journal_records_total", "store", "rosters"); got != 1 {
		t.Errorf("default name: %v\n%s", got, reg2.Series())
	}
}

// TestOpenStreams: replaying a 32 MB log allocates about one record's
// worth, not the file (Open used to read each file whole), so recovery fits
// in memory whatever the log's size.
func TestOpenStreams(t *testing.T) {
	dir := t.TempDir()
	l, _ := collect(t, dir, Options{NoSync: true})
	rec := bytes.Repeat([]byte("r"), 1024)
	var seq uint64
	for range 32 << 10 {
		seq, _ = l.Append(rec)
	}
	if err := l.Sync(seq); err != nil {
		t.Fatal(err)
	}
	l.Close()
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	n := 0
	l, err := Open(dir, Options{NoSync: true, Logger: quiet}, func([]byte) error { n++; return nil })
	runtime.ReadMemStats(&ms1)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if n != 32<<10 {
		t.Fatalf("replayed %d records", n)
	}
	if a := ms1.TotalAlloc - ms0.TotalAlloc; a > 4<<20 {
		t.Fatalf("Open of a 32 MB log allocated %d bytes", a)
	}
}
