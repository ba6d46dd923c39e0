package gateway

import (
	"context"
	"strings"

	"xmppkit.dev/bridge/room"
	"xmppkit.dev/disco"
	"xmppkit.dev/jid"
	"xmppkit.dev/mam"
	"xmppkit.dev/mux"
	"xmppkit.dev/ping"
	"xmppkit.dev/stanza"
	"xmppkit.dev/version"
)

// --- XEP-0030 and XEP-0100 ------------------------------------------------

// infoProvider answers jabber:iq:gateway (XEP-0100 §6.3) and gives the
// disco identities and features of every address at the gateway.
type infoProvider struct{ g *Gateway }

func (p *infoProvider) Identities(q disco.Query) []disco.Identity {
	if q.Node != "" {
		return nil
	}
	a, err := p.g.mapper.Parse(q.To)
	if err != nil {
		return nil
	}
	switch a.Kind {
	case KindGateway:
		return []disco.Identity{
			{Category: "gateway", Type: "irc", Name: "IRC gateway"},
			{Category: "conference", Type: "irc", Name: "IRC gateway"},
		}
	case KindServer:
		return []disco.Identity{{Category: "conference", Type: "irc", Name: a.Server}}
	case KindChannel:
		return []disco.Identity{{Category: "conference", Type: "irc", Name: a.Channel}}
	case KindUser:
		return []disco.Identity{{Category: "client", Type: "irc", Name: a.Nick}}
	}
	return nil
}

func (p *infoProvider) Features(q disco.Query) []string {
	if q.Node != "" {
		return nil
	}
	a, err := p.g.mapper.Parse(q.To)
	if err != nil {
		return nil
	}
	switch a.Kind {
	case KindGateway, KindServer:
		return []string{NSGateway, NSRegister, NSMUC, version.NS, ping.NS}
	case KindChannel:
		f := []string{NSMUC, "muc_nonanonymous", "muc_open", "muc_public", "muc_persistent",
			ping.NS, room.NSSelfPing, room.NSStanzaID}
		if name, _, ok := p.g.network(a.Server); ok && !q.From.IsZero() &&
			(p.g.recorded(q.From, name, a.Channel) || p.g.cfg.Archive.Has(q.From, p.g.canonicalRoom(name, a.Channel))) {
			f = append(f, mam.NS)
		}
		return f
	case KindUser:
		return []string{version.NS, ping.NS}
	}
	return nil
}

func (p *infoProvider) HandleStanza(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
	g := p.g
	if iq.Type == stanza.TypeGet {
		return s.Send(ctx, iq.Result(stanza.NewBuilder(NSGateway, "query").
			TextElement("desc", "Enter an IRC nick or #channel, optionally followed by %server").
			TextElement("prompt", "IRC nick or channel").Element()))
	}
	var q struct {
		Prompt string `xml:"prompt"`
	}
	if err := iq.Unmarshal(&q); err != nil {
		return stanza.ErrBadRequest
	}
	j, err := g.Translate(q.Prompt)
	if err != nil {
		return stanza.NewError(stanza.NotAcceptable, "not an IRC nick or channel")
	}
	return s.Send(ctx, iq.Result(stanza.NewBuilder(NSGateway, "query").TextElement("jid", j.String()).Element()))
}

// --- XEP-0092 and XEP-0199 ---------------------------------------------------

// handleVersion answers XEP-0092 for the gateway and its servers, and for
// an IRC user or occupant relays the request as CTCP VERSION (as Biboumi
// does) and answers with what the user's client says.
func (g *Gateway) handleVersion(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
	a, err := g.mapper.Parse(iq.To)
	if err != nil {
		return stanza.NewError(stanza.ItemNotFound, "not an IRC address")
	}
	switch a.Kind {
	case KindGateway, KindServer, KindChannel:
		return version.Handler{Info: g.cfg.Version}.HandleStanza(ctx, s, iq)
	}
	reply, err := g.ctcp(ctx, iq.From, a, "VERSION")
	if err != nil {
		return err
	}
	return s.Send(ctx, iq.Result(stanza.NewBuilder(version.NS, "query").TextElement("name", reply).Element()))
}

// handlePing answers XEP-0199 pings: the gateway, its servers and rooms
// answer themselves; a ping to an occupant is a XEP-0410 self-ping (or a
// check that the occupant is there); a ping to an IRC user goes as CTCP
// PING.
func (g *Gateway) handlePing(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
	a, err := g.mapper.Parse(iq.To)
	if err != nil {
		return stanza.NewError(stanza.ItemNotFound, "not an IRC address")
	}
	switch a.Kind {
	case KindGateway, KindServer, KindChannel:
		return ping.Handler{}.HandleStanza(ctx, s, iq)
	case KindOccupant:
		err := g.withSession(iq.From, a.Server, func(ss *session) error {
			ch := ss.channel(a.Channel)
			if ch == nil {
				return stanza.NewError(stanza.NotAcceptable, "not joined to this room")
			}
			return ch.room.HandlePing(iq.From, iq.To)
		})
		if err != nil {
			if se, ok := err.(*stanza.Error); ok && se.Condition == stanza.NotAcceptable {
				return stanza.NewError(stanza.NotAcceptable, "not joined to this room")
			}
			return err
		}
		return s.Send(ctx, iq.Result())
	}
	if _, err := g.ctcp(ctx, iq.From, a, "PING"); err != nil {
		return err
	}
	return s.Send(ctx, iq.Result())
}

// ctcp sends a CTCP request to the IRC user of a and waits for the answer.
func (g *Gateway) ctcp(ctx context.Context, from jid.JID, a Addr, what string) (string, error) {
	ss, _ := g.session(from, a.Server, false)
	if ss == nil {
		return "", stanza.NewError(stanza.RecipientUnavailable, "not connected to "+a.Server)
	}
	ch := make(chan ctcpReply, 1)
	if err := ss.call(func() error { return ss.sendCTCP(a.Nick, what, ch) }); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, g.cfg.CTCPTimeout)
	defer cancel()
	select {
	case r := <-ch:
		return r.text, r.err
	case <-ctx.Done():
		return "", stanza.NewError(stanza.RemoteServerTimeout, strings.ToLower(what)+": no answer from "+a.Nick)
	}
}
