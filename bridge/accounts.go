package bridge

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"xmppkit.dev/command"
	"xmppkit.dev/disco"
	"xmppkit.dev/form"
	"xmppkit.dev/internal/elem"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// Accounts is registration with a gateway, on its own: XEP-0077 (In-Band
// Registration with a XEP-0004 form, and the plain fields of §14.1 for old
// clients) at the gateway's address, the XEP-0050 commands "register" (which
// runs a Registrar's steps, resuming a registration begun with XEP-0077) and
// "unregister", the XEP-0100 §4.1.1 subscription handshake after
// registration and its end after removal, over a Store.
//
// A Gateway has one (Config.Registration, Config.Store, a Network that is a
// Registrar); a gateway that manages its own sessions mounts one of its own
// (Register, AddCommands) and hears of the changes through OnChange.
type Accounts struct {
	// Name is the network's name, in the texts users read.
	Name string
	// Title and Instructions head the form; defaults from Name.
	Title, Instructions string
	// Fields are the registration form's fields (values are filled in from
	// the account, never those of text-private fields: an empty secret
	// submitted keeps the stored one).
	Fields []form.Field
	// Registrar, when set, checks each step and may ask for more.
	Registrar Registrar
	// Store keeps the accounts; nil means a MemoryStore.
	Store Store
	// OnChange is called after an account was stored (from: the full JID
	// that registered; again: it existed) or, with removed, deleted.
	OnChange func(ctx context.Context, from jid.JID, acct Account, again, removed bool)

	mu      sync.Mutex
	pending map[string]*pendingReg
}

// pendingReg is a registration waiting for its next step.
type pendingReg struct {
	step   int
	values map[string]string
	shown  *form.Form
	at     time.Time
}

const (
	pendingTimeout = 15 * time.Minute
	maxPending     = 10_000
)

func (a *Accounts) store() Store {
	if a.Store == nil {
		a.Store = &MemoryStore{}
	}
	return a.Store
}

// Secret reports whether a field is a text-private field of the form (for
// StoreOptions.Secret).
func (a *Accounts) Secret(field string) bool {
	for _, f := range a.Fields {
		if f.Var == field {
			return f.Type == form.TextPrivate
		}
	}
	return false
}

// Form is the first registration form (XEP-0077 §4), filled with the
// account's values.
func (a *Accounts) Form(acct Account) *form.Form {
	f := &form.Form{Type: form.TypeForm, Title: firstNonEmpty(a.Title, a.Name+" registration")}
	if a.Instructions != "" {
		f.Instructions = []string{a.Instructions}
	}
	f.Set(form.Hidden, form.FormTypeVar, NSRegister)
	for _, fd := range a.Fields {
		fd.Values = nil
		if v := acct.Values[fd.Var]; v != "" && fd.Type != form.TextPrivate {
			fd.Values = strings.Split(v, "\n")
		}
		f.Fields = append(f.Fields, fd)
	}
	return f
}

// Register mounts XEP-0077 (iq get and set of jabber:iq:register) on m.
func (a *Accounts) Register(m *mux.ServeMux) {
	m.HandleIQ("", NSRegister, "query", a)
}

// Features implements disco.FeatureProvider: jabber:iq:register at the
// gateway's own address.
func (a *Accounts) Features(q disco.Query) []string {
	if q.To.Local() != "" || q.Node != "" {
		return nil
	}
	return []string{NSRegister}
}

// HandleStanza serves XEP-0077 at the gateway's address.
func (a *Accounts) HandleStanza(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
	if iq.To.Local() != "" {
		return stanza.ErrServiceUnavailable
	}
	acct, registered := a.store().Get(iq.From)
	if iq.Type == stanza.TypeGet {
		b := stanza.NewBuilder(NSRegister, "query")
		b.TextElement("instructions", firstNonEmpty(a.Instructions, "Fill in the form to use "+a.Name+"."))
		if registered {
			b.TextElement("registered", "")
		}
		for _, fd := range a.Fields {
			if slices.Contains(xep0077Names, fd.Var) {
				v := ""
				if fd.Type != form.TextPrivate {
					v = acct.Values[fd.Var]
				}
				b.TextElement(fd.Var, v)
			}
		}
		b.Append(a.Form(acct).Element())
		return s.Send(ctx, iq.Result(b.Element()))
	}
	el, _ := iq.PayloadElement()
	n, err := elem.Parse(el.XML(), NSRegister)
	if err != nil {
		return stanza.NewError(stanza.BadRequest, err.Error())
	}
	var sub *form.Form
	plain := map[string]string{}
	remove := false
	for _, k := range n.Kids {
		switch {
		case k.Space == NSRegister && k.Local == "remove":
			remove = true
		case k.Space == form.NS && k.Local == "x":
			if sub, err = form.Decode(n.Standalone(k)); err != nil {
				return stanza.NewError(stanza.BadRequest, err.Error())
			}
		case k.Space == NSRegister:
			if kn, err := n.Child(k); err == nil {
				v, _ := kn.Text()
				plain[k.Local] = v
			}
		}
	}
	if remove {
		if !registered {
			return stanza.NewError(stanza.RegistrationRequired, "not registered")
		}
		if err := a.Remove(ctx, s, iq.To.DomainJID(), iq.From); err != nil {
			return err
		}
		return s.Send(ctx, iq.Result())
	}
	if sub == nil {
		sub = &form.Form{Type: form.TypeSubmit}
		sub.Set(form.Hidden, form.FormTypeVar, NSRegister)
		for _, fd := range a.Fields {
			if v, ok := plain[fd.Var]; ok {
				sub.Set(fd.Type, fd.Var, v)
			}
		}
	}
	next, stored, err := a.step(ctx, iq.From, 0, a.Form(acct), sub, acct.Values)
	if err != nil {
		// XEP-0077 §3.1: what the form lacks or has wrong is not-acceptable.
		var ce *command.Error
		if errors.As(err, &ce) {
			return stanza.NewError(stanza.NotAcceptable, ce.Stanza.Text)
		}
		return asStanzaError(err)
	}
	if next != nil {
		return stanza.NewError(stanza.NotAcceptable, a.Name+" needs another step to register (a code it sent you, say): run the command \"Register\" at "+iq.To.DomainJID().String()+" (XEP-0050), which continues from here")
	}
	if err := s.Send(ctx, iq.Result()); err != nil {
		return err
	}
	a.done(ctx, s, iq.To.DomainJID(), iq.From, stored, registered)
	return nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// asStanzaError passes a *stanza.Error (or a command error) through and
// turns any other error into not-acceptable with its text.
func asStanzaError(err error) error {
	var se *stanza.Error
	if errors.As(err, &se) {
		return se
	}
	return stanza.NewError(stanza.NotAcceptable, err.Error())
}

// step checks a submitted step, merges its values and runs the Registrar.
// It returns the next form (the step is then pending), or the account
// stored.
func (a *Accounts) step(ctx context.Context, from jid.JID, step int, shown, sub *form.Form, old map[string]string) (*form.Form, Account, error) {
	key := from.Bare().String()
	if sub.Type == form.TypeCancel {
		a.mu.Lock()
		delete(a.pending, key)
		a.mu.Unlock()
		return nil, Account{}, stanza.NewError(stanza.NotAcceptable, "registration canceled")
	}
	if err := command.CheckSubmission(shown, sub); err != nil {
		return nil, Account{}, err
	}
	values := maps.Clone(old)
	if values == nil {
		values = map[string]string{}
	}
	for _, fd := range shown.Fields {
		if fd.Var == form.FormTypeVar || fd.Type == form.Fixed {
			continue
		}
		f := sub.Field(fd.Var)
		if f == nil {
			continue
		}
		v := strings.Join(f.Values, "\n")
		if v == "" && fd.Type == form.TextPrivate && values[fd.Var] != "" {
			continue // an empty secret keeps the stored one
		}
		values[fd.Var] = v
	}
	if a.Registrar != nil {
		reg := &Registration{User: from.Bare(), Step: step, Form: sub, Values: values}
		next, err := a.Registrar.Register(ctx, reg)
		if err != nil {
			return nil, Account{}, err
		}
		values = reg.Values
		if next != nil {
			a.mu.Lock()
			if a.pending == nil {
				a.pending = map[string]*pendingReg{}
			}
			if len(a.pending) >= maxPending {
				for k, p := range a.pending {
					if time.Since(p.at) > pendingTimeout {
						delete(a.pending, k)
					}
				}
			}
			a.pending[key] = &pendingReg{step: step + 1, values: values, shown: next, at: time.Now()}
			a.mu.Unlock()
			return next, Account{}, nil
		}
	}
	a.mu.Lock()
	delete(a.pending, key)
	a.mu.Unlock()
	acct, _ := a.store().Get(from)
	acct.JID = from.Bare()
	acct.Values = values
	if err := a.store().Put(acct); err != nil {
		return nil, Account{}, stanza.NewError(stanza.InternalServerError, "the registration could not be stored")
	}
	return nil, acct, nil
}

// done finishes a registration: the gateway asks for the user's presence
// (XEP-0100 §4.1.1) the first time, and OnChange hears of it.
func (a *Accounts) done(ctx context.Context, s mux.Sender, gw, from jid.JID, acct Account, again bool) {
	if !again {
		p := stanza.NewPresence(stanza.TypeSubscribe, from.Bare())
		p.From = gw
		_ = s.Send(ctx, p)
	}
	if a.OnChange != nil {
		a.OnChange(ctx, from, acct, again, false)
	}
}

// Remove deletes the account of from (XEP-0077 §3.2): OnChange hears of it
// first (to log the user out), then the gateway's subscription ends.
func (a *Accounts) Remove(ctx context.Context, s mux.Sender, gw, from jid.JID) error {
	acct, _ := a.store().Get(from)
	if a.OnChange != nil {
		a.OnChange(ctx, from, acct, true, true)
	}
	if err := a.store().Delete(from); err != nil {
		return stanza.NewError(stanza.InternalServerError, "could not remove the registration")
	}
	for _, t := range []string{stanza.TypeUnsubscribed, stanza.TypeUnsubscribe, stanza.TypeUnavailable} {
		p := stanza.NewPresence(t, from.Bare())
		p.From = gw
		_ = s.Send(ctx, p)
	}
	return nil
}

// AddCommands adds the XEP-0050 commands "register" (at the gateway's
// address, for everyone) and "unregister" (for the registered) to reg.
func (a *Accounts) AddCommands(reg *command.Registry) {
	atGateway := func(from, to jid.JID) bool { return to.Local() == "" }
	registered := func(from, to jid.JID) bool {
		if to.Local() != "" {
			return false
		}
		_, ok := a.store().Get(from)
		return ok || from.IsZero()
	}
	reg.Add(command.Command{Node: CommandRegister, Name: "Register", Handler: registerCommand{a}, Allow: atGateway})
	reg.Add(command.Command{Node: CommandUnregister, Name: "Unregister", Allow: registered,
		Handler: command.HandlerFunc(func(ctx context.Context, r *command.Request) (*command.Response, error) {
			if _, ok := a.store().Get(r.From); !ok {
				return command.Done(command.ErrorNote("You are not registered.")), nil
			}
			if err := a.Remove(ctx, r.Sender, r.To.DomainJID(), r.From); err != nil {
				return nil, err
			}
			return command.Done(command.InfoNote("Your registration with " + a.Name + " was removed.")), nil
		})})
}

// registerCommand is the XEP-0050 registration: the first form, or the
// pending step of a registration begun with XEP-0077, then every step the
// Registrar asks for.
type registerCommand struct{ a *Accounts }

type regSession struct {
	step  int
	shown *form.Form
	vals  map[string]string
}

func (c registerCommand) Execute(ctx context.Context, r *command.Request) (*command.Response, error) {
	a := c.a
	key := r.From.Bare().String()
	if r.Session.Stage == 0 {
		a.mu.Lock()
		p := a.pending[key]
		a.mu.Unlock()
		if p != nil && time.Since(p.at) < pendingTimeout {
			r.Session.Data = &regSession{step: p.step, shown: p.shown, vals: p.values}
			return command.Ask(p.shown, command.ActionNext), nil
		}
		acct, _ := a.store().Get(r.From)
		f := a.Form(acct)
		r.Session.Data = &regSession{shown: f, vals: acct.Values}
		return command.Ask(f, command.ActionNext), nil
	}
	rs := r.Session.Data.(*regSession)
	if r.Form == nil {
		return nil, command.BadPayload("submit the form")
	}
	_, again := a.store().Get(r.From)
	next, stored, err := a.step(ctx, r.From, rs.step, rs.shown, r.Form, rs.vals)
	if err != nil {
		var ce *command.Error
		if errors.As(err, &ce) {
			return nil, ce
		}
		var se *stanza.Error
		if errors.As(err, &se) {
			return nil, command.BadPayload(se.Text)
		}
		return nil, command.BadPayload(err.Error())
	}
	if next != nil {
		a.mu.Lock()
		p := a.pending[key]
		a.mu.Unlock()
		rs.step, rs.shown, rs.vals = p.step, p.shown, p.values
		return command.Ask(next, command.ActionNext), nil
	}
	a.done(ctx, r.Sender, r.To.DomainJID(), r.From, stored, again)
	return command.Done(command.InfoNote("You are registered with " + a.Name + ".")), nil
}
