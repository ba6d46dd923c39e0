// Package archive keeps the history of bridged rooms for a gateway: the
// messages of one room as one user saw them, recorded only where that user
// agreed to it, replayed on join (XEP-0045 §7.2.14, as a room.Log) and
// queried page by page (XEP-0313 through package mam, with XEP-0059
// paging). It knows nothing of the legacy network.
//
// The storage is a mam store (mam.Memory, or mam.Journal on disk): each
// room is archived under one canonical room JID, and each user's view of it
// under the XEP-0442 node slot of that archive, keyed by the user's bare
// JID, so that two users of one gateway never see each other's history and
// two spellings of one room share one history.
package archive

import (
	"context"
	"time"

	"xmppkit.dev/bridge/room"
	"xmppkit.dev/jid"
	"xmppkit.dev/mam"
	"xmppkit.dev/mux"
	"xmppkit.dev/rsm"
	"xmppkit.dev/stanza"
)

// Store is where the messages live: *mam.Memory or *mam.Journal.
type Store interface {
	mam.Archive
	AppendNode(archive jid.JID, node string, msg mam.Message) (mam.Message, error)
}

// Archive is the history of every bridged room of every user.
type Archive struct {
	Store Store
	// MaxPage caps a MAM page (mam.Handler.MaxPage); zero is mam's default.
	MaxPage int
}

// Log returns the room.Log of user's view of the room whose canonical
// (bare) address is canonical. legacyBy, when not zero, is the address of
// the other network that gives messages their legacy ids: an entry's
// Legacy id is kept as a XEP-0359 stanza-id by it.
func (a *Archive) Log(user, canonical, legacyBy jid.JID) room.Log {
	return roomLog{a: a, user: user.Bare().String(), canonical: canonical.Bare(), by: legacyBy}
}

type roomLog struct {
	a         *Archive
	user      string
	canonical jid.JID
	by        jid.JID
}

// Record archives the entry and returns it with its archive id.
func (l roomLog) Record(e room.Entry) (room.Entry, error) {
	st := stanza.NewMessage(stanza.TypeGroupchat, jid.JID{}, "")
	els := []stanza.Element{stanza.TextElement("", "body", e.Body)}
	if e.Legacy != "" && !l.by.IsZero() {
		els = append(els, stanza.NewBuilder(room.NSStanzaID, "stanza-id").Attr("id", e.Legacy).Attr("by", l.by.String()).Element())
	}
	st.SetPayloadElements(append(els, e.Extra...)...)
	msg, err := mam.RoomMessage(l.canonical, e.Nick, st, jid.JID{})
	if err != nil {
		// A nick a resourcepart cannot hold: archive it under the room.
		msg = st
		msg.From = l.canonical
	}
	with, _ := l.canonical.WithResource(e.Nick)
	m, err := l.a.Store.AppendNode(l.canonical, l.user, mam.Message{Time: e.Time, With: with, Stanza: msg})
	if err != nil {
		return e, err
	}
	e.ID, e.Time = m.ID, m.Time
	return e, nil
}

// History returns what a join asking req gets, oldest first.
func (l roomLog) History(req room.HistoryRequest) []room.Entry {
	q := &mam.Query{Node: l.user, Limit: 100}
	n := req.MaxStanzas
	if n < 0 || n > 100 {
		n = 100
	}
	if n == 0 {
		return nil
	}
	q.Page = rsm.Last(n)
	if !req.Since.IsZero() {
		q.Start = req.Since.Add(time.Nanosecond)
	}
	if req.Set() && req.Seconds >= 0 {
		if s := time.Now().Add(-time.Duration(req.Seconds) * time.Second); s.After(q.Start) {
			q.Start = s
		}
	}
	page, err := l.a.Store.Query(context.Background(), l.canonical, q)
	if err != nil || page == nil {
		return nil
	}
	out := make([]room.Entry, 0, len(page.Messages))
	for _, m := range page.Messages {
		out = append(out, l.entry(m))
	}
	return req.Select(out, time.Now())
}

// entry reads an archived message back as a room.Entry.
func (l roomLog) entry(m mam.Message) room.Entry {
	e := room.Entry{ID: m.ID, Time: m.Time, Nick: m.Stanza.From.Resource(), Body: m.Stanza.Body()}
	for _, k := range m.Stanza.Children() {
		switch {
		case k.Space == "" && k.Local == "body":
		case k.Space == room.NSStanzaID && k.Local == "stanza-id":
			var sid struct {
				ID string `xml:"id,attr"`
				By string `xml:"by,attr"`
			}
			if k.Unmarshal(&sid) == nil && sid.By == l.by.String() {
				e.Legacy = sid.ID
			}
		default:
			e.Extra = append(e.Extra, k)
		}
	}
	return e
}

// Find returns the entry with the archive id in user's view of the room.
func (a *Archive) Find(user, canonical, legacyBy jid.JID, id string) (room.Entry, bool) {
	if id == "" {
		return room.Entry{}, false
	}
	l := roomLog{a: a, user: user.Bare().String(), canonical: canonical.Bare(), by: legacyBy}
	if _, ok := a.Store.(mam.Extended); !ok {
		return room.Entry{}, false
	}
	page, err := a.Store.Query(context.Background(), l.canonical, &mam.Query{Node: l.user, IDs: []string{id}, Limit: 1})
	if err != nil || page == nil || len(page.Messages) == 0 {
		return room.Entry{}, false
	}
	return l.entry(page.Messages[0]), true
}

// Has reports whether user's view of the room holds any message.
func (a *Archive) Has(user, canonical jid.JID) bool {
	page, err := a.Store.Query(context.Background(), canonical.Bare(), &mam.Query{Node: user.Bare().String(), Page: rsm.CountOnly(), Limit: 1})
	return err == nil && page != nil && page.Result.Count > 0
}

// Serve answers a XEP-0313 request (the fields form or a query) that user
// sent to the room at spelled (the room address as the client wrote it),
// from user's view of the room canonical: results come from spelled, and
// each forwarded message from its occupant at spelled.
func (a *Archive) Serve(ctx context.Context, s mux.Sender, iq *stanza.Stanza, canonical jid.JID) error {
	v := &view{a: a, user: iq.From.Bare().String(), canonical: canonical.Bare(), spelled: iq.To.Bare()}
	h := &mam.Handler{Archive: v, MaxPage: a.MaxPage, Allow: func(context.Context, jid.JID, jid.JID, string) error {
		return nil // the view is the requester's own by construction
	}}
	return h.HandleStanza(ctx, s, iq)
}

type view struct {
	a                  *Archive
	user               string
	canonical, spelled jid.JID
}

func (v *view) Query(ctx context.Context, _ jid.JID, q *mam.Query) (*mam.Page, error) {
	if q.Node != "" {
		return nil, stanza.NewError(stanza.ItemNotFound, "no such node")
	}
	qq := *q
	qq.Node = v.user
	if !qq.With.IsZero() && qq.With.Bare() == v.spelled {
		// with=room/nick as the client spells the room.
		w, err := v.canonical.WithResource(qq.With.Resource())
		if err == nil {
			qq.With = w
		}
	}
	page, err := v.a.Store.Query(ctx, v.canonical, &qq)
	if err != nil || page == nil || v.spelled == v.canonical {
		return page, err
	}
	out := *page
	out.Messages = make([]mam.Message, len(page.Messages))
	for i, m := range page.Messages {
		c := m.Stanza.Clone()
		if from, err := v.spelled.WithResource(c.From.Resource()); err == nil {
			c.From = from
		}
		m.Stanza = c
		out.Messages[i] = m
	}
	return &out, nil
}
