// Package settings keeps what the users of a gateway configure, per user
// and per scope (the user as a whole, one legacy server, one chat), and
// offers it as XEP-0050 ad-hoc commands with XEP-0004 data forms. Nothing
// in it knows the legacy network: a gateway gives each scope a Schema (the
// fields of its form) and reads the values back when it connects or joins.
//
// Values are kept in a journal on disk (package journal) or in memory.
// Fields marked Secret (passwords, NickServ commands, private keys) are
// sealed with AES-256-GCM under a key kept apart from the journal (a key
// file, 0600): whoever copies the journal without the key cannot read them.
// Anyone who can read both as the gateway's user can: the key protects
// against backups and copies of the data, not against the host.
package settings

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"xmppkit.dev/journal"
)

// Values are the settings of one scope: field var -> value (several values
// of a multi-line field joined with "\n").
type Values map[string]string

// Get returns the value of key, or def when it is unset or empty.
func (v Values) Get(key, def string) string {
	if s, ok := v[key]; ok && s != "" {
		return s
	}
	return def
}

// Bool reads a boolean value ("1"/"true" as XEP-0004 §3.3 writes them),
// or def when unset.
func (v Values) Bool(key string, def bool) bool {
	switch v[key] {
	case "1", "true":
		return true
	case "0", "false":
		return false
	}
	return def
}

// Lines returns a multi-line value split into its non-empty lines.
func (v Values) Lines(key string) []string {
	var out []string
	for _, l := range strings.Split(v[key], "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// Store keeps Values by user (bare JID) and scope. Scopes are the
// gateway's own names ("" for the user as a whole). It is safe for
// concurrent use.
type Store struct {
	mu     sync.Mutex
	m      map[string]map[string]Values // user -> scope -> values
	log    *journal.Log                 // nil: in memory
	sealer *Sealer
	secret func(key string) bool
}

type record struct {
	User  string `json:"u"`
	Scope string `json:"s"`
	Vals  Values `json:"v,omitempty"` // nil: the scope was deleted
}

// sealedPrefix marks a sealed value in the journal.
const sealedPrefix = "sealed:"

// NewMemory returns a Store that forgets everything when the process ends.
func NewMemory() *Store { return &Store{m: map[string]map[string]Values{}} }

// Options configures Open.
type Options struct {
	// KeyFile holds the 32-byte key that seals secret values; it is created
	// (mode 0600) when missing. Default: secret.key in the directory.
	KeyFile string
	// Sealer, when set, is used instead of KeyFile (one key for several
	// stores).
	Sealer *Sealer
	// Secret reports whether a field's values are sealed; nil seals none.
	Secret func(key string) bool
	// NoSync skips fsync (tests).
	NoSync bool
}

// Open opens (creating if needed) the settings kept in dir (mode 0700).
func Open(dir string, opts Options) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	keyFile := opts.KeyFile
	if keyFile == "" {
		keyFile = filepath.Join(dir, "secret.key")
	}
	sealer := opts.Sealer
	if sealer == nil {
		var err error
		if sealer, err = NewSealer(keyFile); err != nil {
			return nil, err
		}
	}
	s := &Store{m: map[string]map[string]Values{}, sealer: sealer, secret: opts.Secret}
	log, err := journal.Open(filepath.Join(dir, "settings"), journal.Options{NoSync: opts.NoSync}, func(b []byte) error {
		var r record
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("settings: bad record: %w", err)
		}
		for k, v := range r.Vals {
			if strings.HasPrefix(v, sealedPrefix) {
				plain, err := s.sealer.Open(v)
				if err != nil {
					return fmt.Errorf("settings: a secret of %s cannot be opened with %s (another key?): %w", r.User, keyFile, err)
				}
				r.Vals[k] = plain
			}
		}
		s.setLocked(r.User, r.Scope, r.Vals)
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log = log
	return s, nil
}

// LoadKey reads a 32-byte key from file, creating it with random bytes
// (mode 0600) when it does not exist.
func LoadKey(file string) ([]byte, error) {
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, err
		}
		if _, err := f.Write([]byte(base64.StdEncoding.EncodeToString(key) + "\n")); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, err
		}
		return key, f.Close()
	}
	if err != nil {
		return nil, err
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("settings: %s does not hold a base64 32-byte key", file)
	}
	return key, nil
}

// Sealer seals secrets with AES-256-GCM under a key of its own (a fresh
// random nonce each time), as "sealed:" and base64.
type Sealer struct{ aead cipher.AEAD }

// NewSealer reads (or creates, see LoadKey) the key in keyFile.
func NewSealer(keyFile string) (*Sealer, error) {
	key, err := LoadKey(keyFile)
	if err != nil {
		return nil, err
	}
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(blk)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal returns plain sealed ("" stays "").
func (sl *Sealer) Seal(plain string) string {
	if plain == "" {
		return ""
	}
	nonce := make([]byte, sl.aead.NonceSize())
	rand.Read(nonce)
	ct := sl.aead.Seal(nonce, nonce, []byte(plain), nil)
	return sealedPrefix + base64.StdEncoding.EncodeToString(ct)
}

// Open returns what Seal sealed; a value that is not sealed (written before
// sealing was used) is returned as it is.
func (sl *Sealer) Open(v string) (string, error) {
	if !strings.HasPrefix(v, sealedPrefix) {
		return v, nil
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(v, sealedPrefix))
	if err != nil {
		return "", err
	}
	n := sl.aead.NonceSize()
	if len(b) < n {
		return "", errors.New("short sealed value")
	}
	p, err := sl.aead.Open(nil, b[:n], b[n:], nil)
	return string(p), err
}

func (s *Store) seal(plain string) string { return s.sealer.Seal(plain) }

func (s *Store) setLocked(user, scope string, v Values) {
	if v == nil {
		if u := s.m[user]; u != nil {
			delete(u, scope)
			if len(u) == 0 {
				delete(s.m, user)
			}
		}
		return
	}
	u := s.m[user]
	if u == nil {
		u = map[string]Values{}
		s.m[user] = u
	}
	u[scope] = v
}

// Get returns a copy of the values of the user's scope (empty when none).
func (s *Store) Get(user, scope string) Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Values{}
	for k, v := range s.m[user][scope] {
		out[k] = v
	}
	return out
}

// Put replaces the values of the user's scope, durably when the Store is
// on disk; nil or empty values delete the scope.
func (s *Store) Put(user, scope string, v Values) error {
	clean := Values{}
	for k, val := range v {
		if val != "" {
			clean[k] = val
		}
	}
	if len(clean) == 0 {
		clean = nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log != nil {
		b, err := s.encode(user, scope, clean)
		if err != nil {
			return err
		}
		if err := s.log.AppendSync(b); err != nil {
			return err
		}
	}
	s.setLocked(user, scope, clean)
	if s.log != nil && s.log.Records() > 4*s.countLocked()+64 {
		return s.compactLocked()
	}
	return nil
}

// Delete removes every scope of the user.
func (s *Store) Delete(user string) error {
	for _, scope := range s.Scopes(user) {
		if err := s.Put(user, scope, nil); err != nil {
			return err
		}
	}
	return nil
}

// encode is the journal record of a scope's values, secrets sealed; nil
// values record the deletion.
func (s *Store) encode(user, scope string, v Values) ([]byte, error) {
	r := record{User: user, Scope: scope}
	if v != nil {
		r.Vals = Values{}
		for k, val := range v {
			if s.secret != nil && s.secret(k) {
				val = s.seal(val)
			}
			r.Vals[k] = val
		}
	}
	return json.Marshal(r)
}

func (s *Store) countLocked() int {
	n := 0
	for _, u := range s.m {
		n += len(u)
	}
	return n
}

func (s *Store) compactLocked() error {
	var recs [][]byte
	for user, scopes := range s.m {
		for scope, v := range scopes {
			b, err := s.encode(user, scope, v)
			if err != nil {
				return err
			}
			recs = append(recs, b)
		}
	}
	return s.log.Compact(func(write func([]byte) error) error {
		for _, b := range recs {
			if err := write(b); err != nil {
				return err
			}
		}
		return nil
	})
}

// Scopes returns the user's scopes that hold values, sorted.
func (s *Store) Scopes(user string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for scope := range s.m[user] {
		out = append(out, scope)
	}
	sort.Strings(out)
	return out
}

// Users returns the users that have settings, sorted.
func (s *Store) Users() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.m))
	for u := range s.m {
		out = append(out, u)
	}
	sort.Strings(out)
	return out
}

// Close closes the journal.
func (s *Store) Close() error {
	if s.log == nil {
		return nil
	}
	return s.log.Close()
}
