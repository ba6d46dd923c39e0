package c2s

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"

	"mellium.im/sasl"

	"xmppkit.dev/jid"
	"xmppkit.dev/stream"
)

// SASL mechanisms of the listener (RFC 6120 §6; RFC 7677, RFC 5802,
// RFC 4616), strongest first.
const (
	mechSCRAMSHA256 = "SCRAM-SHA-256"
	mechSCRAMSHA1   = "SCRAM-SHA-1"
	mechPlain       = "PLAIN"
)

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
func (ss *session) authenticate(mech, initial string, tlsOn bool) (jid.JID, error) {
	m, ok := saslMechanism(mech)
	if !ok {
		return jid.JID{}, &saslFailure{"invalid-mechanism"}
	}
	if mech == mechPlain && !tlsOn {
		return jid.JID{}, &saslFailure{"encryption-required"} // §6.5.4
	}
	var who jid.JID
	var badAuthz bool
	domain := ss.domain.Domain()
	perm := func(n *sasl.Negotiator) bool { // PLAIN
		user, pw, authz := n.Credentials()
		j, ok := ss.s.r.Accounts().CheckPlain(user, pw, domain)
		if ok && len(authz) > 0 && string(authz) != j.String() {
			badAuthz = true
			return false
		}
		who = j
		return ok
	}
	fetch := func(user, authz []byte, name string) ([]byte, []byte, int64, error) { // SCRAM
		h := sha256.New
		if name == mechSCRAMSHA1 {
			h = sha1.New
		}
		j, salt, key, iter := ss.s.r.Accounts().SCRAM(user, domain, h)
		if len(authz) > 0 && string(authz) != j.String() {
			badAuthz = true
			return nil, nil, 0, sasl.ErrAuthn
		}
		who = j
		return salt, key, int64(iter), nil
	}
	neg := sasl.NewServer(m, perm, sasl.SaltedCredentials(fetch))
	data, err := decodeSASL(initial)
	if err != nil {
		return jid.JID{}, err
	}
	if len(data) == 0 && mech != mechPlain && initial == "" {
		// No initial response (RFC 6120 §6.4.2): ask for it.
		if data, err = ss.challenge(nil); err != nil {
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
			ss.cs.Writer().WriteRaw(saslElement("success", resp))
			return who, nil
		}
		if data, err = ss.challenge(resp); err != nil {
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
func (ss *session) challenge(data []byte) ([]byte, error) {
	ss.cs.Writer().WriteRaw(saslElement("challenge", data))
	el, err := ss.cs.Reader().Next()
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
