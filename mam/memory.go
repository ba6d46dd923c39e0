package mam

import (
	"context"

	"errors"
	"slices"
	"sort"
	"sync"
	"time"

	"xmppkit.dev/internal/randid"
	"xmppkit.dev/jid"
	"xmppkit.dev/rsm"
	"xmppkit.dev/stanza"
)

// DefaultMaxPerArchive bounds each archive of a Memory without
// MaxPerArchive.
const DefaultMaxPerArchive = 10000

// Memory is an Extended Archive held in memory, bounded per archive: the
// reference implementation, good for tests, for rooms whose history need
// not outlive the process, and as the index under Journal.
//
// Every query costs O(log n) in the archive's size plus the page: messages
// are kept in archive order with an index by id and by the with JID's bare
// form, and archiving times never decrease (a time earlier than the last
// message's is raised to it), so that start and end are binary searches.
// Its zero value is ready to use; it is safe for concurrent use.
type Memory struct {
	// MaxPerArchive bounds the messages of one archive: archiving one more
	// drops the oldest (§3.2 allows no other gap). Zero means
	// DefaultMaxPerArchive.
	MaxPerArchive int
	// Now is the archiving time of a message appended without one; nil
	// means time.Now.
	Now func() time.Time

	mu       sync.RWMutex
	archives map[key]*store
}

var _ Extended = (*Memory)(nil)

type key struct {
	archive string // the archive's bare JID
	node    string // XEP-0442 node, "" otherwise
}

func keyOf(archive jid.JID, node string) key { return key{archive.Bare().String(), node} }

// store is one archive: live messages are msgs[off:], the first of them
// with sequence number base.
type store struct {
	msgs   []Message
	off    int
	base   uint64
	byID   map[string]uint64
	byWith map[string][]uint64 // ascending sequence numbers
	last   time.Time
}

func (s *store) n() int                 { return len(s.msgs) - s.off }
func (s *store) at(seq uint64) *Message { return &s.msgs[s.off+int(seq-s.base)] }
func (s *store) next() uint64           { return s.base + uint64(s.n()) }
func (s *store) seqOf(id string) (uint64, bool) {
	seq, ok := s.byID[id]
	return seq, ok
}

// ErrDuplicateID is returned by Append for a message whose ID the archive
// already holds.
var ErrDuplicateID = errors.New("mam: the archive already holds a message with this id")

// Append archives m in the archive at archive (a bare JID: a user, a room,
// the service) and returns it as archived: with an ID when it had none
// (random, unguessable: §3) and a Time (now when zero, never earlier than
// the previous message's). m.Stanza is required and copied.
func (m *Memory) Append(archive jid.JID, msg Message) (Message, error) {
	return m.AppendNode(archive, "", msg)
}

// AppendNode is Append for the archive of a pubsub node (XEP-0442) at the
// service archive.
func (m *Memory) AppendNode(archive jid.JID, node string, msg Message) (Message, error) {
	if msg.Stanza == nil {
		return Message{}, errors.New("mam: Append without a stanza")
	}
	msg.Stanza = msg.Stanza.Clone()
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.appendLocked(keyOf(archive, node), msg)
}

func (m *Memory) appendLocked(k key, msg Message) (Message, error) {
	if m.archives == nil {
		m.archives = make(map[key]*store)
	}
	s := m.archives[k]
	if s == nil {
		s = &store{byID: map[string]uint64{}, byWith: map[string][]uint64{}}
		m.archives[k] = s
	}
	if msg.ID == "" {
		for msg.ID == "" || s.hasID(msg.ID) {
			msg.ID = randid.New(12) // 96 random bits
		}
	} else if s.hasID(msg.ID) {
		return Message{}, ErrDuplicateID
	}
	if msg.Time.IsZero() {
		if m.Now != nil {
			msg.Time = m.Now()
		} else {
			msg.Time = time.Now()
		}
	}
	msg.Time = msg.Time.UTC()
	if msg.Time.Before(s.last) {
		msg.Time = s.last
	}
	s.last = msg.Time
	msg.forwarded, msg.fwdOf, msg.fwdAt = forwardedElement(&msg), msg.Stanza, msg.Time
	seq := s.next()
	s.msgs = append(s.msgs, msg)
	s.byID[msg.ID] = seq
	if !msg.With.IsZero() {
		w := msg.With.Bare().String()
		s.byWith[w] = append(s.byWith[w], seq)
	}
	limit := m.MaxPerArchive
	if limit <= 0 {
		limit = DefaultMaxPerArchive
	}
	for s.n() > limit {
		s.dropOldest()
	}
	return msg, nil
}

func (s *store) hasID(id string) bool {
	_, ok := s.byID[id]
	return ok
}

// dropOldest removes the first message (§3.2: only the oldest go).
func (s *store) dropOldest() {
	old := &s.msgs[s.off]
	delete(s.byID, old.ID)
	if !old.With.IsZero() {
		w := old.With.Bare().String()
		if l := s.byWith[w]; len(l) > 0 && l[0] == s.base {
			if len(l) == 1 {
				delete(s.byWith, w)
			} else {
				s.byWith[w] = l[1:]
			}
		}
	}
	*old = Message{}
	s.off++
	s.base++
	if s.off > 1024 && s.off > len(s.msgs)/2 {
		s.msgs = append([]Message(nil), s.msgs[s.off:]...)
		s.off = 0
	}
}

// Len returns the number of messages in the archive.
func (m *Memory) Len(archive jid.JID, node string) int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if s := m.archives[keyOf(archive, node)]; s != nil {
		return s.n()
	}
	return 0
}

// Remove deletes a whole archive (a room that is destroyed) and reports
// whether there was one.
func (m *Memory) Remove(archive jid.JID, node string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := keyOf(archive, node)
	_, ok := m.archives[k]
	delete(m.archives, k)
	return ok
}

// Metadata implements Extended (§5).
func (m *Memory) Metadata(ctx context.Context, archive jid.JID) (Metadata, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s := m.archives[keyOf(archive, "")]
	if s == nil || s.n() == 0 {
		return Metadata{}, nil
	}
	return Metadata{Count: s.n(), First: *s.at(s.base), Last: *s.at(s.next() - 1)}, nil
}

func notFound(what string) error {
	return stanza.NewError(stanza.ItemNotFound, "mam: no message with that "+what)
}

// Query implements Archive.
func (m *Memory) Query(ctx context.Context, archive jid.JID, q *Query) (*Page, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s := m.archives[keyOf(archive, q.Node)]
	if s == nil {
		s = &store{}
	}
	v, err := s.view(q)
	if err != nil {
		return nil, err
	}
	p, err := rsm.Paginate[Message](v, q.Page, q.Limit)
	if err != nil {
		return nil, err
	}
	return &Page{Messages: p.Items, Result: p.Result, Complete: p.Complete}, nil
}

// view returns the messages the query's filter keeps, in archive order.
func (s *store) view(q *Query) (*view, error) {
	v := &view{s: s, lo: s.base, hi: s.next()}
	switch {
	case len(q.IDs) > 0:
		v.list = make([]uint64, 0, len(q.IDs))
		for _, id := range q.IDs {
			seq, ok := s.seqOf(id)
			if !ok {
				return nil, notFound("id")
			}
			v.list = append(v.list, seq)
		}
		slices.Sort(v.list)
		v.list = slices.Compact(v.list)
		v.filtered = true
	case !q.With.IsZero():
		v.list = s.byWith[q.With.Bare().String()]
		v.filtered = true
	}
	if v.filtered && (len(q.IDs) > 0 && !q.With.IsZero() || q.With.Resource() != "") {
		// Filter one by one: ids with a with, or a with with a resource
		// (only that full JID matches, §4.1.1).
		keep := v.list[:0:0]
		for _, seq := range v.list {
			w := s.at(seq).With
			if q.With.IsZero() || (q.With.Resource() == "" && w.Bare().Equal(q.With)) || w.Equal(q.With) {
				keep = append(keep, seq)
			}
		}
		v.list = keep
	}
	// Time bounds: archiving times never decrease.
	if !q.Start.IsZero() {
		i := sort.Search(s.n(), func(i int) bool { return !s.msgs[s.off+i].Time.Before(q.Start) })
		v.lo = max(v.lo, s.base+uint64(i))
	}
	if !q.End.IsZero() {
		i := sort.Search(s.n(), func(i int) bool { return s.msgs[s.off+i].Time.After(q.End) })
		v.hi = min(v.hi, s.base+uint64(i))
	}
	if q.AfterID != "" {
		seq, ok := s.seqOf(q.AfterID)
		if !ok {
			return nil, notFound("after-id")
		}
		v.lo = max(v.lo, seq+1)
	}
	if q.BeforeID != "" {
		seq, ok := s.seqOf(q.BeforeID)
		if !ok {
			return nil, notFound("before-id")
		}
		v.hi = min(v.hi, seq)
	}
	if v.hi < v.lo {
		v.hi = v.lo
	}
	if v.filtered {
		a, _ := slices.BinarySearch(v.list, v.lo)
		b, _ := slices.BinarySearch(v.list, v.hi)
		v.list = v.list[a:max(a, b)]
	}
	return v, nil
}

// view is the ordered set of messages a query keeps: the sequence numbers
// in list when filtered, else the range [lo, hi) of the archive. It is the
// rsm.Indexed the page is cut from.
type view struct {
	s        *store
	filtered bool
	list     []uint64
	lo, hi   uint64
}

var _ rsm.Indexed[Message] = (*view)(nil)

func (v *view) Count() int {
	if v.filtered {
		return len(v.list)
	}
	return int(v.hi - v.lo)
}

func (v *view) seqAt(i int) uint64 {
	if v.filtered {
		return v.list[i]
	}
	return v.lo + uint64(i)
}

// rank returns how many messages of the view come before seq.
func (v *view) rank(seq uint64) int {
	if v.filtered {
		i, _ := slices.BinarySearch(v.list, seq)
		return i
	}
	switch {
	case seq <= v.lo:
		return 0
	case seq >= v.hi:
		return v.Count()
	}
	return int(seq - v.lo)
}

func (v *view) items(i, j int) []Message {
	out := make([]Message, 0, j-i)
	for ; i < j; i++ {
		out = append(out, *v.s.at(v.seqAt(i)))
	}
	return out
}

func (v *view) Forward(after string, n int) ([]Message, error) {
	start := 0
	if after != "" {
		seq, ok := v.s.seqOf(after)
		if !ok {
			return nil, rsm.ErrUnknownUID
		}
		start = v.rank(seq + 1)
	}
	return v.items(start, min(v.Count(), start+n)), nil
}

func (v *view) Backward(before string, n int) ([]Message, error) {
	end := v.Count()
	if before != "" {
		seq, ok := v.s.seqOf(before)
		if !ok {
			return nil, rsm.ErrUnknownUID
		}
		end = v.rank(seq)
	}
	return v.items(max(0, end-n), end), nil
}

func (v *view) At(i, n int) ([]Message, error) {
	if i >= v.Count() {
		return nil, nil
	}
	return v.items(i, min(v.Count(), i+n)), nil
}

func (v *view) Position(uid string) (int, bool) {
	seq, ok := v.s.seqOf(uid)
	if !ok {
		return -1, false
	}
	i := v.rank(seq)
	if i < v.Count() && v.seqAt(i) == seq {
		return i, true
	}
	return -1, false
}

func (v *view) UID(m Message) string { return m.ID }
