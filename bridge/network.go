package bridge

import (
	"context"
	"errors"

	"xmppkit.dev/form"
	"xmppkit.dev/jid"
)

// Network is the legacy network, the one interface a bridge author must
// write (with the Session it returns): how to log one user in.
type Network interface {
	// Login logs the user in with what they registered and returns the
	// user's session on the network. It is called on the user's own
	// goroutine (see Session) with a context that ends after
	// Config.LoginTimeout, and should return once the user is logged in,
	// leaving whatever reads the network running on goroutines of its own
	// that report through ev.
	//
	// ev stays valid until the session is closed or reports Disconnected;
	// after that its Emit returns ErrClosed. An error that wraps ErrAuth
	// (bad credentials, a banned account) is shown to the user and not
	// retried; any other is retried with backoff while the user is online.
	Login(ctx context.Context, acct Account, ev *Events) (Session, error)
}

// Session is one user's live session on the network. The kit calls its
// methods from one goroutine per user, one call at a time, so a Session
// needs no locking of its own for them (its readers, which call Emit, are
// its own business).
type Session interface {
	// Send does on the network what the user did on XMPP: a *Message
	// (returning the network's id for it), *Retraction, *Reaction,
	// *Receipt, *Displayed, *ChatState, *Join, *Leave, *Subscribe. An event
	// the network cannot carry returns an error wrapping ErrUnsupported;
	// a chat the network does not know, ErrNotFound; a *stanza.Error is
	// passed to the user as it is. The user is told of every other error
	// too, with the text of the error.
	Send(ctx context.Context, ev Event) (id string, err error)
	// Close logs the user out (the user's last XMPP client went offline,
	// the registration was removed, the gateway shuts down). Emit fails
	// with ErrClosed from then on.
	Close(ctx context.Context) error
}

// Registrar is implemented by a Network that checks what a user registers
// (XEP-0077 with a data form), or that needs more than one form to
// register, such as a code it sends by SMS or a second factor: the kit
// then runs the steps as the stages of the XEP-0050 command "register"
// (XEP-0077 carries the first step and points the user to the command).
type Registrar interface {
	// Register checks one step of a registration. r.Form is what the user
	// submitted (checked against the form shown: required fields,
	// types); r.Values the account's values so far, which Register may
	// change (a token to keep, a field to drop). It returns the next form
	// to show, or nil when the registration is complete, or an error for
	// the user (a *stanza.Error, command.BadPayload, or any error, shown
	// as not-acceptable with its text).
	Register(ctx context.Context, r *Registration) (next *form.Form, err error)
}

// Registration is one step of a registration (see Registrar).
type Registration struct {
	User   jid.JID           // the user's bare JID
	Step   int               // 0 for the first form
	Form   *form.Form        // what the user submitted at this step
	Values map[string]string // the account's values: every step's fields so far
}

// Account is a registered user: the user's bare JID and the values of the
// registration form (field var -> value; several values of a multi-valued
// field joined with "\n"), with what the Registrar added.
type Account struct {
	JID    jid.JID
	Values map[string]string
	// Subscribed are the contacts whose subscription the user accepted
	// (kept so that the kit asks each only once when it cannot set the
	// roster; see the package documentation).
	Subscribed []string `json:",omitempty"`
	// Told are the notices the user was given once ("roster", ...).
	Told []string `json:",omitempty"`
}

// Get returns the value of a registration field, or "".
func (a Account) Get(name string) string { return a.Values[name] }

// Errors of the kit and of Sessions.
var (
	// ErrUnsupported is returned by Session.Send for an event the network
	// cannot carry (a reaction on a network without reactions).
	ErrUnsupported = errors.New("bridge: not supported by the network")
	// ErrNotFound is returned by Session.Send for a chat or message the
	// network does not know.
	ErrNotFound = errors.New("bridge: no such chat or message")
	// ErrAuth is wrapped by Login errors that retrying will not cure.
	ErrAuth = errors.New("bridge: login refused")
	// ErrClosed is returned by Events.Emit once the session has ended.
	ErrClosed = errors.New("bridge: session closed")
	// ErrUnknownUser is returned by Gateway.Emit for a user that is not
	// logged in.
	ErrUnknownUser = errors.New("bridge: no such user logged in")
	// ErrMalformed is wrapped by the error Emit returns for an event that
	// cannot be shown (an empty chat id, an id too long).
	ErrMalformed = errors.New("bridge: malformed event")
)
