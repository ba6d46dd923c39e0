package bridge

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"xmppkit.dev/command"
	"xmppkit.dev/form"
	"xmppkit.dev/internal/elem"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// Namespaces of registration (XEP-0077) and of the gateway prompt
// (XEP-0100 §6.3, jabber:iq:gateway).
const (
	NSRegister = "jabber:iq:register"
	NSGateway  = "jabber:iq:gateway"
)

// CommandRegister is the node of the XEP-0050 registration command, which
// runs a Registrar's steps; CommandUnregister removes the registration;
// CommandStatus shows the user's session and the degradation report.
const (
	CommandRegister   = "register"
	CommandUnregister = "unregister"
	CommandStatus     = "status"
)

// xep0077Names are the registration fields XEP-0077 §14.1 names, which
// clients without data forms show.
var xep0077Names = []string{"username", "nick", "password", "name", "first", "last", "email", "address", "city", "state", "zip", "phone", "url", "date", "misc", "text", "key"}

// pendingReg is a registration waiting for its next step.
type pendingReg struct {
	step   int
	values map[string]string
	shown  *form.Form
	at     time.Time
}

const pendingTimeout = 15 * time.Minute

// registrationForm is the first registration form (XEP-0077 §4), with the
// account's values (never the secret ones: an empty secret keeps the old).
func (g *Gateway) registrationForm(acct Account) *form.Form {
	f := &form.Form{Type: form.TypeForm, Title: g.cfg.Name + " registration"}
	if g.cfg.Instructions != "" {
		f.Instructions = []string{g.cfg.Instructions}
	}
	f.Set(form.Hidden, form.FormTypeVar, NSRegister)
	for _, fd := range g.cfg.Registration {
		fd.Values = nil
		if v := acct.Values[fd.Var]; v != "" && fd.Type != form.TextPrivate {
			fd.Values = strings.Split(v, "\n")
		}
		f.Fields = append(f.Fields, fd)
	}
	return f
}

func (g *Gateway) isSecret(field string) bool {
	for _, f := range g.cfg.Registration {
		if f.Var == field {
			return f.Type == form.TextPrivate
		}
	}
	return false
}

// handleRegister serves XEP-0077 at the gateway's address.
func (g *Gateway) handleRegister(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
	if iq.To.Local() != "" {
		return stanza.ErrServiceUnavailable
	}
	acct, registered := g.cfg.Store.Get(iq.From)
	if iq.Type == stanza.TypeGet {
		f := g.registrationForm(acct)
		b := stanza.NewBuilder(NSRegister, "query")
		b.TextElement("instructions", firstNonEmpty(g.cfg.Instructions, "Fill in the form to use "+g.cfg.Name+"."))
		if registered {
			b.TextElement("registered", "")
		}
		for _, fd := range g.cfg.Registration {
			if slices.Contains(xep0077Names, fd.Var) {
				v := ""
				if fd.Type != form.TextPrivate {
					v = acct.Values[fd.Var]
				}
				b.TextElement(fd.Var, v)
			}
		}
		b.Append(f.Element())
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
		if err := g.unregister(ctx, iq.From); err != nil {
			return err
		}
		return s.Send(ctx, iq.Result())
	}
	if sub == nil {
		sub = &form.Form{Type: form.TypeSubmit}
		sub.Set(form.Hidden, form.FormTypeVar, NSRegister)
		for _, fd := range g.cfg.Registration {
			if v, ok := plain[fd.Var]; ok {
				sub.Set(fd.Type, fd.Var, v)
			}
		}
	}
	next, err := g.registerStep(ctx, iq.From, 0, g.registrationForm(acct), sub, acct.Values)
	if err != nil {
		return asStanzaError(err)
	}
	if next != nil {
		return stanza.NewError(stanza.NotAcceptable, g.cfg.Name+" needs another step to register (a code it sent you, say): run the command \"Register\" at "+g.domain.String()+" (XEP-0050), which continues from here")
	}
	if err := s.Send(ctx, iq.Result()); err != nil {
		return err
	}
	g.registered(ctx, iq.From, registered)
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

// registerStep checks a submitted step, merges its values and runs the
// Registrar. It returns the next form (the step is then pending), or nil
// when the account was stored.
func (g *Gateway) registerStep(ctx context.Context, from jid.JID, step int, shown, sub *form.Form, old map[string]string) (*form.Form, error) {
	if sub.Type == form.TypeCancel {
		g.mu.Lock()
		delete(g.pending, from.Bare().String())
		g.mu.Unlock()
		return nil, stanza.NewError(stanza.NotAcceptable, "registration canceled")
	}
	if err := command.CheckSubmission(shown, sub); err != nil {
		return nil, err
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
	if r, ok := g.cfg.Network.(Registrar); ok {
		reg := &Registration{User: from.Bare(), Step: step, Form: sub, Values: values}
		next, err := r.Register(ctx, reg)
		if err != nil {
			return nil, err
		}
		values = reg.Values
		if next != nil {
			g.mu.Lock()
			g.pending[from.Bare().String()] = &pendingReg{step: step + 1, values: values, shown: next, at: time.Now()}
			g.mu.Unlock()
			return next, nil
		}
	}
	g.mu.Lock()
	delete(g.pending, from.Bare().String())
	g.mu.Unlock()
	acct, _ := g.cfg.Store.Get(from)
	acct.JID = from.Bare()
	acct.Values = values
	if err := g.cfg.Store.Put(acct); err != nil {
		g.log.Error("bridge: cannot store a registration", "user", from.Bare(), "err", err)
		return nil, stanza.NewError(stanza.InternalServerError, "the registration could not be stored")
	}
	u := g.user(from, true)
	u.mu.Lock()
	changed := u.registered && !maps.Equal(u.acct.Values, values)
	u.acct, u.registered = acct.clone(), true
	u.stopping = false
	u.mu.Unlock()
	if changed {
		u.post(func(ctx context.Context) {
			u.logout(ctx, "registration changed", false)
			u.login(ctx)
		})
	}
	return nil, nil
}

// registered finishes a registration: the gateway asks for the user's
// presence (XEP-0100 §4.1.1) and logs in the devices it knows online.
func (g *Gateway) registered(ctx context.Context, from jid.JID, again bool) {
	if !again {
		if err := g.send(ctx, g.presence(stanza.TypeSubscribe, g.domain, from.Bare())); err != nil {
			g.log.Info("bridge: subscription request not sent", "user", from.Bare(), "err", err)
		}
	}
	u := g.user(from, false)
	if u == nil {
		return
	}
	devices := []jid.JID{}
	if from.Resource() != "" {
		devices = append(devices, from)
	}
	if online, err := g.priv.Online(from.Bare()); err == nil {
		devices = append(devices, online...)
	}
	for _, d := range devices {
		u.deviceOnline(d)
	}
}

// unregister removes a registration (XEP-0077 §3.2): the user is logged
// out, the puppets leave, and the gateway's subscription goes.
func (g *Gateway) unregister(ctx context.Context, from jid.JID) error {
	if u := g.user(from, false); u != nil {
		u.shutdown("Registration removed")
		u.mu.Lock()
		u.registered = false
		u.devices = nil
		u.acct = Account{JID: u.jid}
		u.mu.Unlock()
	}
	if err := g.cfg.Store.Delete(from); err != nil {
		return stanza.NewError(stanza.InternalServerError, "could not remove the registration")
	}
	for _, t := range []string{stanza.TypeUnsubscribed, stanza.TypeUnsubscribe, stanza.TypeUnavailable} {
		_ = g.send(ctx, g.presence(t, g.domain, from.Bare()))
	}
	return nil
}

// registerCommand is the XEP-0050 registration: the first form, or the
// pending step of a registration begun with XEP-0077, then every step the
// Registrar asks for.
type registerCommand struct{ g *Gateway }

type regSession struct {
	step  int
	shown *form.Form
	vals  map[string]string
}

func (c registerCommand) Execute(ctx context.Context, r *command.Request) (*command.Response, error) {
	g := c.g
	if r.Session.Stage == 0 {
		key := r.From.Bare().String()
		g.mu.Lock()
		p := g.pending[key]
		g.mu.Unlock()
		if p != nil && time.Since(p.at) < pendingTimeout {
			r.Session.Data = &regSession{step: p.step, shown: p.shown, vals: p.values}
			return command.Ask(p.shown, command.ActionNext), nil
		}
		acct, _ := g.cfg.Store.Get(r.From)
		f := g.registrationForm(acct)
		r.Session.Data = &regSession{shown: f, vals: acct.Values}
		return command.Ask(f, command.ActionNext), nil
	}
	rs := r.Session.Data.(*regSession)
	if r.Form == nil {
		return nil, command.BadPayload("submit the form")
	}
	_, again := g.cfg.Store.Get(r.From)
	next, err := g.registerStep(ctx, r.From, rs.step, rs.shown, r.Form, rs.vals)
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
		g.mu.Lock()
		p := g.pending[r.From.Bare().String()]
		g.mu.Unlock()
		rs.step, rs.shown, rs.vals = p.step, p.shown, p.values
		return command.Ask(next, command.ActionNext), nil
	}
	g.registered(ctx, r.From, again)
	return command.Done(command.InfoNote("You are registered with " + g.cfg.Name + ".")), nil
}

// commands fills the gateway's command registry.
func (g *Gateway) commands() {
	atGateway := func(from, to jid.JID) bool { return to.Local() == "" }
	registered := func(from, to jid.JID) bool {
		if to.Local() != "" {
			return false
		}
		_, ok := g.cfg.Store.Get(from)
		return ok || from.IsZero()
	}
	g.cmds.Add(command.Command{Node: CommandRegister, Name: "Register", Handler: registerCommand{g}, Allow: atGateway})
	g.cmds.Add(command.Command{Node: CommandUnregister, Name: "Unregister", Allow: registered,
		Handler: command.HandlerFunc(func(ctx context.Context, r *command.Request) (*command.Response, error) {
			if _, ok := g.cfg.Store.Get(r.From); !ok {
				return command.Done(command.ErrorNote("You are not registered.")), nil
			}
			if err := g.unregister(ctx, r.From); err != nil {
				return nil, err
			}
			return command.Done(command.InfoNote("Your registration with " + g.cfg.Name + " was removed.")), nil
		})})
	g.cmds.Add(command.Command{Node: CommandStatus, Name: "Status", Allow: atGateway,
		Handler: command.HandlerFunc(g.statusCommand)})
	g.adminCommands()
}
