package bridge

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"

	"xmppkit.dev/jid"
	"xmppkit.dev/journal"
)

// Store keeps the registered accounts (XEP-0077). Implementations are safe
// for concurrent use; Put and Delete return once the change is durable.
type Store interface {
	// Get returns the account of the bare JID.
	Get(user jid.JID) (Account, bool)
	// Put adds or replaces an account.
	Put(a Account) error
	// Delete removes an account; removing none is no error.
	Delete(user jid.JID) error
	// All returns every account, sorted by JID.
	All() []Account
}

// MemoryStore is a Store that forgets everything when the process ends.
// Its zero value is ready to use.
type MemoryStore struct {
	mu sync.Mutex
	m  map[string]Account
}

// Get returns the account of the bare JID.
func (s *MemoryStore) Get(user jid.JID) (Account, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.m[user.Bare().String()]
	return a.clone(), ok
}

// Put adds or replaces an account.
func (s *MemoryStore) Put(a Account) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string]Account)
	}
	a = a.clone()
	a.JID = a.JID.Bare()
	s.m[a.JID.String()] = a
	return nil
}

// Delete removes an account.
func (s *MemoryStore) Delete(user jid.JID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, user.Bare().String())
	return nil
}

// All returns every account, sorted by JID.
func (s *MemoryStore) All() []Account {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Account, 0, len(s.m))
	for _, a := range s.m {
		out = append(out, a.clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].JID.String() < out[j].JID.String() })
	return out
}

func (s *MemoryStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

func (a Account) clone() Account {
	a.Values = maps.Clone(a.Values)
	a.Subscribed = slices.Clone(a.Subscribed)
	a.Told = slices.Clone(a.Told)
	return a
}

// Sealer seals secret values before they are written to disk and opens
// them when they are read back (AES-GCM under a key kept apart from the
// data, for instance). Seal must not fail; Open fails for a value sealed
// under another key.
type Sealer interface {
	Seal(plain string) string
	Open(sealed string) (string, error)
}

// JournalStore is a Store kept in a journal (package journal) on disk:
// each change is a record made durable before Put or Delete returns, and
// the journal is compacted when it holds many more records than accounts.
type JournalStore struct {
	mem    MemoryStore
	mu     sync.Mutex // orders appends with compaction
	log    *journal.Log
	sealer Sealer
	secret func(field string) bool
}

type storeRecord struct {
	Op  string  `json:"op"` // "put" or "del"
	Acc Account `json:"acc"`
}

// StoreOptions configures OpenStore.
type StoreOptions struct {
	// Journal is passed to journal.Open (DropCorrupt, Logger, NoSync).
	Journal journal.Options
	// Sealer, when set, seals the values of the fields Secret names on
	// disk (passwords, tokens).
	Sealer Sealer
	// Secret reports whether a field's value is secret; nil means none.
	// Config.Store built by the Gateway names the text-private fields of
	// the registration form (Accounts.Secret).
	Secret func(field string) bool
	// Decode, when set, reads the records the store does not know (a
	// gateway's accounts written in a format of its own before it used this
	// store): the account, and whether the record deleted it. Its secret
	// values are opened as the store's own. The next compaction rewrites
	// them in the store's format.
	Decode func(rec []byte) (acct Account, deleted bool, err error)
}

// OpenStore opens (creating if needed) the accounts kept in the journal
// directory dir. The directory is locked while the store is open; recovery
// after a crash follows package journal (a torn last record is dropped,
// other damage refused unless Journal.DropCorrupt).
func OpenStore(dir string, opts StoreOptions) (*JournalStore, error) {
	s := &JournalStore{sealer: opts.Sealer, secret: opts.Secret}
	log, err := journal.Open(dir, opts.Journal, func(rec []byte) error {
		var r storeRecord
		if err := json.Unmarshal(rec, &r); err != nil {
			return fmt.Errorf("bridge: bad account record: %w", err)
		}
		if r.Acc.JID.IsZero() && opts.Decode != nil {
			acct, deleted, err := opts.Decode(rec)
			if err != nil {
				return fmt.Errorf("bridge: bad account record: %w", err)
			}
			r = storeRecord{Op: "put", Acc: acct}
			if deleted {
				r.Op = "del"
			}
		}
		if err := s.open(&r.Acc); err != nil {
			return err
		}
		switch r.Op {
		case "put":
			return s.mem.Put(r.Acc)
		case "del":
			return s.mem.Delete(r.Acc.JID)
		}
		return fmt.Errorf("bridge: bad account record op %q", r.Op)
	})
	if err != nil {
		return nil, err
	}
	s.log = log
	return s, nil
}

// Get returns the account of the bare JID.
func (s *JournalStore) Get(user jid.JID) (Account, bool) { return s.mem.Get(user) }

// All returns every account, sorted by JID.
func (s *JournalStore) All() []Account { return s.mem.All() }

// Put records an account durably.
func (s *JournalStore) Put(a Account) error {
	a.JID = a.JID.Bare()
	return s.write(storeRecord{Op: "put", Acc: a})
}

// Delete records the removal of an account durably.
func (s *JournalStore) Delete(user jid.JID) error {
	return s.write(storeRecord{Op: "del", Acc: Account{JID: user.Bare()}})
}

// Close closes the journal.
func (s *JournalStore) Close() error { return s.log.Close() }

func (s *JournalStore) isSecret(k string) bool {
	return s.sealer != nil && s.secret != nil && s.secret(k)
}

// sealed returns the record as written to disk.
func (s *JournalStore) sealed(r storeRecord) storeRecord {
	r.Acc = r.Acc.clone()
	for k, v := range r.Acc.Values {
		if v != "" && s.isSecret(k) {
			r.Acc.Values[k] = s.sealer.Seal(v)
		}
	}
	return r
}

// open opens the sealed values of an account read from disk.
func (s *JournalStore) open(a *Account) error {
	for k, v := range a.Values {
		if v == "" || !s.isSecret(k) {
			continue
		}
		p, err := s.sealer.Open(v)
		if err != nil {
			return fmt.Errorf("bridge: the %s of %s cannot be opened (another key?): %w", k, a.JID, err)
		}
		a.Values[k] = p
	}
	return nil
}

func (s *JournalStore) write(r storeRecord) error {
	b, err := json.Marshal(s.sealed(r))
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.log.AppendSync(b); err != nil {
		return err
	}
	if r.Op == "put" {
		_ = s.mem.Put(r.Acc)
	} else {
		_ = s.mem.Delete(r.Acc.JID)
	}
	if s.log.Records() > 4*s.mem.len()+64 {
		return s.compact()
	}
	return nil
}

func (s *JournalStore) compact() error {
	all := s.mem.All()
	return s.log.Compact(func(write func([]byte) error) error {
		for _, a := range all {
			b, err := json.Marshal(s.sealed(storeRecord{Op: "put", Acc: a}))
			if err != nil {
				return err
			}
			if err := write(b); err != nil {
				return err
			}
		}
		return nil
	})
}
