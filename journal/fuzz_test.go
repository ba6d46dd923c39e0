package journal

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzRecover writes arbitrary bytes as a log and opens it: Open never
// panics; without DropCorrupt it either fails with an error or recovers a
// prefix of whole records; with DropCorrupt it always opens; a recovered
// journal accepts and keeps a new record, and reopens without the flag.
func FuzzRecover(f *testing.F) {
	good := AppendFrame(AppendFrame(nil, []byte("one")), []byte("two"))
	f.Add(good)
	f.Add(good[:len(good)-2])
	f.Add(append(append([]byte{}, good...), 0, 0, 0))
	f.Add([]byte{0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4})
	f.Add([]byte{})
	f.Add(append(logHeader(0), good...))
	f.Add(append(logHeader(7), good...))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, drop := range []bool{false, true} {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "log-0"), data, 0o600); err != nil {
				t.Fatal(err)
			}
			opts := Options{NoSync: true, MaxRecord: 1 << 16, Logger: quiet, DropCorrupt: drop}
			var n int
			l, err := Open(dir, opts, func([]byte) error { n++; return nil })
			if err != nil {
				if drop {
					t.Fatalf("DropCorrupt: %v", err)
				}
				continue
			}
			if err := l.AppendSync([]byte("new")); err != nil {
				t.Fatal(err)
			}
			l.Close()
			var got []string
			opts.DropCorrupt = false
			l, err = Open(dir, opts, func(r []byte) error { got = append(got, string(r)); return nil })
			if err != nil {
				t.Fatalf("reopen after recovery: %v", err)
			}
			l.Close()
			if len(got) != n+1 || got[n] != "new" {
				t.Fatalf("recovered %d records, then %q", n, got)
			}
		}
	})
}

// FuzzScan checks the frame parser alone: it never panics, the good prefix
// it reports rescans to the same records without a tear, and framing those
// records again reproduces that prefix byte for byte.
func FuzzScan(f *testing.F) {
	good := AppendFrame(AppendFrame(nil, []byte("one")), []byte(""))
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(append(append([]byte{}, good...), make([]byte, 20)...))
	f.Add([]byte{1, 0, 0, 0, 9, 9, 9, 9, 9, 9, 9, 9, 'x'})
	f.Fuzz(func(t *testing.T, data []byte) {
		var recs [][]byte
		good, _, err := Scan(data, 1<<16, func(r []byte) error { recs = append(recs, append([]byte{}, r...)); return nil })
		if good < 0 || good > int64(len(data)) {
			t.Fatalf("good offset %d of %d", good, len(data))
		}
		_ = err
		var again [][]byte
		g2, torn, err := Scan(data[:good], 1<<16, func(r []byte) error { again = append(again, r); return nil })
		if err != nil || torn || g2 != good || len(again) != len(recs) {
			t.Fatalf("rescan of the good prefix: %d %v %v %d/%d", g2, torn, err, len(again), len(recs))
		}
		var re []byte
		for _, r := range recs {
			re = AppendFrame(re, r)
		}
		if string(re) != string(data[:good]) {
			t.Fatal("re-framing differs from the good prefix")
		}
	})
}
