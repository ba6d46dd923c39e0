// Package journal is a durable append-only log of opaque records on the local
// file system, using only the standard library: a small, generic store for
// services that keep their state in memory and must not lose an acknowledged
// change (the pubsub example's nodes and items, a gateway's registrations).
//
// # Files
//
// A journal is a directory holding at most one snapshot file and the log that
// follows it:
//
//	snapshot      records describing the whole state at generation G
//	log.G         records appended since that snapshot
//
// Each record is framed as a 4-byte little-endian length, a CRC-32C
// (Castagnoli) of the length, a CRC-32C of the payload, and the payload: a
// damaged length is detected before it is trusted. The snapshot starts with a
// header record naming its generation.
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
// Open replays the snapshot and then the log. A torn last record (a crash in
// the middle of a write: a short frame, or a final frame whose checksum does
// not match and that is followed by nothing but zero bytes) is dropped and the file
// truncated to the last whole record: such a record was never acknowledged.
// A bad record followed by more data is corruption, not a torn write: Open
// returns an error wrapping ErrCorrupt instead of silently losing what
// follows.
//
// # Compaction
//
// Compact writes a new snapshot (to a temporary file, fsynced, then renamed
// over the old one, with the directory fsynced) from records the caller emits,
// starts an empty log of the next generation and removes the old log. A crash
// at any point leaves either the old snapshot and log or the new snapshot
// (with an empty or missing log), never a mix.
package journal
