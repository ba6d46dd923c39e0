package session

import (
	"errors"
	"fmt"
)

// The error values every Sender of xmppkit returns, whatever the transport
// (a component, a service attached to the router, an in-memory client of
// xmpptest, a c2s client), so that errors.Is works the same on all of them.
// Packages component, router and client re-export them under the same
// names.
var (
	// ErrClosed: the session is closed (Close was called, the service was
	// detached, the router or the component stopped). Send and SendIQ
	// return it (wrapped with ErrNotSent where the stanza was not sent), as
	// does a SendIQ still waiting when the session closes.
	ErrClosed = errors.New("session: closed")

	// ErrDisconnected: the link to the peer was lost (refused, reset,
	// timed out, or closed by the peer). A SendIQ whose request went out on
	// a link that is lost before the answer came returns it: the answer, if
	// any, went to the old link.
	ErrDisconnected = errors.New("session: disconnected")

	// ErrNotSent is wrapped by the error of a send whose stanza was not
	// written to the link (or not routed): the peer did not get it. The
	// error also wraps the cause (ErrClosed, ErrDisconnected, the
	// context's error).
	ErrNotSent = errors.New("session: stanza not sent")

	// ErrBadStanza: the stanza cannot be sent as is: nil or of no kind, an
	// iq of no known type, an iq result or error without id, a SendIQ of
	// something other than an iq get or set, a SendIQ without to from a
	// service (XEP-0114 gives a component no account to address), or a
	// SendIQ whose id is already waiting for an answer (see the package
	// documentation on duplicate ids).
	ErrBadStanza = errors.New("session: stanza cannot be sent")

	// ErrBadFrom: the stanza's from is not one the session may send from.
	// A service (a component, an attached service) sends from its domain
	// and the addresses at it (XEP-0114 §3); a client from its own full or
	// bare JID, or none (the server stamps it, RFC 6120 §8.1.2.1).
	ErrBadFrom = errors.New("session: from address not allowed")

	// ErrUnconfirmed is wrapped by the error of a confirmed send
	// (SendConfirmed, or Send with Config.ConfirmSends) whose stanza was
	// written but whose processing by the peer could not be proven: the
	// link died, the confirming round trip was not answered, or the
	// caller's context ended first. The peer may or may not have processed
	// it; a caller that sends it again gets at-least-once delivery. It also
	// wraps the cause.
	ErrUnconfirmed = errors.New("session: stanza not confirmed")

	// ErrQueueFull is returned by Receive when the handler's queue for the
	// stanza's sender stayed full for Config.ReceiveWait: the transport
	// answers it as its peer expects (the router bounces the stanza with
	// resource-constraint).
	ErrQueueFull = errors.New("session: handler queue full")
)

// NotSent wraps cause as an ErrNotSent error, for transports.
func NotSent(cause error) error {
	if errors.Is(cause, ErrNotSent) {
		return cause
	}
	return fmt.Errorf("%w: %w", ErrNotSent, cause)
}

// unconfirmed wraps cause as an ErrUnconfirmed error.
func unconfirmed(cause error) error {
	return fmt.Errorf("%w: %w", ErrUnconfirmed, cause)
}

func badStanza(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadStanza}, args...)...)
}
