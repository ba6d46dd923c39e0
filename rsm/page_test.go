package rsm

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"xmppkit.dev/stanza"
)

func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("k%03d", i)
	}
	return out
}

func self(s string) string { return s }

// cursor is a Source that is not Indexed and cannot count: like a store
// that can only walk from a key.
type cursor struct {
	items []string
	count bool
}

func (c *cursor) find(uid string) (int, error) {
	i := slices.Index(c.items, uid)
	if i < 0 {
		return 0, ErrUnknownUID
	}
	return i, nil
}

func (c *cursor) Forward(after string, n int) ([]string, error) {
	start := 0
	if after != "" {
		i, err := c.find(after)
		if err != nil {
			return nil, err
		}
		start = i + 1
	}
	return c.items[start:min(len(c.items), start+n)], nil
}

func (c *cursor) Backward(before string, n int) ([]string, error) {
	end := len(c.items)
	if before != "" {
		i, err := c.find(before)
		if err != nil {
			return nil, err
		}
		end = i
	}
	return c.items[max(0, end-n):end], nil
}

func (c *cursor) Count() int {
	if c.count {
		return len(c.items)
	}
	return -1
}

func (c *cursor) UID(s string) string { return s }

func TestPaginate(t *testing.T) {
	all := ids(25)
	type want struct {
		items    []string
		first    int // -1: no index
		count    int // -1: no count
		complete bool
	}
	for _, tc := range []struct {
		name  string
		src   Source[string]
		q     Query
		limit int
		want  want
		err   error
	}{
		{"no set: service page", Slice(all, self), Query{}, 10, want{all[:10], 0, 25, false}, nil},
		{"first page", Slice(all, self), First(5), 10, want{all[:5], 0, 25, false}, nil},
		{"max capped by limit", Slice(all, self), First(500), 10, want{all[:10], 0, 25, false}, nil},
		{"next", Slice(all, self), Next(5, "k004"), 10, want{all[5:10], 5, 25, false}, nil},
		{"next reaches the end", Slice(all, self), Next(5, "k019"), 10, want{all[20:25], 20, 25, true}, nil},
		{"next past the end", Slice(all, self), Next(5, "k024"), 10, want{nil, -1, 25, true}, nil},
		{"whole set in one page", Slice(all, self), First(25), 100, want{all, 0, 25, true}, nil},
		{"prev", Slice(all, self), Prev(5, "k010"), 10, want{all[5:10], 5, 25, false}, nil},
		{"prev reaches the start", Slice(all, self), Prev(5, "k005"), 10, want{all[:5], 0, 25, true}, nil},
		{"prev before the first", Slice(all, self), Prev(5, "k000"), 10, want{nil, -1, 25, true}, nil},
		{"last page", Slice(all, self), Last(10), 100, want{all[15:], 15, 25, false}, nil},
		{"last page of a small set", Slice(all[:3], self), Last(10), 100, want{all[:3], 0, 3, true}, nil},
		{"index", Slice(all, self), AtIndex(4, 10), 100, want{all[10:14], 10, 25, false}, nil},
		{"index at the end", Slice(all, self), AtIndex(4, 25), 100, want{nil, -1, 25, true}, nil},
		{"index far past the end", Slice(all, self), AtIndex(4, 1<<30), 100, want{nil, -1, 25, true}, nil},
		{"count only", Slice(all, self), CountOnly(), 100, want{nil, -1, 25, false}, nil},
		{"count of an empty set", Slice([]string{}, self), CountOnly(), 100, want{nil, -1, 0, true}, nil},
		{"empty set", Slice([]string{}, self), First(10), 100, want{nil, -1, 0, true}, nil},
		{"unknown after", Slice(all, self), Next(5, "nope"), 10, want{}, stanza.ErrItemNotFound},
		{"unknown before", Slice(all, self), Prev(5, "nope"), 10, want{}, stanza.ErrItemNotFound},
		{"unknown after, count only", Slice(all, self), Query{Max: 0, HasMax: true, After: "nope"}, 10, want{}, stanza.ErrItemNotFound},
		{"sorted: after a deleted key", SortedSlice(all, self), Next(3, "k004x"), 10, want{all[5:8], 5, 25, false}, nil},
		{"sorted: before a deleted key", SortedSlice(all, self), Prev(3, "k004x"), 10, want{all[2:5], 2, 25, false}, nil},
		{"sorted: after beyond all keys", SortedSlice(all, self), Next(3, "z"), 10, want{nil, -1, 25, true}, nil},
		{"sorted strict: unknown after", &List[string]{Items: all, Key: self, Sorted: true, Strict: true}, Next(3, "k004x"), 10, want{}, stanza.ErrItemNotFound},
		{"cursor: next, no index", &cursor{items: all, count: true}, Next(5, "k004"), 10, want{all[5:10], -1, 25, false}, nil},
		{"cursor: first page has index 0", &cursor{items: all}, First(5), 10, want{all[:5], 0, -1, false}, nil},
		{"cursor: last page without count", &cursor{items: all}, Last(5), 10, want{all[20:], -1, -1, false}, nil},
		{"cursor: last page with count", &cursor{items: all, count: true}, Last(5), 10, want{all[20:], 20, 25, false}, nil},
		{"cursor: index unsupported", &cursor{items: all}, AtIndex(5, 3), 10, want{}, stanza.ErrFeatureNotImplemented},
		{"cursor: unknown after", &cursor{items: all}, Next(5, "x"), 10, want{}, stanza.ErrItemNotFound},
		{"cursor: count unknown", &cursor{items: all}, CountOnly(), 10, want{nil, -1, -1, false}, nil},
		{"invalid query", Slice(all, self), Query{After: "a", Before: "b", HasBefore: true}, 10, want{}, stanza.ErrBadRequest},
		{"zero limit means 100", Slice(ids(150), self), Query{}, 0, want{ids(100), 0, 150, false}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Paginate(tc.src, tc.q, tc.limit)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.Items, tc.want.items) {
				t.Errorf("items = %v, want %v", p.Items, tc.want.items)
			}
			r := p.Result
			if len(tc.want.items) > 0 {
				if r.First != tc.want.items[0] || r.Last != tc.want.items[len(tc.want.items)-1] {
					t.Errorf("first/last = %q/%q", r.First, r.Last)
				}
			} else if !r.Empty() {
				t.Errorf("empty page with first/last %q/%q", r.First, r.Last)
			}
			if got := index(r); got != tc.want.first {
				t.Errorf("first index = %d, want %d", got, tc.want.first)
			}
			if got := cnt(r); got != tc.want.count {
				t.Errorf("count = %d, want %d", got, tc.want.count)
			}
			if p.Complete != tc.want.complete {
				t.Errorf("complete = %v, want %v", p.Complete, tc.want.complete)
			}
		})
	}
}

func index(r Result) int {
	if !r.HasFirstIndex {
		return -1
	}
	return r.FirstIndex
}

func cnt(r Result) int {
	if !r.HasCount {
		return -1
	}
	return r.Count
}

// TestWalkWithInserts pages forwards through a set while items are added
// before, inside and after the pages already sent, and backwards likewise:
// every item that existed when the walk began arrives exactly once, in
// order (XEP-0059 §2.2).
func TestWalkWithInserts(t *testing.T) {
	for _, sorted := range []bool{false, true} {
		t.Run(fmt.Sprintf("sorted=%v", sorted), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			items := ids(100)
			orig := slices.Clone(items)
			src := func() *List[string] {
				if sorted {
					return SortedSlice(items, self)
				}
				return Slice(items, self)
			}
			insert := func(step int) {
				for range 3 {
					k := fmt.Sprintf("k%03d-%d-%d", rng.IntN(100), step, rng.IntN(1000))
					if sorted {
						i, found := slices.BinarySearch(items, k)
						if !found {
							items = slices.Insert(items, i, k)
						}
					} else {
						items = slices.Insert(items, rng.IntN(len(items)+1), k)
					}
				}
			}
			seen := map[string]int{}
			var got []string
			after := ""
			for step := 0; step < 1000; step++ {
				p, err := Paginate[string](src(), Next(7, after), 50)
				if err != nil {
					t.Fatal(err)
				}
				for _, it := range p.Items {
					seen[it]++
					got = append(got, it)
				}
				if p.Complete {
					break
				}
				after = p.Result.Last
				insert(step)
			}
			for k, n := range seen {
				if n > 1 {
					t.Fatalf("%s received %d times", k, n)
				}
			}
			// The original items arrive in their relative order.
			var orig2 []string
			for _, it := range got {
				if slices.Contains(orig, it) {
					orig2 = append(orig2, it)
				}
			}
			if sorted && !slices.Equal(orig2, orig) {
				t.Fatalf("original items: got %d of %d, in order %v", len(orig2), len(orig), slices.IsSorted(orig2))
			}
			if !sorted && len(orig2) != len(orig) {
				t.Fatalf("got %d of the %d original items", len(orig2), len(orig))
			}

			// Backwards from the end.
			seen = map[string]int{}
			before := ""
			for step := 0; step < 1000; step++ {
				var q Query
				if before == "" {
					q = Last(6)
				} else {
					q = Prev(6, before)
				}
				p, err := Paginate[string](src(), q, 50)
				if err != nil {
					t.Fatal(err)
				}
				for _, it := range p.Items {
					seen[it]++
					if seen[it] > 1 {
						t.Fatalf("%s received twice paging backwards", it)
					}
				}
				if p.Complete {
					break
				}
				before = p.Result.First
				insert(step + 1000)
			}
			for _, it := range orig {
				if seen[it] != 1 {
					t.Fatalf("paging backwards, %s received %d times", it, seen[it])
				}
			}
		})
	}
}

// FuzzPaginate checks the paging rules on arbitrary sets and requests
// against a direct computation.
func FuzzPaginate(f *testing.F) {
	f.Add(uint8(25), uint8(5), uint8(3), uint8(0), uint8(10))
	f.Add(uint8(0), uint8(5), uint8(0), uint8(1), uint8(0))
	f.Add(uint8(9), uint8(0), uint8(200), uint8(2), uint8(3))
	f.Add(uint8(40), uint8(7), uint8(39), uint8(3), uint8(12))
	f.Fuzz(func(t *testing.T, size, maxN, pos, kind, limit uint8) {
		items := ids(int(size))
		var q Query
		uid := fmt.Sprintf("k%03d", pos)
		switch kind % 5 {
		case 0:
			q = First(int(maxN))
		case 1:
			q = Next(int(maxN), uid)
		case 2:
			q = Prev(int(maxN), uid)
		case 3:
			q = Last(int(maxN))
		case 4:
			q = AtIndex(int(maxN), int(pos))
		}
		p, err := Paginate[string](Slice(items, self), q, int(limit))
		known := int(pos) < len(items)
		if (kind%5 == 1 || kind%5 == 2) && !known {
			if !errors.Is(err, stanza.ErrItemNotFound) {
				t.Fatalf("unknown UID: %v", err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		n := int(limit)
		if n == 0 {
			n = 100
		}
		n = min(n, int(maxN))
		var lo, hi int
		switch kind % 5 {
		case 0:
			lo, hi = 0, min(n, len(items))
		case 1:
			lo = int(pos) + 1
			hi = min(lo+n, len(items))
		case 2:
			hi = int(pos)
			lo = max(0, hi-n)
		case 3:
			hi = len(items)
			lo = max(0, hi-n)
		case 4:
			lo = min(int(pos), len(items))
			hi = min(lo+n, len(items))
		}
		if n == 0 {
			lo, hi = 0, 0
		}
		want := items[lo:hi]
		if !slices.Equal(p.Items, want) {
			t.Fatalf("%+v limit %d over %d: got %v, want %v", q, limit, size, p.Items, want)
		}
		if p.Result.Count != len(items) || !p.Result.HasCount {
			t.Fatalf("count %+v", p.Result)
		}
		if len(want) > 0 && (p.Result.FirstIndex != lo || !p.Result.HasFirstIndex) {
			t.Fatalf("first index %+v, want %d", p.Result, lo)
		}
		complete := hi == len(items)
		if kind%5 == 2 || kind%5 == 3 {
			complete = lo == 0
		}
		if n == 0 {
			complete = len(items) == 0
		}
		if p.Complete != complete {
			t.Fatalf("%+v limit %d over %d: complete %v, want %v", q, limit, size, p.Complete, complete)
		}
	})
}
