package gateway

import (
	"context"

	"xmppkit.dev/bridge/room"
	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// --- presence and messages ----------------------------------------------------

func (g *Gateway) handlePresence(ctx context.Context, _ mux.Sender, p *stanza.Stanza) error {
	a, err := g.mapper.Parse(p.To)
	if err != nil {
		if p.Type == "" {
			return stanza.NewError(stanza.JIDMalformed, "not an IRC address")
		}
		return nil
	}
	switch p.Type {
	case stanza.TypeSubscribe:
		g.send(g.presenceFrom(stanza.TypeSubscribed, p.To, p.From.Bare()))
		return nil
	case stanza.TypeUnsubscribe, stanza.TypeSubscribed, stanza.TypeUnsubscribed:
		return nil
	}
	switch a.Kind {
	case KindGateway, KindServer:
		return g.gatewayPresence(p, a)
	case KindChannel, KindOccupant:
		if p.Type == stanza.TypeProbe {
			return nil
		}
		if p.Type == stanza.TypeUnavailable {
			s, _ := g.session(p.From, a.Server, false)
			reason := ""
			if st, ok := p.Child("", "status"); ok {
				reason, _ = st.Text()
			}
			if s == nil || !s.leave(p.From, p.To.Bare(), a.Channel, reason) {
				// Not in the room: still confirm the departure (XEP-0045
				// §7.14), from the address the client used.
				g.send(g.presenceFrom(stanza.TypeUnavailable, p.To, p.From,
					stanza.NewBuilder(NSMUCUser, "x").Child("", "item").Attr("affiliation", room.None).Attr("role", "none").End().
						Child("", "status").Attr("code", "110").End().Element()))
			}
			return nil
		}
		if a.Kind == KindChannel {
			// XEP-0045 §7.2.1: a join needs a nick.
			return stanza.NewError(stanza.JIDMalformed, "join with room@service/nick")
		}
		if !ValidNick(a.Nick) {
			return stanza.NewError(stanza.JIDMalformed, "not a valid IRC nick")
		}
		join := room.ParseJoin(p)
		// A session that ended just now is replaced by a new one.
		for i := 0; i < 3; i++ {
			s, err := g.session(p.From, a.Server, true)
			if err != nil {
				return err
			}
			if s.join(p.From, p.To.Bare(), a.Channel, a.Nick, join) {
				return nil
			}
		}
		return stanza.NewError(stanza.InternalServerError, "could not start the IRC session")
	}
	return nil
}

func (g *Gateway) gatewayPresence(p *stanza.Stanza, a Addr) error {
	reg, registered := g.registration(p.From)
	server := reg.Server
	if a.Kind == KindServer {
		server = a.Server
	}
	if server == "" {
		server = g.cfg.Default
	}
	switch p.Type {
	case "", stanza.TypeProbe:
		if !registered {
			if p.Type == "" {
				return stanza.NewError(stanza.RegistrationRequired, "register with the gateway first (XEP-0077)")
			}
			return nil
		}
		if server == "" {
			return stanza.NewError(stanza.NotAcceptable, "no IRC server chosen: register one")
		}
		if p.Type == stanza.TypeProbe {
			// RFC 6121 §4.3.2: answer a probe with the current state.
			s, _ := g.session(p.From, server, false)
			if s == nil || !s.do(func() { s.announce(p.From) }) {
				g.send(g.presenceFrom(stanza.TypeUnavailable, p.To, p.From))
			}
			return nil
		}
		for i := 0; i < 3; i++ {
			s, err := g.session(p.From, server, true)
			if err != nil {
				return err
			}
			if s.online(p.From, p.To, reg) {
				return nil
			}
		}
		return stanza.NewError(stanza.InternalServerError, "could not start the IRC session")
	case stanza.TypeUnavailable:
		for _, s := range g.sessionsOf(p.From) {
			s.offline(p.From)
		}
	}
	return nil
}

func (g *Gateway) handleMessage(ctx context.Context, _ mux.Sender, m *stanza.Stanza) error {
	a, err := g.mapper.Parse(m.To)
	if err != nil {
		return stanza.NewError(stanza.ItemNotFound, "not an IRC address")
	}
	switch a.Kind {
	case KindChannel:
		if invites := room.ParseInvites(m); len(invites) > 0 {
			return g.withSession(m.From, a.Server, func(s *session) error { return s.invite(m, a.Channel, invites) })
		}
		if m.Type != stanza.TypeGroupchat {
			return stanza.NewError(stanza.BadRequest, "send groupchat messages to a room")
		}
		s, _ := g.session(m.From, a.Server, false)
		if s == nil {
			return stanza.NewError(stanza.NotAcceptable, "you are not in this room")
		}
		return s.groupchat(m, a.Channel)
	case KindOccupant, KindUser:
		if m.Body() == "" {
			return nil // chat states and receipts have no IRC counterpart
		}
		s, _ := g.session(m.From, a.Server, false)
		if s == nil {
			return stanza.NewError(stanza.RecipientUnavailable, "not connected to this IRC server: join a channel or send presence to the gateway")
		}
		return s.private(m, a)
	case KindServer, KindGateway:
		if m.Body() == "" {
			return nil
		}
		server := a.Server
		if server == "" {
			return stanza.NewError(stanza.ServiceUnavailable, "name an IRC server: server@gateway")
		}
		s, _ := g.session(m.From, server, false)
		if s == nil {
			return stanza.NewError(stanza.RecipientUnavailable, "not connected to "+server+": send presence to it or join a channel first")
		}
		return s.raw(m)
	}
	return stanza.NewError(stanza.ServiceUnavailable, "")
}
