package node

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/cairndb/cairn/internal/fsx"
	"github.com/cairndb/cairn/logstore"
	"github.com/cairndb/cairn/raftcore"
)

// RestoreSnapshot creates the data dir of one member of a new cluster from
// a snapshot file (a copy of a member's store, as `ctl snapshot save`
// writes it). Run it once per member of the new cluster, with the same
// snapshot and the same --initial-cluster and --initial-cluster-token:
// every member gets the same state, new member ids and a new cluster id
// (the old cluster's membership and alarms are dropped), so the restored
// cluster can never exchange messages with the old one. Then start each
// member with its data dir.
//
// cfg is the member's configuration; cfg.DataDir must not hold a member
// already.
func RestoreSnapshot(snapshotPath string, cfg Config) (err error) {
	if err := cfg.Validate(); err != nil {
		return err
	}
	memberPath := filepath.Join(cfg.DataDir, memberDir)
	if _, err := os.Stat(memberPath); err == nil {
		return fmt.Errorf("--data-dir %s already holds a member; restore into a new directory", cfg.DataDir)
	}
	if err := os.MkdirAll(memberPath, 0o700); err != nil {
		return fmt.Errorf("--data-dir %s: %w", cfg.DataDir, err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(memberPath)
		}
	}()
	dbPath := filepath.Join(memberPath, dbFile)
	if err := copyFileSynced(snapshotPath, dbPath); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	state, err := OpenKVState(fsx.OS{}, dbPath)
	if err != nil {
		return fmt.Errorf("restore: %s is not a cairn store snapshot: %w", snapshotPath, err)
	}
	defer func() {
		if cerr := state.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	store := state.Store()
	index, term := max(store.ConsistentIndex(), 1), max(store.AppliedTerm(), 1)

	// The new membership, computed from --initial-cluster as a new
	// cluster's is, replaces the old one in the store.
	names := make([]string, 0, len(cfg.InitialCluster))
	for name := range cfg.InitialCluster {
		names = append(names, name)
	}
	sort.Strings(names)
	var members []Member
	var ids []uint64
	var self uint64
	for _, name := range names {
		us := cfg.InitialCluster[name]
		m := Member{ID: MemberID(us, cfg.InitialClusterToken), Name: name, PeerURLs: urlStrings(us)}
		members = append(members, m)
		ids = append(ids, m.ID)
		if name == cfg.Name {
			self = m.ID
		}
	}
	clusterID := ClusterID(ids)
	tw := store.Write(index, term)
	for _, prefix := range []string{auxMember, auxRemoved, auxAlarm, auxDedup} {
		for _, r := range tw.Aux([]byte(prefix)) {
			if err := tw.PutAux(r.Key, nil); err != nil {
				_ = tw.End()
				return fmt.Errorf("restore: %w", err)
			}
		}
	}
	for _, m := range members {
		if err := tw.PutAux(auxIDKey(auxMember, m.ID), encodeMember(m)); err != nil {
			_ = tw.End()
			return fmt.Errorf("restore: %w", err)
		}
	}
	if err := tw.End(); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := store.Commit(); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	// The log starts with a snapshot at the store's index: the store holds
	// everything up to it (a member that needs the store is sent a copy
	// of it, streamed from a read transaction).
	wal, err := logstore.Open(logstore.Options{FS: fsx.OS{}, Dir: filepath.Join(memberPath, walDir), Create: true,
		Metadata: []byte(fmt.Sprintf("cluster=%016x member=%016x", clusterID, self))})
	if err != nil {
		return fmt.Errorf("restore: create log: %w", err)
	}
	snap := raftcore.Snapshot{Metadata: raftcore.SnapshotMetadata{Index: index, Term: term,
		ConfState: raftcore.ConfState{Voters: slices.Sorted(slices.Values(ids))}}}
	if err := wal.ApplySnapshot(snap); err != nil {
		_ = wal.Close()
		return fmt.Errorf("restore: write snapshot to the log: %w", err)
	}
	if err := wal.Save(raftcore.HardState{Term: term, Commit: index}, nil); err != nil {
		_ = wal.Close()
		return fmt.Errorf("restore: %w", err)
	}
	return wal.Close()
}

// copyFileSynced copies src to dst durably.
func copyFileSynced(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	return errors.Join(err, out.Close())
}
