package router

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"

	"mellium.im/sasl"

	"xmppkit.dev/jid"
	"xmppkit.dev/stream"
)

// SASL mechanisms of the c2s listener (RFC 6120 §6; RFC 7677, RFC 5802,
// RFC 4616), strongest first.
const (
	mechSCRAMSHA256 = "SCRAM-SHA-256"
	mechSCRAMSHA1   = "SCRAM-SHA-1"
	mechPlain       = "PLAIN"
)

// scramIterations is the PBKDF2 iteration count of the stored SCRAM keys
// (RFC 7677 §4 asks for at least 4096).
const scramIterations = 4096

// saltPassword is the PBKDF2 derivation (RFC 5802 §2.2 Hi) that checkPlain
// runs once per attempt; a variable so that tests can count the calls.
var saltPassword = sasl.SCRAMSaltPassword

// credential is what the listener keeps of a password: the SCRAM salted
// passwords (RFC 5802 §3) for both hashes, never the password itself.
type credential struct {
	salt   []byte
	sha1   []byte // SaltedPassword for SCRAM-SHA-1
	sha256 []byte // SaltedPassword for SCRAM-SHA-256, also checks PLAIN
}

// credStore maps bare JIDs to credentials. It is read-only after creation.
type credStore struct {
	byJID map[jid.JID]*credential
	// fake keys answer SCRAM for unknown users with a salt that does not
	// change between attempts, so that the first challenge does not reveal
	// whether the account exists (RFC 5802 §9).
	fake []byte
	// fakeKey is what a PLAIN password of an unknown user is compared with.
	fakeKey [32]byte
}

// newCredStore salts every password of users (bare JID → password).
func newCredStore(users map[string]string) (*credStore, error) {
	s := &credStore{byJID: make(map[jid.JID]*credential, len(users)), fake: make([]byte, 32)}
	rand.Read(s.fake)
	rand.Read(s.fakeKey[:])
	for u, pw := range users {
		j, err := jid.Parse(u)
		if err != nil || j.Local() == "" || j.Resource() != "" {
			return nil, fmt.Errorf("router: Config.Users: %q is not a bare JID with a localpart", u)
		}
		salt := make([]byte, 16)
		rand.Read(salt)
		s.byJID[j] = &credential{
			salt:   salt,
			sha1:   sasl.SCRAMSaltPassword(sha1.New, []byte(pw), salt, scramIterations),
			sha256: sasl.SCRAMSaltPassword(sha256.New, []byte(pw), salt, scramIterations),
		}
	}
	return s, nil
}

// lookup returns the credential of user@domain, or nil.
func (s *credStore) lookup(user []byte, domain string) (jid.JID, *credential) {
	j, err := jid.New(string(user), domain, "")
	if err != nil {
		return jid.JID{}, nil
	}
	return j, s.byJID[j]
}

// salted returns the SCRAM salt and salted password of user@domain for the
// mechanism; for an unknown user, a stable fake salt and a random key that
// no proof can match.
func (s *credStore) salted(user []byte, domain, mech string) (jid.JID, []byte, []byte) {
	j, c := s.lookup(user, domain)
	if c != nil {
		if mech == mechSCRAMSHA1 {
			return j, c.salt, c.sha1
		}
		return j, c.salt, c.sha256
	}
	key := make([]byte, 32)
	rand.Read(key)
	return jid.JID{}, s.fakeSalt(user, domain), key
}

// fakeSalt is the salt shown for the unknown account user@domain: derived
// from the store's secret, so that it does not change between attempts.
func (s *credStore) fakeSalt(user []byte, domain string) []byte {
	m := hmac.New(sha256.New, s.fake)
	m.Write([]byte(domain + "\x00"))
	m.Write(user)
	return m.Sum(nil)[:16]
}

// checkPlain verifies a PLAIN password (RFC 4616) against the stored
// SCRAM-SHA-256 key, in constant time. An unknown user costs the same key
// derivation (against a fake salt) as a known one, so that the time of the
// answer does not tell whether the account exists (RFC 4616 §6, RFC 5802 §9).
func (s *credStore) checkPlain(user, password []byte, domain string) (jid.JID, bool) {
	j, c := s.lookup(user, domain)
	salt, want := s.fakeSalt(user, domain), s.fakeKey[:]
	if c != nil {
		salt, want = c.salt, c.sha256
	}
	got := saltPassword(sha256.New, password, salt, scramIterations)
	ok := subtle.ConstantTimeCompare(got, want) == 1
	if c == nil {
		return jid.JID{}, false // whatever the comparison said
	}
	return j, ok
}

// saslFailure is a SASL failure to send (RFC 6120 §6.4.5) with its §6.5
// condition.
type saslFailure struct{ cond string }

func (f *saslFailure) Error() string { return "sasl failure: " + f.cond }

func (f *saslFailure) xml() []byte {
	return []byte("<failure xmlns='" + stream.NSSASL + "'><" + f.cond + "/></failure>")
}

var errAborted = &saslFailure{"aborted"}

// saslMechanism returns mellium's mechanism for a name the listener offers.
func saslMechanism(name string) (sasl.Mechanism, bool) {
	switch name {
	case mechSCRAMSHA256:
		return sasl.ScramSha256, true
	case mechSCRAMSHA1:
		return sasl.ScramSha1, true
	case mechPlain:
		return sasl.Plain, true
	}
	return sasl.Mechanism{}, false
}

// authenticate runs one SASL exchange (RFC 6120 §6.4) after the client's
// <auth/> for mech with the initial response text. It returns the
// authenticated bare JID, or a *saslFailure to send, or a stream-level
// error (the stream is then over).
func (s *c2sSession) authenticate(mech, initial string, tlsOn bool) (jid.JID, error) {
	m, ok := saslMechanism(mech)
	if !ok {
		return jid.JID{}, &saslFailure{"invalid-mechanism"}
	}
	if mech == mechPlain && !tlsOn {
		return jid.JID{}, &saslFailure{"encryption-required"} // §6.5.4
	}
	var who jid.JID
	var badAuthz bool
	domain := s.domain.Domain()
	perm := func(n *sasl.Negotiator) bool { // PLAIN
		user, pw, authz := n.Credentials()
		j, ok := s.l.creds.checkPlain(user, pw, domain)
		if ok && len(authz) > 0 && string(authz) != j.String() {
			badAuthz = true
			return false
		}
		who = j
		return ok
	}
	fetch := func(user, authz []byte, name string) ([]byte, []byte, int64, error) { // SCRAM
		j, salt, key := s.l.creds.salted(user, domain, name)
		if len(authz) > 0 && string(authz) != j.String() {
			badAuthz = true
			return nil, nil, 0, sasl.ErrAuthn
		}
		who = j
		return salt, key, scramIterations, nil
	}
	neg := sasl.NewServer(m, perm, sasl.SaltedCredentials(fetch))
	data, err := decodeSASL(initial)
	if err != nil {
		return jid.JID{}, err
	}
	if len(data) == 0 && mech != mechPlain && initial == "" {
		// No initial response (RFC 6120 §6.4.2): ask for it.
		if data, err = s.challenge(nil); err != nil {
			return jid.JID{}, err
		}
	}
	for {
		more, resp, err := stepSafe(neg, data)
		if err != nil {
			switch {
			case badAuthz:
				return jid.JID{}, &saslFailure{"invalid-authzid"}
			case errors.Is(err, sasl.ErrInvalidChallenge):
				return jid.JID{}, &saslFailure{"malformed-request"}
			}
			return jid.JID{}, &saslFailure{"not-authorized"}
		}
		if !more {
			if who.IsZero() {
				return jid.JID{}, &saslFailure{"not-authorized"}
			}
			s.c.w.WriteRaw(saslElement("success", resp))
			return who, nil
		}
		if data, err = s.challenge(resp); err != nil {
			return jid.JID{}, err
		}
	}
}

// stepSafe calls neg.Step, turning a panic of the mechanism on hostile
// input into an error.
func stepSafe(neg *sasl.Negotiator, data []byte) (more bool, resp []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			more, resp, err = false, nil, fmt.Errorf("sasl: %v", v)
		}
	}()
	return neg.Step(data)
}

// challenge sends a SASL challenge and reads the client's response
// (RFC 6120 §6.4.3, §6.4.4); <abort/> is errAborted.
func (s *c2sSession) challenge(data []byte) ([]byte, error) {
	s.c.w.WriteRaw(saslElement("challenge", data))
	el, err := s.c.rd.Next()
	if err != nil {
		return nil, err
	}
	switch {
	case el.Is(stream.NSSASL, "response"):
		text, err := el.Text()
		if err != nil {
			return nil, &saslFailure{"incorrect-encoding"}
		}
		return decodeSASL(text)
	case el.Is(stream.NSSASL, "abort"):
		return nil, errAborted
	}
	return nil, stream.NewError(stream.PolicyViolation, "expected a SASL response")
}

func decodeSASL(text string) ([]byte, error) {
	if text == "" || text == "=" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return nil, &saslFailure{"incorrect-encoding"} // §6.5.5
	}
	return b, nil
}

func saslElement(name string, data []byte) []byte {
	b := []byte("<" + name + " xmlns='" + stream.NSSASL + "'>")
	if len(data) > 0 {
		b = base64.StdEncoding.AppendEncode(b, data)
	} else if name != "success" {
		b = append(b, '=')
	}
	return append(b, "</"+name+">"...)
}
