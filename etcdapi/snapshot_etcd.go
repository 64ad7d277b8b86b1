package etcdapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"strings"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/btreekv/mvcc"
	"github.com/cairndb/cairn/internal/datadir"
	"github.com/cairndb/cairn/internal/etcdsnap"
	"github.com/cairndb/cairn/internal/fsx"
	"github.com/cairndb/cairn/node"
)

// An etcd client's snapshot (`etcdctl snapshot save`) is an etcd 3.6
// snapshot (package etcdsnap), which etcd's own tools read. It is made
// in three steps, each on disk in a directory of its own in the member's
// data dir (a store may be gigabytes), removed at the end:
//
//  1. the member's own snapshot (node.Server.Snapshot: a copy of its
//     store at one applied index, checked against its SHA-256) is
//     written to a file: that copy is the one consistent read;
//  2. the copy is opened as a store and written as etcd's database
//     (etcdsnap.Write);
//  3. the database is streamed with its SHA-256, in chunks, each
//     response saying how many bytes are left.
//
// The disk it takes, for the time of the call, is the store's size and
// about as much again for etcd's database. The work directory is named
// after the member's process: one a crash left behind is removed by the
// next etcd snapshot.

// workDirPrefix begins the name of a snapshot's work directory, followed
// by the id of the process that made it.
const workDirPrefix = "etcd-snapshot-"

// workPrefix is the pattern of this process's work directories.
func workPrefix() string { return fmt.Sprintf("%s%d-", workDirPrefix, os.Getpid()) }

// removeStaleWork removes the work directories a process that is gone
// (the member before a crash or a restart) left in memberDir: they may
// hold two copies of the store. Those of this process belong to
// snapshots under way.
func removeStaleWork(memberDir string) {
	entries, err := os.ReadDir(memberDir)
	if err != nil {
		return // the MkdirTemp that follows reports it
	}
	for _, e := range entries {
		if name := e.Name(); e.IsDir() && strings.HasPrefix(name, workDirPrefix) && !strings.HasPrefix(name, workPrefix()) {
			_ = os.RemoveAll(filepath.Join(memberDir, name))
		}
	}
}

// etcdSnapshotChunk is the size of a response's blob (etcd sends 32 KiB).
const etcdSnapshotChunk = 32 << 10

// serveEtcdSnapshot streams the member's store as an etcd snapshot.
func (m maintenanceServer) serveEtcdSnapshot(st pb.Maintenance_SnapshotServer) error {
	memberDir := filepath.Join(m.s.Config().DataDir, datadir.MemberDir)
	removeStaleWork(memberDir)
	work, err := os.MkdirTemp(memberDir, workPrefix())
	if err != nil {
		return fmt.Errorf("etcd snapshot: a work directory in %s: %w", memberDir, err)
	}
	defer os.RemoveAll(work)

	copyPath := filepath.Join(work, "store")
	if err := m.copyStore(st, copyPath); err != nil {
		return err
	}
	dbPath := filepath.Join(work, "etcd.db")
	if err := writeEtcdDB(st.Context(), copyPath, dbPath); err != nil {
		return err
	}
	_ = os.Remove(copyPath) // its space back before the stream

	snap, err := etcdsnap.Open(dbPath)
	if err != nil {
		return err
	}
	defer snap.Close()
	dbSize := uint64(snap.Size() - etcdsnap.HashSize)
	out := &etcdSnapshotSender{st: st, data: dbSize, left: dbSize}
	if _, err := snap.WriteTo(out); err != nil {
		return err
	}
	return out.flush()
}

// copyStore writes the member's own snapshot to path (the store's page
// file, its checksum checked and left out).
func (m maintenanceServer) copyStore(st pb.Maintenance_SnapshotServer, path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("etcd snapshot: %w", err)
	}
	c := &storeCopy{f: f, h: sha256.New()}
	err = m.s.Snapshot(st.Context(), &api.SnapshotRequest{}, c)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("etcd snapshot: %w", cerr)
	}
	if err == nil {
		err = c.check()
	}
	return err
}

// writeEtcdDB opens the copy of the store at copyPath (a store of its
// own, which nothing else writes) and writes it as etcd's database at
// dbPath.
func writeEtcdDB(ctx context.Context, copyPath, dbPath string) (err error) {
	store, err := mvcc.Open(copyPath, mvcc.Options{FS: fsx.OS{}})
	if err != nil {
		return fmt.Errorf("etcd snapshot: open the copy of the store: %w", err)
	}
	defer func() {
		if cerr := store.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("etcd snapshot: %w", cerr)
		}
	}()
	_, err = etcdsnap.Write(ctx, dbPath, store)
	return err
}

// storeCopy receives the member's own snapshot stream (node.SnapshotSender)
// into a file: the data, whose SHA-256 it computes, then the last
// checksumSize bytes, the checksum, held back.
type storeCopy struct {
	f    *os.File
	h    hash.Hash
	tail []byte // the last bytes received, at most node.SnapshotChecksumSize
}

func (c *storeCopy) Send(r *api.SnapshotResponse) error {
	buf := append(c.tail, r.Blob...)
	if n := len(buf) - node.SnapshotChecksumSize; n > 0 {
		if _, err := c.f.Write(buf[:n]); err != nil {
			return fmt.Errorf("etcd snapshot: copy the store: %w", err)
		}
		c.h.Write(buf[:n])
		buf = append(buf[:0], buf[n:]...)
	}
	c.tail = buf
	return nil
}

// check reports whether the checksum received is that of the data.
func (c *storeCopy) check() error {
	if len(c.tail) != node.SnapshotChecksumSize || !bytes.Equal(c.tail, c.h.Sum(nil)) {
		return errors.New("etcd snapshot: the copy of the store does not match its checksum")
	}
	return nil
}

// etcdSnapshotSender sends what is written to it (the database, then its
// SHA-256) as etcd's snapshot responses: the database in chunks of
// etcdSnapshotChunk bytes (the last shorter), each with the database bytes
// still to come, then the checksum alone (remaining 0), none with a
// header.
type etcdSnapshotSender struct {
	st      pb.Maintenance_SnapshotServer
	data    uint64 // database bytes not yet buffered; the checksum follows them
	left    uint64 // database bytes not yet sent
	buf     []byte
	bufData bool // buf holds database bytes (a chunk never mixes them with the checksum)
}

func (s *etcdSnapshotSender) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if s.buf == nil {
			s.buf = make([]byte, 0, etcdSnapshotChunk)
		}
		n := min(len(p), etcdSnapshotChunk-len(s.buf))
		if s.data > 0 {
			n = int(min(uint64(n), s.data))
			s.data -= uint64(n)
			s.bufData = true
		}
		s.buf = append(s.buf, p[:n]...)
		p, written = p[n:], written+n
		if len(s.buf) == etcdSnapshotChunk || (s.bufData && s.data == 0) {
			if err := s.flush(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// flush sends what is buffered.
func (s *etcdSnapshotSender) flush() error {
	if len(s.buf) == 0 {
		return nil
	}
	if s.bufData {
		s.left -= uint64(len(s.buf))
	}
	err := s.st.Send(&pb.SnapshotResponse{RemainingBytes: s.left, Blob: s.buf, Version: node.EtcdAPIVersion})
	s.buf, s.bufData = s.buf[:0], false
	return err
}
