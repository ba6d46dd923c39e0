package privilege

import (
	"errors"
	"fmt"

	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// ErrNotGranted is matched (errors.Is) by every error that says the
// component lacks a privilege: not advertised by the server, or refused by
// it. A service tests for it to fall back to what it can do without.
var ErrNotGranted = errors.New("privilege: not granted")

// ErrBadJID is returned for an address that cannot be used for the
// operation (a user must be a bare JID with a localpart; a message must be
// from a bare JID).
var ErrBadJID = errors.New("privilege: unusable address")

// NotGrantedError says which privilege was missing. It matches
// ErrNotGranted; when the server refused the request (it answered
// forbidden, or what it answers for a privilege it did not grant), Refused
// is its error, which errors.As and errors.Is also reach.
type NotGrantedError struct {
	// Server is the server whose grant was needed.
	Server jid.JID
	// Need names the privilege: "roster get", "roster set",
	// "message outgoing", "iq set jabber:iq:private", "presence".
	Need string
	// Refused is the server's answer when it refused; nil when the
	// component did not ask because the server had not granted it.
	Refused *stanza.Error
}

// Error names the privilege, the server and the refusal.
func (e *NotGrantedError) Error() string {
	if e.Refused != nil {
		return fmt.Sprintf("privilege: %s refused by %s: %v", e.Need, e.Server, e.Refused)
	}
	if e.Server.IsZero() {
		return fmt.Sprintf("privilege: %s not granted", e.Need)
	}
	return fmt.Sprintf("privilege: %s not granted by %s", e.Need, e.Server)
}

// Is reports whether target is ErrNotGranted.
func (e *NotGrantedError) Is(target error) bool { return target == ErrNotGranted }

// Unwrap returns the server's refusal, if any.
func (e *NotGrantedError) Unwrap() error {
	if e.Refused == nil {
		return nil
	}
	return e.Refused
}

// refusal turns the server's answer to a privileged request into the
// error to return: a refusal (forbidden, or the not-allowed and
// item-not-found some servers answer) becomes a NotGrantedError; anything
// else is returned as is.
func refusal(server jid.JID, need string, err error) error {
	var se *stanza.Error
	if errors.As(err, &se) {
		switch se.Condition {
		case stanza.Forbidden, stanza.NotAllowed, stanza.NotAuthorized:
			return &NotGrantedError{Server: server, Need: need, Refused: se}
		}
	}
	return err
}
