package replica

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cairndb/cairn/btreekv/mvcc"
	"github.com/cairndb/cairn/btreekv/pagefile"
	"github.com/cairndb/cairn/internal/fsx"
)

// Raft snapshots of a KVState.
//
// The store's page file holds, with every commit, the raft index and term
// of the last entry it covers, so the store is its own snapshot: taking a
// raft snapshot is committing the store (Persist) and recording the index
// in the log. Nothing is copied.
//
// Sending one (OpenSnapshot) opens a read transaction on the page file
// right after a commit, on the core's goroutine, where nothing is being
// applied: the transaction sees the store exactly at the index the member
// applied. The transport streams the page file as that transaction sees
// it (pagefile.Tx.WriteTo) while the member goes on applying: a chunk of
// memory, whatever the size of the store.
//
// Receiving one (ReceiveSnapshot) writes the stream to a temporary file
// next to the store, a chunk at a time, then fsyncs it and renames it to
// <store>.snap-<index>: a crash leaves either no received snapshot or a
// whole one, and the store untouched. Only then does the transport
// deliver the MsgSnap to raft. Installing it (Restore), once the log has
// recorded the snapshot durably, renames the received file over the store
// and reopens it. A crash before that rename leaves the old store and the
// received file; the core finds the log's snapshot newer than the store
// at start and calls Restore again.

// snapshotExt separates a received snapshot's index from the store's
// name; partExt marks the temporary file of one being received.
const (
	snapshotExt = ".snap-"
	partExt     = ".part"
)

// receivedPath is where the snapshot at index, once received whole, waits
// to be installed.
func (k *KVState) receivedPath(index uint64) string {
	return fmt.Sprintf("%s%s%016x", k.path, snapshotExt, index)
}

// receivedFile is a file of a received snapshot next to the store.
type receivedFile struct {
	path  string
	index uint64
	part  bool // still being received (or abandoned by a crash)
}

// receivedFiles lists the files of received snapshots.
func (k *KVState) receivedFiles() ([]receivedFile, error) {
	dir, base := filepath.Split(k.path)
	names, err := k.fs.ReadDir(filepath.Clean(dir))
	if err != nil {
		return nil, fmt.Errorf("node: list received snapshots: %w", err)
	}
	var out []receivedFile
	for _, n := range names {
		rest, ok := strings.CutPrefix(n, base+snapshotExt)
		if !ok || len(rest) < 16 {
			continue
		}
		index, err := strconv.ParseUint(rest[:16], 16, 64)
		if err != nil {
			continue
		}
		out = append(out, receivedFile{path: filepath.Join(dir, n), index: index, part: len(rest) > 16})
	}
	return out, nil
}

// removeReceived removes the received snapshots for which keep is false,
// as far as it can: a file left behind costs only disk space.
func (k *KVState) removeReceived(keep func(receivedFile) bool) error {
	files, err := k.receivedFiles()
	if err != nil {
		return err
	}
	return k.removeFiles(files, keep)
}

// removeFiles removes the received snapshots among files for which keep
// is false.
func (k *KVState) removeFiles(files []receivedFile, keep func(receivedFile) bool) error {
	var errs []error
	for _, f := range files {
		if !keep(f) {
			if err := k.fs.Remove(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// removePartialSnapshots removes the temporary files of receptions a
// crash interrupted (called when the store opens, before any reception).
func (k *KVState) removePartialSnapshots() {
	_ = k.removeReceived(func(f receivedFile) bool { return !f.part })
}

// DropReceivedSnapshots removes every received snapshot: the core calls
// it at start, once the log's snapshot is installed, when none of them
// can be needed any more.
func (k *KVState) DropReceivedSnapshots() error {
	return k.removeReceived(func(receivedFile) bool { return false })
}

// Persist implements StateMachine: it commits the store, which records the
// index applied with the data, and drops the received snapshots that
// index has overtaken, but the newest (see ReceiveSnapshot).
func (k *KVState) Persist() error {
	s := k.Store()
	if err := s.Commit(); err != nil {
		return err
	}
	applied := s.ConsistentIndex()
	files, err := k.receivedFiles()
	if err != nil {
		return nil // a file left behind costs only disk space
	}
	var newest uint64 // of the snapshots received whole
	for _, f := range files {
		if !f.part {
			newest = max(newest, f.index)
		}
	}
	_ = k.removeFiles(files, func(f receivedFile) bool { return f.part || f.index > applied || f.index == newest })
	return nil
}

// storeSnapshot is a copy of the store at one index: a read transaction
// on its page file.
type storeSnapshot struct {
	tx          *pagefile.Tx
	index, term uint64
}

func (s *storeSnapshot) Index() uint64                      { return s.index }
func (s *storeSnapshot) Term() uint64                       { return s.term }
func (s *storeSnapshot) Size() int64                        { return s.tx.Size() }
func (s *storeSnapshot) WriteTo(w io.Writer) (int64, error) { return s.tx.WriteTo(w) }
func (s *storeSnapshot) Close() error                       { s.tx.Rollback(); return nil }

// OpenSnapshot implements StateMachine: it commits the store and opens a
// read transaction on the page file, which sees the store at exactly the
// index applied. It must be called where nothing is being applied (on
// the core's goroutine); a change seen meanwhile is reported as an error.
func (k *KVState) OpenSnapshot() (SnapshotSource, error) {
	s := k.Store()
	if err := s.Commit(); err != nil {
		// The store cannot be made durable (its disk is full, or
		// failed): the member stops, as when a Persist fails, rather than
		// lead on with a store no later commit can reach.
		return nil, k.fail(fmt.Errorf("node: open snapshot: commit store: %w: %w", ErrStorageFailed, err))
	}
	index, term := s.ConsistentIndex(), s.AppliedTerm()
	tx, err := s.DB().Begin(false)
	if err != nil {
		return nil, fmt.Errorf("node: open snapshot: %w", err)
	}
	// The transaction began between two reads of the same committed
	// index, with nothing applied but not committed: it sees that index.
	if s.ConsistentIndex() != index || s.AppliedIndex() != index || s.AppliedTerm() != term {
		tx.Rollback()
		return nil, fmt.Errorf("node: open snapshot: the store changed while the snapshot was opened (index %d, now %d)", index, s.AppliedIndex())
	}
	return &storeSnapshot{tx: tx, index: index, term: term}, nil
}

// ReceiveSnapshot stores the copy of a leader's store for the snapshot at
// index, size bytes read from r, where Restore(index) will find it. r must
// report damaged or incomplete data as an error, not io.EOF (the
// transport checks the stream's checksum). The data goes to a temporary
// file, a chunk at a time, which is fsynced and then renamed into place:
// a crash leaves either no received snapshot or a whole one, and never
// touches the store. It may be called from any goroutine.
//
// A snapshot at or below the index the store has applied is kept too:
// raft takes any snapshot past its commit index, and a member whose log
// lost entries its store holds (repair.go) has a commit index below its
// store's. The core's goroutine removes the ones it can no longer need
// (Persist, Restore, DropReceivedSnapshots), never this one, which may be
// installing one while another arrives.
func (k *KVState) ReceiveSnapshot(index uint64, size int64, r io.Reader) error {
	final := k.receivedPath(index)
	part := fmt.Sprintf("%s.%d%s", final, k.receiving.Add(1), partExt)
	err := func() error {
		f, err := fsx.Create(k.fs, part)
		if err != nil {
			return err
		}
		n, err := io.Copy(f, r)
		if err == nil && n != size {
			err = fmt.Errorf("received %d bytes, the leader announced %d", n, size)
		}
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = k.fs.Rename(part, final)
		}
		if err == nil {
			err = k.fs.SyncDir(filepath.Dir(final))
		}
		return err
	}()
	if err != nil {
		_ = k.fs.Remove(part)
		return fmt.Errorf("node: receive snapshot at %d into %s: %w", index, part, err)
	}
	return nil
}

// Restore implements StateMachine: the received copy of the leader's store
// for index replaces the store (a rename, made durable), which is
// reopened. The received snapshots it overtakes are dropped.
func (k *KVState) Restore(index uint64) error {
	recv := k.receivedPath(index)
	if _, err := k.fs.Stat(recv); err != nil {
		return fmt.Errorf("node: restore snapshot at %d: no copy of the leader's store was received for it: %w", index, err)
	}
	if err := k.Store().Close(); err != nil {
		return fmt.Errorf("node: restore snapshot at %d: close store: %w", index, err)
	}
	if err := k.fs.Rename(recv, k.path); err != nil {
		return fmt.Errorf("node: restore snapshot at %d: replace the store with %s: %w", index, recv, err)
	}
	if err := k.fs.SyncDir(filepath.Dir(k.path)); err != nil {
		return fmt.Errorf("node: restore snapshot at %d: %w", index, err)
	}
	s, err := mvcc.Open(k.path, k.opts)
	if err != nil {
		return fmt.Errorf("node: restore snapshot at %d: open the store received as %s: %w", index, recv, err)
	}
	k.store.Store(s)
	if got := s.ConsistentIndex(); got != index {
		return fmt.Errorf("node: restored snapshot holds index %d, raft says %d", got, index)
	}
	if err := k.loadAux(); err != nil {
		return fmt.Errorf("node: restore snapshot at %d: %w", index, err)
	}
	_ = k.removeReceived(func(f receivedFile) bool { return f.part || f.index > index })
	if k.OnRestore != nil {
		k.OnRestore()
	}
	return nil
}
