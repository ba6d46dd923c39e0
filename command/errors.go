package command

import (
	"errors"

	"xmppkit.dev/stanza"
)

// Error is a command error of XEP-0050 §4.4: a stanza error whose
// application-specific condition (in the commands namespace) says what went
// wrong with the command. errors.Is matches two *Error values on Specific,
// so errors.Is(err, command.ErrBadSessionID) tells a bad session id from a
// bad action although both are bad-request; errors.As reaches the
// *stanza.Error through Unwrap, which is what a handler's returned error is
// answered with.
type Error struct {
	Specific string        // "malformed-action", "bad-action", "bad-locale", "bad-payload", "bad-sessionid" or "session-expired"
	Stanza   *stanza.Error // the error as it travels, App set to the specific condition
}

// The errors of XEP-0050 §4.4 with their stanza conditions and types.
var (
	ErrMalformedAction = newError(stanza.Modify, stanza.BadRequest, "malformed-action") // an action the responder does not understand
	ErrBadAction       = newError(stanza.Modify, stanza.BadRequest, "bad-action")       // an action not allowed at this stage
	ErrBadLocale       = newError(stanza.Modify, stanza.BadRequest, "bad-locale")       // a language the responder cannot serve (§3.7)
	ErrBadPayload      = newError(stanza.Modify, stanza.BadRequest, "bad-payload")      // a form or payload the responder cannot accept
	ErrBadSessionID    = newError(stanza.Modify, stanza.BadRequest, "bad-sessionid")    // a session id the responder does not know (for this requester)
	ErrSessionExpired  = newError(stanza.Cancel, stanza.NotAllowed, "session-expired")  // a session that ended: completed, canceled or timed out
)

func newError(typ stanza.ErrorType, cond stanza.Condition, specific string) *Error {
	return &Error{Specific: specific, Stanza: &stanza.Error{
		Type: typ, Condition: cond,
		App: stanza.NewBuilder(NS, specific).Element().XML(),
	}}
}

// with returns a copy of e with a human-readable text.
func (e *Error) with(text string) *Error {
	s := *e.Stanza
	s.Text = text
	return &Error{Specific: e.Specific, Stanza: &s}
}

// BadPayload returns a bad-payload error (XEP-0050 §4.4) with a text for
// the user, for a submission the command cannot accept ("the port must be
// a number"). Return it from a Handler: the session stays open, so the
// requester can correct the form and submit again.
func BadPayload(text string) *Error { return ErrBadPayload.with(text) }

// Error returns the stanza error's text with the specific condition.
func (e *Error) Error() string {
	return e.Stanza.Error() + " (" + e.Specific + ")"
}

// Unwrap returns the stanza error.
func (e *Error) Unwrap() error { return e.Stanza }

// Is reports whether target is an *Error with the same specific condition.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t != nil && e != nil && t.Specific == e.Specific
}

// FromStanzaError returns the command error a stanza error carries (its
// App is a condition in the commands namespace), or nil. Client calls use
// it on error answers, so that errors.Is(err, command.ErrSessionExpired)
// works on what a peer sent.
func FromStanzaError(se *stanza.Error) *Error {
	if se == nil || se.App == "" {
		return nil
	}
	el, err := stanza.ParseElement(se.App)
	if err != nil || el.Space != NS {
		return nil
	}
	return &Error{Specific: el.Local, Stanza: se}
}

// Specific returns the XEP-0050 condition of err (an *Error, or a
// *stanza.Error carrying one), or "".
func Specific(err error) string {
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Specific
	}
	var se *stanza.Error
	if errors.As(err, &se) {
		if ce := FromStanzaError(se); ce != nil {
			return ce.Specific
		}
	}
	return ""
}

func badRequest(text string) *stanza.Error {
	return stanza.NewError(stanza.BadRequest, "command: "+text)
}
