package pubsub

import (
	"encoding/json"
	"fmt"

	"xmppkit.dev/journal"
)

// Store persists the service's state as the sequence of operations (Op) that
// built it. The service keeps the whole state in memory and asks the Store
// only to make each change durable, in order, and to give the changes back at
// start.
//
// This is the seam for a real database: Append applies the op in a
// transaction (insert the item row, delete the node's rows, ...) and returns
// once it is committed (or returns a wait function that blocks until then, so
// that commits can be batched); Load reads the rows back and emits the ops
// that rebuild them (a create per node, then its affiliations, subscriptions
// and items oldest first, as state snapshots do). Ordering matters only per
// node.
type Store interface {
	// Load calls apply for each stored op, oldest first.
	Load(apply func(*Op) error) error
	// Append stores op after every op appended before it. The change is
	// durable once wait returns nil; the service acknowledges the request
	// and sends notifications only then. op must not be retained.
	Append(op *Op) (wait func() error, err error)
	// Close makes everything appended durable and releases the store.
	Close() error
}

// Compacter is implemented by a Store that can replace its history by a
// snapshot of the current state (a log; a database needs none of it).
type Compacter interface {
	// WantCompact reports whether the history is large compared to a
	// state that snapshot would write in liveOps ops.
	WantCompact(liveOps int) bool
	// Compact replaces the history by the ops snapshot emits. No Append
	// runs concurrently.
	Compact(snapshot func(emit func(*Op) error) error) error
}

// MemoryStore keeps nothing: the state lives and dies with the process.
// For tests and throwaway services.
type MemoryStore struct{}

func noWait() error { return nil }

// Load implements Store: there is nothing to load.
func (MemoryStore) Load(func(*Op) error) error { return nil }

// Append implements Store: the op is "durable" at once.
func (MemoryStore) Append(*Op) (func() error, error) { return noWait, nil }

// Close implements Store.
func (MemoryStore) Close() error { return nil }

// FileStore is a Store on an journal log in a directory: each op is
// one JSON record, fsynced (with group commit) before the request is
// acknowledged; a torn last record after a crash is dropped (it was never
// acknowledged); the log is compacted into a snapshot when it has grown to
// several times the live state.
type FileStore struct {
	// CompactMin is the number of log records below which the log is never
	// compacted (default 4096).
	CompactMin int

	log  *journal.Log
	ops  []Op
	dir  string
	opts journal.Options
}

// OpenFileStore opens (creating) the store in dir. noSync skips fsync (for
// tests and benchmarks: a machine crash may then lose acknowledged changes).
func OpenFileStore(dir string, noSync bool) (*FileStore, error) {
	fs := &FileStore{dir: dir, opts: journal.Options{NoSync: noSync}}
	l, err := journal.Open(dir, fs.opts, func(rec []byte) error {
		var op Op
		if err := json.Unmarshal(rec, &op); err != nil {
			return fmt.Errorf("pubsub: bad record in %s: %w", dir, err)
		}
		fs.ops = append(fs.ops, op)
		return nil
	})
	if err != nil {
		return nil, err
	}
	fs.log = l
	return fs, nil
}

// Load implements Store with the ops read at open (then forgotten).
func (fs *FileStore) Load(apply func(*Op) error) error {
	ops := fs.ops
	fs.ops = nil
	for i := range ops {
		if err := apply(&ops[i]); err != nil {
			return err
		}
	}
	return nil
}

// Append implements Store.
func (fs *FileStore) Append(op *Op) (func() error, error) {
	rec, err := json.Marshal(op)
	if err != nil {
		return nil, err
	}
	seq, err := fs.log.Append(rec)
	if err != nil {
		return nil, err
	}
	return func() error { return fs.log.Sync(seq) }, nil
}

// WantCompact implements Compacter: compact when the log holds more than
// CompactMin records and over twice as many as the live state.
func (fs *FileStore) WantCompact(liveOps int) bool {
	min := fs.CompactMin
	if min <= 0 {
		min = 4096
	}
	n := fs.log.Records()
	return n > min && n > 2*liveOps
}

// Compact implements Compacter.
func (fs *FileStore) Compact(snapshot func(emit func(*Op) error) error) error {
	return fs.log.Compact(func(write func([]byte) error) error {
		return snapshot(func(op *Op) error {
			rec, err := json.Marshal(op)
			if err != nil {
				return err
			}
			return write(rec)
		})
	})
}

// Close implements Store.
func (fs *FileStore) Close() error { return fs.log.Close() }
