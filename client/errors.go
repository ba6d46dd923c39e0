package client

import (
	"errors"
	"strings"

	"xmppkit.dev/session"
)

// SASL failure conditions (RFC 6120 §6.5).
const (
	CondAborted              = "aborted"                // §6.5.1
	CondAccountDisabled      = "account-disabled"       // §6.5.2
	CondCredentialsExpired   = "credentials-expired"    // §6.5.3
	CondEncryptionRequired   = "encryption-required"    // §6.5.4
	CondIncorrectEncoding    = "incorrect-encoding"     // §6.5.5
	CondInvalidAuthzid       = "invalid-authzid"        // §6.5.6
	CondInvalidMechanism     = "invalid-mechanism"      // §6.5.7
	CondMalformedRequest     = "malformed-request"      // §6.5.8
	CondMechanismTooWeak     = "mechanism-too-weak"     // §6.5.9
	CondNotAuthorized        = "not-authorized"         // §6.5.10
	CondTemporaryAuthFailure = "temporary-auth-failure" // §6.5.11
)

// SASLError is a SASL <failure/> (RFC 6120 §6.4.5) sent by the server, or a
// failure detected by the client (Local true), such as a server SCRAM
// signature that does not verify. errors.Is matches two *SASLError values on
// Condition.
type SASLError struct {
	Condition string // an RFC 6120 §6.5 condition, e.g. "not-authorized"
	Text      string // the server's <text/>, or the local reason
	Mechanism string // the mechanism that was being negotiated
	Local     bool   // detected by the client, not sent by the server
}

// ErrNotAuthorized matches (errors.Is) a SASL failure with the
// not-authorized condition (RFC 6120 §6.5.10): wrong credentials.
var ErrNotAuthorized = &SASLError{Condition: CondNotAuthorized}

// Error returns "client: sasl <mechanism> failure: <condition>: <text>".
func (e *SASLError) Error() string {
	var b strings.Builder
	b.WriteString("client: sasl ")
	if e.Mechanism != "" {
		b.WriteString(e.Mechanism + " ")
	}
	b.WriteString("failure: ")
	b.WriteString(e.Condition)
	if e.Text != "" {
		b.WriteString(": " + e.Text)
	}
	return b.String()
}

// Is reports whether target is a *SASLError with the same Condition.
func (e *SASLError) Is(target error) bool {
	t, ok := target.(*SASLError)
	return ok && t != nil && e != nil && t.Condition == e.Condition
}

var (
	// ErrNoMechanism reports that the server offers no SASL mechanism the
	// client may use (RFC 6120 §6.3.3): none of Config.Mechanisms, or only
	// PLAIN on a stream without TLS.
	ErrNoMechanism = errors.New("client: no usable SASL mechanism offered")

	// ErrTLSUnavailable reports that Config.TLS asks for STARTTLS but the
	// server does not offer it (RFC 6120 §5.3.1), or that the server
	// requires TLS and Config.TLS is nil.
	ErrTLSUnavailable = errors.New("client: STARTTLS required by one side, not available")

	// ErrBadServer reports a server answer that breaks RFC 6120: an
	// unexpected element during negotiation, a malformed SASL challenge or
	// bind result, no bind feature.
	ErrBadServer = errors.New("client: malformed server answer")

	// ErrClosed is returned by Send, SendIQ and Recv once the stream has
	// ended (Close, a stream error, or the connection was lost); Err says
	// why. It is session.ErrClosed, the same value on every transport.
	ErrClosed = session.ErrClosed
)
