package c2s

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"hash"

	"xmppkit.dev/jid"
	"xmppkit.dev/stream"
)

// SASL mechanisms of the listener (RFC 6120 §6; RFC 7677, RFC 5802,
// RFC 4616), strongest first.
const (
	mechSCRAMSHA256Plus = "SCRAM-SHA-256-PLUS"
	mechSCRAMSHA1Plus   = "SCRAM-SHA-1-PLUS"
	mechSCRAMSHA256     = "SCRAM-SHA-256"
	mechSCRAMSHA1       = "SCRAM-SHA-1"
	mechPlain           = "PLAIN"
)

// Channel binding types (RFC 9266 tls-exporter for TLS 1.3, RFC 5929
// tls-unique for TLS 1.2, where tls-exporter is not defined without the
// extended master secret and tls-unique not at all for TLS 1.3).
const (
	cbExporter = "tls-exporter"
	cbUnique   = "tls-unique"
)

// nsSASLCB is XEP-0440's namespace: the channel binding types a server
// supports, as a stream feature.
const nsSASLCB = "urn:xmpp:sasl-cb:0"

// ChannelBinding says whether the listener offers SCRAM with channel
// binding (the -PLUS mechanisms, RFC 5802 §6), which ties the
// authentication to the TLS connection: a man in the middle who holds a
// certificate the client accepts still cannot relay the login.
type ChannelBinding int

const (
	// ChannelBindingOffer (the default) offers SCRAM-SHA-256-PLUS and
	// SCRAM-SHA-1-PLUS on TLS streams (tls-exporter on TLS 1.3, tls-unique
	// on TLS 1.2, announced with XEP-0440), besides the other mechanisms.
	// A client that says it supports channel binding but saw no -PLUS
	// mechanism (gs2 flag "y") is refused, as RFC 5802 §6 requires: the
	// offer was stripped on the way, a downgrade.
	ChannelBindingOffer ChannelBinding = iota
	// ChannelBindingOff offers no -PLUS mechanism (and accepts "y").
	ChannelBindingOff
	// ChannelBindingRequired offers only the -PLUS mechanisms on TLS
	// streams: clients that cannot bind cannot log in.
	ChannelBindingRequired
)

// saslFailure is a SASL failure to send (RFC 6120 §6.4.5) with its §6.5
// condition and an optional text. credential marks a failure on a wrong
// password or proof (or an unknown account), the ones that count towards
// the limits on failed logins; the others are failures of the exchange.
type saslFailure struct {
	cond, text string
	credential bool
}

func (f *saslFailure) Error() string { return "sasl failure: " + f.cond + " " + f.text }

func (f *saslFailure) xml() []byte {
	b := []byte("<failure xmlns='" + stream.NSSASL + "'><" + f.cond + "/>")
	if f.text != "" {
		b = append(b, "<text>"...)
		b = append(b, f.text...) // texts are the listener's own constants
		b = append(b, "</text>"...)
	}
	return append(b, "</failure>"...)
}

var (
	errAborted       = &saslFailure{cond: "aborted"}
	errMalformedSASL = &saslFailure{cond: "malformed-request"}
	errBadLogin      = &saslFailure{cond: "not-authorized", credential: true}
)

// channelBindings returns the binding types the session can offer: none
// without TLS or with ChannelBindingOff.
func (ss *session) channelBindings() []string {
	if !ss.tlsOn || ss.s.cb == ChannelBindingOff {
		return nil
	}
	if st := ss.tlsState(); st.Version >= tls.VersionTLS13 {
		return []string{cbExporter}
	} else if len(st.TLSUnique) > 0 {
		return []string{cbUnique}
	}
	return nil
}

// bindingData returns the channel binding data of type name for the
// session's TLS connection (RFC 9266 §2, RFC 5929 §3), when it offers it.
func (ss *session) bindingData(name string) ([]byte, bool) {
	offered := false
	for _, b := range ss.channelBindings() {
		offered = offered || b == name
	}
	if !offered {
		return nil, false
	}
	st := ss.tlsState()
	switch name {
	case cbExporter:
		d, err := st.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
		return d, err == nil
	case cbUnique:
		return st.TLSUnique, true
	}
	return nil, false
}

func (ss *session) tlsState() tls.ConnectionState {
	if tc, ok := ss.sc.cur().(*tls.Conn); ok {
		return tc.ConnectionState()
	}
	return tls.ConnectionState{}
}

// mechanisms returns the mechanisms offered on the session, strongest
// first: the -PLUS ones when a binding is available (not with
// ChannelBindingOff), then, unless ChannelBindingRequired applies, SCRAM
// and, over TLS only, PLAIN.
func (ss *session) mechanisms() []string {
	var out []string
	plus := len(ss.channelBindings()) > 0
	if plus {
		out = append(out, mechSCRAMSHA256Plus, mechSCRAMSHA1Plus)
	}
	if plus && ss.s.cb == ChannelBindingRequired {
		return out
	}
	out = append(out, mechSCRAMSHA256, mechSCRAMSHA1)
	if ss.tlsOn {
		out = append(out, mechPlain)
	}
	return out
}

// scramHash returns the hash of a SCRAM mechanism and whether it is a
// -PLUS one; ok is false for other names.
func scramHash(mech string) (h func() hash.Hash, plus, ok bool) {
	switch mech {
	case mechSCRAMSHA256Plus:
		return sha256.New, true, true
	case mechSCRAMSHA1Plus:
		return sha1.New, true, true
	case mechSCRAMSHA256:
		return sha256.New, false, true
	case mechSCRAMSHA1:
		return sha1.New, false, true
	}
	return nil, false, false
}

// authenticate runs one SASL exchange (RFC 6120 §6.4) after the client's
// <auth/> for mech with the initial response text. It returns the
// authenticated bare JID, or a *saslFailure to send, or a stream-level
// error (the stream is then over).
func (ss *session) authenticate(mech, initial string) (jid.JID, error) {
	offered := false
	for _, m := range ss.mechanisms() {
		offered = offered || m == mech
	}
	if !offered {
		if mech == mechPlain && !ss.tlsOn {
			return jid.JID{}, &saslFailure{cond: "encryption-required"} // §6.5.4
		}
		return jid.JID{}, &saslFailure{cond: "invalid-mechanism"}
	}
	data, err := decodeSASL(initial)
	if err != nil {
		return jid.JID{}, err
	}
	if len(data) == 0 && initial == "" {
		// No initial response (RFC 6120 §6.4.2): ask for it.
		if data, err = ss.challenge(nil); err != nil {
			return jid.JID{}, err
		}
	}
	if mech == mechPlain {
		return ss.plain(data)
	}
	h, plus, _ := scramHash(mech)
	return ss.scram(h, plus, data)
}

// plain checks a PLAIN message (RFC 4616 §2: [authzid] NUL authcid NUL
// passwd) against the router's accounts.
func (ss *session) plain(msg []byte) (jid.JID, error) {
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 {
		return jid.JID{}, errMalformedSASL
	}
	if f := ss.admit(parts[1]); f != nil {
		return jid.JID{}, f
	}
	who, ok := ss.s.r.Accounts().CheckPlain(parts[1], parts[2], ss.domain.Domain())
	ss.loginDone(parts[1], ok)
	if !ok {
		return jid.JID{}, errBadLogin
	}
	if len(parts[0]) > 0 && string(parts[0]) != who.String() {
		return jid.JID{}, &saslFailure{cond: "invalid-authzid"} // §6.5.6
	}
	ss.cs.Writer().WriteRaw(saslElement("success", nil))
	return who, nil
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
			return nil, &saslFailure{cond: "incorrect-encoding"}
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
		return nil, &saslFailure{cond: "incorrect-encoding"} // §6.5.5
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
