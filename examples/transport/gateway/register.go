package gateway

import (
	"context"
	"encoding/xml"
	"sort"
	"strings"

	"xmppkit.dev/form"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// --- XEP-0077 ---------------------------------------------------------------

type registerQuery struct {
	XMLName  xml.Name   `xml:"jabber:iq:register query"`
	Nick     *string    `xml:"nick"`
	Username *string    `xml:"username"`
	Password *string    `xml:"password"`
	Remove   *struct{}  `xml:"remove"`
	Form     *form.Form `xml:"jabber:x:data x"`
}

const registerInstructions = "Choose your IRC nick; the IRC server password and the server are optional."

// registrationForm is the XEP-0077 §4 data form, filled with reg. The IRC
// password is never sent back: the field is empty, and an empty password
// submitted keeps the stored one.
func (g *Gateway) registrationForm(reg Registration) form.Form {
	f := form.Form{Type: form.TypeForm, Title: "IRC gateway registration", Instructions: []string{registerInstructions}}
	f.Set(form.Hidden, form.FormTypeVar, NSRegister)
	vals := func(v string) []string {
		if v == "" {
			return nil
		}
		return []string{v}
	}
	f.Fields = append(f.Fields,
		form.Field{Type: form.TextSingle, Var: "nick", Label: "IRC nick", Required: true, Values: vals(reg.Nick)},
		form.Field{Type: form.TextPrivate, Var: "password", Label: "IRC server password (PASS); empty keeps the current one"},
	)
	names := make([]string, 0, len(g.cfg.Networks))
	for name := range g.cfg.Networks {
		names = append(names, name)
	}
	sort.Strings(names)
	var opts []form.Option
	for _, name := range names {
		opts = append(opts, form.Option{Label: name, Value: name})
	}
	f.Fields = append(f.Fields, form.Field{Type: form.ListSingle, Var: "server", Label: "IRC server", Values: vals(reg.Server), Options: opts})
	return f
}

func (g *Gateway) handleRegister(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
	a, err := g.mapper.Parse(iq.To)
	if err != nil || a.Kind != KindGateway {
		return stanza.ErrServiceUnavailable
	}
	bare := iq.From.Bare().String()
	if iq.Type == stanza.TypeGet {
		reg, ok := g.cfg.Store.Get(bare)
		fx, err := stanza.MarshalElement(g.registrationForm(reg))
		if err != nil {
			return err
		}
		b := stanza.NewBuilder(NSRegister, "query").TextElement("instructions", registerInstructions)
		if ok {
			b.TextElement("registered", "")
		}
		b.TextElement("nick", reg.Nick).TextElement("password", "").Append(fx)
		return s.Send(ctx, iq.Result(b.Element()))
	}
	var q registerQuery
	if err := iq.Unmarshal(&q); err != nil {
		return stanza.ErrBadRequest
	}
	if q.Remove != nil {
		if _, ok := g.cfg.Store.Get(bare); !ok {
			return stanza.NewError(stanza.RegistrationRequired, "not registered")
		}
		if err := g.cfg.Store.Delete(bare); err != nil {
			return stanza.NewError(stanza.InternalServerError, "could not remove the registration")
		}
		for _, ss := range g.sessionsOf(iq.From) {
			ss.stop("Registration removed")
		}
		if err := s.Send(ctx, iq.Result()); err != nil {
			return err
		}
		// XEP-0077 §3.2: the gateway's subscription goes away too.
		g.send(g.presenceFrom(stanza.TypeUnsubscribed, g.domainJID(), iq.From.Bare()))
		g.send(g.presenceFrom(stanza.TypeUnavailable, g.domainJID(), iq.From.Bare()))
		return nil
	}
	old, _ := g.cfg.Store.Get(bare)
	reg := old
	reg.JID = bare
	switch {
	case q.Form != nil:
		if err := q.Form.Validate(); err != nil {
			return stanza.NewError(stanza.BadRequest, err.Error())
		}
		reg.Nick, _ = q.Form.Get("nick")
		if pw, _ := q.Form.Get("password"); pw != "" {
			reg.Password = pw
		}
		reg.Server, _ = q.Form.Get("server")
	default:
		reg.Nick = ""
		if q.Nick != nil {
			reg.Nick = *q.Nick
		} else if q.Username != nil {
			reg.Nick = *q.Username
		}
		if q.Password != nil && *q.Password != "" {
			reg.Password = *q.Password
		}
	}
	reg.Nick = strings.TrimSpace(reg.Nick)
	if reg.Nick == "" {
		return stanza.NewError(stanza.NotAcceptable, "an IRC nick is required")
	}
	if !ValidNick(reg.Nick) {
		return stanza.NewError(stanza.NotAcceptable, "not a valid IRC nick")
	}
	if strings.ContainsAny(reg.Password, "\r\n\x00 ") && reg.Password != "" {
		return stanza.NewError(stanza.NotAcceptable, "the password cannot hold spaces or line breaks")
	}
	if reg.Server != "" {
		name, _, ok := g.network(reg.Server)
		if !ok {
			return stanza.NewError(stanza.NotAcceptable, "unknown IRC server "+reg.Server)
		}
		reg.Server = name
	}
	if err := g.cfg.Store.Put(reg); err != nil {
		return stanza.NewError(stanza.InternalServerError, "could not store the registration")
	}
	for _, ss := range g.sessionsOf(iq.From) {
		ss.reregistered(reg)
	}
	if err := s.Send(ctx, iq.Result()); err != nil {
		return err
	}
	// XEP-0100 §4.1.1: the gateway asks to see the user's presence, so that
	// the user's server tells it when the user comes online.
	g.send(g.presenceFrom(stanza.TypeSubscribe, g.domainJID(), iq.From.Bare()))
	return nil
}

// presenceFrom builds a presence of the type from an address at the
// gateway.
func (g *Gateway) presenceFrom(typ string, from, to jid.JID, payload ...stanza.Element) *stanza.Stanza {
	p := stanza.NewPresence(typ, to)
	p.From = from
	p.SetPayloadElements(payload...)
	return p
}

// statusEl is a <status/> with text from IRC made safe for XML, or nothing.
func statusEl(text string) []stanza.Element {
	if text == "" {
		return nil
	}
	return []stanza.Element{stanza.TextElement("", "status", text)}
}
