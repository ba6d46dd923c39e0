package pubsub

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"xmppkit.dev/journal"
)

// FileStore is a Store in a directory: an index of the whole state in
// memory (nodes, affiliations, subscriptions, and per item its id, order,
// publisher and size), the item payloads on disk, and every transaction
// durable before it is acknowledged.
//
// # Files
//
//	snapshot, log-G, lock   package journal: one JSON record per transaction
//	                        (its changes; a published item by the location
//	                        of its payload), compacted into a snapshot
//	items-NNNNNN.seg        the payloads: append-only segments of frames in
//	                        journal's framing (length, CRCs), each holding
//	                        the item's service, node, id and raw XML
//
// A transaction writes the payloads it publishes to the active segment,
// then its record to the journal; its wait fsyncs the segment (every frame
// written so far) and then the journal (group commit on both). A record
// whose payload frame is missing after a crash (the process died before the
// fsync, so the publish was never acknowledged) is skipped at start as a
// whole, as a torn last record is.
//
// # Memory
//
// Payloads are read from their segment when a request needs them (the
// operating system's page cache keeps the hot ones), so memory holds the
// index alone: about Usage.Bytes minus the payload bytes, which
// Limits.MaxStoreBytes bounds. Opening reads the journal's snapshot and log
// whole (package journal), and each segment as a stream.
//
// # Compaction
//
// When the log holds more than twice the records a snapshot would, or the
// segments hold more dead payload bytes than live ones, the store compacts:
// the live frames of mostly dead segments are copied into the active one,
// the journal is compacted into a snapshot of the index, and the emptied
// segments are deleted. Requests wait while it runs.
//
// # Recovery
//
// A torn last record, in the journal or at the end of a segment, is
// dropped on its own. Any other damage (a checksum mismatch, a payload that
// is not one well-formed namespaced element, a record that is not a
// transaction of this store) refuses to open with an error wrapping
// journal.ErrCorrupt, unless journal.Options.DropCorrupt: then it is
// dropped, logged and kept in files beside (journal's *.dropped-*, and
// rejected-*.jsonl for records and items), and the store compacts them away.
//
// After a failed write the store refuses further writes (its on-disk state
// is no longer known to match the index); reads go on.
type FileStore struct {
	// CompactMin is the number of log records below which the journal is
	// never compacted (default 4096). Set it before the first Write.
	CompactMin int
	// SegmentBytes is the size at which a new segment is started (default
	// 64 MiB).
	SegmentBytes int64
	// CompactEvery is how many transactions pass between two checks
	// whether to compact (default 256); 16 MiB of payloads written also
	// make one.
	CompactEvery int

	mu      sync.RWMutex
	ix      *index
	log     *journal.Log
	dir     string
	opts    journal.Options
	segs    map[int32]*segment
	active  *segment
	failed  error
	closed  bool
	commits int
	written int64  // payload bytes since the last compaction check
	seq     uint64 // of the last record appended
	// dirty is set when opening skipped something: compact at once.
	dirty bool
}

type segment struct {
	id   int32
	path string
	f    *os.File
	size int64 // bytes written
	live int64 // bytes of frames that live items point to

	// durable is the size written, published for sync (writers update
	// it under the store's lock, after size).
	durable atomic.Int64
	syncMu  sync.Mutex
	synced  int64
	done    atomic.Int64 // synced, for a look without the lock
	noSync  bool
}

const (
	segPrefix        = "items-"
	segSuffix        = ".seg"
	defaultSegBytes  = 64 << 20
	defaultCompact   = 4096
	compactCheckStep = 256
)

// OpenFileStore opens (creating) the store in dir. noSync skips fsync (for
// tests and benchmarks: a machine crash may then lose acknowledged changes).
func OpenFileStore(dir string, noSync bool) (*FileStore, error) {
	return OpenFileStoreWith(dir, journal.Options{NoSync: noSync})
}

// OpenFileStoreWith is OpenFileStore with the journal's options; with
// DropCorrupt, damage is dropped instead of refused (see FileStore).
func OpenFileStoreWith(dir string, opts journal.Options) (*FileStore, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxRecord == 0 {
		opts.MaxRecord = journal.DefaultMaxRecord
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	fs := &FileStore{ix: newIndex(), dir: dir, opts: opts, segs: map[int32]*segment{}}
	// Read the segments first (read only: the journal's lock is not taken
	// yet), so that replay knows which payloads exist.
	scans, err := fs.scanSegments()
	if err != nil {
		return nil, err
	}
	var rejected []rejectedRec
	tx := &itx{ix: fs.ix, write: true, replaying: true, payload: fs.readPayload}
	n := 0
	l, err := journal.Open(dir, opts, func(rec []byte) error {
		n++
		rej, err := fs.replay(tx, scans, rec, n)
		rejected = append(rejected, rej...)
		tx.done()
		return err
	})
	if err != nil {
		fs.closeSegments()
		return nil, err
	}
	fs.log = l
	tx.done()
	for _, sc := range scans {
		rejected = append(rejected, sc.rejected...)
	}
	if err := fs.openSegments(scans); err != nil {
		l.Close()
		fs.closeSegments()
		return nil, err
	}
	if len(rejected) > 0 {
		fs.dirty = true
		if err := fs.keepRejected(rejected); err != nil {
			fs.Close()
			return nil, err
		}
	}
	for _, s := range fs.segs {
		if s != fs.active && s.live == 0 {
			fs.dirty = true // an orphan: delete it after a compaction
		}
	}
	if fs.dirty {
		fs.mu.Lock()
		err := fs.compactLocked()
		fs.mu.Unlock()
		if err != nil {
			fs.Close()
			return nil, err
		}
	}
	return fs, nil
}

// segScan is what reading a segment found.
type segScan struct {
	id       int32
	path     string
	size     int64 // bytes of whole, good frames (the file is cut there)
	torn     int64 // bytes of a torn last frame after size
	cut      int64 // with DropCorrupt: where damage started (-1: none)
	bad      map[int64]bool
	rejected []rejectedRec
}

type rejectedRec struct {
	File    string `json:"file"`
	Offset  int64  `json:"offset"`
	Service string `json:"service,omitempty"`
	Node    string `json:"node,omitempty"`
	Item    string `json:"item,omitempty"`
	Reason  string `json:"reason"`
	Record  string `json:"record"`
}

func (fs *FileStore) scanSegments() (map[int32]*segScan, error) {
	ents, err := os.ReadDir(fs.dir)
	if err != nil {
		return nil, err
	}
	out := map[int32]*segScan{}
	for _, e := range ents {
		name := e.Name()
		num, ok := strings.CutPrefix(name, segPrefix)
		if !ok || !strings.HasSuffix(num, segSuffix) {
			continue
		}
		id, err := strconv.ParseInt(strings.TrimSuffix(num, segSuffix), 10, 32)
		if err != nil {
			continue
		}
		sc, err := fs.scanSegment(int32(id), filepath.Join(fs.dir, name))
		if err != nil {
			return nil, err
		}
		out[int32(id)] = sc
	}
	return out, nil
}

const frameHeader = 12

// scanSegment reads a segment frame by frame with bounded memory, checking
// each frame's checksums (journal.Scan) and that its payload is one
// well-formed namespaced element.
func (fs *FileStore) scanSegment(id int32, path string) (*segScan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	sc := &segScan{id: id, path: path, cut: -1, bad: map[int64]bool{}}
	r := bufio.NewReaderSize(f, 1<<16)
	var off int64
	buf := make([]byte, 0, 4096)
	for off < st.Size() {
		rest := st.Size() - off
		if rest < frameHeader {
			sc.torn = rest
			break
		}
		buf = buf[:frameHeader]
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		n := int64(binary.LittleEndian.Uint32(buf[0:4]))
		_, _, err := journal.Scan(buf, fs.opts.MaxRecord, func([]byte) error { return nil })
		if err != nil || n == 0 {
			if err == nil {
				err = errors.New("empty frame")
			}
			if err := fs.segmentDamage(sc, off, rest, reasonOf(err)); err != nil {
				return nil, err
			}
			break
		}
		if frameHeader+n > rest {
			sc.torn = rest
			break
		}
		buf = slices.Grow(buf, int(n))[:frameHeader+n]
		if _, err := io.ReadFull(r, buf[frameHeader:]); err != nil {
			return nil, err
		}
		var rec []byte
		if _, _, err := journal.Scan(buf, fs.opts.MaxRecord, func(b []byte) error { rec = b; return nil }); err != nil {
			if err := fs.segmentDamage(sc, off, rest, reasonOf(err)); err != nil {
				return nil, err
			}
			break
		}
		svc, node, item, payload, err := decodeFrame(rec)
		if err == nil && payload != "" && !validPayload(payload) {
			err = errors.New("payload is not one well-formed namespaced element")
		}
		if err != nil {
			e := fmt.Errorf("%w: pubsub: %s: segment %s offset %d: item %q of node %q: %v",
				journal.ErrCorrupt, fs.dir, filepath.Base(path), off, item, node, err)
			if !fs.opts.DropCorrupt {
				return nil, fmt.Errorf("%w (journal.Options.DropCorrupt skips it)", e)
			}
			fs.opts.Logger.Warn("pubsub: skipped an item payload that cannot be served", "err", e)
			sc.bad[off] = true
			sc.rejected = append(sc.rejected, rejectedRec{File: filepath.Base(path), Offset: off, Service: svc, Node: node, Item: item, Reason: err.Error(), Record: string(rec)})
		}
		off += frameHeader + n
	}
	sc.size = off
	return sc, nil
}

// reasonOf is what journal.Scan says is wrong.
func reasonOf(err error) string {
	var ce *journal.CorruptError
	if errors.As(err, &ce) {
		return ce.Reason
	}
	return err.Error()
}

// segmentDamage handles damage that is not a torn last frame: refused, or
// with DropCorrupt cut there (the bytes kept beside the segment).
func (fs *FileStore) segmentDamage(sc *segScan, off, rest int64, reason string) error {
	ce := &journal.CorruptError{File: filepath.Base(sc.path), Offset: off, Bytes: rest, Reason: reason}
	if !fs.opts.DropCorrupt {
		return fmt.Errorf("pubsub: %s: %w (journal.Options.DropCorrupt drops it)", fs.dir, ce)
	}
	sc.cut = off
	fs.dirty = true
	fs.opts.Logger.Warn("pubsub: segment damaged: dropping its tail", "file", ce.File, "offset", off, "bytes", rest, "reason", reason)
	return nil
}

// replay applies one journal record (a transaction) to the index.
func (fs *FileStore) replay(tx *itx, scans map[int32]*segScan, rec []byte, n int) ([]rejectedRec, error) {
	if len(rec) > 0 && rec[0] == '{' {
		// A record of the store before transactions: one change.
		var op legacyOp
		if err := json.Unmarshal(rec, &op); err != nil {
			return fs.rejectRecord(rec, n, fmt.Errorf("not a transaction of this store: %w", err))
		}
		fs.dirty = true
		if err := tx.applyLegacy(&op); err != nil {
			return fs.rejectRecord(rec, n, fmt.Errorf("%s of node %q, item %q: %w", op.Kind, op.Node, op.Item, err))
		}
		return nil, nil
	}
	var ops []*fileOp
	if err := json.Unmarshal(rec, &ops); err != nil {
		return fs.rejectRecord(rec, n, fmt.Errorf("not a transaction of this store: %w", err))
	}
	// A payload that was never written whole: the transaction was never
	// acknowledged (its wait fsyncs the segment first). Skip all of it.
	for _, op := range ops {
		if op.Op != opPublish || op.Loc.Len == 0 {
			continue
		}
		sc := scans[op.Loc.Seg]
		if sc == nil || sc.cut < 0 && op.Loc.Off+int64(op.Loc.Len) > sc.size {
			fs.opts.Logger.Info("pubsub: skipped a transaction whose payload was never written (it was not acknowledged)",
				"record", n, "node", op.Node, "item", op.Item)
			return nil, nil
		}
	}
	var rejected []rejectedRec
	for _, op := range ops {
		if op.Op == opPublish && op.Loc.Len > 0 {
			sc := scans[op.Loc.Seg]
			if sc.bad[op.Loc.Off] || sc.cut >= 0 && op.Loc.Off+int64(op.Loc.Len) > sc.cut {
				fs.opts.Logger.Warn("pubsub: dropped an item whose payload was damaged", "node", op.Node, "item", op.Item)
				fs.dirty = true // compact it away
				continue
			}
		}
		if err := tx.apply(op); err != nil {
			rej, err := fs.rejectRecord(rec, n, fmt.Errorf("%s of node %q, item %q: %w", op.Op, op.Node, op.Item, err))
			rejected = append(rejected, rej...)
			if err != nil {
				return nil, err
			}
		}
	}
	return rejected, nil
}

func (fs *FileStore) rejectRecord(rec []byte, n int, err error) ([]rejectedRec, error) {
	e := fmt.Errorf("%w: pubsub: %s: stored transaction %d: %w", journal.ErrCorrupt, fs.dir, n, err)
	if !fs.opts.DropCorrupt {
		return nil, fmt.Errorf("%w (journal.Options.DropCorrupt skips it)", e)
	}
	fs.opts.Logger.Warn("pubsub: skipped a stored transaction that cannot be loaded", "err", e)
	return []rejectedRec{{File: "journal", Offset: int64(n), Reason: err.Error(), Record: string(rec)}}, nil
}

func (fs *FileStore) keepRejected(rej []rejectedRec) error {
	var b []byte
	for _, r := range rej {
		j, err := json.Marshal(r)
		if err != nil {
			return err
		}
		b = append(append(b, j...), '\n')
	}
	path := filepath.Join(fs.dir, fmt.Sprintf("rejected-%d.jsonl", time.Now().UnixNano()))
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("pubsub: keeping skipped records: %w", err)
	}
	fs.opts.Logger.Warn("pubsub: skipped records kept", "file", path, "records", len(rej))
	return nil
}

// openSegments opens the scanned segments for reading and appending,
// cutting torn tails and damage (kept beside), and picks the active one.
func (fs *FileStore) openSegments(scans map[int32]*segScan) error {
	var last int32
	for id, sc := range scans {
		f, err := os.OpenFile(sc.path, os.O_RDWR, 0o600)
		if err != nil {
			return err
		}
		s := &segment{id: id, path: sc.path, f: f, size: sc.size, synced: sc.size, noSync: fs.opts.NoSync}
		s.durable.Store(sc.size)
		s.done.Store(sc.size)
		fs.segs[id] = s
		if st, err := f.Stat(); err == nil && st.Size() > sc.size {
			if sc.cut >= 0 {
				if err := keepTail(f, sc.path, sc.size, st.Size()); err != nil {
					return err
				}
			} else {
				fs.opts.Logger.Warn("pubsub: recovery dropped a torn payload at the end of a segment (never acknowledged)",
					"file", filepath.Base(sc.path), "offset", sc.size, "bytes", st.Size()-sc.size, "torn", true)
			}
			if err := f.Truncate(sc.size); err != nil {
				return err
			}
		}
		if id > last {
			last = id
		}
	}
	for _, n := range fs.ix.nodes {
		for _, it := range n.items {
			if !it.dead && it.loc.Len > 0 {
				fs.segs[it.loc.Seg].live += int64(it.loc.Len)
			}
		}
	}
	if s := fs.segs[last]; s != nil && s.size < fs.segBytes() {
		fs.active = s
	} else if err := fs.newSegment(last + 1); err != nil {
		return err
	}
	// Payloads still in memory (read from records of the store before
	// transactions) go to the segment; the compaction that follows
	// rewrites the journal.
	for k, n := range fs.ix.nodes {
		for _, it := range n.items {
			if it.dead || it.loc.Len > 0 || it.payload == "" {
				continue
			}
			frame := encodeFrame(k, it.id, it.payload)
			s := fs.active
			if _, err := s.f.WriteAt(frame, s.size); err != nil {
				return err
			}
			it.loc = loc{Seg: s.id, Off: s.size, Len: int32(len(frame))}
			it.payload = ""
			s.grew(int64(len(frame)))
			s.live += int64(len(frame))
			fs.dirty = true
		}
	}
	return nil
}

func keepTail(f *os.File, path string, from, to int64) error {
	b := make([]byte, to-from)
	if _, err := f.ReadAt(b, from); err != nil {
		return err
	}
	kept := fmt.Sprintf("%s.dropped-%d-%d", path, from, time.Now().UnixNano())
	if err := os.WriteFile(kept, b, 0o600); err != nil {
		return err
	}
	return nil
}

func (fs *FileStore) segBytes() int64 {
	if fs.SegmentBytes > 0 {
		return fs.SegmentBytes
	}
	return defaultSegBytes
}

func (fs *FileStore) newSegment(id int32) error {
	path := filepath.Join(fs.dir, fmt.Sprintf("%s%06d%s", segPrefix, id, segSuffix))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	s := &segment{id: id, path: path, f: f, noSync: fs.opts.NoSync}
	// The file itself must survive a crash once a payload in it is
	// acknowledged.
	if !fs.opts.NoSync {
		if d, err := os.Open(fs.dir); err == nil {
			err = d.Sync()
			d.Close()
			if err != nil {
				f.Close()
				return err
			}
		}
	}
	fs.segs[id] = s
	fs.active = s
	return nil
}

func (fs *FileStore) closeSegments() {
	for _, s := range fs.segs {
		s.f.Close()
	}
}

// grew records bytes written to the segment.
func (s *segment) grew(n int64) {
	s.size += n
	s.durable.Store(s.size)
}

// sync fsyncs the segment up to at least off (group commit: one fsync
// covers every byte written before it, so the callers waiting meanwhile
// mostly find their offset synced).
func (s *segment) sync(off int64) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if s.synced >= off {
		return nil
	}
	target := s.durable.Load()
	if !s.noSync {
		if err := s.f.Sync(); err != nil {
			return err
		}
	}
	s.synced = max(off, target)
	s.done.Store(s.synced)
	return nil
}

func encodeFrame(k Key, id, payload string) []byte {
	rec := make([]byte, 0, 3*binary.MaxVarintLen32+len(k.Service)+len(k.Node)+len(id)+len(payload))
	for _, s := range []string{k.Service, k.Node, id} {
		rec = binary.AppendUvarint(rec, uint64(len(s)))
		rec = append(rec, s...)
	}
	rec = append(rec, payload...)
	return journal.AppendFrame(nil, rec)
}

func decodeFrame(rec []byte) (svc, node, item, payload string, err error) {
	var parts [3]string
	for i := range parts {
		n, w := binary.Uvarint(rec)
		if w <= 0 || uint64(len(rec)-w) < n {
			return "", "", "", "", errors.New("malformed item frame")
		}
		parts[i] = string(rec[w : w+int(n)])
		rec = rec[w+int(n):]
	}
	return parts[0], parts[1], parts[2], string(rec), nil
}

// readPayload reads an item's payload from its segment, checking the
// frame's checksums and that it belongs to the item.
func (fs *FileStore) readPayload(it *iitem) (string, error) {
	s := fs.segs[it.loc.Seg]
	if s == nil {
		return "", fmt.Errorf("pubsub: item %q: segment %d is missing", it.id, it.loc.Seg)
	}
	buf := make([]byte, it.loc.Len)
	if _, err := s.f.ReadAt(buf, it.loc.Off); err != nil {
		return "", fmt.Errorf("pubsub: reading item %q: %w", it.id, err)
	}
	var rec []byte
	if _, torn, err := journal.Scan(buf, fs.opts.MaxRecord, func(b []byte) error { rec = b; return nil }); err != nil || torn || rec == nil {
		return "", fmt.Errorf("pubsub: item %q in %s at %d: damaged frame (%v)", it.id, filepath.Base(s.path), it.loc.Off, err)
	}
	_, _, id, payload, err := decodeFrame(rec)
	if err != nil || id != it.id {
		return "", fmt.Errorf("pubsub: item %q in %s at %d: frame of another item", it.id, filepath.Base(s.path), it.loc.Off)
	}
	return payload, nil
}

// Read implements Store.
func (fs *FileStore) Read(ctx context.Context, fn func(Tx) error) error {
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	if fs.closed {
		return ErrStoreClosed
	}
	return fn(&itx{ix: fs.ix, payload: fs.readPayload})
}

// Write implements Store: payloads go to the active segment and the
// transaction's record to the journal; wait fsyncs both (group commit).
func (fs *FileStore) Write(ctx context.Context, fn func(Tx) error) (func() error, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.closed {
		return nil, ErrStoreClosed
	}
	if fs.failed != nil {
		return nil, fmt.Errorf("%w: an earlier write failed: %w", ErrUnavailable, fs.failed)
	}
	tx := &itx{ix: fs.ix, write: true, record: true, payload: fs.readPayload}
	if err := fn(tx); err != nil {
		tx.rollback()
		return nil, err
	}
	seq, err := fs.persist(tx)
	if err != nil {
		tx.rollback()
		fs.failed = err
		fs.opts.Logger.Error("pubsub: store write failed; refusing further writes", "err", err)
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	for _, it := range tx.killed {
		if it.loc.Len > 0 {
			if s := fs.segs[it.loc.Seg]; s != nil {
				s.live -= int64(it.loc.Len)
			}
		}
	}
	tx.done()
	seg, upto := fs.active, fs.active.size
	wait := func() error {
		// The two fsyncs run at once: a record made durable before its
		// payload is skipped at start (the transaction was not
		// acknowledged: that needs both).
		var segErr chan error
		if upto > seg.done.Load() {
			segErr = make(chan error, 1)
			go func() { segErr <- seg.sync(upto) }()
		}
		var err error
		if seq != 0 {
			err = fs.log.Sync(seq)
		}
		if segErr != nil {
			err = errors.Join(err, <-segErr)
		}
		if err != nil {
			fs.fail(err)
		}
		return err
	}
	if len(tx.ops) > 0 {
		fs.commits++
		every := fs.CompactEvery
		if every <= 0 {
			every = compactCheckStep
		}
		if (fs.commits%every == 0 || fs.written > 16<<20) && fs.wantCompact() {
			fs.written = 0
			// Everything before is made durable by the compaction itself.
			if err := fs.compactLocked(); err != nil {
				fs.opts.Logger.Error("pubsub: compaction failed", "err", err)
			}
		}
	}
	return wait, nil
}

func (fs *FileStore) fail(err error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.failed == nil {
		fs.failed = err
		fs.opts.Logger.Error("pubsub: store sync failed; refusing further writes", "err", err)
	}
}

// persist writes the transaction's payloads and its journal record; it
// returns the record's sequence number (0 for a transaction that changed
// nothing: its wait still covers everything committed before).
func (fs *FileStore) persist(tx *itx) (uint64, error) {
	if len(tx.ops) == 0 {
		// Its wait covers the records appended before it.
		return fs.seq, nil
	}
	for _, op := range tx.ops {
		if op.Op != opPublish || op.payload == "" {
			continue
		}
		frame := encodeFrame(Key{op.Svc, op.Node}, op.Item, op.payload)
		if fs.active.size+int64(len(frame)) > fs.segBytes() && fs.active.size > 0 {
			old := fs.active
			if err := old.sync(old.size); err != nil {
				return 0, err
			}
			if err := fs.newSegment(old.id + 1); err != nil {
				return 0, err
			}
		}
		s := fs.active
		if _, err := s.f.WriteAt(frame, s.size); err != nil {
			return 0, err
		}
		op.Loc = loc{Seg: s.id, Off: s.size, Len: int32(len(frame))}
		op.item.loc = op.Loc
		op.item.payload = ""
		s.grew(int64(len(frame)))
		s.live += int64(len(frame))
		fs.written += int64(len(frame))
	}
	rec, err := json.Marshal(tx.ops)
	if err != nil {
		return 0, err
	}
	seq, err := fs.log.Append(rec)
	if err == nil {
		fs.seq = seq
	}
	return seq, err
}

func (fs *FileStore) wantCompact() bool {
	min := fs.CompactMin
	if min <= 0 {
		min = defaultCompact
	}
	u := fs.ix.usage
	liveRecs := u.Nodes + u.Items + u.Subscriptions
	if n := fs.log.Records(); n > min && n > 2*liveRecs {
		return true
	}
	if snap, log := fs.log.Size(); log > 64<<20 && log > snap {
		return true
	}
	var live, total int64
	for _, s := range fs.segs {
		live += s.live
		total += s.size
	}
	return total-live > fs.segBytes() && total-live > live
}

// compactLocked copies the live payloads of mostly dead segments into the
// active one, replaces the journal by a snapshot of the index and deletes
// the segments no item points into. fs.mu is held.
func (fs *FileStore) compactLocked() error {
	var move []*segment
	for _, s := range fs.segs {
		if s != fs.active && s.live*2 < s.size {
			move = append(move, s)
		}
	}
	if len(move) > 0 {
		moving := map[int32]bool{}
		for _, s := range move {
			moving[s.id] = true
		}
		var items []*iitem
		for _, n := range fs.ix.nodes {
			for _, it := range n.items {
				if !it.dead && it.loc.Len > 0 && moving[it.loc.Seg] {
					items = append(items, it)
				}
			}
		}
		sort.Slice(items, func(i, j int) bool {
			a, b := items[i].loc, items[j].loc
			return a.Seg < b.Seg || a.Seg == b.Seg && a.Off < b.Off
		})
		for _, it := range items {
			from := fs.segs[it.loc.Seg]
			buf := make([]byte, it.loc.Len)
			if _, err := from.f.ReadAt(buf, it.loc.Off); err != nil {
				return err
			}
			if fs.active.size+int64(len(buf)) > fs.segBytes() && fs.active.size > 0 {
				old := fs.active
				if err := old.sync(old.size); err != nil {
					return err
				}
				if err := fs.newSegment(old.id + 1); err != nil {
					return err
				}
			}
			to := fs.active
			if _, err := to.f.WriteAt(buf, to.size); err != nil {
				return err
			}
			from.live -= int64(len(buf))
			it.loc = loc{Seg: to.id, Off: to.size, Len: it.loc.Len}
			to.grew(int64(len(buf)))
			to.live += int64(len(buf))
		}
	}
	if err := fs.active.sync(fs.active.size); err != nil {
		return err
	}
	if err := fs.log.Compact(func(write func([]byte) error) error { return fs.snapshot(write) }); err != nil {
		return err
	}
	fs.dirty = false
	for id, s := range fs.segs {
		if s != fs.active && s.live <= 0 {
			s.f.Close()
			if err := os.Remove(s.path); err != nil {
				fs.opts.Logger.Warn("pubsub: removing an emptied segment", "file", s.path, "err", err)
			}
			delete(fs.segs, id)
		}
	}
	return nil
}

// snapshot writes the index as transactions of at most 1024 ops: per
// node its creation, affiliations, subscriptions and items, oldest first.
func (fs *FileStore) snapshot(write func([]byte) error) error {
	var ops []*fileOp
	flush := func(force bool) error {
		if len(ops) == 0 || !force && len(ops) < 1024 {
			return nil
		}
		rec, err := json.Marshal(ops)
		if err != nil {
			return err
		}
		ops = ops[:0]
		return write(rec)
	}
	keys := make([]Key, 0, len(fs.ix.nodes))
	for k := range fs.ix.nodes {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b Key) int {
		if c := compareStrings(a.Service, b.Service); c != 0 {
			return c
		}
		return compareStrings(a.Node, b.Node)
	})
	seq := fs.ix.seq
	for _, k := range keys {
		n := fs.ix.nodes[k]
		c := n.rec.Config
		ops = append(ops, &fileOp{Op: opCreate, Svc: k.Service, Node: k.Node, Config: &c, Time: n.rec.Created.UnixNano(), JID: n.rec.Creator, Seq: seq})
		for _, j := range n.affOrder {
			ops = append(ops, &fileOp{Op: opAffiliate, Svc: k.Service, Node: k.Node, JID: j, Aff: n.affs[j]})
		}
		for _, s := range n.subs {
			o := s.Options
			ops = append(ops, &fileOp{Op: opSubscribe, Svc: k.Service, Node: k.Node, JID: s.JID, SubID: s.SubID, State: s.State, SubOpts: &o, Time: s.Created.UnixNano()})
		}
		for _, it := range n.items {
			if !it.dead {
				ops = append(ops, &fileOp{Op: opPublish, Svc: k.Service, Node: k.Node, Item: it.id, JID: it.publisher, Time: it.time, Seq: it.seq, Size: int(it.size), Loc: it.loc})
			}
			if err := flush(false); err != nil {
				return err
			}
		}
		if err := flush(false); err != nil {
			return err
		}
	}
	if len(keys) == 0 && seq > 0 {
		// Keep the sequence: Seq values are never reused.
		ops = append(ops, &fileOp{Op: opSeq, Seq: seq})
	}
	return flush(true)
}

// Close implements Store.
func (fs *FileStore) Close() error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.closed {
		return nil
	}
	fs.closed = true
	var errs []error
	if fs.active != nil {
		errs = append(errs, fs.active.sync(fs.active.size))
	}
	if fs.log != nil {
		errs = append(errs, fs.log.Close())
	}
	fs.closeSegments()
	return errors.Join(errs...)
}
