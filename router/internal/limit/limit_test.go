package limit

import (
	"fmt"
	"testing"
	"time"
)

func TestKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":            "192.0.2.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64",
		"::ffff:192.0.2.7":     "::ffff:192.0.2.7",
		"pipe":                 "pipe",
		"2001:db8:1:3::1":      "2001:db8:1:3::/64",
	} {
		if got := Key(in); got != want {
			t.Errorf("Key(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestRate(t *testing.T) {
	r := &Rate{Rate: 2, Burst: 3}
	now := time.Unix(1000, 0)
	for i := range 3 {
		if !r.Allow("a", now) {
			t.Fatalf("burst event %d refused", i)
		}
	}
	if r.Allow("a", now) {
		t.Fatal("event over the burst allowed")
	}
	if !r.Allow("b", now) {
		t.Fatal("another key refused")
	}
	if !r.Allow("a", now.Add(500*time.Millisecond)) || r.Allow("a", now.Add(500*time.Millisecond)) {
		t.Fatal("refill of one token in 500 ms at 2/s")
	}
	var zero Rate
	if !zero.Allow("a", now) {
		t.Fatal("zero Rate refused")
	}
}

func TestBackoff(t *testing.T) {
	b := &Backoff{Free: 2, Base: time.Second, Max: 8 * time.Second, Forget: time.Minute}
	now := time.Unix(1000, 0)
	var waits []time.Duration
	for range 7 {
		waits = append(waits, b.Fail("k", now))
	}
	if got := fmt.Sprint(waits); got != "[0s 0s 1s 2s 4s 8s 8s]" {
		t.Errorf("waits %s", got)
	}
	if w := b.Wait("k", now.Add(3*time.Second)); w != 5*time.Second {
		t.Errorf("Wait after 3 s: %v", w)
	}
	if w := b.Wait("other", now); w != 0 {
		t.Errorf("unknown key waits %v", w)
	}
	// Long after the last failure, the count starts over.
	if w := b.Fail("k", now.Add(2*time.Minute)); w != 0 {
		t.Errorf("after Forget: %v", w)
	}
	b.Fail("k", now)
	b.Fail("k", now)
	b.Succeed("k")
	if w := b.Wait("k", now); w != 0 {
		t.Errorf("after Succeed: %v", w)
	}
}

func TestRecent(t *testing.T) {
	r := &Recent{TTL: time.Hour}
	now := time.Unix(1000, 0)
	r.Add("a", now)
	if !r.Has("a", now.Add(59*time.Minute)) || r.Has("a", now.Add(61*time.Minute)) || r.Has("b", now) {
		t.Error("Recent")
	}
}

// TestBounded: a flood of keys never makes a limiter hold more than
// MaxEntries.
func TestBounded(t *testing.T) {
	r := &Rate{Rate: 1, Burst: 1}
	now := time.Unix(1000, 0)
	for i := range 3 * MaxEntries {
		r.Allow(fmt.Sprint(i), now)
	}
	if n := len(r.t.m); n > MaxEntries {
		t.Errorf("%d keys kept", n)
	}
}
