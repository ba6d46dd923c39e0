package pubsub

import (
	"context"
	"errors"
	"strconv"

	"xmppkit.dev/jid"
	"xmppkit.dev/mam"
	"xmppkit.dev/rsm"
	"xmppkit.dev/stanza"
)

// nodeArchive serves XEP-0313 queries on a node's items (XEP-0442): each
// item is archived as the notification it was sent as, with the archive id
// its Seq in base 36 (unique, never reused), its publication time and its
// publisher as the with JID. The archive of a node is its items: what
// max_items and retraction keep.
type nodeArchive struct{ s *Service }

func archiveID(it *Item) string { return strconv.FormatInt(it.Seq, 36) }

// Query implements mam.Archive.
func (a nodeArchive) Query(ctx context.Context, archive jid.JID, q *mam.Query) (*mam.Page, error) {
	s := a.s
	if q.Node == "" || archive.Local() != "" {
		return nil, itemNotFound("the service archives its nodes (XEP-0442): query one with node")
	}
	var out mam.Page
	err := s.store.Read(ctx, func(tx Tx) error {
		n, err := tx.Node(Key{"", q.Node})
		if err != nil {
			return err
		}
		all, err := tx.Items(n.Key, ItemQuery{OldestFirst: true})
		if err != nil {
			return err
		}
		var set []*Item
		for _, it := range all {
			switch {
			case s.expired(n, it):
			case !q.Start.IsZero() && it.Time.Before(q.Start), !q.End.IsZero() && it.Time.After(q.End):
			case !q.With.IsZero() && it.Publisher != q.With.Bare().String():
			default:
				set = append(set, it)
			}
		}
		pg, err := rsm.Paginate[*Item](rsm.Slice(set, archiveID), q.Page, q.Limit)
		if err != nil {
			return err
		}
		ids := make([]string, len(pg.Items))
		for i, it := range pg.Items {
			ids[i] = it.ID
		}
		full, err := tx.Items(n.Key, ItemQuery{IDs: ids, Payloads: true})
		if err != nil {
			return err
		}
		for _, it := range full {
			ev, err := itemEvent(tx, n, it)
			if err != nil {
				return err
			}
			m := stanza.NewMessage("", jid.JID{}, "")
			m.From, m.NS = archive.DomainJID(), stanza.NSClient
			m.SetPayloadElements(ev)
			with, _ := jid.Parse(it.Publisher)
			out.Messages = append(out.Messages, mam.Message{ID: archiveID(it), Time: it.Time, With: with, Stanza: m})
		}
		out.Result, out.Complete = pg.Result, pg.Complete
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return nil, itemNotFound("no such node")
	}
	if err != nil {
		return nil, s.storeError(err)
	}
	return &out, nil
}

// mayQueryArchive lets those query a node's archive who may retrieve its
// items (XEP-0442 with XEP-0060 §6.5.9).
func (s *Service) mayQueryArchive(ctx context.Context, requester, archive jid.JID, node string) error {
	if node == "" {
		return itemNotFound("the service archives its nodes (XEP-0442): query one with node")
	}
	rc := &reqCtx{ctx: ctx, from: requester, bare: requester.Bare().String(), svc: archive.DomainJID(), s: s}
	err := s.store.Read(ctx, func(tx Tx) error {
		n, err := tx.Node(Key{"", node})
		if err != nil {
			return err
		}
		aff, err := s.affOf(tx, rc, n)
		if err != nil {
			return err
		}
		return s.mayRetrieve(tx, rc, n, aff)
	})
	var need errNeedRoster
	if errors.As(err, &need) {
		return forbidden("retrieve the node's items first: the owner's roster is not known yet")
	}
	return s.storeError(err)
}
