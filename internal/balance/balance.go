// Package balance spreads keys (the bare JIDs of senders or recipients)
// over the links of a component domain by rendezvous hashing (highest
// random weight, Thaler and Ravishankar 1998): each (key, link) pair gets a
// pseudo-random weight and a key goes to the link of highest weight among
// those present. Removing a link moves only the keys it had, spread evenly
// over the others; adding it back takes exactly those keys back; every
// process that sees the same set of link identities picks the same link
// for a key, whatever the order the links came in. That is what ejabberd's
// domain_balancing lacks (its issue 2215): it hashes over a list whose
// order differs per node and whose length changes with every link lost,
// so a sender's stanzas move between links on every change and differ
// between nodes.
//
// The hash is FNV-1a over the key's bytes, mixed with the link's identity
// by the SplitMix64 finalizer: deterministic (no per-process seed), so the
// choice is the same in every process and in tests.
package balance

// Key hashes a routing key: a JID's canonical string (a bare JID, so that
// one entity's stanzas stay together).
func Key(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// Weight is the weight of the pair (key, id) (id: a link's identity).
func Weight(key uint64, id uint32) uint64 {
	return mix(key ^ (uint64(id)+1)*0x9e3779b97f4a7c15)
}

// mix is the SplitMix64 finalizer.
func mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Pick returns the index in ids of the identity that key goes to: the one
// of highest Weight (ties, which need equal weights, go to the first). It
// returns -1 for no ids.
func Pick(key uint64, ids []uint32) int {
	best, bw := -1, uint64(0)
	for i, id := range ids {
		if w := Weight(key, id); best < 0 || w > bw {
			best, bw = i, w
		}
	}
	return best
}
