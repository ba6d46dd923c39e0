package version

import (
	"context"
	"encoding/xml"
	"fmt"

	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// NS is the XEP-0092 namespace.
const NS = "jabber:iq:version"

// Info is a XEP-0092 §2 software version answer. OS is optional ("" leaves
// it out: §2 lets an entity keep it private).
type Info struct {
	Name    string
	Version string
	OS      string
}

type wire struct {
	XMLName xml.Name `xml:"jabber:iq:version query"`
	Name    string   `xml:"name,omitempty"`
	Version string   `xml:"version,omitempty"`
	OS      string   `xml:"os,omitempty"`
}

// Handler answers XEP-0092 queries with its Info.
type Handler struct {
	Info Info
}

// HandleStanza answers a jabber:iq:version get (XEP-0092 §2).
func (h Handler) HandleStanza(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
	if iq.Kind != stanza.IQ || iq.Type != stanza.TypeGet {
		return stanza.NewError(stanza.BadRequest, "version: only iq get is served")
	}
	el, err := stanza.MarshalElement(wire{Name: h.Info.Name, Version: h.Info.Version, OS: h.Info.OS})
	if err != nil {
		return fmt.Errorf("version: encoding answer: %w", err)
	}
	return s.Send(ctx, iq.Result(el))
}

// Register mounts the handler on m for jabber:iq:version gets.
func (h Handler) Register(m *mux.ServeMux) {
	m.HandleIQ(stanza.TypeGet, NS, "query", h)
}

// Get asks the entity at to for its software version (XEP-0092 §2). A
// peer's error comes back as its *stanza.Error; a result without a
// <query xmlns='jabber:iq:version'/> or without a name is a bad-request
// *stanza.Error.
func Get(ctx context.Context, s mux.Sender, to jid.JID) (Info, error) {
	res, err := s.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, to, stanza.Element{Space: NS, Local: "query"}))
	if err != nil {
		return Info{}, err
	}
	var w wire
	if err := res.UnmarshalChild(NS, "query", &w); err != nil {
		return Info{}, stanza.NewError(stanza.BadRequest, "version: bad answer: "+err.Error())
	}
	if w.Name == "" {
		return Info{}, stanza.NewError(stanza.BadRequest, "version: answer without <name/>")
	}
	return Info{Name: w.Name, Version: w.Version, OS: w.OS}, nil
}
