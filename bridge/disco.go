package bridge

import (
	"context"
	"strings"

	"xmppkit.dev/disco"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// CapsNode is the XEP-0115 node of the puppets' capabilities.
const CapsNode = "https://xmppkit.dev/bridge"

// NSOccupantID is XEP-0421's namespace; NSMUC and NSMUCUser XEP-0045's.
const (
	NSOccupantID = "urn:xmpp:occupant-id:0"
	NSMUC        = "http://jabber.org/protocol/muc"
	NSMUCUser    = "http://jabber.org/protocol/muc#user"
	NSMAM        = "urn:xmpp:mam:2"
)

// provider carries the gateway's service discovery (XEP-0030): it wraps the
// registration handler and answers for the gateway, its puppets and rooms.
type provider struct {
	g *Gateway
	h mux.Handler
}

func (p *provider) HandleStanza(ctx context.Context, s mux.Sender, st *stanza.Stanza) error {
	return p.h.HandleStanza(ctx, s, st)
}

// Identities implements disco.IdentityProvider.
func (p *provider) Identities(q disco.Query) []disco.Identity {
	g := p.g
	if q.To.Local() == "" {
		if q.Node != "" {
			return nil
		}
		return []disco.Identity{{Category: "gateway", Type: g.cfg.Type, Name: g.cfg.Name}}
	}
	if _, ok := g.ID(q.To); !ok {
		return nil
	}
	if q.Node != "" && q.Node != g.capsVerNode() {
		return nil
	}
	if g.roomFor(q.From, q.To) {
		return []disco.Identity{{Category: "conference", Type: "text", Name: g.roomName(q.From, q.To)}}
	}
	return []disco.Identity{{Category: "client", Type: "pc", Name: g.contactName(q.From, q.To)}}
}

// Features implements disco.FeatureProvider.
func (p *provider) Features(q disco.Query) []string {
	g := p.g
	if q.To.Local() == "" {
		if q.Node != "" {
			return nil
		}
		return []string{NSGateway}
	}
	if _, ok := g.ID(q.To); !ok {
		return nil
	}
	if q.Node != "" && q.Node != g.capsVerNode() {
		return nil
	}
	if g.roomFor(q.From, q.To) {
		return g.roomFeatures()
	}
	return g.puppetFeatures()
}

// puppetFeatures are what a puppet supports, from Config.Features.
func (g *Gateway) puppetFeatures() []string {
	f := g.cfg.Features
	out := []string{NSReceipts, NSSID}
	add := func(bit Feature, ns ...string) {
		if f&bit != 0 {
			out = append(out, ns...)
		}
	}
	add(ChatStates, NSChatStates)
	add(Markers, NSMarkers)
	add(Corrections, NSCorrect)
	add(Retractions, NSRetract, NSRetract0)
	add(Reactions, NSReactions)
	add(Replies, NSReply)
	add(Attachments, NSOOB)
	add(Avatars, NSVCard, NSAvatarMeta+"+notify", NSAvatarMeta, NSAvatarData)
	out = append(out, NSNick)
	return out
}

func (g *Gateway) roomFeatures() []string {
	out := []string{NSMUC, "muc_persistent", "muc_nonanonymous", "muc_open", NSOccupantID, NSSID}
	f := g.cfg.Features
	add := func(bit Feature, ns ...string) {
		if f&bit != 0 {
			out = append(out, ns...)
		}
	}
	add(Corrections, NSCorrect)
	add(Retractions, NSRetract, NSRetract0)
	add(Reactions, NSReactions)
	add(Replies, NSReply)
	add(Markers, NSMarkers)
	add(ChatStates, NSChatStates)
	if g.cfg.Archive != nil {
		out = append(out, NSMAM)
	}
	return out
}

type capsCache struct {
	el  stanza.Element
	ver string
}

// puppetCaps is the XEP-0115 <c/> of the puppets' presence.
func (g *Gateway) puppetCaps() (stanza.Element, bool) {
	c := g.capsInfo()
	return c.el, c.ver != ""
}

func (g *Gateway) capsInfo() capsCache {
	g.capsOnce.Do(func() {
		info := disco.Info{Identities: []disco.Identity{{Category: "client", Type: "pc"}}, Features: append(g.puppetFeatures(), disco.NSInfo)}
		el, err := disco.Caps(CapsNode, info)
		if err != nil {
			return
		}
		ver, err := disco.CapsHash(info)
		if err != nil {
			return
		}
		g.caps = capsCache{el: el, ver: ver}
	})
	return g.caps
}

func (g *Gateway) capsVerNode() string {
	c := g.capsInfo()
	if c.ver == "" {
		return "\x00"
	}
	return CapsNode + "#" + c.ver
}

// contactName is a puppet's name for the requester (its legacy id when the
// requester has no such contact).
func (g *Gateway) contactName(from, to jid.JID) string {
	id, _ := g.resolve(from, to)
	if u := g.user(from, false); u != nil {
		u.mu.Lock()
		defer u.mu.Unlock()
		if c := u.contacts[id]; c != nil {
			return c.name
		}
	}
	return id
}

// handleGatewayPrompt serves XEP-0100 §6.3 (jabber:iq:gateway): the prompt
// for a legacy id, and its JID at the gateway.
func (g *Gateway) handleGatewayPrompt(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
	if iq.To.Local() != "" {
		return stanza.ErrServiceUnavailable
	}
	if iq.Type == stanza.TypeGet {
		return s.Send(ctx, iq.Result(stanza.NewBuilder(NSGateway, "query").
			TextElement("desc", "Enter the "+g.cfg.Name+" id of the contact").
			TextElement("prompt", "Contact id").Element()))
	}
	el, _ := iq.PayloadElement()
	var q struct {
		Prompt string `xml:"prompt"`
	}
	if err := el.Unmarshal(&q); err != nil {
		return stanza.ErrBadRequest
	}
	j, err := g.JID(strings.TrimSpace(q.Prompt))
	if err != nil {
		return stanza.NewError(stanza.NotAcceptable, "not a usable id")
	}
	return s.Send(ctx, iq.Result(stanza.NewBuilder(NSGateway, "query").TextElement("jid", j.String()).Element()))
}
