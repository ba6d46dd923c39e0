package mam

import (
	"context"
	"errors"
	"slices"

	"xmppkit.dev/disco"
	"xmppkit.dev/form"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// DefaultMaxPage is the page limit of a Handler without MaxPage.
const DefaultMaxPage = 50

// Handler serves archive queries (XEP-0313 §4) from an Archive: the query
// form's fields (§4.1.5), queries with their results sent as messages
// before the IQ result with <fin/> (§4.2, §4.3), and the metadata query
// (§5) when the Archive is Extended. It advertises urn:xmpp:mam:2 (and
// #extended) in service discovery at the archives a requester may query.
// Set the fields before serving; it is safe for concurrent use.
type Handler struct {
	Archive Archive
	// Allow decides whether requester (a full JID) may query the archive
	// (and node, for XEP-0442); it returns nil or the error to answer
	// (forbidden, §8.1; item-not-found to hide an archive). Nil allows only
	// the archive's own user: a requester whose bare JID is the archive.
	Allow func(ctx context.Context, requester, archive jid.JID, node string) error
	// MaxPage caps the results of one page (§4.3.1); zero means
	// DefaultMaxPage.
	MaxPage int
	// Fields are further query fields the Archive understands (named in
	// Clark notation or with a namespace, XEP-0068), advertised in the
	// query form and accepted in queries (Query.Form); others are
	// feature-not-implemented (§4.1.5).
	Fields []form.Field
	// Prefs, when set, keeps the XEP-0441 archiving preferences that
	// <prefs/> requests read and change (only the archive's user, by the
	// default Allow); the service consults them (Prefs.Archives) when it
	// archives. Without it, <prefs/> is feature-not-implemented.
	Prefs PrefsStore
}

// Register mounts h on m: the query (iq get for the fields, iq set for a
// query), the XEP-0441 preferences (iq get and set of <prefs/>) and, for an
// Extended archive, the metadata query.
func (h *Handler) Register(m *mux.ServeMux) {
	m.HandleIQ("", NS, "query", h)
	m.HandleIQ("", NS, "prefs", h)
	if h.extended() {
		m.HandleIQ(stanza.TypeGet, NS, "metadata", h)
	}
}

func (h *Handler) extended() bool {
	_, ok := h.Archive.(Extended)
	return ok
}

func (h *Handler) maxPage() int {
	if h.MaxPage > 0 {
		return h.MaxPage
	}
	return DefaultMaxPage
}

// archiveOf returns the archive an IQ queries: its to, as a bare JID, or
// the requester's own account when the IQ has no to (a query a server
// delegated, XEP-0355, with the user's own archive meant).
func archiveOf(iq *stanza.Stanza) jid.JID {
	if iq.To.IsZero() {
		return iq.From.Bare()
	}
	return iq.To.Bare()
}

func (h *Handler) allow(ctx context.Context, requester, archive jid.JID, node string) error {
	if h.Allow != nil {
		return h.Allow(ctx, requester, archive, node)
	}
	if requester.Bare().Equal(archive) {
		return nil
	}
	return stanza.NewError(stanza.Forbidden, "mam: not your archive")
}

// HandleStanza serves a query, a query for the fields, a metadata query or
// a preferences request.
func (h *Handler) HandleStanza(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
	el, ok := iq.PayloadElement()
	if !ok || el.Space != NS {
		return badRequest("no MAM payload")
	}
	archive := archiveOf(iq)
	switch {
	case el.Local == "query" && iq.Type == stanza.TypeGet:
		if err := h.allow(ctx, iq.From, archive, ""); err != nil {
			return err
		}
		return s.Send(ctx, iq.Result(fieldsForm(h.extended(), h.Fields)))
	case el.Local == "query" && iq.Type == stanza.TypeSet:
		return h.query(ctx, s, iq, el, archive)
	case el.Local == "prefs":
		return h.prefs(ctx, s, iq, el, archive)
	case el.Local == "metadata" && iq.Type == stanza.TypeGet:
		x, ok := h.Archive.(Extended)
		if !ok {
			return stanza.ErrServiceUnavailable
		}
		if err := h.allow(ctx, iq.From, archive, ""); err != nil {
			return err
		}
		md, err := x.Metadata(ctx, archive)
		if err != nil {
			return err
		}
		return s.Send(ctx, iq.Result(metadataElement(md)))
	}
	return badRequest("unexpected <" + el.Local + "/> in an iq " + iq.Type)
}

// query answers an archive query (§4): the results as messages from the
// archive, then the IQ result with <fin/>.
func (h *Handler) query(ctx context.Context, s mux.Sender, iq *stanza.Stanza, el stanza.Element, archive jid.JID) error {
	q, err := ParseQuery(el, h.extended(), h.Fields)
	if err != nil {
		return err
	}
	if err := h.allow(ctx, iq.From, archive, q.Node); err != nil {
		return err
	}
	q.Limit = h.maxPage()
	page, err := h.Archive.Query(ctx, archive, q)
	if err != nil {
		return err
	}
	if page == nil {
		return errors.New("mam: the archive returned no page")
	}
	msgs := page.Messages
	if len(msgs) > q.Limit {
		return errors.New("mam: the archive returned more results than the page limit")
	}
	if q.Flip {
		msgs = slices.Clone(msgs)
		slices.Reverse(msgs)
	}
	from := iq.To
	if from.IsZero() {
		from = archive
	}
	for i := range msgs {
		r := resultElement(q.QueryID, &msgs[i])
		m := stanza.NewMessage("", iq.From, "")
		m.From = from
		m.SetPayloadElements(r)
		if err := s.Send(ctx, m); err != nil {
			return err
		}
	}
	return s.Send(ctx, iq.Result(finElement(page)))
}

// Features implements disco.FeatureProvider: urn:xmpp:mam:2 (and #extended
// for an Extended archive) at the addresses the requester may query (§7).
func (h *Handler) Features(q disco.Query) []string {
	if q.Node != "" || q.From.IsZero() || h.allow(context.Background(), q.From, q.To.Bare(), "") != nil {
		return nil
	}
	if h.extended() {
		return []string{NS, NSExtended}
	}
	return []string{NS}
}

var (
	_ mux.Handler           = (*Handler)(nil)
	_ disco.FeatureProvider = (*Handler)(nil)
)
