package gateway

import (
	"encoding/json"
	"fmt"
	"sync"

	"xmppkit.dev/bridge/settings"
	"xmppkit.dev/journal"
)

// Registration is what a user registered with the gateway (XEP-0077 §3.1):
// the IRC nick, an optional IRC server password (PASS), and an optional
// server to connect to when the user comes online.
type Registration struct {
	JID      string `json:"jid"` // the user's bare JID
	Nick     string `json:"nick"`
	Password string `json:"password,omitempty"`
	Server   string `json:"server,omitempty"`
}

// Store keeps registrations. Implementations are safe for concurrent use.
type Store interface {
	Get(bare string) (Registration, bool)
	Put(r Registration) error
	Delete(bare string) error
}

// MemoryStore is a Store that forgets everything when the process ends.
type MemoryStore struct {
	mu sync.Mutex
	m  map[string]Registration
}

// Get returns the registration of the bare JID.
func (s *MemoryStore) Get(bare string) (Registration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[bare]
	return r, ok
}

// Put adds or replaces a registration.
func (s *MemoryStore) Put(r Registration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string]Registration)
	}
	s.m[r.JID] = r
	return nil
}

// Delete removes a registration (XEP-0077 §3.2); removing none is no error.
func (s *MemoryStore) Delete(bare string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, bare)
	return nil
}

// JournalStore is a Store persisted in an append-only journal
// (journal): each change is a record made durable before Put or
// Delete returns, and the journal is compacted when it holds many more
// records than registrations.
type JournalStore struct {
	mem    MemoryStore
	mu     sync.Mutex // orders appends with compaction
	log    *journal.Log
	sealer *settings.Sealer
}

type storeRecord struct {
	Op  string       `json:"op"` // "put" or "del"
	Reg Registration `json:"reg"`
}

// OpenJournalStore opens (creating if needed) the registrations kept in dir.
// The directory is locked while the store is open; recovery after a crash
// follows package journal (a torn last record is dropped, other damage
// refused).
func OpenJournalStore(dir string) (*JournalStore, error) {
	return OpenJournalStoreWith(dir, journal.Options{})
}

// OpenJournalStoreWith is OpenJournalStore with the journal's options
// (DropCorrupt to start on a damaged journal, Logger for what recovery
// drops).
func OpenJournalStoreWith(dir string, opts journal.Options) (*JournalStore, error) {
	return OpenSealedJournalStore(dir, opts, nil)
}

// OpenSealedJournalStore is OpenJournalStoreWith where the IRC passwords of
// registrations are sealed with sealer on disk (AES-256-GCM, package
// settings); passwords written in clear before are read and sealed at the
// next compaction.
func OpenSealedJournalStore(dir string, opts journal.Options, sealer *settings.Sealer) (*JournalStore, error) {
	s := &JournalStore{sealer: sealer}
	log, err := journal.Open(dir, opts, func(rec []byte) error {
		var r storeRecord
		if err := json.Unmarshal(rec, &r); err != nil {
			return fmt.Errorf("gateway: bad registration record: %w", err)
		}
		if s.sealer != nil && r.Reg.Password != "" {
			pw, err := s.sealer.Open(r.Reg.Password)
			if err != nil {
				return fmt.Errorf("gateway: the password of %s cannot be opened (another key?): %w", r.Reg.JID, err)
			}
			r.Reg.Password = pw
		}
		switch r.Op {
		case "put":
			s.mem.Put(r.Reg)
		case "del":
			s.mem.Delete(r.Reg.JID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log = log
	return s, nil
}

// Get returns the registration of the bare JID.
func (s *JournalStore) Get(bare string) (Registration, bool) { return s.mem.Get(bare) }

// Put records a registration durably.
func (s *JournalStore) Put(r Registration) error { return s.write(storeRecord{Op: "put", Reg: r}) }

// Delete records the removal of a registration durably.
func (s *JournalStore) Delete(bare string) error {
	return s.write(storeRecord{Op: "del", Reg: Registration{JID: bare}})
}

// sealed returns the record as written to disk.
func (s *JournalStore) sealed(r storeRecord) storeRecord {
	if s.sealer != nil {
		r.Reg.Password = s.sealer.Seal(r.Reg.Password)
	}
	return r
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
		s.mem.Put(r.Reg)
	} else {
		s.mem.Delete(r.Reg.JID)
	}
	s.mem.mu.Lock()
	n := len(s.mem.m)
	s.mem.mu.Unlock()
	if s.log.Records() > 4*n+64 {
		return s.compact()
	}
	return nil
}

func (s *JournalStore) compact() error {
	s.mem.mu.Lock()
	regs := make([]Registration, 0, len(s.mem.m))
	for _, r := range s.mem.m {
		regs = append(regs, r)
	}
	s.mem.mu.Unlock()
	return s.log.Compact(func(write func([]byte) error) error {
		for _, r := range regs {
			b, err := json.Marshal(s.sealed(storeRecord{Op: "put", Reg: r}))
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

// Close closes the journal.
func (s *JournalStore) Close() error { return s.log.Close() }
