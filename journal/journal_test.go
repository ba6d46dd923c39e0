package journal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func collect(t testing.TB, dir string, opts Options) (*Log, []string) {
	t.Helper()
	var got []string
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

func TestBadTail(t *testing.T) {
	src := t.TempDir()
	l, _ := collect(t, src, Options{})
	appendAll(t, l, "one", "two", "three")
	l.Close()
	data, _ := os.ReadFile(filepath.Join(src, "log-0"))
	n := len(data)
	cases := []struct {
		name    string
		mutate  func([]byte) []byte
		want    []string
		corrupt bool
	}{
		{"last payload flipped", func(b []byte) []byte { b[n-1] ^= 1; return b }, []string{"one", "two"}, false},
		{"zeros appended", func(b []byte) []byte { return append(b, make([]byte, 4096)...) }, []string{"one", "two", "three"}, false},
		{"last record zeroed", func(b []byte) []byte {
			copy(b[n-frameHeader-5:], make([]byte, frameHeader+5))
			return b
		}, []string{"one", "two"}, false},
		{"middle flipped", func(b []byte) []byte { b[frameHeader+3+frameHeader+1] ^= 0x40; return b }, nil, true},
		{"garbage length in middle", func(b []byte) []byte { b[frameHeader+3] ^= 0x10; return b }, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			b := c.mutate(bytes.Clone(data))
			os.WriteFile(filepath.Join(dir, "log-0"), b, 0o600)
			var got []string
			l, err := Open(dir, Options{}, func(rec []byte) error { got = append(got, string(rec)); return nil })
			if c.corrupt {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("err = %v, want ErrCorrupt", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			l.Close()
			if !equal(got, c.want) {
				t.Fatalf("replayed %q, want %q", got, c.want)
			}
		})
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
	if !equal(names, []string{"log-2", "snapshot"}) {
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
