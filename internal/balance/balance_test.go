package balance

import (
	"fmt"
	"testing"
)

// keys returns n distinct bare JIDs.
func keys(n int) []uint64 {
	ks := make([]uint64, n)
	for i := range ks {
		ks[i] = Key(fmt.Sprintf("user%d@example.net", i))
	}
	return ks
}

// TestEven: every link gets close to its share.
func TestEven(t *testing.T) {
	ids := []uint32{0, 1, 2, 3}
	count := make([]int, len(ids))
	ks := keys(40000)
	for _, k := range ks {
		count[Pick(k, ids)]++
	}
	for i, n := range count {
		if n < 9000 || n > 11000 {
			t.Errorf("link %d got %d of %d keys, want about %d", i, n, len(ks), len(ks)/len(ids))
		}
	}
}

// TestMinimalMoves: removing a link moves only its keys, spread over the
// others; adding it back restores the first assignment exactly.
func TestMinimalMoves(t *testing.T) {
	all := []uint32{0, 1, 2, 3}
	without := []uint32{0, 1, 3}
	ks := keys(20000)
	moved := make(map[uint32]int)
	for _, k := range ks {
		before := all[Pick(k, all)]
		after := without[Pick(k, without)]
		if before != 2 && after != before {
			t.Fatalf("key %x moved from link %d to %d although link %d is still there", k, before, after, before)
		}
		if before == 2 {
			moved[after]++
		}
		if again := all[Pick(k, all)]; again != before {
			t.Fatalf("key %x: %d then %d for the same set", k, before, again)
		}
	}
	for _, id := range without {
		if moved[id] < 1200 || moved[id] > 2100 {
			t.Errorf("link %d took %d of link 2's keys, want about a third of ~5000", id, moved[id])
		}
	}
}

// TestOrderFree: the pick does not depend on the order of the identities
// (the order links connected in), unlike a hash modulo the list length.
func TestOrderFree(t *testing.T) {
	a := []uint32{0, 1, 2}
	b := []uint32{2, 0, 1}
	for _, k := range keys(5000) {
		if a[Pick(k, a)] != b[Pick(k, b)] {
			t.Fatalf("key %x: the order of the links changed its link", k)
		}
	}
	if Pick(1, nil) != -1 {
		t.Fatal("Pick of no links is not -1")
	}
}

func BenchmarkPick4(b *testing.B) {
	ids := []uint32{0, 1, 2, 3}
	k := Key("juliet@capulet.example")
	for b.Loop() {
		k += uint64(Pick(k, ids))
	}
}
