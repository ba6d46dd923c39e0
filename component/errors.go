package component

import (
	"errors"
	"fmt"

	"xmppkit.dev/session"
	"xmppkit.dev/stream"
)

// The session's error values, the same on every transport (errors.Is works
// across a component, the router's attached services and xmpptest).
var (
	// ErrClosed is returned by Send and SendIQ once the component is
	// closed or its Run has returned, and by Run when called again.
	ErrClosed = session.ErrClosed

	// ErrDisconnected reports that the connection to the server failed or
	// was lost: refused, reset, timed out, or closed by the server. It is
	// retried by Run.
	ErrDisconnected = session.ErrDisconnected

	// ErrNotSent is wrapped by the error of a Send (or SendIQ) whose stanza
	// was not written to the connection. The error also wraps the cause.
	ErrNotSent = session.ErrNotSent

	// ErrBadFrom is returned by Send for a stanza whose from is outside the
	// component's domain (XEP-0114 §3: a component sends only from its own
	// domain and its subaddresses).
	ErrBadFrom = session.ErrBadFrom

	// ErrBadStanza is returned by Send and SendIQ for a stanza that cannot
	// be sent as is: no kind, an IQ result or error without id, a SendIQ of
	// something other than an IQ get or set, no to on an IQ, or an id that
	// already waits for its answer.
	ErrBadStanza = session.ErrBadStanza

	// ErrUnconfirmed is wrapped by the error of a confirmed send
	// (SendConfirmed, or Send with ConfirmSends) whose stanza was written
	// but whose processing by the server could not be proven: the link
	// died, the confirming ping went unanswered, or the caller's context
	// ended first. The server may or may not have processed it; a caller
	// that sends it again gets at-least-once delivery, with possible
	// duplicates. The error also wraps the cause.
	ErrUnconfirmed = session.ErrUnconfirmed
)

var (
	// ErrBadServer reports an answer from the server that breaks XEP-0114:
	// a wrong namespace, no stream id, an unexpected element in place of
	// <handshake/>, or malformed XML. It is retried by Run.
	ErrBadServer = errors.New("component: malformed server answer")

	// ErrRunning is returned by a second concurrent call of Run.
	ErrRunning = errors.New("component: already running")
)

// IsPermanent reports whether err, returned by a connection attempt, is one
// that retrying cannot fix: a wrong secret (not-authorized) or a domain the
// server does not serve (host-unknown), or a configuration error. Run returns
// such errors instead of retrying.
func IsPermanent(err error) bool {
	return errors.Is(err, stream.ErrNotAuthorized) || errors.Is(err, stream.ErrHostUnknown) ||
		errors.Is(err, errConfig)
}

var errConfig = errors.New("component: configuration")

func configError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errConfig}, args...)...)
}
