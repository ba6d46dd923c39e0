// Package journal is a durable append-only log of opaque records on the local
// file system, using only the standard library: a small, generic store for
// services that keep their state in memory and must not lose an acknowledged
// change (the pubsub example's nodes and items, a gateway's registrations).
//
// # Files
//
// A journal is a directory holding at most one snapshot file and the log that
// follows it, and a lock file:
//
//	snapshot      records describing the whole state at generation G
//	log-G         a header record naming G, then the records appended since
//	lock          holds the process id of the Log that has the directory open
//
// Each record is framed as a 4-byte little-endian length, a CRC-32C
// (Castagnoli) of the length, a CRC-32C of the payload, and the payload: a
// damaged length is detected before it is trusted. The snapshot starts with a
// header record naming its generation. A log file is created with its header
// record in place (written to a temporary file and renamed), so a log file
// is never legitimately empty.
//
// # Locking
//
// Open takes an exclusive lock on the directory (flock(2) on the lock file,
// released by the kernel however the process ends) and Close releases it: a
// second Open, from this process or another, fails with a *LockedError
// naming the holder's pid ("data directory ... in use by pid N"), so two
// services started on one directory cannot interleave their writes. On
// systems without flock (Windows, Plan 9) the directory is not locked.
//
// # Durability
//
// Append queues a record and returns its sequence number; Sync(seq) returns
// once that record and all before it are written and fsynced. Concurrent Sync
// calls share one fsync (group commit), so a service acknowledges each change
// only after it is on disk without paying one fsync per change. Options.NoSync
// skips fsync (tests and benchmarks only).
//
// # Recovery
//
// Open replays the snapshot and then the log. It tells two kinds of damage
// apart:
//
//   - A torn last record: the file ends inside a frame (fewer bytes than a
//     frame header, or than its intact header announces). A crash in the
//     middle of an append leaves exactly that, and such a record was never
//     acknowledged (Sync had not returned). Open drops it on its own.
//   - Anything else: a complete record whose checksum fails (a flipped bit,
//     even in the last record), a damaged frame header, zero bytes where a
//     record should start (a zeroed tail), an empty log (its header is gone),
//     a log whose header names another generation, a log newer than the
//     snapshot, a damaged snapshot. These may hide acknowledged records.
//     Open refuses to start with a *CorruptError (wrapping ErrCorrupt) that
//     says which file, the offset, how many bytes would be lost and how many
//     intact records it still recognises in them. With Options.DropCorrupt
//     it cuts the file at the damage instead (a damaged snapshot is cut to
//     its intact records; one whose header is damaged cannot be salvaged).
//
// Whatever Open drops is logged at Warn (file, offset, bytes, records,
// reason) through Options.Logger, listed by Log.Dropped, and kept: the bytes
// go to a file beside the damaged one (log-0.dropped-OFFSET-TIME), written
// and fsynced before the damaged file is cut, so that nothing is destroyed.
// A truncation exactly at a record boundary leaves no trace in the bytes and
// cannot be detected.
//
// Memory: Open reads each file whole, so recovery needs as much memory as the
// snapshot or the log is large (compaction keeps the log within a few times
// the live state); one record is at most Options.MaxRecord (64 MiB).
//
// # Compaction
//
// Compact writes a new snapshot (to a temporary file, fsynced, then renamed
// over the old one, with the directory fsynced) from records the caller emits,
// starts an empty log of the next generation and removes the old log. A crash
// at any point leaves either the old snapshot and log or the new snapshot
// (with an empty or missing log), never a mix.
package journal
