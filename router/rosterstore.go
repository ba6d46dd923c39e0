package router

import (
	"encoding/json"
	"fmt"
	"log/slog"

	"xmppkit.dev/jid"
	"xmppkit.dev/journal"
	"xmppkit.dev/stanza"
)

// rosterStore persists the rosters (Config.RosterDir) in a journal: one
// JSON record per change (an item set or removed, a pending subscription
// request recorded or cleared), replayed at New; the log is compacted into
// a snapshot of the whole state when it holds many more records than the
// state has entries. Each change is synced before the router acts on it.
type rosterStore struct {
	log    *journal.Log
	logger *slog.Logger
}

// rosterRecord is one journal record.
type rosterRecord struct {
	User    string      `json:"u"`
	Contact string      `json:"c"`
	Item    *itemRecord `json:"i,omitempty"` // set
	Removed bool        `json:"x,omitempty"` // item removed
	Pending *string     `json:"q,omitempty"` // the request as XML; "" when cleared
}

type itemRecord struct {
	Name         string   `json:"n,omitempty"`
	Subscription string   `json:"s"`
	Ask          bool     `json:"a,omitempty"`
	Approved     bool     `json:"p,omitempty"`
	Groups       []string `json:"g,omitempty"`
}

// compactAfter is the number of log records above which the log is
// compacted, when it is also more than twice the state's size.
const compactAfter = 1024

// openRosterStore opens the journal in dir and loads it into rs.
func openRosterStore(dir string, rs *rosters, logger *slog.Logger) (*rosterStore, error) {
	s := &rosterStore{logger: logger}
	l, err := journal.Open(dir, journal.Options{}, func(b []byte) error {
		var rec rosterRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			return fmt.Errorf("router: roster journal: %w", err)
		}
		return rs.apply(&rec)
	})
	if err != nil {
		return nil, fmt.Errorf("router: Config.RosterDir: %w", err)
	}
	s.log = l
	return s, nil
}

// apply replays one record into rs.
func (rs *rosters) apply(rec *rosterRecord) error {
	user, err := jid.Parse(rec.User)
	if err != nil {
		return fmt.Errorf("router: roster journal: user %q: %w", rec.User, err)
	}
	contact, err := jid.Parse(rec.Contact)
	if err != nil {
		return fmt.Errorf("router: roster journal: contact %q: %w", rec.Contact, err)
	}
	ro := rs.get(user.Bare(), true)
	switch {
	case rec.Pending != nil && *rec.Pending == "":
		delete(ro.pending, contact)
	case rec.Pending != nil:
		st, err := stanza.Decode([]byte(*rec.Pending))
		if st == nil {
			return fmt.Errorf("router: roster journal: pending request: %w", err)
		}
		ro.pending[contact] = st
	case rec.Removed:
		delete(ro.items, contact)
	case rec.Item != nil:
		ro.items[contact] = &RosterItem{JID: contact, Name: rec.Item.Name, Subscription: Subscription(rec.Item.Subscription),
			Ask: rec.Item.Ask, Approved: rec.Item.Approved, Groups: rec.Item.Groups}
	}
	return nil
}

// saveItem persists a changed item. The caller holds the rosters' lock. A
// nil store keeps nothing.
func (s *rosterStore) saveItem(user jid.JID, it RosterItem, removed bool) {
	if s == nil {
		return
	}
	rec := rosterRecord{User: user.String(), Contact: it.JID.String(), Removed: removed}
	if !removed {
		rec.Item = &itemRecord{Name: it.Name, Subscription: string(it.Subscription), Ask: it.Ask, Approved: it.Approved, Groups: it.Groups}
	}
	s.append(&rec)
}

// savePending persists a pending request (st) or its removal (nil).
func (s *rosterStore) savePending(user, contact jid.JID, st *stanza.Stanza) {
	if s == nil {
		return
	}
	q := ""
	if st != nil {
		q = string(st.AppendXML(nil))
	}
	s.append(&rosterRecord{User: user.String(), Contact: contact.String(), Pending: &q})
}

func (s *rosterStore) append(rec *rosterRecord) {
	b, _ := json.Marshal(rec)
	if err := s.log.AppendSync(b); err != nil {
		s.logger.Error("router: roster journal write failed: the change is kept in memory only", "user", rec.User, "contact", rec.Contact, "err", err)
	}
}

// maybeCompact compacts the log into a snapshot of rs when it has grown
// well beyond the state. The caller holds rs.mu.
func (s *rosterStore) maybeCompact(rs *rosters) {
	if s == nil {
		return
	}
	n := s.log.Records()
	if n < compactAfter {
		return
	}
	entries := 0
	for _, ro := range rs.byUser {
		entries += len(ro.items) + len(ro.pending)
	}
	if n < 2*entries {
		return
	}
	err := s.log.Compact(func(write func([]byte) error) error {
		for user, ro := range rs.byUser {
			for c, it := range ro.items {
				b, _ := json.Marshal(&rosterRecord{User: user.String(), Contact: c.String(), Item: &itemRecord{Name: it.Name,
					Subscription: string(it.Subscription), Ask: it.Ask, Approved: it.Approved, Groups: it.Groups}})
				if err := write(b); err != nil {
					return err
				}
			}
			for c, st := range ro.pending {
				q := string(st.AppendXML(nil))
				b, _ := json.Marshal(&rosterRecord{User: user.String(), Contact: c.String(), Pending: &q})
				if err := write(b); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		s.logger.Error("router: roster journal compaction failed", "err", err)
	}
}

// close closes the journal.
func (s *rosterStore) close() error {
	if s == nil {
		return nil
	}
	return s.log.Close()
}
