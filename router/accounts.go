package router

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"hash"

	"mellium.im/sasl"

	"xmppkit.dev/jid"
)

// SCRAMIterations is the PBKDF2 iteration count of the stored SCRAM keys
// (RFC 5802 §2.2 Hi; RFC 7677 §4 asks for at least 4096).
const SCRAMIterations = 4096

// saltPassword is the PBKDF2 derivation (RFC 5802 §2.2 Hi) that CheckPlain
// runs once per attempt; a variable so that tests can count the calls.
var saltPassword = sasl.SCRAMSaltPassword

// Accounts holds the router's local accounts (Config.Users) as a client
// transport needs them to authenticate clients (RFC 6120 §6): for each
// account the SCRAM salted passwords (RFC 5802 §3) for SHA-1 and SHA-256,
// salted once when the router is created. The passwords themselves are not
// kept. Its methods are safe for concurrent use; the zero value has no
// accounts.
//
// Lookups do not reveal whether an account exists through their answers or
// their cost: an unknown account gets a salt that is stable across attempts
// and a key no proof matches (RFC 5802 §9), and a PLAIN check runs the same
// key derivation for it (RFC 4616 §6).
type Accounts struct {
	byJID map[jid.JID]*credential
	// fake derives the stable salts shown for unknown accounts.
	fake []byte
	// fakeKey is what a PLAIN password of an unknown account is compared
	// with.
	fakeKey [32]byte
}

// credential is what the router keeps of a password.
type credential struct {
	salt   []byte
	sha1   []byte // SaltedPassword for SCRAM-SHA-1
	sha256 []byte // SaltedPassword for SCRAM-SHA-256, also checks PLAIN
}

// newAccounts salts every password of users (bare JID → password).
func newAccounts(users map[string]string) (*Accounts, error) {
	a := &Accounts{byJID: make(map[jid.JID]*credential, len(users)), fake: make([]byte, 32)}
	rand.Read(a.fake)
	rand.Read(a.fakeKey[:])
	for u, pw := range users {
		j, err := jid.Parse(u)
		if err != nil || j.Local() == "" || j.Resource() != "" {
			return nil, fmt.Errorf("router: Config.Users: %q is not a bare JID with a localpart", u)
		}
		salt := make([]byte, 16)
		rand.Read(salt)
		a.byJID[j] = &credential{
			salt:   salt,
			sha1:   sasl.SCRAMSaltPassword(sha1.New, []byte(pw), salt, SCRAMIterations),
			sha256: sasl.SCRAMSaltPassword(sha256.New, []byte(pw), salt, SCRAMIterations),
		}
	}
	return a, nil
}

// Accounts returns the router's local accounts (Config.Users).
func (r *Router) Accounts() *Accounts { return r.accounts }

// Exists reports whether bare (a bare JID) is a local account of
// Config.Users.
func (a *Accounts) Exists(bare jid.JID) bool {
	_, ok := a.byJID[bare]
	return ok
}

// lookup returns the account user@domain and its credential, or nil.
func (a *Accounts) lookup(user []byte, domain string) (jid.JID, *credential) {
	j, err := jid.New(string(user), domain, "")
	if err != nil {
		return jid.JID{}, nil
	}
	return j, a.byJID[j]
}

// SCRAM returns what a SCRAM server needs (RFC 5802 §3) to check a proof
// for the account user@domain with the hash sha1.New or sha256.New: the
// account's bare JID, the salt, the salted password and the iteration
// count. For an unknown account (or another hash) the JID is zero, the
// salt is a fake one that does not change between attempts and the key is
// random, so that no proof matches and the answer reveals nothing.
func (a *Accounts) SCRAM(user []byte, domain string, h func() hash.Hash) (bare jid.JID, salt, salted []byte, iter int) {
	j, c := a.lookup(user, domain)
	if c != nil {
		switch h().Size() {
		case sha1.Size:
			return j, c.salt, c.sha1, SCRAMIterations
		case sha256.Size:
			return j, c.salt, c.sha256, SCRAMIterations
		}
	}
	key := make([]byte, h().Size())
	rand.Read(key)
	return jid.JID{}, a.fakeSalt(user, domain), key, SCRAMIterations
}

// fakeSalt is the salt shown for the unknown account user@domain: derived
// from a secret of the router, so that it does not change between
// attempts.
func (a *Accounts) fakeSalt(user []byte, domain string) []byte {
	m := hmac.New(sha256.New, a.fake)
	m.Write([]byte(domain + "\x00"))
	m.Write(user)
	return m.Sum(nil)[:16]
}

// CheckPlain verifies a PLAIN password (RFC 4616) for the account
// user@domain against its stored SCRAM-SHA-256 key, in constant time, and
// returns the account's bare JID when it matches. An unknown account costs
// the same key derivation (against its fake salt) as a known one, so that
// the time of the answer does not tell whether the account exists
// (RFC 4616 §6, RFC 5802 §9).
func (a *Accounts) CheckPlain(user, password []byte, domain string) (jid.JID, bool) {
	j, c := a.lookup(user, domain)
	salt, want := a.fakeSalt(user, domain), a.fakeKey[:]
	if c != nil {
		salt, want = c.salt, c.sha256
	}
	got := saltPassword(sha256.New, password, salt, SCRAMIterations)
	ok := subtle.ConstantTimeCompare(got, want) == 1
	if c == nil {
		return jid.JID{}, false // whatever the comparison said
	}
	return j, ok
}
