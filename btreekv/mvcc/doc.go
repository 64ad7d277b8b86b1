// Package mvcc is cairn's multi-version key-value store: every change gets
// a revision, reads can ask for any revision not yet compacted, and a
// watcher can follow every change after a revision.
//
// # Revisions
//
// The store's revision counts write transactions: each Put, DeleteRange,
// Txn or lease revoke that changes something advances it by one, and
// every change inside it gets the revision (main, sub) — main the new
// store revision, sub its position in the transaction. A key's version
// counts its puts since it was created; deleting it writes a tombstone and
// ends that "generation" of the key, and a later put starts a new one
// (version 1, create revision = that put's).
//
// # Storage
//
// Records live in the page file (package pagefile), keyed by revision, so
// the history of the whole store is one ordered sequence:
//
//	bucket "key":     revision (16 bytes, big endian) -> flag + encoded KeyValue
//	                  (flag 'p' for a put, 't' for a deletion tombstone; 'v'
//	                  and 'l' for a put whose value is elsewhere, see below)
//	bucket "value":   revision -> the value of a 'v' record
//	bucket "logrefs": (raft log segment, offset) -> revision and value length
//	                  of an 'l' record
//	bucket "meta":    applied raft index and term, compacted revision
//	bucket "lease":   lease id -> TTL
//
// A value of 2 KiB or more is stored out of line ('v'), in the "value"
// bucket, so that the records stay small (record.go). A value of at least
// Options.MinLogValue bytes that the put was given as a slice of its raft
// entry is not written to the page file at all: its record ('l') points
// at the value's bytes in the raft log's segment file, which holds them
// durably already, and "logrefs" lists the places records point at
// (logvalues.go). Every reader goes through one function that fetches
// and checks (length, CRC-32C) a value wherever it is; a value lost or
// changed in the log is reported as corruption. The store tells the log
// which segments it still needs (OldestLogSegment, the first key of
// "logrefs" in the durable page file); compaction deletes references
// with their records, and a collector run by Commit moves the few live
// values out of old segments into the page file once the log takes more
// than max(Options.MinRetainedLog, 2 x the live values). A copy of the
// page file sent to another member carries pointers into the sender's
// log: the sender sends the values LogRefsIn lists with it, and the
// receiver moves them into its copy (InternLogValues). Open reads every
// record, as before, and every entry of "logrefs" (one small entry per
// value in the log) to count the live values and check them against the
// records.
//
// An in-memory index maps each key to its generations, each a list of
// revisions ending, if the key was deleted, with the tombstone's. It is
// packed to cost little per key (about 43 bytes for a key written once,
// docs/memory.md): runs of consecutive keys share a leaf that keeps their
// common prefix once and their histories as varints in one byte slice,
// and a hash table of fingerprints names the leaf of a single key. A
// history is packed newest first, so a write changes only its first
// bytes and a read at the current revision decodes only those: neither
// costs more for a key with a long history (a counter, a lock key).
// A read at revision R looks up, for each key in the range, the newest
// revision <= R in the generation alive at R, and fetches those records.
// The index and the map of leased keys know everything a write needs of
// a key's current version but its value (revisions, version, lease), so
// a put or a compare on those reads nothing from the page file; the
// previous value is read only when asked for (prev_kv, or a watcher that
// wants previous versions). The index is rebuilt from the "key" bucket on
// open.
//
// Compact(R) drops from the index every revision no read at R or later
// can see — for each key, everything older than its version current at
// R, and whole generations deleted at or before R — then deletes their
// records from the page file in small batches. StartCompact(R), which the
// server's apply loop calls, records R and leaves that work to the
// following Commits, a part each, so that writes go on meanwhile.
//
// # Durability and the consistent index
//
// Writes are batched into page-file transactions. A batch ends when it
// reaches Options.BatchLimit changes or when the caller calls Commit (the
// server does, on an interval): the store records the applied raft index
// and term in it and freezes it (pagefile.Tx.Freeze), which takes the
// store's lock only for the in-memory part. Reads see the frozen tree at
// once, and the next batch is applied on top of it while the frozen one's
// pages are written and synced: by Commit, without the lock, or by the
// next batch's freeze, which first waits for the previous write (one
// batch is written at a time). Since the index is written in the same
// page-file transaction as the changes it covers, after a crash
// ConsistentIndex says exactly which log entries the store holds, and the
// server replays the raft log after it. While a batch is being written,
// ConsistentIndex (durable) lags AppliedIndex (applied): whatever relies
// on the store holding entries across a crash — a raft snapshot,
// compacting the log — calls Commit and then uses ConsistentIndex. Reads
// see the open batch's changes through an in-memory overlay of the
// records written since the last freeze.
//
// # Invariants
//
// The store asserts, on every write and on every record Open loads, that
// revisions increase (a write transaction's is one past the store's, a
// key's changes each newer than the last) and that a key's generations are
// well formed: created <= modified, a tombstone ends a live generation,
// versions count up by one from 1. A violation is an *invariant.Error
// naming the invariant (mvcc: invariant "revisions increasing" violated:
// ...): the write fails the store (ErrStoreFailed from then on, Err
// reports it), Open refuses the file, and the member stops with the
// message. The store returns errors, it never panics. Options.StrictPages
// turns on the page file's StrictMode, a whole-file check at every commit
// (the tests do).
//
// # Watch
//
// A watcher receives, in revision order, every event in its key range
// from its start revision on. Watchers that keep up get each write
// transaction's events as it ends; one that falls behind (its channel is
// full, or it started in the past) is caught up from the page file by
// SyncWatchers, which the server calls periodically; writes never wait
// for a slow watcher.
package mvcc
