package pubsub

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

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
// acknowledged; the log is compacted into a snapshot when it has grown to
// several times the live state. The directory is locked while the store is
// open (a second service on it fails with "data directory ... in use by pid
// N"). Recovery after a crash drops a torn last record (it was never
// acknowledged) and refuses any other damage unless opened with
// journal.Options.DropCorrupt (see package journal).
type FileStore struct {
	// CompactMin is the number of log records below which the log is never
	// compacted (default 4096).
	CompactMin int

	log     *journal.Log
	ops     []Op
	recs    [][]byte // the records of ops, kept while a bad one may need saving
	dir     string
	opts    journal.Options
	skipped int // records Load skipped (DropCorrupt): compact them away
}

// OpenFileStore opens (creating) the store in dir. noSync skips fsync (for
// tests and benchmarks: a machine crash may then lose acknowledged changes).
func OpenFileStore(dir string, noSync bool) (*FileStore, error) {
	return OpenFileStoreWith(dir, journal.Options{NoSync: noSync})
}

// OpenFileStoreWith is OpenFileStore with the journal's options: with
// DropCorrupt, damage the journal finds is dropped (and kept beside the
// log), and Load skips stored ops that are not valid (a record that is
// intact but holds no JSON op, an item that is not one well-formed
// namespaced element, an op the state cannot apply), logging each and
// keeping it in a file beside the log; without it such an op fails Load
// with an error wrapping journal.ErrCorrupt.
func OpenFileStoreWith(dir string, opts journal.Options) (*FileStore, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	fs := &FileStore{dir: dir, opts: opts}
	l, err := journal.Open(dir, fs.opts, func(rec []byte) error {
		var op Op
		if err := json.Unmarshal(rec, &op); err != nil {
			op = Op{Kind: opInvalid, Payload: err.Error()}
		}
		fs.ops = append(fs.ops, op)
		fs.recs = append(fs.recs, bytes.Clone(rec))
		return nil
	})
	if err != nil {
		return nil, err
	}
	fs.log = l
	return fs, nil
}

// opInvalid marks a record that is not a JSON op (its error in Payload).
const opInvalid OpKind = "\x00invalid"

// Load implements Store with the ops read at open (then forgotten). An op
// that fails (see OpenFileStoreWith) stops it with an error naming the
// record, or is skipped with DropCorrupt.
func (fs *FileStore) Load(apply func(*Op) error) error {
	ops, recs := fs.ops, fs.recs
	fs.ops, fs.recs = nil, nil
	var rejected []byte
	for i := range ops {
		err := errors.New(ops[i].Payload)
		if ops[i].Kind != opInvalid {
			err = apply(&ops[i])
		}
		if err == nil {
			continue
		}
		err = fmt.Errorf("%w: pubsub: %s: stored op %d (%s of node %q, item %q): %w",
			journal.ErrCorrupt, fs.dir, i+1, ops[i].Kind, ops[i].Node, ops[i].Item, err)
		if !fs.opts.DropCorrupt {
			return fmt.Errorf("%w (journal.Options.DropCorrupt skips it)", err)
		}
		fs.opts.Logger.Warn("pubsub: skipped a stored op that cannot be loaded", "err", err)
		rejected = append(append(rejected, recs[i]...), '\n')
		fs.skipped++
	}
	if len(rejected) > 0 {
		path := filepath.Join(fs.dir, fmt.Sprintf("rejected-%d.jsonl", time.Now().UnixNano()))
		if err := os.WriteFile(path, rejected, 0o600); err != nil {
			return fmt.Errorf("pubsub: keeping skipped ops: %w", err)
		}
		fs.opts.Logger.Warn("pubsub: skipped ops kept", "file", path, "ops", fs.skipped)
	}
	return nil
}

// Append implements Store.
func (fs *FileStore) Append(op *Op) (func() error, error) {
	rec, err := marshalOp(op)
	if err != nil {
		return nil, err
	}
	seq, err := fs.log.Append(rec)
	if err != nil {
		return nil, err
	}
	return func() error { return fs.log.Sync(seq) }, nil
}

// marshalOp encodes op as one JSON record, without escaping <, > and &
// (json.Marshal writes each as six bytes: item payloads are XML).
func marshalOp(op *Op) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(op); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// compactMinBytes is the log size below which the bytes never ask for a
// compaction.
const compactMinBytes = 64 << 20

// WantCompact implements Compacter: compact when the log holds more than
// CompactMin records and over twice as many as the live state, or when it
// is over 64 MiB and larger than the snapshot, which keeps the journal
// within about twice the live state on disk (and its replay as long).
func (fs *FileStore) WantCompact(liveOps int) bool {
	min := fs.CompactMin
	if min <= 0 {
		min = 4096
	}
	n := fs.log.Records()
	snap, log := fs.log.Size()
	return fs.skipped > 0 || n > min && n > 2*liveOps || log > compactMinBytes && log > snap
}

// Compact implements Compacter.
func (fs *FileStore) Compact(snapshot func(emit func(*Op) error) error) error {
	fs.skipped = 0
	return fs.log.Compact(func(write func([]byte) error) error {
		return snapshot(func(op *Op) error {
			rec, err := marshalOp(op)
			if err != nil {
				return err
			}
			return write(rec)
		})
	})
}

// Close implements Store.
func (fs *FileStore) Close() error { return fs.log.Close() }
