package c2s

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"hash"
	"strconv"

	"xmppkit.dev/jid"
)

// The server side of SCRAM (RFC 5802, RFC 7677) with channel binding (the
// -PLUS mechanisms; RFC 9266 tls-exporter, RFC 5929 tls-unique), written
// here because mellium.im/sasl v0.3.2 (the latest) implements the server
// without channel binding: its server panics on a -PLUS mechanism and
// refuses "p=", and it does not refuse "y" when the server offers binding.

// scram runs a SCRAM exchange whose client-first-message is first.
func (ss *session) scram(h func() hash.Hash, plus bool, first []byte) (jid.JID, error) {
	cf, f := parseClientFirst(first)
	if f != nil {
		return jid.JID{}, f
	}
	var cbData []byte
	switch {
	case plus && cf.cbName == "":
		// A -PLUS mechanism binds, or it is not -PLUS (RFC 5802 §6).
		return jid.JID{}, &saslFailure{cond: "malformed-request", text: "a -PLUS mechanism without channel binding"}
	case !plus && cf.cbName != "":
		return jid.JID{}, &saslFailure{cond: "malformed-request", text: "channel binding with a mechanism that is not -PLUS"}
	case cf.flag == 'y' && len(ss.channelBindings()) > 0:
		// The client binds but saw no -PLUS mechanism, which was offered:
		// they were removed on the way (RFC 5802 §6, a downgrade).
		ss.s.downgrade(ss)
		return jid.JID{}, &saslFailure{cond: "not-authorized", text: "server-does-support-channel-binding"}
	case plus:
		d, ok := ss.bindingData(cf.cbName)
		if !ok {
			return jid.JID{}, &saslFailure{cond: "not-authorized", text: "unsupported-channel-binding-type"}
		}
		cbData = d
	}
	if f := ss.admit(cf.user); f != nil {
		return jid.JID{}, f
	}
	who, salt, salted, iter := ss.s.r.Accounts().SCRAM(cf.user, ss.domain.Domain(), h)
	nonce := make([]byte, 18)
	rand.Read(nonce)
	combined := append(append([]byte(nil), cf.nonce...), base64.RawStdEncoding.AppendEncode(nil, nonce)...)
	serverFirst := []byte("r=")
	serverFirst = append(serverFirst, combined...)
	serverFirst = append(serverFirst, ",s="...)
	serverFirst = base64.StdEncoding.AppendEncode(serverFirst, salt)
	serverFirst = append(serverFirst, ",i="...)
	serverFirst = strconv.AppendInt(serverFirst, int64(iter), 10)

	final, err := ss.challenge(serverFirst)
	if err != nil {
		return jid.JID{}, err
	}
	withoutProof, proof, f := splitClientFinal(final)
	if f != nil {
		return jid.JID{}, f
	}
	attrs := bytes.Split(withoutProof, []byte{','})
	if len(attrs) < 2 || !bytes.HasPrefix(attrs[0], []byte("c=")) || !bytes.HasPrefix(attrs[1], []byte("r=")) {
		return jid.JID{}, errMalformedSASL
	}
	gotCB, err := base64.StdEncoding.DecodeString(string(attrs[0][2:]))
	if err != nil {
		return jid.JID{}, &saslFailure{cond: "incorrect-encoding"}
	}
	wantCB := append(append([]byte(nil), cf.gs2Header...), cbData...)
	if subtle.ConstantTimeCompare(gotCB, wantCB) != 1 {
		if plus {
			ss.s.bindingMismatch(ss)
		}
		return jid.JID{}, &saslFailure{cond: "not-authorized", text: "channel-bindings-dont-match"}
	}
	if !bytes.Equal(attrs[1][2:], combined) {
		return jid.JID{}, &saslFailure{cond: "not-authorized", text: "nonce mismatch"}
	}

	// RFC 5802 §3: check ClientProof against StoredKey.
	authMessage := make([]byte, 0, len(cf.bare)+len(serverFirst)+len(withoutProof)+2)
	authMessage = append(append(append(append(append(authMessage, cf.bare...), ','), serverFirst...), ','), withoutProof...)
	mac := func(key, msg []byte) []byte {
		m := hmac.New(h, key)
		m.Write(msg)
		return m.Sum(nil)
	}
	clientKey := mac(salted, []byte("Client Key"))
	storedKey := h()
	storedKey.Write(clientKey)
	sig := mac(storedKey.Sum(nil), authMessage)
	if len(proof) != len(sig) {
		ss.loginDone(cf.user, false)
		return jid.JID{}, errBadLogin
	}
	recovered := make([]byte, len(sig))
	subtle.XORBytes(recovered, proof, sig)
	check := h()
	check.Write(recovered)
	ok := hmac.Equal(check.Sum(nil), storedKey.Sum(nil)) && !who.IsZero()
	ss.loginDone(cf.user, ok)
	if !ok {
		return jid.JID{}, errBadLogin
	}
	if len(cf.authzid) > 0 && string(cf.authzid) != who.String() {
		return jid.JID{}, &saslFailure{cond: "invalid-authzid"} // RFC 6120 §6.5.6
	}
	serverSig := mac(mac(salted, []byte("Server Key")), authMessage)
	ss.cs.Writer().WriteRaw(saslElement("success", append([]byte("v="), base64.StdEncoding.AppendEncode(nil, serverSig)...)))
	return who, nil
}

// clientFirst is a parsed SCRAM client-first-message (RFC 5802 §7).
type clientFirst struct {
	flag      byte   // 'n', 'y' or 'p'
	cbName    string // with 'p', the channel binding type
	authzid   []byte // unescaped, or nil
	gs2Header []byte // "flag,[a=authzid],"
	bare      []byte // client-first-message-bare
	user      []byte // unescaped username
	nonce     []byte
}

// parseClientFirst parses a client-first-message; a failure says why not.
func parseClientFirst(msg []byte) (*clientFirst, *saslFailure) {
	cf := &clientFirst{}
	i := bytes.IndexByte(msg, ',')
	if i < 1 {
		return nil, errMalformedSASL
	}
	switch flag := msg[:i]; {
	case len(flag) == 1 && (flag[0] == 'n' || flag[0] == 'y'):
		cf.flag = flag[0]
	case len(flag) > 2 && flag[0] == 'p' && flag[1] == '=' && validCBName(flag[2:]):
		cf.flag, cf.cbName = 'p', string(flag[2:])
	default:
		return nil, errMalformedSASL
	}
	rest := msg[i+1:]
	j := bytes.IndexByte(rest, ',')
	if j < 0 {
		return nil, errMalformedSASL
	}
	if authz := rest[:j]; len(authz) > 0 {
		if !bytes.HasPrefix(authz, []byte("a=")) {
			return nil, errMalformedSASL
		}
		a, ok := unescapeSaslname(authz[2:])
		if !ok || len(a) == 0 {
			return nil, errMalformedSASL
		}
		cf.authzid = a
	}
	cf.gs2Header = msg[:i+1+j+1]
	cf.bare = rest[j+1:]
	attrs := bytes.Split(cf.bare, []byte{','})
	if len(attrs) > 0 && bytes.HasPrefix(attrs[0], []byte("m=")) {
		return nil, &saslFailure{cond: "malformed-request", text: "extensions-not-supported"}
	}
	if len(attrs) < 2 || !bytes.HasPrefix(attrs[0], []byte("n=")) || !bytes.HasPrefix(attrs[1], []byte("r=")) {
		return nil, errMalformedSASL
	}
	user, ok := unescapeSaslname(attrs[0][2:])
	if !ok || len(user) == 0 {
		return nil, &saslFailure{cond: "malformed-request", text: "invalid-username-encoding"}
	}
	cf.user = user
	cf.nonce = attrs[1][2:]
	if !printable(cf.nonce) {
		return nil, errMalformedSASL
	}
	return cf, nil
}

// splitClientFinal splits a client-final-message into the part without
// proof and the decoded proof (RFC 5802 §7: the proof is last).
func splitClientFinal(msg []byte) (withoutProof, proof []byte, f *saslFailure) {
	i := bytes.LastIndex(msg, []byte(",p="))
	if i < 0 {
		return nil, nil, errMalformedSASL
	}
	p, err := base64.StdEncoding.DecodeString(string(msg[i+3:]))
	if err != nil {
		return nil, nil, &saslFailure{cond: "incorrect-encoding"}
	}
	return msg[:i], p, nil
}

// unescapeSaslname undoes RFC 5802 §5.1's =2C and =3D; any other '=' is
// invalid.
func unescapeSaslname(b []byte) ([]byte, bool) {
	if bytes.IndexByte(b, '=') < 0 {
		return b, true
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != '=' {
			out = append(out, b[i])
			continue
		}
		if i+2 >= len(b) {
			return nil, false
		}
		switch string(b[i+1 : i+3]) {
		case "2C":
			out = append(out, ',')
		case "3D":
			out = append(out, '=')
		default:
			return nil, false
		}
		i += 2
	}
	return out, true
}

// printable reports whether b is a SCRAM nonce: printable ASCII but ','.
func printable(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < 0x21 || c > 0x7e || c == ',' {
			return false
		}
	}
	return true
}

// validCBName reports whether b is a channel binding type name (RFC 5056
// §7: letters, digits, '.' and '-').
func validCBName(b []byte) bool {
	for _, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}
