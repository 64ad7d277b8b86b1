// Package pagefile is a crash-safe, copy-on-write B+tree stored in a file
// of fixed-size pages: the storage layer under cairn's MVCC engine. It
// holds named buckets of sorted keys; it commits a transaction's changes
// atomically and durably; readers see consistent snapshots while one
// writer works.
//
// # The file
//
// The file is an array of pages (4 KiB by default), named by their index,
// the page id:
//
//	page 0   meta page, written by transactions with even ids
//	page 1   meta page, written by transactions with odd ids
//	page 2.. nodes of the trees, the freelist, or free pages
//
// Every page run (one page, or several contiguous ones for a node too
// large for one) starts with a 16-byte header:
//
//	crc32c (4) | type (1) | level (1) | unused (2) | element count (4) | overflow pages (4)
//
// The CRC-32C covers the whole run after its own four bytes, so a torn or
// damaged page is reported as ErrCorrupt, naming the page, instead of
// being read as data. Past the checksum, the structure is checked too, so
// that even a page damaged consistently with its checksum (by a bug, say)
// gives an error, never a panic or an endless loop: the type (meta, branch, leaf, freelist) must be what the reader
// expected; a node's level (0 for a leaf, one more than its children's
// for a branch) must be one below its parent's, which rules out cycles
// and uneven depths; every page id read from the file must lie inside it;
// lengths must fit their page and keys must be in order within a node.
// Check verifies the rest (order across nodes, every page accounted for).
//
// A meta page records the page size, the transaction id, the root of the
// bucket directory, the freelist's page and the high-water mark (how many
// pages the file has).
//
// # The tree
//
// Each bucket is a B+tree, and so is the bucket directory, which maps a
// bucket's name to its tree's root page. Leaves hold sorted keys with
// their values. A branch holds one separator key per child: child i
// holds the keys in [key i, key i+1) — the first child's separator is
// never compared, it takes everything below the second. To find a key,
// walk from the root, taking in each branch the last child whose
// separator is not greater than the key.
//
// Insertion adds the key to its leaf; a node that no longer fits in a
// page is split near a page's worth, and its parent gets a separator for
// the new right part (the first key of that part). A root that splits
// gets a new root above it: the tree grows at the top, so all leaves stay
// at the same depth. A single entry larger than a page keeps a leaf to
// itself, spanning a run of "overflow" pages.
//
// Deletion removes the key from its leaf. An emptied node is dropped from
// its parent; a node under a quarter full is merged with a neighbour when
// the two fit in one page. A root branch left with one child is replaced
// by that child. Separators are never raised on delete: a separator only
// needs to be a lower bound of its child's keys.
//
// # Copy on write
//
// A write transaction never changes a page that the last committed tree
// uses. The first time it changes a node it copies it into memory
// ("writable"), and so every node on the path from the root down to it:
// the new tree shares every untouched subtree with the old one. The
// pages of the replaced nodes are recorded as freed by the transaction.
//
// Commit:
//
//  1. gives each changed node a page (children before parents, so each
//     parent can record its children's new page ids) — a free page, or a
//     new one past the end of the file;
//  2. writes those pages and the new freelist;
//  3. syncs the file;
//  4. writes the meta page of the other slot (transaction id + 1) that
//     points at the new root and freelist;
//  5. syncs again.
//
// Open reads both meta pages and picks the valid one with the higher
// transaction id. A crash before step 5 completes leaves the old meta
// page valid, and everything the old tree uses untouched (the commit only
// wrote to pages the old tree considers free); a crash after it leaves
// the new tree complete. Either way the file holds a whole committed
// tree: there is no recovery to run.
//
// # Pipelined commits
//
// Steps 2-5 are I/O, and a writer need not wait for them: Tx.Freeze does
// step 1 and builds the freelist, and makes the new tree the database's
// current one; Frozen.Write does the rest, on whatever goroutine calls
// it. Meanwhile readers and the next write transaction work on the frozen
// tree. Its nodes are immutable from the freeze on (copy on write: a
// writer copies a node before changing it), and until they are on disk
// they are pinned in memory, where page lookups find them before the
// cache and the file. The next writer allocates only pages the frozen
// tree does not use, and the pages the frozen commit freed stay pending
// until its meta page is durable, so no later commit can write a page
// the durable tree uses. Commits are written one at a time, in order:
// Freeze first writes (or waits for) the previous frozen commit, which
// holds back a writer faster than the disk. So the file always holds a
// prefix of the frozen commits, and a crash leaves the last one whose
// meta page was synced. Tx.Commit is Freeze then Write.
//
// If a commit's write fails, whether it happened is unknown until the
// file is reopened (its meta page may have been written), and a writer
// may already be building on it, so the database refuses writes until
// then (ErrNeedsReopen); reads go on.
//
// # Free pages and readers
//
// A read transaction pins the tree current when it began (the last one
// frozen, durable or not) and sees exactly that tree, reading nodes
// through a cache of decoded committed nodes (immutable, so shared by
// every transaction; it holds what is read — the leaves a commit writes
// enter it only once read, and a ReadOnce scan leaves them out — within
// Options.CacheBytes). It never waits for the writer, and the writer never
// waits for it. That is safe only if no page a reader can reach is
// overwritten while it reads: pages freed by the commit with transaction
// id T were part of tree T-1, so readers of trees before T may still
// reach them. They wait in a pending list tagged T and become reusable
// once every open reader began at T or later and commit T is durable. The
// freelist on disk lists free and pending pages together, as spans of
// contiguous pages (first page, length): after a restart there are no
// readers, so all of them are free. Spans keep the list, which every
// commit copies and writes, short after a compaction frees many pages:
// 400,000 free pages in runs of 17 cost a commit 1 ms and 376 KB
// instead of 7 ms and 3.2 MB as one id per page (BenchmarkFreelistCommit).
// Files written with one id per page still open.
//
// # Invariants
//
// The page file asserts its invariants where they can break, and a
// violation is an error, never a panic and never tolerated: an
// *invariant.Error naming the invariant and the page, such as
//
//	pagefile: invariant "page freed once" violated: page 17 freed twice
//
// The commit that finds it fails before its meta page is written, so the
// file keeps its previous tree; the layer above (package mvcc) stops
// writing, and the member stops with the message. Always on, because they
// cost no more than the commit's own work: every commit refuses a page
// freed twice (or by two overlapping runs), a page freed while already
// free or pending, a page freed by the commit that writes a node to it,
// and a meta page or one past the end freed; and a writer refuses a free
// list holding a page twice. With Options.StrictMode (tests, fuzzing and
// crash tests turn it on) every commit also walks the whole new tree from
// the file before writing its meta page, as Check does: every page used
// once or free once ("page used once"), keys sorted within and across
// pages ("keys sorted"), leaves at one depth ("tree balanced"), pages that
// decode ("pages decode"), and the file and freelist agreeing with the
// meta page ("meta consistent").
//
// # Maintenance
//
// Check walks the whole file and verifies that every page is used once or
// free, and that every tree is well ordered and balanced. Defragment
// copies the live data into a new, compact file while writers go on,
// catches up with what they committed meanwhile (comparing two trees
// costs only their differences: the subtrees they share are skipped),
// and renames the copy over the old file in a short pause of the writers.
// Stats counts pages in use, free and pending. Tx.WriteTo streams a copy of the file as a read transaction sees it (for a backup,
// or for a follower that needs the whole store) while writers go on, in
// memory of one chunk: the pages the transaction's tree uses cannot be
// reused while it is open, and its own meta page goes into both slots.
package pagefile
