package mam

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/journal"
	"xmppkit.dev/stanza"
)

// Journal is a Memory whose messages are also written to a journal on disk
// (package journal): Append returns once the message is durable, and
// OpenJournal rebuilds the archives from the journal, with the same ids,
// times and bounds. The log is compacted when it holds more than twice the
// live messages, so the disk holds about as much as the memory: bounded by
// MaxPerArchive per archive.
type Journal struct {
	Memory
	log  *journal.Log
	noGC bool
	// logMu orders the log's records as the memory's appends, and
	// compaction with both.
	logMu sync.Mutex
	live  int // messages kept, for the compaction threshold; under mu
}

// JournalOptions configure OpenJournal.
type JournalOptions struct {
	// MaxPerArchive and Now are as in Memory.
	MaxPerArchive int
	Now           func() time.Time
	// NoSync skips fsync (tests and benchmarks only, journal.Options).
	NoSync bool
	// NoCompact never compacts the log (for tests of the replay).
	NoCompact bool
}

// The first byte of a record: what it records.
const (
	recordMessage = 1 // an archived message
	recordRemove  = 2 // the removal of a whole archive
)

// OpenJournal opens (creating if needed) the archive journal in dir.
func OpenJournal(dir string, opts JournalOptions) (*Journal, error) {
	j := &Journal{Memory: Memory{MaxPerArchive: opts.MaxPerArchive, Now: opts.Now}, noGC: opts.NoCompact}
	l, err := journal.Open(dir, journal.Options{NoSync: opts.NoSync}, func(rec []byte) error {
		k, msg, err := decodeRecord(rec)
		if err != nil {
			return err
		}
		j.mu.Lock()
		defer j.mu.Unlock()
		if msg.Stanza == nil {
			delete(j.archives, k)
			return nil
		}
		_, err = j.appendLocked(k, msg)
		if errors.Is(err, ErrDuplicateID) {
			return nil // already there: a record written twice around a compaction
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("mam: opening the journal: %w", err)
	}
	j.log = l
	j.live = j.count()
	return j, nil
}

func (j *Journal) count() int {
	j.mu.RLock()
	defer j.mu.RUnlock()
	n := 0
	for _, s := range j.archives {
		n += s.n()
	}
	return n
}

// Append archives msg (see Memory.Append) and returns once it is on disk.
func (j *Journal) Append(archive jid.JID, msg Message) (Message, error) {
	return j.AppendNode(archive, "", msg)
}

// AppendNode is Append for a pubsub node's archive (XEP-0442).
func (j *Journal) AppendNode(archive jid.JID, node string, msg Message) (Message, error) {
	if msg.Stanza == nil {
		return Message{}, errors.New("mam: Append without a stanza")
	}
	msg.Stanza = msg.Stanza.Clone()
	k := keyOf(archive, node)
	j.logMu.Lock()
	j.mu.Lock()
	before := j.storeLen(k)
	out, err := j.appendLocked(k, msg)
	if err == nil {
		j.live += j.storeLen(k) - before
	}
	j.mu.Unlock()
	if err != nil {
		j.logMu.Unlock()
		return Message{}, err
	}
	seq, err := j.log.Append(encodeRecord(k, out))
	compact := err == nil && !j.noGC && j.log.Records() > 2*j.live+64
	j.logMu.Unlock()
	if err != nil {
		return Message{}, fmt.Errorf("mam: journal: %w", err)
	}
	if err := j.log.Sync(seq); err != nil {
		return Message{}, fmt.Errorf("mam: journal: %w", err)
	}
	if compact {
		if err := j.Compact(); err != nil {
			return out, err
		}
	}
	return out, nil
}

func (j *Journal) storeLen(k key) int {
	if s := j.archives[k]; s != nil {
		return s.n()
	}
	return 0
}

// Compact rewrites the journal as the messages kept now.
func (j *Journal) Compact() error {
	j.logMu.Lock()
	defer j.logMu.Unlock()
	j.mu.RLock()
	defer j.mu.RUnlock()
	return j.log.Compact(func(write func([]byte) error) error {
		for k, s := range j.archives {
			for i := s.off; i < len(s.msgs); i++ {
				if err := write(encodeRecord(k, s.msgs[i])); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// Remove deletes a whole archive (see Memory.Remove) and records it in the
// journal; it returns once that is durable.
func (j *Journal) Remove(archive jid.JID, node string) (bool, error) {
	k := keyOf(archive, node)
	j.logMu.Lock()
	j.mu.Lock()
	_, ok := j.archives[k]
	j.live -= j.storeLen(k)
	delete(j.archives, k)
	j.mu.Unlock()
	if !ok {
		j.logMu.Unlock()
		return false, nil
	}
	seq, err := j.log.Append(encodeRemove(k))
	j.logMu.Unlock()
	if err == nil {
		err = j.log.Sync(seq)
	}
	if err != nil {
		return true, fmt.Errorf("mam: journal: %w", err)
	}
	return true, nil
}

// Close closes the journal.
func (j *Journal) Close() error { return j.log.Close() }

var _ Extended = (*Journal)(nil)

// encodeRecord writes one archived message: recordMessage, then archive,
// node, id and with as length-prefixed strings, the time in Unix
// nanoseconds, and the stanza's XML.
func encodeRecord(k key, m Message) []byte {
	b := appendStrings([]byte{recordMessage}, k.archive, k.node, m.ID, m.With.String())
	b = binary.AppendVarint(b, m.Time.UnixNano())
	return m.Stanza.AppendXML(b)
}

// encodeRemove writes the removal of an archive: recordRemove, archive,
// node.
func encodeRemove(k key) []byte {
	return appendStrings([]byte{recordRemove}, k.archive, k.node)
}

func appendStrings(b []byte, strs ...string) []byte {
	for _, s := range strs {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// decodeRecord reads a record of encodeRecord (a Message with a Stanza) or
// encodeRemove (a Message without), checking everything: a damaged record
// is an error, never a panic.
func decodeRecord(rec []byte) (key, Message, error) {
	bad := func(what string) (key, Message, error) {
		return key{}, Message{}, fmt.Errorf("mam: bad journal record: %s", what)
	}
	if len(rec) == 0 || (rec[0] != recordMessage && rec[0] != recordRemove) {
		return bad("kind")
	}
	kind := rec[0]
	rec = rec[1:]
	var strs [4]string
	n := 4
	if kind == recordRemove {
		n = 2
	}
	for i := range n {
		n, w := binary.Uvarint(rec)
		if w <= 0 || n > uint64(len(rec)-w) {
			return bad("length")
		}
		strs[i] = string(rec[w : w+int(n)])
		rec = rec[w+int(n):]
	}
	archive, err := jid.Parse(strs[0])
	if err != nil || archive.String() != strs[0] || archive.Resource() != "" {
		return bad("archive")
	}
	if kind == recordRemove {
		if len(rec) != 0 {
			return bad("trailing bytes")
		}
		return key{strs[0], strs[1]}, Message{}, nil
	}
	ns, w := binary.Varint(rec)
	if w <= 0 {
		return bad("time")
	}
	rec = rec[w:]
	m := Message{ID: strs[2], Time: time.Unix(0, ns).UTC()}
	if m.ID == "" {
		return bad("id")
	}
	if strs[3] != "" {
		if m.With, err = jid.Parse(strs[3]); err != nil {
			return bad("with")
		}
	}
	st, err := stanza.Decode(rec)
	if err != nil || st.Kind != stanza.Message {
		return bad("stanza")
	}
	m.Stanza = st
	return key{strs[0], strs[1]}, m, nil
}
