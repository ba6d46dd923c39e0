package xtime

import (
	"context"
	"encoding/xml"
	"fmt"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// NS is the XEP-0202 namespace.
const NS = "urn:xmpp:time"

type wire struct {
	XMLName xml.Name `xml:"urn:xmpp:time time"`
	TZO     string   `xml:"tzo"`
	UTC     string   `xml:"utc"`
}

// Handler answers XEP-0202 entity time queries (§3) with the offset of the
// clock's location (<tzo>) and the time in UTC (<utc>).
type Handler struct {
	// Now returns the current time in the entity's location; nil means
	// time.Now.
	Now func() time.Time
}

// HandleStanza answers a urn:xmpp:time get (XEP-0202 §3).
func (h Handler) HandleStanza(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
	if iq.Kind != stanza.IQ || iq.Type != stanza.TypeGet {
		return stanza.NewError(stanza.BadRequest, "xtime: only iq get is served")
	}
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	t := now()
	el, err := stanza.MarshalElement(wire{TZO: FormatTZO(t), UTC: FormatDateTime(t.UTC())})
	if err != nil {
		return fmt.Errorf("xtime: encoding answer: %w", err)
	}
	return s.Send(ctx, iq.Result(el))
}

// Register mounts the handler on m for urn:xmpp:time gets.
func (h Handler) Register(m *mux.ServeMux) {
	m.HandleIQ(stanza.TypeGet, NS, "time", h)
}

// Get asks the entity at to for its time (XEP-0202 §3). The result is the
// entity's clock in a fixed zone of its reported offset. A peer's error
// comes back as its *stanza.Error; an answer that does not follow XEP-0202
// and XEP-0082 is a bad-request *stanza.Error wrapping the *ParseError.
func Get(ctx context.Context, s mux.Sender, to jid.JID) (time.Time, error) {
	res, err := s.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, to, stanza.Element{Space: NS, Local: "time"}))
	if err != nil {
		return time.Time{}, err
	}
	var w wire
	if err := res.UnmarshalChild(NS, "time", &w); err != nil {
		return time.Time{}, stanza.NewError(stanza.BadRequest, "xtime: bad answer: "+err.Error())
	}
	return parseEntityTime(w.TZO, w.UTC)
}

// parseEntityTime combines XEP-0202 <tzo> and <utc>.
func parseEntityTime(tzo, utc string) (time.Time, error) {
	t, err := ParseDateTime(utc)
	if err != nil {
		return time.Time{}, stanza.NewError(stanza.BadRequest, "xtime: <utc>: "+err.Error())
	}
	off, err := ParseTZO(tzo)
	if err != nil {
		return time.Time{}, stanza.NewError(stanza.BadRequest, "xtime: <tzo>: "+err.Error())
	}
	return t.In(zoneFor(off)), nil
}
