// Package randid makes unpredictable identifiers (XEP-0050 session ids,
// XEP-0313 archive ids) without a system call each: a ChaCha8 stream, a
// cryptographically strong generator, seeded from crypto/rand, one per
// pooled user so that callers do not contend.
package randid

import (
	cryptorand "crypto/rand"
	"encoding/base32"
	"math/rand/v2"
	"sync"
)

var pool = sync.Pool{New: func() any {
	var seed [32]byte
	if _, err := cryptorand.Read(seed[:]); err != nil {
		panic("randid: no randomness: " + err.Error())
	}
	return rand.NewChaCha8(seed)
}}

var enc = base32.StdEncoding.WithPadding(base32.NoPadding)

// New returns n random bytes (n <= 32) in unpadded base32: 1.6 characters
// a byte, [A-Z2-7] only (safe in any attribute or node).
func New(n int) string {
	var b [32]byte
	g := pool.Get().(*rand.ChaCha8)
	_, _ = g.Read(b[:n])
	pool.Put(g)
	return enc.EncodeToString(b[:n])
}
