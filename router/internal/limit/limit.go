// Package limit holds the rate and failure limiters of the router's
// listeners: per-source token buckets for new connections, growing delays
// after failed logins, and a memory of sources that logged in recently.
// Every limiter keeps at most MaxEntries keys (expired ones are forgotten
// first, then some at random), so that a flood of sources costs bounded
// memory.
package limit

import (
	"net"
	"sync"
	"time"
)

// MaxEntries bounds the keys one limiter keeps.
const MaxEntries = 1 << 16

// Key returns the key a source address is limited by: an IPv4 address as
// is, an IPv6 address by its /64 (one subscriber usually has a whole /64,
// 2^64 addresses), anything else as given.
func Key(host string) string {
	ip := net.ParseIP(host)
	if ip == nil || ip.To4() != nil {
		return host
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// table is a bounded map of entries with their last use.
type table[E any] struct {
	m     map[string]*entry[E]
	max   int
	ttl   time.Duration
	sweep time.Time
}

type entry[E any] struct {
	v    E
	last time.Time
}

// get returns key's entry, creating it with zero when create is set.
func (t *table[E]) get(key string, now time.Time, create bool) *entry[E] {
	if t.m == nil {
		t.m = map[string]*entry[E]{}
	}
	e := t.m[key]
	if e == nil && create {
		if len(t.m) >= t.max || now.Sub(t.sweep) > t.ttl {
			t.expire(now)
		}
		e = &entry[E]{}
		t.m[key] = e
	}
	if e != nil {
		e.last = now
	}
	return e
}

// expire drops the entries unused for ttl and, when the table is still
// full, an eighth of them chosen at random (a flood of sources makes
// every limiter forget some, never grow).
func (t *table[E]) expire(now time.Time) {
	t.sweep = now
	for k, e := range t.m {
		if now.Sub(e.last) > t.ttl {
			delete(t.m, k)
		}
	}
	if len(t.m) >= t.max {
		n := max(1, len(t.m)/8)
		for k := range t.m {
			delete(t.m, k)
			if n--; n == 0 {
				break
			}
		}
	}
}

// Rate is a token bucket per key: Burst events at once, then Rate a
// second. The zero value allows everything.
type Rate struct {
	Rate  float64
	Burst float64

	mu sync.Mutex
	t  table[bucket]
}

type bucket struct {
	tokens float64
	at     time.Time
}

// take refills b for the time since its last use (full at first use) and
// takes a token, reporting whether there was one.
func (b *bucket) take(now time.Time, rate, burst float64) bool {
	if b.at.IsZero() {
		b.tokens = burst
	} else {
		b.tokens = min(burst, b.tokens+now.Sub(b.at).Seconds()*rate)
	}
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Allow takes a token for key at now and reports whether there was one.
func (r *Rate) Allow(key string, now time.Time) bool {
	if r.Rate <= 0 {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.t.max, r.t.ttl = MaxEntries, time.Duration(float64(time.Second)*r.Burst/r.Rate)+time.Second
	return r.t.get(key, now, true).v.take(now, r.Rate, r.Burst)
}

// Backoff delays a key after failures: the first Free failures within
// Forget of each other cost nothing, each further one doubles the wait
// before the next attempt, from Base up to Max. A success clears the key.
type Backoff struct {
	Free   int
	Base   time.Duration
	Max    time.Duration
	Forget time.Duration // a key without failure for this long starts over

	mu sync.Mutex
	t  table[failures]
}

type failures struct {
	n    int
	next time.Time // no attempt before
}

// Wait returns how long key must wait at now before its next attempt (0:
// it may try now).
func (b *Backoff) Wait(key string, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.t.get(key, now, false)
	if e == nil || !now.Before(e.v.next) {
		return 0
	}
	return e.v.next.Sub(now)
}

// Fail records a failure of key at now and returns the wait it now has.
func (b *Backoff) Fail(key string, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.t.max, b.t.ttl = MaxEntries, b.Forget
	e := b.t.get(key, now, true)
	f := &e.v
	if f.n > 0 && now.Sub(f.next) > b.Forget {
		f.n = 0
	}
	f.n++
	if f.n <= b.Free {
		f.next = now
		return 0
	}
	d := b.Base
	for i := b.Free + 1; i < f.n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	f.next = now.Add(d)
	return d
}

// Succeed clears key's failures.
func (b *Backoff) Succeed(key string) {
	b.mu.Lock()
	delete(b.t.m, key)
	b.mu.Unlock()
}

// Recent remembers keys for TTL.
type Recent struct {
	TTL time.Duration

	mu sync.Mutex
	t  table[struct{}]
}

// Add remembers key from now.
func (r *Recent) Add(key string, now time.Time) {
	r.mu.Lock()
	r.t.max, r.t.ttl = MaxEntries, r.TTL
	r.t.get(key, now, true)
	r.mu.Unlock()
}

// Has reports whether key was added less than TTL before now.
func (r *Recent) Has(key string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.t.m[key]
	return e != nil && now.Sub(e.last) <= r.TTL
}

// Log rate-limits log records: Burst at once, then Rate a second; the
// records refused are counted and reported with the next one allowed. The
// zero value allows everything.
type Log struct {
	Rate  float64
	Burst float64

	mu         sync.Mutex
	b          bucket
	suppressed int
}

// Allow reports whether a record may be written at now and, if so, how
// many were suppressed since the last one written.
func (l *Log) Allow(now time.Time) (ok bool, suppressed int) {
	if l.Rate <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.b.take(now, l.Rate, l.Burst) {
		l.suppressed++
		return false, 0
	}
	suppressed, l.suppressed = l.suppressed, 0
	return true, suppressed
}
