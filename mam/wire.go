package mam

import (
	"encoding/xml"
	"slices"
	"strings"
	"time"

	"xmppkit.dev/form"
	"xmppkit.dev/internal/elem"
	"xmppkit.dev/internal/forward"
	"xmppkit.dev/jid"
	"xmppkit.dev/rsm"
	"xmppkit.dev/stanza"
	"xmppkit.dev/xtime"
)

// Namespaces and features of XEP-0313.
const (
	NS         = "urn:xmpp:mam:2"          // the protocol, its disco feature and its FORM_TYPE (§7, §4.1)
	NSExtended = "urn:xmpp:mam:2#extended" // before-id, after-id, ids, flipped pages and metadata (§7)
	NSForward  = "urn:xmpp:forward:0"      // XEP-0297, the wrapper of each result (§4.2)
	NSDelay    = "urn:xmpp:delay"          // XEP-0203, the time a result was archived (§4.2)
	NSStanzaID = "urn:xmpp:sid:0"          // XEP-0359, the archive id stamped on live messages (§3.5)
	NSMUCUser  = "http://jabber.org/protocol/muc#user"
)

// The form fields of a query (§4.1, §9.2).
const (
	FieldWith     = "with"
	FieldStart    = "start"
	FieldEnd      = "end"
	FieldBeforeID = "before-id" // extended
	FieldAfterID  = "after-id"  // extended
	FieldIDs      = "ids"       // extended
)

// Query is an archive query (XEP-0313 §4) as the Archive receives it: the
// filter of the form (§4.1), the page wanted (RSM, §4.3) and the page
// limit the service applies.
type Query struct {
	// QueryID is the requester's queryid, echoed in each result (§4).
	QueryID string
	// Node is the pubsub node queried (XEP-0442), "" for a user or room
	// archive.
	Node string

	// With keeps the messages exchanged with this JID (§4.1.1): for a bare
	// JID any of its resources. Zero for no filter.
	With jid.JID
	// Start and End keep the messages archived at or after Start and at or
	// before End (§4.1.2). Zero for no bound.
	Start, End time.Time
	// AfterID and BeforeID keep the messages after and before the ones
	// with these archive ids (§4.1.3, extended); IDs keeps exactly the
	// messages with these ids (extended). Empty for no filter.
	AfterID, BeforeID string
	IDs               []string
	// Form is the submitted form, for the archive's own extra fields
	// (Handler.Fields); nil when the query had none.
	Form *form.Form

	// Page is the RSM request (§4.3): its UIDs are archive ids.
	Page rsm.Query
	// Limit is the most results one page may hold (Handler.MaxPage); it
	// caps Page.Max and is the page size when Page has none (§4.3.1).
	Limit int
	// Flip asks for the page's results in reverse order (§4.3.4); it does
	// not change which results the page holds, and the Handler applies it.
	Flip bool
}

func badRequest(text string) *stanza.Error {
	return stanza.NewError(stanza.BadRequest, "mam: "+text)
}

// ParseQuery reads the <query xmlns='urn:xmpp:mam:2'/> of an archive query
// (§4) against the fields the archive supports: the standard ones, the
// extended ones when extended is set, and extra. A field it does not know is
// feature-not-implemented (§4.1.5), a malformed form or <set/> bad-request.
func ParseQuery(payload stanza.Element, extended bool, extra []form.Field) (*Query, error) {
	n, err := elem.Parse(payload.XML(), stanza.NSClient)
	if err != nil {
		return nil, badRequest("unreadable query: " + err.Error())
	}
	if n.Space != NS || n.Local != "query" {
		return nil, badRequest("not a <query xmlns='" + NS + "'/>")
	}
	q := &Query{}
	if q.QueryID, _, err = n.Attr("queryid"); err == nil {
		q.Node, _, err = n.Attr("node")
	}
	if err != nil {
		return nil, badRequest("unreadable query attributes")
	}
	var f *form.Form
	var hasSet bool
	for _, k := range n.Kids {
		switch {
		case k.Space == form.NS && k.Local == "x":
			if f != nil {
				return nil, badRequest("more than one data form")
			}
			if f, err = form.Decode(n.Standalone(k)); err != nil {
				return nil, badRequest("data form: " + err.Error())
			}
		case k.Space == rsm.NS && k.Local == "set":
			if hasSet {
				return nil, badRequest("more than one <set/>")
			}
			hasSet = true
			if q.Page, err = rsm.ParseQuery(n.Standalone(k)); err != nil {
				return nil, err
			}
		case k.Space == NS && k.Local == "flip-page":
			q.Flip = true
		}
	}
	if q.Flip && !extended {
		return nil, stanza.NewError(stanza.FeatureNotImplemented, "mam: no flipped pages here")
	}
	if f != nil {
		if err := q.readForm(f, extended, extra); err != nil {
			return nil, err
		}
	}
	return q, nil
}

func (q *Query) readForm(f *form.Form, extended bool, extra []form.Field) error {
	if f.Type != form.TypeSubmit {
		return badRequest("the query form must be of type submit")
	}
	if ft := f.FormType(); ft != "" && ft != NS {
		return badRequest("FORM_TYPE " + ft + " is not " + NS)
	}
	q.Form = f
	for _, fld := range f.Fields {
		v := fld.Value()
		switch fld.Var {
		case form.FormTypeVar:
		case FieldWith:
			if v == "" {
				continue
			}
			j, err := jid.Parse(v)
			if err != nil {
				return stanza.NewError(stanza.JIDMalformed, "mam: with: "+err.Error())
			}
			q.With = j
		case FieldStart, FieldEnd:
			if v == "" {
				continue
			}
			t, err := xtime.ParseDateTime(v)
			if err != nil {
				return badRequest(fld.Var + " is not a XEP-0082 DateTime")
			}
			if fld.Var == FieldStart {
				q.Start = t
			} else {
				q.End = t
			}
		case FieldBeforeID, FieldAfterID, FieldIDs:
			if !extended {
				return stanza.NewError(stanza.FeatureNotImplemented, "mam: no field "+fld.Var+" here")
			}
			switch fld.Var {
			case FieldBeforeID:
				q.BeforeID = v
			case FieldAfterID:
				q.AfterID = v
			default:
				for _, id := range fld.Values {
					if id != "" && !slices.Contains(q.IDs, id) {
						q.IDs = append(q.IDs, id)
					}
				}
				if len(q.IDs) == 0 {
					return badRequest("ids without an id")
				}
			}
		default:
			if !slices.ContainsFunc(extra, func(e form.Field) bool { return e.Var == fld.Var }) {
				return stanza.NewError(stanza.FeatureNotImplemented, "mam: no field "+fld.Var+" here")
			}
		}
	}
	return nil
}

// Element returns q as the <query/> payload of an archive query (for a
// requester: the filter form, the RSM set, flip-page).
func (q *Query) Element() stanza.Element {
	b := stanza.NewBuilder(NS, "query").OptAttr("queryid", q.QueryID).OptAttr("node", q.Node)
	f := form.Form{Type: form.TypeSubmit}
	if q.Form != nil {
		f = *q.Form
		f.Fields = slices.Clone(f.Fields)
	}
	f.Set(form.Hidden, form.FormTypeVar, NS)
	if !q.With.IsZero() {
		f.Set(form.JIDSingle, FieldWith, q.With.String())
	}
	if !q.Start.IsZero() {
		f.Set(form.TextSingle, FieldStart, xtime.FormatDateTime(q.Start))
	}
	if !q.End.IsZero() {
		f.Set(form.TextSingle, FieldEnd, xtime.FormatDateTime(q.End))
	}
	if q.BeforeID != "" {
		f.Set(form.TextSingle, FieldBeforeID, q.BeforeID)
	}
	if q.AfterID != "" {
		f.Set(form.TextSingle, FieldAfterID, q.AfterID)
	}
	if len(q.IDs) > 0 {
		f.Set(form.TextMulti, FieldIDs, q.IDs...)
	}
	b.Append(f.Element())
	if !q.Page.IsZero() {
		b.Append(q.Page.Element())
	}
	if q.Flip {
		b.Child("", "flip-page").End()
	}
	return b.Element()
}

// fieldsForm is the answer to a query for the supported fields (§4.1.5).
// The form is built with the Builder rather than package form because of
// the XEP-0122 <validate/> that ids must carry, which form does not model.
func fieldsForm(extended bool, extra []form.Field) stanza.Element {
	b := stanza.NewBuilder(NS, "query").Child(form.NS, "x").Attr("type", "form")
	b.Child("", "field").Attr("type", "hidden").Attr("var", form.FormTypeVar).TextElement("value", NS).End()
	b.Child("", "field").Attr("type", "jid-single").Attr("var", FieldWith).End()
	b.Child("", "field").Attr("type", "text-single").Attr("var", FieldStart).End()
	b.Child("", "field").Attr("type", "text-single").Attr("var", FieldEnd).End()
	if extended {
		b.Child("", "field").Attr("type", "text-single").Attr("var", FieldBeforeID).End()
		b.Child("", "field").Attr("type", "text-single").Attr("var", FieldAfterID).End()
		b.Child("", "field").Attr("type", "list-multi").Attr("var", FieldIDs).
			Child("http://jabber.org/protocol/xdata-validate", "validate").Attr("datatype", "xs:string").
			Child("", "open").End().End().End()
	}
	for _, f := range extra {
		// §4.1: no field is marked required.
		b.Child("", "field").OptAttr("type", string(f.Type)).Attr("var", f.Var).OptAttr("label", f.Label)
		b.OptTextElement("desc", f.Desc)
		for _, o := range f.Options {
			b.Child("", "option").OptAttr("label", o.Label).TextElement("value", o.Value).End()
		}
		for _, v := range f.Values {
			b.TextElement("value", v)
		}
		b.End()
	}
	return b.Element()
}

// Result is one archived message as a result of a query (§4.2): the
// <result/> element of a <message/> from the archive.
type Result struct {
	QueryID string
	ID      string    // the archive id
	Time    time.Time // the <delay/> stamp
	Message *stanza.Stanza
}

// forwardedElement builds <forwarded><delay stamp/> message </forwarded>
// (§4.2, XEP-0297 with XEP-0203), the part of a result that does not
// depend on the query.
func forwardedElement(m *Message) stanza.Element {
	return stanza.NewBuilder(NSForward, "forwarded").
		Child(NSDelay, "delay").Attr("stamp", xtime.FormatDateTime(m.Time)).End().
		Append(forward.Element(m.Stanza)).
		Element()
}

// resultElement builds <result queryid id><forwarded>...</forwarded></result>
// (§4.2); an archive that kept the <forwarded/> of the message (Memory)
// saves building it again.
func resultElement(queryID string, m *Message) stanza.Element {
	fwd := m.forwarded
	if fwd.Local == "" || m.fwdOf != m.Stanza || !m.fwdAt.Equal(m.Time) {
		fwd = forwardedElement(m)
	}
	// The wrapper's size is known: the stored <forwarded/>, the two
	// attributes (escaping rarely adds to them) and the tags.
	size := len(fwd.XML()) + len(queryID) + len(m.ID) + len(NS) + 64
	return stanza.NewBuilderSize(NS, "result", size).OptAttr("queryid", queryID).Attr("id", m.ID).Append(fwd).Element()
}

// ParseResult reads the <result/> of a result message (§4.2): the
// archive id, the delay stamp and the forwarded message.
func ParseResult(raw string) (*Result, error) {
	var w struct {
		XMLName   xml.Name `xml:"urn:xmpp:mam:2 result"`
		QueryID   string   `xml:"queryid,attr"`
		ID        string   `xml:"id,attr"`
		Forwarded []struct {
			Delay []struct {
				Stamp string `xml:"stamp,attr"`
			} `xml:"urn:xmpp:delay delay"`
			Inner string `xml:",innerxml"`
		} `xml:"urn:xmpp:forward:0 forwarded"`
	}
	if err := xml.Unmarshal([]byte(raw), &w); err != nil {
		return nil, badRequest("unreadable result: " + err.Error())
	}
	if w.ID == "" || len(w.Forwarded) != 1 {
		return nil, badRequest("a result needs an id and one <forwarded/>")
	}
	r := &Result{QueryID: w.QueryID, ID: w.ID}
	fw := w.Forwarded[0]
	if len(fw.Delay) > 0 {
		t, err := xtime.ParseDateTime(fw.Delay[0].Stamp)
		if err != nil {
			return nil, badRequest("bad delay stamp")
		}
		r.Time = t
	}
	// The forwarded message: the first message element of the inner XML.
	d := xml.NewDecoder(strings.NewReader(fw.Inner))
	for {
		off := d.InputOffset()
		tok, err := d.Token()
		if err != nil {
			return nil, badRequest("no forwarded message")
		}
		st, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if err := d.Skip(); err != nil {
			return nil, badRequest("unreadable forwarded stanza")
		}
		if st.Name.Local != "message" || !stanza.IsContentNS(st.Name.Space) {
			continue
		}
		m, err := stanza.Decode([]byte(fw.Inner[off:d.InputOffset()]))
		if m == nil {
			return nil, badRequest("unreadable forwarded message: " + err.Error())
		}
		r.Message = m
		return r, nil
	}
}

// finElement builds the <fin/> of the query's IQ result (§4.3).
func finElement(p *Page) stanza.Element {
	b := stanza.NewBuilder(NS, "fin")
	if p.Complete {
		b.Attr("complete", "true")
	}
	if p.Unstable {
		b.Attr("stable", "false")
	}
	return b.Append(p.Result.Element()).Element()
}

// Fin is the end of a query's results (§4.3): its RSM <set/> and whether
// the results are complete and stable.
type Fin struct {
	Result   rsm.Result
	Complete bool
	Stable   bool
}

// ParseFin reads a <fin xmlns='urn:xmpp:mam:2'/> element.
func ParseFin(el stanza.Element) (*Fin, error) {
	var w struct {
		XMLName  xml.Name `xml:"urn:xmpp:mam:2 fin"`
		Complete string   `xml:"complete,attr"`
		Stable   string   `xml:"stable,attr"`
	}
	if err := el.Unmarshal(&w); err != nil {
		return nil, badRequest("unreadable fin: " + err.Error())
	}
	f := &Fin{Stable: true}
	var err error
	if w.Complete != "" {
		if f.Complete, err = form.ParseBool(w.Complete); err != nil {
			return nil, badRequest("complete is not a boolean")
		}
	}
	if w.Stable != "" {
		if f.Stable, err = form.ParseBool(w.Stable); err != nil {
			return nil, badRequest("stable is not a boolean")
		}
	}
	r, _, err := rsm.FindResult(el)
	if err != nil {
		return nil, err
	}
	f.Result = r
	return f, nil
}

// metadataElement builds the answer to a metadata query (§5).
func metadataElement(md Metadata) stanza.Element {
	b := stanza.NewBuilder(NS, "metadata")
	if md.Count > 0 {
		b.Child("", "start").Attr("id", md.First.ID).Attr("timestamp", xtime.FormatDateTime(md.First.Time)).End()
		b.Child("", "end").Attr("id", md.Last.ID).Attr("timestamp", xtime.FormatDateTime(md.Last.Time)).End()
	}
	return b.Element()
}

// StanzaID returns the XEP-0359 <stanza-id/> to add to a message as it is
// delivered live, naming the archive (by) and the message's archive id
// (§3.5); a client then knows where to page from.
func StanzaID(archive jid.JID, id string) stanza.Element {
	return stanza.NewBuilder(NSStanzaID, "stanza-id").Attr("by", archive.String()).Attr("id", id).Element()
}
