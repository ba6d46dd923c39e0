package component

import (
	"errors"
	"fmt"

	"xmppkit.dev/stream"
)

var (
	// ErrClosed is returned by Run after Close, and by Send and SendIQ once
	// the component is closed or its Run has returned.
	ErrClosed = errors.New("component: closed")

	// ErrDisconnected reports that the connection to the server failed or
	// was lost: refused, reset, timed out, or closed by the server. It is
	// retried by Run.
	ErrDisconnected = errors.New("component: disconnected")

	// ErrBadServer reports an answer from the server that breaks XEP-0114:
	// a wrong namespace, no stream id, an unexpected element in place of
	// <handshake/>, or malformed XML. It is retried by Run.
	ErrBadServer = errors.New("component: malformed server answer")

	// ErrNotSent is wrapped by the error of a Send (or SendIQ) whose stanza
	// was not written to the connection. The error also wraps the cause.
	ErrNotSent = errors.New("component: stanza not sent")

	// ErrBadFrom is returned by Send for a stanza whose from is outside the
	// component's domain (XEP-0114 §3: a component sends only from its own
	// domain and its subaddresses).
	ErrBadFrom = errors.New("component: from address outside the component's domain")

	// ErrBadStanza is returned by Send and SendIQ for a stanza that cannot
	// be sent as is: no kind, an IQ result or error without id, a SendIQ of
	// something other than an IQ get or set, or no to on an IQ.
	ErrBadStanza = errors.New("component: stanza cannot be sent")

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

// notSent wraps cause as an ErrNotSent error.
func notSent(cause error) error {
	return fmt.Errorf("%w: %w", ErrNotSent, cause)
}
