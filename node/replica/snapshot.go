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
	names, err := k.filesBeside()
	if err != nil {
		return nil, err
	}
	return k.received(names), nil
}

// filesBeside lists the names of the files in the store's directory.
func (k *KVState) filesBeside() ([]string, error) {
	names, err := k.fs.ReadDir(filepath.Dir(k.path))
	if err != nil {
		return nil, fmt.Errorf("node: list received snapshots: %w", err)
	}
	return names, nil
}

// received picks the files of received snapshots among names.
func (k *KVState) received(names []string) []receivedFile {
	dir, base := filepath.Split(k.path)
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
	return out
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
// crash interrupted, and of store copies made to be sent (called when the
// store opens, before any reception or copy).
func (k *KVState) removePartialSnapshots() {
	names, err := k.filesBeside()
	if err != nil {
		return
	}
	_ = k.removeFiles(k.received(names), func(f receivedFile) bool { return !f.part })
	dir, base := filepath.Split(k.path)
	for _, n := range names {
		if strings.HasPrefix(n, base+copyExt) {
			_ = k.fs.Remove(filepath.Join(dir, n))
		}
	}
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
	if k.values != nil {
		if err := k.values.storeDurable(s); err != nil {
			return err
		}
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
func (s *storeSnapshot) Size() (int64, error)               { return s.tx.Size(), nil }
func (s *storeSnapshot) WriteTo(w io.Writer) (int64, error) { return s.tx.WriteTo(w) }
func (s *storeSnapshot) Close() error                       { s.tx.Rollback(); return nil }

// OpenSnapshot implements StateMachine: it commits the store and opens a
// read transaction on the page file, which sees the store at exactly the
// index applied. It must be called where nothing is being applied (on
// the core's goroutine); a change seen meanwhile is reported as an error.
//
// A store that keeps values in the raft log (logvalues.go) cannot be sent
// as its pages: they point into this member's log. The copy is then
// made, off the core's goroutine, by the source's first Size: the pages
// go to a file beside the store, whose records then get their values from
// the log (mvcc.InternLogValuesFile), and that file is what is sent. The
// log keeps the segments the copy points into until it is closed.
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
	plain := &storeSnapshot{tx: tx, index: index, term: term}
	if k.values == nil {
		return plain, nil
	}
	oldest, ok, err := mvcc.OldestLogSegmentIn(tx)
	if err != nil {
		tx.Rollback()
		return nil, fmt.Errorf("node: open snapshot: %w", err)
	}
	if !ok {
		return plain, nil
	}
	return &internedSnapshot{storeSnapshot: plain, k: k, unpin: k.values.pin(oldest),
		path: fmt.Sprintf("%s%s%d", k.path, copyExt, k.receiving.Add(1))}, nil
}

// copyExt marks, next to the store, the file of a copy being sent whose
// values OpenSnapshot brought in from the log.
const copyExt = ".copy-"

// internedSnapshot is a copy of a store that keeps values in the raft
// log: the pages of a read transaction, written to a file and given the
// values their records point at (see KVState.OpenSnapshot).
type internedSnapshot struct {
	*storeSnapshot
	k     *KVState
	unpin func()
	path  string

	made bool
	size int64
	err  error
}

// Size makes the copy, the first time, and returns its size.
func (s *internedSnapshot) Size() (int64, error) {
	if !s.made {
		s.made = true
		s.size, s.err = s.make()
		if s.err != nil {
			s.err = fmt.Errorf("node: copy of the store at %d with the values it keeps in the log: %w", s.index, s.err)
		}
	}
	return s.size, s.err
}

func (s *internedSnapshot) make() (int64, error) {
	fsys := s.k.fs
	f, err := fsx.Create(fsys, s.path)
	if err != nil {
		return 0, err
	}
	_, err = s.tx.WriteTo(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	// The pages are written: the transaction and the log's segments
	// are needed only to read the values from now on.
	if err == nil {
		err = mvcc.InternLogValuesFile(s.path, mvcc.Options{FS: fsys}, s.k.values.ReadValue)
	}
	if err != nil {
		return 0, err
	}
	st, err := fsys.Stat(s.path)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// WriteTo streams the copy made by Size.
func (s *internedSnapshot) WriteTo(w io.Writer) (int64, error) {
	if _, err := s.Size(); err != nil {
		return 0, err
	}
	f, err := fsx.Open(s.k.fs, s.path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return io.Copy(w, io.NewSectionReader(f, 0, s.size))
}

// Close removes the copy's file and releases the log's segments.
func (s *internedSnapshot) Close() error {
	s.tx.Rollback()
	s.unpin()
	if err := s.k.fs.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("node: remove the store copy %s: %w", s.path, err)
	}
	return nil
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
	if k.values != nil {
		if err := k.values.storeDurable(s); err != nil {
			return fmt.Errorf("node: restore snapshot at %d: %w", index, err)
		}
	}
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
