package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// ErrCorrupt is wrapped by the error Open returns when a file holds a bad
// record that is not a torn last write (see the package documentation).
var ErrCorrupt = errors.New("journal: corrupt record")

// ErrClosed is returned by the methods of a closed Log.
var ErrClosed = errors.New("journal: closed")

// DefaultMaxRecord is the largest record accepted when Options.MaxRecord is 0.
const DefaultMaxRecord = 64 << 20

const (
	frameHeader  = 12
	snapshotName = "snapshot"
	snapshotTmp  = "snapshot.tmp"
	logPrefix    = "log-"
	snapMagic    = "xmppkit-journal-snapshot-v1\x00"
	crcSeed      = 0x6a6f7572 // mixed into every checksum, so that zeros never verify
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Options configures a Log. The zero value is durable and ready to use.
type Options struct {
	// NoSync skips fsync: records survive a crash of the process but not
	// of the machine. For tests and benchmarks.
	NoSync bool
	// MaxRecord bounds the size of one record (default DefaultMaxRecord).
	MaxRecord int
}

// Log is an open journal: an append-only log of records after a snapshot.
// Its methods are safe for concurrent use.
type Log struct {
	dir  string
	opts Options

	mu       sync.Mutex
	cond     *sync.Cond
	f        *os.File
	gen      uint64
	pend     []byte // framed records appended but not yet written
	spare    []byte
	seq      uint64 // records appended so far (the last sequence number)
	synced   uint64 // records written and synced
	syncing  bool
	err      error // sticky write or sync failure
	closed   bool
	records  int   // records in the current log
	logBytes int64 // bytes in the current log
}

// Open opens (creating if needed) the journal in dir and calls replay with
// every record of the snapshot and then of the log, in order. The slice given
// to replay is valid only during the call. An error from replay stops Open and
// is returned. A torn last record is dropped (see the package documentation).
func Open(dir string, opts Options, replay func(rec []byte) error) (*Log, error) {
	if opts.MaxRecord <= 0 {
		opts.MaxRecord = DefaultMaxRecord
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	_ = os.Remove(filepath.Join(dir, snapshotTmp))
	l := &Log{dir: dir, opts: opts}
	l.cond = sync.NewCond(&l.mu)

	snap, err := os.ReadFile(filepath.Join(dir, snapshotName))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		first := true
		_, torn, err := Scan(snap, opts.MaxRecord, func(rec []byte) error {
			if first {
				first = false
				if len(rec) != len(snapMagic)+8 || string(rec[:len(snapMagic)]) != snapMagic {
					return fmt.Errorf("%w: snapshot header", ErrCorrupt)
				}
				l.gen = binary.LittleEndian.Uint64(rec[len(snapMagic):])
				return nil
			}
			return replay(rec)
		})
		if err != nil {
			return nil, fmt.Errorf("journal: snapshot: %w", err)
		}
		if torn || first {
			// The snapshot is renamed into place only once complete.
			return nil, fmt.Errorf("journal: snapshot: %w: incomplete", ErrCorrupt)
		}
	}

	path := l.logPath(l.gen)
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	good, _, err := Scan(data, opts.MaxRecord, func(rec []byte) error {
		l.records++
		return replay(rec)
	})
	if err != nil {
		return nil, fmt.Errorf("journal: %s: %w", filepath.Base(path), err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if good < int64(len(data)) {
		if err := f.Truncate(good); err != nil {
			f.Close()
			return nil, err
		}
		if err := l.fsync(f); err != nil {
			f.Close()
			return nil, err
		}
	}
	if _, err := f.Seek(good, 0); err != nil {
		f.Close()
		return nil, err
	}
	if err := l.syncDir(); err != nil {
		f.Close()
		return nil, err
	}
	l.f = f
	l.logBytes = good
	l.removeStaleLogs()
	return l, nil
}

// Scan reads framed records from data, calling fn for each whole one. It
// returns the offset just past the last good record and whether the data
// ends in a torn record (a short frame, or a bad frame followed by nothing
// but zero bytes). A bad frame followed by other data is an error wrapping
// ErrCorrupt. It is the parser behind Open, exported for tools and fuzzing.
func Scan(data []byte, maxRecord int, fn func(rec []byte) error) (good int64, torn bool, err error) {
	off := 0
	for off < len(data) {
		rest := data[off:]
		if len(rest) < frameHeader {
			return int64(off), true, nil
		}
		n := binary.LittleEndian.Uint32(rest[0:4])
		if crc32.Update(crcSeed, castagnoli, rest[0:4]) != binary.LittleEndian.Uint32(rest[4:8]) || uint64(n) > uint64(maxRecord) {
			// A bad header: torn only when nothing but zeros follows.
			if allZero(rest[frameHeader:]) {
				return int64(off), true, nil
			}
			return int64(off), false, fmt.Errorf("%w at offset %d: frame header", ErrCorrupt, off)
		}
		end := frameHeader + int(n)
		if end > len(rest) {
			return int64(off), true, nil
		}
		rec := rest[frameHeader:end]
		if crc32.Update(crcSeed, castagnoli, rec) != binary.LittleEndian.Uint32(rest[8:12]) {
			if end == len(rest) || allZero(rest[end:]) {
				return int64(off), true, nil
			}
			return int64(off), false, fmt.Errorf("%w at offset %d: checksum", ErrCorrupt, off)
		}
		if err := fn(rec); err != nil {
			return int64(off), false, err
		}
		off += end
	}
	return int64(off), false, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// AppendFrame appends rec to dst framed as in a journal file.
func AppendFrame(dst, rec []byte) []byte {
	var h [frameHeader]byte
	binary.LittleEndian.PutUint32(h[0:4], uint32(len(rec)))
	binary.LittleEndian.PutUint32(h[4:8], crc32.Update(crcSeed, castagnoli, h[0:4]))
	binary.LittleEndian.PutUint32(h[8:12], crc32.Update(crcSeed, castagnoli, rec))
	dst = append(dst, h[:]...)
	return append(dst, rec...)
}

func (l *Log) logPath(gen uint64) string {
	return filepath.Join(l.dir, logPrefix+strconv.FormatUint(gen, 10))
}

func (l *Log) removeStaleLogs() {
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, logPrefix) {
			continue
		}
		g, err := strconv.ParseUint(name[len(logPrefix):], 10, 64)
		if err == nil && g != l.gen {
			_ = os.Remove(filepath.Join(l.dir, name))
		}
	}
}

// Append queues rec (copied) for the log and returns its sequence number.
// The record is durable only once Sync(seq) has returned nil.
func (l *Log) Append(rec []byte) (uint64, error) {
	if len(rec) > l.opts.MaxRecord {
		return 0, fmt.Errorf("journal: record of %d bytes exceeds the limit of %d", len(rec), l.opts.MaxRecord)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, ErrClosed
	}
	if l.err != nil {
		return 0, l.err
	}
	l.pend = AppendFrame(l.pend, rec)
	l.seq++
	l.records++
	return l.seq, nil
}

// Sync returns once the record with sequence number seq, and every record
// before it, has been written and fsynced. Concurrent calls share one fsync.
func (l *Log) Sync(seq uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.synced < seq {
		if l.err != nil {
			return l.err
		}
		if l.syncing {
			l.cond.Wait()
			continue
		}
		if l.f == nil {
			return ErrClosed
		}
		l.flushLocked(true)
	}
	return nil
}

// flushLocked writes and syncs the pending records; mu is held on entry and
// exit but released during the I/O when unlock is true.
func (l *Log) flushLocked(unlock bool) {
	buf, target, f := l.pend, l.seq, l.f
	l.pend, l.spare = l.spare[:0], nil
	l.syncing = true
	if unlock {
		l.mu.Unlock()
	}
	_, err := f.Write(buf)
	if err == nil {
		err = l.fsync(f)
	}
	if unlock {
		l.mu.Lock()
	}
	l.syncing = false
	if err != nil {
		l.err = fmt.Errorf("journal: write: %w", err)
	} else {
		l.synced = target
		l.logBytes += int64(len(buf))
	}
	if l.spare == nil && cap(buf) <= 1<<20 {
		l.spare = buf[:0]
	}
	l.cond.Broadcast()
}

// AppendSync appends rec and waits until it is durable.
func (l *Log) AppendSync(rec []byte) error {
	seq, err := l.Append(rec)
	if err != nil {
		return err
	}
	return l.Sync(seq)
}

// Records returns the number of records in the log since the last snapshot
// (appended ones included), a measure of how much Compact would save.
func (l *Log) Records() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.records
}

// Compact replaces the snapshot and the log by a new snapshot holding the
// records that emit writes (the caller's whole current state), then starts an
// empty log. The caller must not Append during Compact if the snapshot is to
// include every appended record (hold the lock that guards the state).
func (l *Log) Compact(emit func(write func(rec []byte) error) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.syncing {
		l.cond.Wait()
	}
	if l.closed {
		return ErrClosed
	}
	if l.err != nil {
		return l.err
	}
	if len(l.pend) > 0 {
		l.flushLocked(false)
		if l.err != nil {
			return l.err
		}
	}
	gen := l.gen + 1
	tmp := filepath.Join(l.dir, snapshotTmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	hdr := make([]byte, 0, len(snapMagic)+8)
	hdr = append(hdr, snapMagic...)
	hdr = binary.LittleEndian.AppendUint64(hdr, gen)
	frame := AppendFrame(nil, hdr)
	buf.Write(frame)
	write := func(rec []byte) error {
		if len(rec) > l.opts.MaxRecord {
			return fmt.Errorf("journal: record of %d bytes exceeds the limit", len(rec))
		}
		frame = AppendFrame(frame[:0], rec)
		buf.Write(frame)
		if buf.Len() >= 1<<20 {
			if _, err := f.Write(buf.Bytes()); err != nil {
				return err
			}
			buf.Reset()
		}
		return nil
	}
	err = emit(write)
	if err == nil {
		_, err = f.Write(buf.Bytes())
	}
	if err == nil {
		err = l.fsync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(l.dir, snapshotName))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("journal: compact: %w", err)
	}
	// From here the new snapshot is the state: a crash now recovers it with
	// an empty log. A failure to switch logs is sticky.
	if err := l.syncDir(); err != nil {
		l.err = fmt.Errorf("journal: compact: %w", err)
		return l.err
	}
	nf, err := os.OpenFile(l.logPath(gen), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err == nil {
		err = l.syncDir()
	}
	if err != nil {
		l.err = fmt.Errorf("journal: compact: %w", err)
		return l.err
	}
	old := l.f
	l.f, l.gen, l.records, l.logBytes = nf, gen, 0, 0
	old.Close()
	_ = os.Remove(l.logPath(gen - 1))
	return nil
}

func (l *Log) fsync(f *os.File) error {
	if l.opts.NoSync {
		return nil
	}
	return f.Sync()
}

func (l *Log) syncDir() error {
	if l.opts.NoSync {
		return nil
	}
	d, err := os.Open(l.dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Close writes and syncs what is pending and closes the log. Records
// appended but not synced are made durable first. It is idempotent.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.syncing {
		l.cond.Wait()
	}
	if l.closed {
		return nil
	}
	if len(l.pend) > 0 && l.err == nil {
		l.flushLocked(false)
	}
	l.closed = true
	err := l.f.Close()
	l.f = nil
	l.cond.Broadcast()
	if l.err != nil {
		return l.err
	}
	return err
}
