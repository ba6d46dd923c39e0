package journal

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"xmppkit.dev/metrics"
)

// CorruptError is the error Open returns when recovery would lose more than
// a torn last record; it wraps ErrCorrupt. Options.DropCorrupt makes Open
// drop the damaged part instead (and report it in Log.Dropped).
type CorruptError struct {
	File    string // the file's name in the journal directory: "snapshot", "log-3"
	Offset  int64  // where the damage starts
	Bytes   int64  // bytes from Offset to the end of the file: what recovery would drop
	Records int    // whole records still recognisable in those bytes after the damage
	Reason  string // what is wrong at Offset
}

func (e *CorruptError) Error() string {
	what := fmt.Sprintf("%d bytes", e.Bytes)
	if e.Records > 0 {
		what += fmt.Sprintf(" holding %d intact record(s) after the damage", e.Records)
	}
	return fmt.Sprintf("journal: %s: %s at offset %d: recovery would drop %s; "+
		"set Options.DropCorrupt to start anyway (the dropped bytes are kept beside the file)",
		e.File, e.Reason, e.Offset, what)
}

// Unwrap returns ErrCorrupt.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// Dropped describes bytes that Open removed from a journal file: a torn last
// record (always), or damage it was allowed to drop (Options.DropCorrupt).
type Dropped struct {
	File    string // the file's name in the journal directory
	Offset  int64  // where the dropped bytes started
	Bytes   int64  // how many were dropped
	Records int    // whole records recognisable in them after the damage
	Torn    bool   // an incomplete last record, as a crash during a write leaves
	Reason  string
	Kept    string // the file beside the log that holds the dropped bytes ("" if none)
}

// Dropped returns what Open dropped while recovering, if anything.
func (l *Log) Dropped() []Dropped {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Dropped(nil), l.dropped...)
}

// Open opens (creating if needed) the journal in dir and calls replay with
// every record of the snapshot and then of the log, in order. The slice given
// to replay is valid only during the call. An error from replay stops Open and
// is returned.
//
// The directory is locked while the Log is open: a second Open of it, from
// this process or another, fails with an error wrapping ErrLocked that names
// the holder's process id.
//
// Recovery (see the package documentation) drops a torn last record, logs
// it and keeps its bytes beside the log. Any other damage makes Open return
// a *CorruptError, unless Options.DropCorrupt is set.
func Open(dir string, opts Options, replay func(rec []byte) error) (_ *Log, err error) {
	if opts.MaxRecord <= 0 {
		opts.MaxRecord = DefaultMaxRecord
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	lk, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			unlock(lk)
		}
	}()
	_ = os.Remove(filepath.Join(dir, snapshotTmp))
	_ = os.Remove(filepath.Join(dir, logTmp))
	l := &Log{dir: dir, opts: opts, lock: lk}
	l.cond = sync.NewCond(&l.mu)
	if reg := opts.Metrics; reg != nil {
		name := opts.Name
		if name == "" {
			name = filepath.Base(dir)
		}
		l.commit = reg.Histogram(metrics.JournalCommit, name)
		l.appends = reg.Counter(metrics.JournalRecords, name)
	}
	if err := l.loadSnapshot(replay); err != nil {
		return nil, err
	}
	if err := l.checkNewerLogs(); err != nil {
		return nil, err
	}
	if err := l.loadLog(replay); err != nil {
		if l.f != nil {
			l.f.Close()
		}
		return nil, err
	}
	l.removeStaleLogs()
	return l, nil
}

// Scan reads framed records from data, calling fn for each whole one. It
// returns the offset just past the last good record and whether the data
// ends in a torn record: an incomplete last frame, shorter than a frame
// header or than the length its (intact) header announces, which is what a
// crash in the middle of an append leaves. Any other bad frame is an error
// wrapping ErrCorrupt (a *CorruptError with the offset and reason), even at
// the very end: a damaged frame header, a record over maxRecord, a complete
// record whose checksum fails, or zero bytes where a frame should start. An
// error from fn is returned as is. Scan is the parser behind Open, exported
// for tools and fuzzing.
func Scan(data []byte, maxRecord int, fn func(rec []byte) error) (good int64, torn bool, err error) {
	return scanStream(bytes.NewReader(data), int64(len(data)), maxRecord, fn)
}

// scanStream is Scan over the size bytes that r yields, holding one record
// at a time: recovery needs memory for the largest record, not the file.
func scanStream(r io.Reader, size int64, maxRecord int, fn func(rec []byte) error) (good int64, torn bool, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var hdr [frameHeader]byte
	var buf []byte
	var off int64
	for off < size {
		rest := size - off
		if rest < frameHeader {
			return off, true, nil
		}
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return off, false, err
		}
		bad := func(reason string) (int64, bool, error) {
			return off, false, &CorruptError{Offset: off, Bytes: rest, Reason: reason}
		}
		n := binary.LittleEndian.Uint32(hdr[0:4])
		switch {
		case crc32.Update(crcSeed, castagnoli, hdr[0:4]) != binary.LittleEndian.Uint32(hdr[4:8]):
			if allZero(hdr[:]) && zeroReader(br, rest-frameHeader) {
				return bad(fmt.Sprintf("%d zero bytes where a record should start (an append the file system did not finish, or records overwritten with zeros)", rest))
			}
			return bad("damaged frame header")
		case uint64(n) > uint64(maxRecord):
			return bad(fmt.Sprintf("record of %d bytes over the limit of %d", n, maxRecord))
		case frameHeader+int64(n) > rest:
			return off, true, nil
		}
		if cap(buf) < int(n) {
			buf = make([]byte, n)
		}
		rec := buf[:n]
		if _, err := io.ReadFull(br, rec); err != nil {
			return off, false, err
		}
		if crc32.Update(crcSeed, castagnoli, rec) != binary.LittleEndian.Uint32(hdr[8:12]) {
			return bad("checksum mismatch in a complete record")
		}
		if err := fn(rec); err != nil {
			return off, false, err
		}
		off += frameHeader + int64(n)
	}
	return off, false, nil
}

// zeroReader reports whether the next n bytes of r are all zero.
func zeroReader(r io.Reader, n int64) bool {
	buf := make([]byte, 32<<10)
	for n > 0 {
		k, err := io.ReadFull(r, buf[:min(int64(len(buf)), n)])
		if !allZero(buf[:k]) || err != nil {
			return false
		}
		n -= int64(k)
	}
	return true
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// countIntact counts the whole records recognisable in b from offset i on:
// it looks for a valid frame at every offset and follows the frames from
// each one found.
func countIntact(b []byte, i, maxRecord int) int {
	n := 0
	for i+frameHeader <= len(b) {
		h := b[i:]
		size := binary.LittleEndian.Uint32(h[0:4])
		if crc32.Update(crcSeed, castagnoli, h[0:4]) == binary.LittleEndian.Uint32(h[4:8]) &&
			uint64(size) <= uint64(maxRecord) && frameHeader+int(size) <= len(h) &&
			crc32.Update(crcSeed, castagnoli, h[frameHeader:frameHeader+int(size)]) == binary.LittleEndian.Uint32(h[8:12]) {
			n++
			i += frameHeader + int(size)
			continue
		}
		i++
	}
	return n
}

// damage completes a *CorruptError found in the file name, whose bytes
// from the damage on are tail, and returns it.
func (l *Log) damage(name string, tail []byte, ce *CorruptError) *CorruptError {
	ce.File = name
	ce.Bytes = int64(len(tail))
	ce.Records = countIntact(tail, 1, l.opts.MaxRecord) // past the damaged frame's start
	return ce
}

// readTail returns the bytes of f from off to its end (recovery's rare
// path: damage to report and to keep).
func readTail(f *os.File, off int64) ([]byte, error) {
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(f)
}

// drop keeps tail, the bytes of the file name from off on, in a file
// beside it, logs what is dropped and records it; the caller then cuts the
// file.
func (l *Log) drop(name string, tail []byte, off int64, records int, torn bool, reason string) error {
	d := Dropped{File: name, Offset: off, Bytes: int64(len(tail)), Records: records, Torn: torn, Reason: reason}
	if d.Bytes > 0 {
		kept := filepath.Join(l.dir, fmt.Sprintf("%s.dropped-%d-%d", name, off, time.Now().UnixNano()))
		if err := l.writeFile(kept, bytes.NewReader(tail)); err != nil {
			return fmt.Errorf("journal: keeping the dropped bytes of %s: %w", name, err)
		}
		d.Kept = kept
	}
	l.opts.Logger.Warn("journal: recovery dropped bytes", "dir", l.dir, "file", name, "offset", d.Offset,
		"bytes", d.Bytes, "records", d.Records, "torn", d.Torn, "reason", d.Reason, "kept", d.Kept)
	l.dropped = append(l.dropped, d)
	return nil
}

// writeFile writes a new file from r durably (content fsynced, then the
// directory).
func (l *Log) writeFile(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = l.fsync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = l.syncDir()
	}
	return err
}

// replaceFile replaces the file name by what r yields, atomically (a
// temporary file renamed over it).
func (l *Log) replaceFile(tmp, name string, r io.Reader) error {
	tp := filepath.Join(l.dir, tmp)
	_ = os.Remove(tp)
	if err := l.writeFile(tp, r); err != nil {
		_ = os.Remove(tp)
		return err
	}
	if err := os.Rename(tp, filepath.Join(l.dir, name)); err != nil {
		_ = os.Remove(tp)
		return err
	}
	return l.syncDir()
}

// prefix returns a reader of head followed by the first n bytes of f.
func prefix(head []byte, f *os.File, n int64) io.Reader {
	return io.MultiReader(bytes.NewReader(head), io.NewSectionReader(f, 0, n))
}

// openRead opens the file name of the journal for reading, with its size.
func (l *Log) openRead(name string) (*os.File, int64, error) {
	f, err := os.Open(filepath.Join(l.dir, name))
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

func (l *Log) loadSnapshot(replay func(rec []byte) error) error {
	f, size, err := l.openRead(snapshotName)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	}
	defer f.Close()
	first := true
	good, torn, err := scanStream(f, size, l.opts.MaxRecord, func(rec []byte) error {
		if first {
			first = false
			if len(rec) != len(snapMagic)+8 || string(rec[:len(snapMagic)]) != snapMagic {
				return &CorruptError{Reason: "not a snapshot header"}
			}
			l.gen = binary.LittleEndian.Uint64(rec[len(snapMagic):])
			return nil
		}
		return replay(rec)
	})
	l.snapBytes = good
	var ce *CorruptError
	switch {
	case err != nil && !errors.As(err, &ce):
		return fmt.Errorf("journal: snapshot: %w", err) // from replay, or reading
	case ce == nil && !torn && !first:
		return nil
	case ce == nil:
		// The snapshot is renamed into place only once complete: a torn
		// one was damaged afterwards.
		ce = &CorruptError{Offset: good, Reason: "incomplete last record"}
		if first {
			ce.Reason = "no snapshot header"
		}
	}
	tail, err := readTail(f, good)
	if err != nil {
		return err
	}
	ce = l.damage(snapshotName, tail, ce)
	if first || good == 0 {
		ce.Reason += " (the snapshot's generation is unknown: it cannot be salvaged)"
		return ce
	}
	if !l.opts.DropCorrupt {
		return ce
	}
	if err := l.drop(snapshotName, tail, good, ce.Records, false, ce.Reason); err != nil {
		return err
	}
	return l.replaceFile(snapshotTmp, snapshotName, prefix(nil, f, good))
}

// logGens returns the generations of the log files in the directory.
func (l *Log) logGens() []uint64 {
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return nil
	}
	var gens []uint64
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, logPrefix) {
			continue
		}
		if g, err := strconv.ParseUint(name[len(logPrefix):], 10, 64); err == nil {
			gens = append(gens, g)
		}
	}
	return gens
}

// checkNewerLogs refuses logs of a generation after the snapshot's: they
// follow a snapshot that is gone (deleted, or replaced by an older copy).
func (l *Log) checkNewerLogs() error {
	for _, g := range l.logGens() {
		if g <= l.gen {
			continue
		}
		name := logPrefix + strconv.FormatUint(g, 10)
		data, err := os.ReadFile(filepath.Join(l.dir, name))
		if err != nil {
			return err
		}
		reason := fmt.Sprintf("log of generation %d after a snapshot of generation %d (a newer snapshot is missing)", g, l.gen)
		ce := &CorruptError{File: name, Bytes: int64(len(data)), Records: countIntact(data, 0, l.opts.MaxRecord), Reason: reason}
		if !l.opts.DropCorrupt {
			return ce
		}
		if err := l.drop(name, data, 0, ce.Records, false, reason); err != nil {
			return err
		}
		if err := os.Remove(filepath.Join(l.dir, name)); err != nil {
			return err
		}
	}
	return nil
}

// logHeader returns the first record of every log file of generation gen.
func logHeader(gen uint64) []byte {
	return AppendFrame(nil, binary.LittleEndian.AppendUint64([]byte(logMagic), gen))
}

// createLog creates the log of generation gen holding only its header
// record, atomically (so that a log file never exists without its header,
// and an empty one is damage), and opens it for appending.
func (l *Log) createLog(gen uint64) (*os.File, int64, error) {
	hdr := logHeader(gen)
	if err := l.replaceFile(logTmp, logPrefix+strconv.FormatUint(gen, 10), bytes.NewReader(hdr)); err != nil {
		return nil, 0, err
	}
	f, err := os.OpenFile(l.logPath(gen), os.O_RDWR, 0o600)
	if err != nil {
		return nil, 0, err
	}
	if _, err := f.Seek(0, 2); err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, int64(len(hdr)), nil
}

func (l *Log) loadLog(replay func(rec []byte) error) error {
	name := logPrefix + strconv.FormatUint(l.gen, 10)
	f, size, err := l.openRead(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// A new journal, or a crash right after a compaction's snapshot.
		l.f, l.logBytes, err = l.createLog(l.gen)
		return err
	case err != nil:
		return err
	}
	defer f.Close()
	hasHeader := false
	first := true
	good, torn, err := scanStream(f, size, l.opts.MaxRecord, func(rec []byte) error {
		if first {
			first = false
			if len(rec) == len(logMagic)+8 && string(rec[:len(logMagic)]) == logMagic {
				if g := binary.LittleEndian.Uint64(rec[len(logMagic):]); g != l.gen {
					return &CorruptError{Reason: fmt.Sprintf("header of generation %d", g)}
				}
				hasHeader = true
				return nil
			}
			// A log written before logs had a header record.
		}
		l.records++
		return replay(rec)
	})
	var ce *CorruptError
	if err != nil && !errors.As(err, &ce) {
		return fmt.Errorf("journal: %s: %w", name, err) // from replay, or reading
	}
	if ce != nil || torn {
		tail, err := readTail(f, good)
		if err != nil {
			return err
		}
		switch {
		case ce != nil:
			ce = l.damage(name, tail, ce)
			if !l.opts.DropCorrupt {
				return ce
			}
			err = l.drop(name, tail, good, ce.Records, false, ce.Reason)
		default:
			err = l.drop(name, tail, good, 0, true, "incomplete last record (a crash during an append)")
		}
		if err != nil {
			return err
		}
	}
	if size == 0 {
		ce = &CorruptError{File: name, Reason: "empty log (its header record is gone: the file was truncated or replaced)"}
		if !l.opts.DropCorrupt {
			return ce
		}
		if err := l.drop(name, nil, 0, 0, false, ce.Reason); err != nil {
			return err
		}
	}
	if !hasHeader {
		// Give the log its header (an old log, or one cut to nothing):
		// rewritten whole, atomically.
		hdr := logHeader(l.gen)
		if err := l.replaceFile(logTmp, name, prefix(hdr, f, good)); err != nil {
			return err
		}
		good += int64(len(hdr))
		size = good
	}
	lf, err := os.OpenFile(l.logPath(l.gen), os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	l.f = lf
	if good < size {
		if err := lf.Truncate(good); err != nil {
			return err
		}
		if err := l.fsync(lf); err != nil {
			return err
		}
	}
	if _, err := lf.Seek(good, io.SeekStart); err != nil {
		return err
	}
	l.logBytes = good
	return nil
}

// removeStaleLogs removes the logs of generations before the snapshot's
// (left by a crash during compaction).
func (l *Log) removeStaleLogs() {
	for _, g := range l.logGens() {
		if g < l.gen {
			_ = os.Remove(l.logPath(g))
		}
	}
}

// lockName is the lock file of a journal directory.
const lockName = "lock"

// ErrLocked is wrapped by the error Open returns when another Log, in this
// process or another, has the directory open.
var ErrLocked = errors.New("journal: data directory in use")

// LockedError says which process holds a journal directory (see ErrLocked).
type LockedError struct {
	Dir string
	PID string // the holder's process id as it wrote it, "" if unknown
}

func (e *LockedError) Error() string {
	if e.PID == "" {
		return "journal: data directory " + e.Dir + " in use by another process"
	}
	return "journal: data directory " + e.Dir + " in use by pid " + e.PID
}

// Unwrap returns ErrLocked.
func (e *LockedError) Unwrap() error { return ErrLocked }
