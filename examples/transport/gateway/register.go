package gateway

import (
	"context"
	"sort"
	"strings"

	"xmppkit.dev/bridge"
	"xmppkit.dev/form"
	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// --- XEP-0077, through the gateway kit's Accounts -------------------------

const registerInstructions = "Choose your IRC nick; the IRC server password and the server are optional."

// registrationFields are the XEP-0077 §4 form's fields: the nick, the IRC
// server password (never sent back: an empty one submitted keeps the
// stored one) and the server to connect to.
func (g *Gateway) registrationFields() []form.Field {
	names := make([]string, 0, len(g.cfg.Networks))
	for name := range g.cfg.Networks {
		names = append(names, name)
	}
	sort.Strings(names)
	var opts []form.Option
	for _, name := range names {
		opts = append(opts, form.Option{Label: name, Value: name})
	}
	return []form.Field{
		{Type: form.TextSingle, Var: "nick", Label: "IRC nick", Required: true},
		{Type: form.TextPrivate, Var: "password", Label: "IRC server password (PASS); empty keeps the current one"},
		{Type: form.ListSingle, Var: "server", Label: "IRC server", Options: opts},
	}
}

// newAccounts is the gateway's registration: the kit's Accounts with the
// IRC checks (Register) and the sessions told of changes.
func (g *Gateway) newAccounts() *bridge.Accounts {
	return &bridge.Accounts{
		Name: "the IRC gateway", Title: "IRC gateway registration", Instructions: registerInstructions,
		Fields: g.registrationFields(), Registrar: ircRegistrar{g}, Store: g.cfg.Store,
		OnChange: func(ctx context.Context, from jid.JID, acct bridge.Account, again, removed bool) {
			if removed {
				for _, ss := range g.sessionsOf(from) {
					ss.stop("Registration removed")
				}
				return
			}
			for _, ss := range g.sessionsOf(from) {
				ss.reregistered(registrationOf(acct))
			}
		},
	}
}

// ircRegistrar checks a registration: a valid nick, a password an IRC
// PASS can carry, a server the gateway knows (in its configured spelling).
type ircRegistrar struct{ g *Gateway }

func (r ircRegistrar) Register(ctx context.Context, reg *bridge.Registration) (*form.Form, error) {
	nick := strings.TrimSpace(reg.Values["nick"])
	switch {
	case nick == "":
		return nil, stanza.NewError(stanza.NotAcceptable, "an IRC nick is required")
	case !ValidNick(nick):
		return nil, stanza.NewError(stanza.NotAcceptable, "not a valid IRC nick")
	}
	reg.Values["nick"] = nick
	if pw := reg.Values["password"]; strings.ContainsAny(pw, "\r\n\x00 ") {
		return nil, stanza.NewError(stanza.NotAcceptable, "the password cannot hold spaces or line breaks")
	}
	if s := reg.Values["server"]; s != "" {
		name, _, ok := r.g.network(s)
		if !ok {
			return nil, stanza.NewError(stanza.NotAcceptable, "unknown IRC server "+s)
		}
		reg.Values["server"] = name
	}
	return nil, nil
}

// registration returns the registration of the user (bare or full JID).
func (g *Gateway) registration(user jid.JID) (Registration, bool) {
	a, ok := g.cfg.Store.Get(user)
	return registrationOf(a), ok
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
