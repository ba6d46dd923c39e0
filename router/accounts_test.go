package router

import (
	"bytes"
	"crypto/sha256"
	"hash"
	"testing"
)

// TestCheckPlainConstantWork checks that a PLAIN attempt costs one key
// derivation of the full iteration count whether the account exists, does
// not exist or cannot exist (a localpart that is no valid JID), so that the
// answer's timing tells nothing about the account (RFC 4616 §6).
func TestCheckPlainConstantWork(t *testing.T) {
	s, err := newAccounts(map[string]string{"alice@localhost": "alicepw"})
	if err != nil {
		t.Fatal(err)
	}
	var calls, iters int
	var salts [][]byte
	orig := saltPassword
	saltPassword = func(h func() hash.Hash, pw, salt []byte, n int) []byte {
		calls++
		iters += n
		salts = append(salts, salt)
		return orig(h, pw, salt, n)
	}
	defer func() { saltPassword = orig }()

	for _, tc := range []struct {
		name, user, pw, domain string
		ok                     bool
	}{
		{"known, right password", "alice", "alicepw", "localhost", true},
		{"known, wrong password", "alice", "wrong", "localhost", false},
		{"unknown user", "mallory", "alicepw", "localhost", false},
		{"unknown domain", "alice", "alicepw", "other.example", false},
		{"invalid localpart", "a b", "alicepw", "localhost", false},
		{"empty user", "", "", "localhost", false},
	} {
		calls, iters = 0, 0
		j, ok := s.CheckPlain([]byte(tc.user), []byte(tc.pw), tc.domain)
		if ok != tc.ok {
			t.Errorf("%s: ok = %v, want %v", tc.name, ok, tc.ok)
		}
		if tc.ok && j.String() != "alice@localhost" || tc.user != "alice" && !j.IsZero() {
			t.Errorf("%s: jid = %q", tc.name, j)
		}
		if calls != 1 || iters != SCRAMIterations {
			t.Errorf("%s: %d derivations of %d iterations in all, want 1 of %d", tc.name, calls, iters, SCRAMIterations)
		}
	}
	// The fake salt of an unknown user is stable across attempts (a changing
	// one would itself reveal the account does not exist through SCRAM).
	salts = nil
	s.CheckPlain([]byte("mallory"), []byte("x"), "localhost")
	s.CheckPlain([]byte("mallory"), []byte("y"), "localhost")
	_, scramSalt, _, _ := s.SCRAM([]byte("mallory"), "localhost", sha256.New)
	if len(salts) != 2 || !bytes.Equal(salts[0], salts[1]) || !bytes.Equal(salts[0], scramSalt) {
		t.Errorf("fake salts differ between attempts: %x", salts)
	}
}

// BenchmarkCheckPlain compares the cost of a PLAIN attempt for a known and
// an unknown account: they should be within noise of each other.
func BenchmarkCheckPlain(b *testing.B) {
	s, err := newAccounts(map[string]string{"alice@localhost": "alicepw"})
	if err != nil {
		b.Fatal(err)
	}
	for _, user := range []string{"alice", "mallory"} {
		b.Run(user, func(b *testing.B) {
			for b.Loop() {
				s.CheckPlain([]byte(user), []byte("wrong"), "localhost")
			}
		})
	}
}

// TestNewBadUsers: a Config.Users key that is not a bare JID with a
// localpart is refused by New.
func TestNewBadUsers(t *testing.T) {
	for _, u := range []string{"no-local.example", "a@b/res", "a@@b"} {
		if _, err := New(Config{Users: map[string]string{u: "x"}}); err == nil {
			t.Errorf("user %q accepted", u)
		}
	}
}
