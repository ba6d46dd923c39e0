package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"xmppkit.dev/metrics"
)

// ErrCorrupt is wrapped by the error Open returns when a file holds damage
// that is more than a torn last write (see the package documentation); the
// error is a *CorruptError saying where and how much.
var ErrCorrupt = errors.New("journal: corrupt record")

// ErrClosed is returned by the methods of a closed Log.
var ErrClosed = errors.New("journal: closed")

// DefaultMaxRecord is the largest record accepted when Options.MaxRecord is 0.
const DefaultMaxRecord = 64 << 20

const (
	frameHeader  = 12
	snapshotName = "snapshot"
	snapshotTmp  = "snapshot.tmp"
	logTmp       = "log.tmp"
	logPrefix    = "log-"
	snapMagic    = "xmppkit-journal-snapshot-v1\x00"
	logMagic     = "xmppkit-journal-log-v1\x00"
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
	// DropCorrupt lets Open start when recovery would lose more than a
	// torn last record (a damaged record, a zeroed tail, an emptied log, a
	// log newer than the snapshot): the file is cut at the first damage,
	// what is cut is kept in a file beside it (see Dropped), and the loss
	// is logged. Without it Open refuses with a *CorruptError. Set it
	// only when told to by an operator who has read that error.
	DropCorrupt bool
	// Logger receives what recovery dropped (Warn); default slog.Default().
	Logger *slog.Logger
	// Metrics, when set, receives the time of each group commit (write and
	// fsync: metrics.JournalCommit) and the records appended
	// (metrics.JournalRecords), labelled with Name.
	Metrics metrics.Registry
	// Name is the journal's "store" label in Metrics; default the
	// directory's base name.
	Name string
}

// Log is an open journal: an append-only log of records after a snapshot.
// Its methods are safe for concurrent use.
type Log struct {
	dir  string
	opts Options

	mu        sync.Mutex
	cond      *sync.Cond
	f         *os.File
	gen       uint64
	pend      []byte // framed records appended but not yet written
	spare     []byte
	seq       uint64 // records appended so far (the last sequence number)
	synced    uint64 // records written and synced
	syncing   bool
	err       error // sticky write or sync failure
	closed    bool
	records   int   // records in the current log
	logBytes  int64 // bytes in the current log
	snapBytes int64 // bytes of the snapshot
	lock      *os.File
	dropped   []Dropped

	commit  metrics.Histogram // nil without Options.Metrics
	appends metrics.Counter
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
	if l.appends != nil {
		l.appends.Add(1)
	}
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
	t0 := time.Now()
	_, err := f.Write(buf)
	if err == nil {
		err = l.fsync(f)
	}
	if l.commit != nil && err == nil {
		l.commit.Observe(time.Since(t0).Seconds())
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

// Size returns the bytes of the snapshot and of the log (appended records
// not yet written excluded), for a compaction policy that bounds the disk a
// journal takes and the time its replay takes: compacting when the log
// outgrows the snapshot keeps the two within about twice the live state.
func (l *Log) Size() (snapshot, log int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.snapBytes, l.logBytes
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
	var snapBytes int64
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
		snapBytes += int64(len(frame))
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
	nf, size, err := l.createLog(gen)
	if err != nil {
		l.err = fmt.Errorf("journal: compact: %w", err)
		return l.err
	}
	old := l.f
	l.f, l.gen, l.records, l.logBytes = nf, gen, 0, size
	l.snapBytes = snapBytes + int64(len(AppendFrame(nil, hdr)))
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
	unlock(l.lock)
	l.lock = nil
	l.cond.Broadcast()
	if l.err != nil {
		return l.err
	}
	return err
}
