// Package bridgetest tests bridges built with package bridge without any
// server: New runs a bridge.Gateway on xmppkit's in-memory router (package
// xmpptest) with the XEP-0356 privileges a server would grant, and gives
// XMPP users to drive it; Network is an in-memory legacy network, with
// accounts, contacts and groups that a test scripts, for the kit's own tests
// and for trying a gateway out.
//
// A bridge author tests their own Network the same way: give it to New in
// the bridge.Config, and talk to it as an XMPP user would.
package bridgetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"xmppkit.dev/bridge"
	"xmppkit.dev/form"
)

// Network is an in-memory legacy network: a bridge.Network (and
// bridge.Registrar) whose accounts log in with a user name and a password,
// have contacts and groups, and record what their user sends. A test plays
// the other side: it makes contacts write (Account.Message, Account.Emit),
// reads what the user did (Account.Next) and breaks the connection
// (Account.Drop).
type Network struct {
	// TwoFactor makes registration ask for the account's Code in a second
	// step (the XEP-0050 registration command), as networks that send a
	// code by SMS do.
	TwoFactor bool
	// LoginDelay is how long Login takes.
	LoginDelay time.Duration

	mu       sync.Mutex
	accounts map[string]*Account
	ids      int
}

// NewNetwork returns an empty network.
func NewNetwork() *Network { return &Network{accounts: map[string]*Account{}} }

// Fields are the registration fields of the network: a user name and a
// password, for bridge.Config.Registration.
func Fields() []form.Field {
	return []form.Field{
		{Type: form.TextSingle, Var: "username", Label: "User name", Required: true},
		{Type: form.TextPrivate, Var: "password", Label: "Password", Required: true},
	}
}

// Account returns the account with the name, creating it (with password
// "pw" and code "123456") the first time.
func (n *Network) Account(name string) *Account {
	n.mu.Lock()
	defer n.mu.Unlock()
	if a := n.accounts[name]; a != nil {
		return a
	}
	a := &Account{Name: name, Password: "pw", Code: "123456", n: n, sent: make(chan Sent, 1024)}
	n.accounts[name] = a
	return a
}

func (n *Network) lookup(name string) *Account {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.accounts[name]
}

// NewID returns a fresh legacy message id.
func (n *Network) NewID() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.ids++
	return "L" + strconv.Itoa(n.ids)
}

// Register implements bridge.Registrar: the user name must be an account
// and the password its password; with TwoFactor, a second form asks for
// the account's Code.
func (n *Network) Register(ctx context.Context, r *bridge.Registration) (*form.Form, error) {
	a := n.lookup(r.Values["username"])
	if a == nil || a.Password != r.Values["password"] {
		return nil, errors.New("wrong user name or password")
	}
	if !n.TwoFactor {
		return nil, nil
	}
	if r.Step == 0 {
		f := &form.Form{Type: form.TypeForm, Title: "Code", Instructions: []string{"Enter the code sent to you"}}
		f.Fields = append(f.Fields, form.Field{Type: form.TextSingle, Var: "code", Label: "Code", Required: true})
		return f, nil
	}
	if r.Values["code"] != a.Code {
		return nil, errors.New("wrong code")
	}
	delete(r.Values, "code")
	r.Values["token"] = "token-" + a.Name
	return nil, nil
}

// Login implements bridge.Network.
func (n *Network) Login(ctx context.Context, acct bridge.Account, ev *bridge.Events) (bridge.Session, error) {
	if n.LoginDelay > 0 {
		t := time.NewTimer(n.LoginDelay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
	a := n.lookup(acct.Get("username"))
	if a == nil || (a.Password != acct.Get("password") && acct.Get("token") != "token-"+a.Name) {
		return nil, fmt.Errorf("%w: wrong user name or password", bridge.ErrAuth)
	}
	a.mu.Lock()
	if a.failLogin != nil {
		err := a.failLogin
		a.mu.Unlock()
		return nil, err
	}
	s := &session{a: a, ev: ev}
	old := a.sess
	a.sess = s
	a.logins++
	contacts := slices.Clone(a.contacts)
	groups := slices.Clone(a.groups)
	a.mu.Unlock()
	if old != nil {
		old.closed.Store(true)
	}
	for _, c := range contacts {
		if err := ev.Emit(ctx, &c); err != nil {
			return nil, err
		}
	}
	for _, g := range groups {
		if err := ev.Emit(ctx, &g); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Sent is one thing the user did on the network (a Session.Send call).
type Sent struct {
	Event bridge.Event
	ID    string // the legacy id Send returned
}

// Account is an account of the network, with its contacts and groups.
type Account struct {
	Name     string
	Password string
	Code     string // the registration code with Network.TwoFactor
	// OnSend, when set, answers Session.Send instead of the default (which
	// records the event and gives a message a fresh id); return "" to keep
	// the default id. Set it before the account logs in.
	OnSend func(ctx context.Context, ev bridge.Event) (string, error)

	n         *Network
	mu        sync.Mutex
	failLogin error
	contacts  []bridge.Contact
	groups    []bridge.Group
	sess      *session
	logins    int
	sent      chan Sent
}

type session struct {
	a      *Account
	ev     *bridge.Events
	closed atomic.Bool
}

// FailLogins makes Login fail with err (nil: succeed again).
func (a *Account) FailLogins(err error) {
	a.mu.Lock()
	a.failLogin = err
	a.mu.Unlock()
}

// ErrOffline is returned by Account methods that need a live session.
var ErrOffline = errors.New("bridgetest: the account is not logged in")

// AddContact adds (or updates) a contact of the account; a live session
// sees it at once.
func (a *Account) AddContact(c bridge.Contact) error {
	a.mu.Lock()
	i := slices.IndexFunc(a.contacts, func(x bridge.Contact) bool { return x.ID == c.ID })
	if i >= 0 {
		a.contacts[i] = c
	} else {
		a.contacts = append(a.contacts, c)
	}
	a.mu.Unlock()
	err := a.Emit(context.Background(), &c)
	if errors.Is(err, ErrOffline) {
		return nil
	}
	return err
}

// AddGroup adds (or updates) a group of the account.
func (a *Account) AddGroup(g bridge.Group) error {
	a.mu.Lock()
	i := slices.IndexFunc(a.groups, func(x bridge.Group) bool { return x.ID == g.ID })
	if i >= 0 {
		a.groups[i] = g
	} else {
		a.groups = append(a.groups, g)
	}
	a.mu.Unlock()
	err := a.Emit(context.Background(), &g)
	if errors.Is(err, ErrOffline) {
		return nil
	}
	return err
}

// Emit reports an event to the account's live session (as the network's
// reader would).
func (a *Account) Emit(ctx context.Context, ev bridge.Event) error {
	a.mu.Lock()
	s := a.sess
	a.mu.Unlock()
	if s == nil || s.closed.Load() {
		return ErrOffline
	}
	return s.ev.Emit(ctx, ev)
}

// Message makes the contact from write to the user, in their one-to-one
// chat, and returns the message's legacy id.
func (a *Account) Message(ctx context.Context, from, body string) (string, error) {
	id := a.n.NewID()
	return id, a.Emit(ctx, &bridge.Message{Chat: from, From: from, ID: id, Body: body})
}

// Drop ends the live session from the network's side (bridge.Disconnected).
func (a *Account) Drop(err error, retry bool) error {
	a.mu.Lock()
	s := a.sess
	a.mu.Unlock()
	if s == nil {
		return ErrOffline
	}
	e := s.ev.Emit(context.Background(), &bridge.Disconnected{Err: err, Retry: retry})
	s.closed.Store(true)
	return e
}

// Online reports whether the account has a live session.
func (a *Account) Online() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sess != nil && !a.sess.closed.Load()
}

// Logins counts the account's logins.
func (a *Account) Logins() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.logins
}

// Next returns the next thing the user did on the network, waiting until
// ctx ends.
func (a *Account) Next(ctx context.Context) (Sent, error) {
	select {
	case s := <-a.sent:
		return s, nil
	case <-ctx.Done():
		return Sent{}, ctx.Err()
	}
}

// Send implements bridge.Session.
func (s *session) Send(ctx context.Context, ev bridge.Event) (string, error) {
	a := s.a
	if s.closed.Load() {
		return "", errors.New("bridgetest: session closed")
	}
	id := ""
	if a.OnSend != nil {
		var err error
		if id, err = a.OnSend(ctx, ev); err != nil {
			return "", err
		}
	}
	switch e := ev.(type) {
	case *bridge.Message:
		if id == "" {
			id = a.n.NewID()
		}
	case *bridge.Join:
		a.mu.Lock()
		i := slices.IndexFunc(a.groups, func(g bridge.Group) bool { return g.ID == e.Group })
		var g bridge.Group
		if i >= 0 {
			g = a.groups[i]
		}
		a.mu.Unlock()
		if i < 0 {
			return "", bridge.ErrNotFound
		}
		if e.Nick != "" {
			g.Self.Nick = e.Nick
		}
		if err := s.ev.Emit(ctx, &g); err != nil {
			return "", err
		}
	}
	select {
	case a.sent <- Sent{Event: ev, ID: id}:
	default:
		return "", errors.New("bridgetest: nobody reads what the user sends (Account.Next)")
	}
	return id, nil
}

// Close implements bridge.Session.
func (s *session) Close(ctx context.Context) error {
	s.closed.Store(true)
	a := s.a
	a.mu.Lock()
	if a.sess == s {
		a.sess = nil
	}
	a.mu.Unlock()
	return nil
}
