package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/btreekv/mvcc"
	"github.com/cairndb/cairn/internal/fsx"
)

// requestKind is the first byte of a command in the raft log: which API
// request the rest of it encodes.
type requestKind uint8

const (
	kindPut requestKind = iota + 1
	kindDeleteRange
	kindTxn
	kindCompaction
	kindLeaseGrant
	kindLeaseRevoke
)

// EncodeRequest encodes an API write request as a raft log command.
func EncodeRequest(req api.Message) ([]byte, error) {
	var kind requestKind
	switch req.(type) {
	case *api.PutRequest:
		kind = kindPut
	case *api.DeleteRangeRequest:
		kind = kindDeleteRange
	case *api.TxnRequest:
		kind = kindTxn
	case *api.CompactionRequest:
		kind = kindCompaction
	case *api.LeaseGrantRequest:
		kind = kindLeaseGrant
	case *api.LeaseRevokeRequest:
		kind = kindLeaseRevoke
	default:
		return nil, fmt.Errorf("node: %T is not a write request", req)
	}
	return api.AppendMarshal([]byte{byte(kind)}, req), nil
}

// ApplyResult is what applying a command returns to its proposer: the
// API response, or the error the request failed with (an error here is
// the request's outcome, the same on every member, not a server fault).
type ApplyResult struct {
	Resp api.Message
	Err  error
}

// KVState is the replicated key-value state machine: the MVCC store,
// driven by the raft log.
type KVState struct {
	fs    fsx.FS
	path  string
	opts  mvcc.Options
	store *mvcc.Store
}

var _ StateMachine = (*KVState)(nil)

// OpenKVState opens the store in the page file at path.
func OpenKVState(fs fsx.FS, path string) (*KVState, error) {
	opts := mvcc.Options{FS: fs}
	s, err := mvcc.Open(path, opts)
	if err != nil {
		return nil, err
	}
	return &KVState{fs: fs, path: path, opts: opts, store: s}, nil
}

// Store is the MVCC store, for reads.
func (k *KVState) Store() *mvcc.Store { return k.store }

// Close closes the store.
func (k *KVState) Close() error { return k.store.Close() }

// Apply implements StateMachine.
func (k *KVState) Apply(index, term uint64, data []byte) any {
	resp, err := k.apply(index, term, data)
	return ApplyResult{Resp: resp, Err: err}
}

func (k *KVState) apply(index, term uint64, data []byte) (api.Message, error) {
	s := k.store
	if len(data) == 0 {
		return nil, errors.New("node: empty command")
	}
	body := data[1:]
	decode := func(m api.Message) error {
		if err := api.Unmarshal(body, m); err != nil {
			return fmt.Errorf("node: command at index %d: %w", index, err)
		}
		return nil
	}
	switch requestKind(data[0]) {
	case kindPut:
		var req api.PutRequest
		if err := decode(&req); err != nil {
			return nil, err
		}
		return s.Put(index, term, &req)
	case kindDeleteRange:
		var req api.DeleteRangeRequest
		if err := decode(&req); err != nil {
			return nil, err
		}
		return s.DeleteRange(index, term, &req)
	case kindTxn:
		var req api.TxnRequest
		if err := decode(&req); err != nil {
			return nil, err
		}
		return s.Txn(index, term, &req)
	case kindCompaction:
		var req api.CompactionRequest
		if err := decode(&req); err != nil {
			return nil, err
		}
		// Record the applied index even though compaction changes no
		// key; then compact.
		if err := s.Write(index, term).End(); err != nil {
			return nil, err
		}
		if err := s.Compact(req.Revision); err != nil {
			return nil, err
		}
		return &api.CompactionResponse{Header: api.ResponseHeader{Revision: s.Rev()}}, nil
	case kindLeaseGrant:
		var req api.LeaseGrantRequest
		if err := decode(&req); err != nil {
			return nil, err
		}
		if err := s.LeaseGrant(index, term, req.ID, req.TTL); err != nil {
			return nil, err
		}
		return &api.LeaseGrantResponse{Header: api.ResponseHeader{Revision: s.Rev()}, ID: req.ID, TTL: req.TTL}, nil
	case kindLeaseRevoke:
		var req api.LeaseRevokeRequest
		if err := decode(&req); err != nil {
			return nil, err
		}
		if _, err := s.LeaseRevoke(index, term, req.ID); err != nil {
			return nil, err
		}
		return &api.LeaseRevokeResponse{Header: api.ResponseHeader{Revision: s.Rev()}}, nil
	}
	// Record the index of a command we do not understand, so that a
	// restart does not apply it again, and fail it.
	_ = s.Write(index, term).End()
	return nil, fmt.Errorf("node: command at index %d has unknown kind %d", index, data[0])
}

// Skip implements StateMachine.
func (k *KVState) Skip(index, term uint64) { _ = k.store.Write(index, term).End() }

// AppliedIndex implements StateMachine: the index durable in the store.
func (k *KVState) AppliedIndex() uint64 { return k.store.ConsistentIndex() }

// Snapshot implements StateMachine: the whole page file, after committing
// everything applied.
func (k *KVState) Snapshot() ([]byte, error) {
	if err := k.store.Commit(); err != nil {
		return nil, err
	}
	f, err := fsx.Open(k.fs, k.path)
	if err != nil {
		return nil, fmt.Errorf("node: snapshot: %w", err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, fmt.Errorf("node: snapshot: %w", err)
	}
	data := make([]byte, size)
	if _, err := f.ReadAt(data, 0); err != nil {
		return nil, fmt.Errorf("node: snapshot: read %s: %w", k.path, err)
	}
	return data, nil
}

// Restore implements StateMachine: the page file is replaced atomically by
// the snapshot's (written to a temporary file, synced, renamed).
func (k *KVState) Restore(data []byte, index uint64) error {
	if len(data) == 0 {
		return fmt.Errorf("node: restore at %d: empty snapshot", index)
	}
	if err := k.store.Close(); err != nil {
		return fmt.Errorf("node: restore: close store: %w", err)
	}
	tmp := k.path + ".restore"
	f, err := k.fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err == nil {
		_, err = f.WriteAt(data, 0)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = k.fs.Rename(tmp, k.path)
	}
	if err == nil {
		err = k.fs.SyncDir(filepath.Dir(k.path))
	}
	if err != nil {
		return fmt.Errorf("node: restore snapshot at %d: %w", index, err)
	}
	s, err := mvcc.Open(k.path, k.opts)
	if err != nil {
		return fmt.Errorf("node: restore snapshot at %d: reopen: %w", index, err)
	}
	k.store = s
	if got := s.ConsistentIndex(); got != index {
		return fmt.Errorf("node: restored snapshot holds index %d, raft says %d", got, index)
	}
	return nil
}
