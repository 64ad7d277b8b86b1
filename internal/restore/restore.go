// Package restore creates the data dir of a member of a new cluster from
// a snapshot file: cairn's own (`ctl snapshot save`: a copy of a member's
// store) or etcd's (`etcdctl snapshot save`: etcd 3's bbolt file with its
// SHA-256 appended), told apart by their contents. ctl runs it (`ctl
// snapshot restore`), and so does the server (node.RestoreSnapshot); it
// does not link the server.
//
// Run it once per member of the new cluster, with the same snapshot and
// the same initial cluster and token: every member gets the same state,
// new member ids and a new cluster id (the old cluster's membership and
// alarms are dropped), so the restored cluster can never exchange
// messages with the old one. Then start each member on its data dir.
//
// A restore that fails leaves no data dir behind (nor a member dir in a
// data dir that existed).
package restore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/auth"
	"github.com/cairndb/cairn/btreekv/mvcc"
	"github.com/cairndb/cairn/internal/datadir"
	"github.com/cairndb/cairn/internal/fsx"
	"github.com/cairndb/cairn/logstore"
	"github.com/cairndb/cairn/raftcore"
)

// Member is the member of the new cluster whose data dir a restore
// creates.
type Member struct {
	Name string
	// DataDir must not hold a member already.
	DataDir string
	// PeerURLs are the member's own (--initial-advertise-peer-urls).
	PeerURLs []url.URL
	// InitialCluster maps every member's name to its peer URLs.
	InitialCluster      map[string][]url.URL
	InitialClusterToken string
}

// check reports what is wrong with m, naming the flag.
func (m *Member) check() error {
	switch {
	case m.Name == "":
		return errors.New("--name must not be empty")
	case m.DataDir == "":
		return errors.New("--data-dir must not be empty")
	case len(m.PeerURLs) == 0:
		return errors.New("--initial-advertise-peer-urls must not be empty")
	}
	for i := range m.PeerURLs {
		if err := datadir.CheckURL(&m.PeerURLs[i]); err != nil {
			return fmt.Errorf("--initial-advertise-peer-urls %s: %w", m.PeerURLs[i].String(), err)
		}
	}
	return datadir.CheckInitialCluster(m.Name, m.PeerURLs, m.InitialCluster)
}

// Options tune a restore.
type Options struct {
	// SkipHashCheck restores an etcd snapshot without checking the
	// SHA-256 at its end: needed for a db file copied out of an etcd data
	// dir, which has none (as etcdutl's --skip-hash-check).
	SkipHashCheck bool
}

// Format is the kind of a snapshot file.
type Format string

// The formats Snapshot reads.
const (
	FormatCairn Format = "cairn"
	FormatEtcd  Format = "etcd"
)

// Report says what a restore put in the data dir.
type Report struct {
	Format Format `json:"format"`
	// Revision is the store's revision; CompactRevision the oldest one
	// it can still read from (0: never compacted).
	Revision        int64 `json:"revision"`
	CompactRevision int64 `json:"compactRevision"`
	// Keys is how many keys exist at Revision.
	Keys int64 `json:"keys"`
	// Leases is how many leases the store holds.
	Leases int `json:"leases"`
	// Users and Roles are how many the auth state holds; AuthEnabled
	// whether authentication is on.
	Users       int  `json:"users"`
	Roles       int  `json:"roles"`
	AuthEnabled bool `json:"authEnabled"`
	// Notes are what the operator must know and act on (a user whose
	// password could not be carried over, ...), one sentence each.
	Notes []string `json:"notes,omitempty"`
}

// Snapshot creates the data dir of member m of a new cluster from the
// snapshot file at path, cairn's or etcd's.
func Snapshot(path string, m Member, opts Options) (rep Report, err error) {
	if err := m.check(); err != nil {
		return Report{}, fmt.Errorf("restore: %w", err)
	}
	format, err := detect(path)
	if err != nil {
		return Report{}, fmt.Errorf("restore: %w", err)
	}
	memberPath := filepath.Join(m.DataDir, datadir.MemberDir)
	if _, err := os.Stat(memberPath); err == nil {
		return Report{}, fmt.Errorf("restore: --data-dir %s already holds a member; restore into a new directory", m.DataDir)
	}
	_, statErr := os.Stat(m.DataDir)
	newDataDir := errors.Is(statErr, fs.ErrNotExist)
	if err := os.MkdirAll(memberPath, 0o700); err != nil {
		return Report{}, fmt.Errorf("restore: --data-dir %s: %w", m.DataDir, err)
	}
	defer func() {
		if err == nil {
			return
		}
		if newDataDir {
			_ = os.RemoveAll(m.DataDir)
		} else {
			_ = os.RemoveAll(memberPath)
		}
	}()
	dbPath := filepath.Join(memberPath, datadir.DBFile)
	rep.Format = format
	var store *mvcc.Store
	switch format {
	case FormatEtcd:
		store, err = restoreEtcd(path, dbPath, m.InitialClusterToken, opts, &rep)
	default:
		store, err = restoreCairn(path, dbPath)
	}
	if err != nil {
		return Report{}, fmt.Errorf("restore: %s: %w", path, err)
	}
	defer func() {
		if cerr := store.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("restore: %w", cerr)
		}
	}()
	if err := bootstrap(store, memberPath, m); err != nil {
		return Report{}, fmt.Errorf("restore: %w", err)
	}
	if err := rep.describe(store); err != nil {
		return Report{}, fmt.Errorf("restore: %w", err)
	}
	return rep, nil
}

// Inspect checks that the file at path is a snapshot, cairn's or etcd's
// (an etcd one's SHA-256 checked as a restore checks it), and reports
// what a restore would put in a data dir. It reads the file into a store
// in a temporary directory, removed before it returns, and leaves the
// file as it was.
func Inspect(path string, opts Options) (rep Report, err error) {
	format, err := detect(path)
	if err != nil {
		return Report{}, fmt.Errorf("inspect: %w", err)
	}
	dir, err := os.MkdirTemp("", "cairn-inspect-")
	if err != nil {
		return Report{}, fmt.Errorf("inspect: %w", err)
	}
	defer os.RemoveAll(dir)
	dbPath := filepath.Join(dir, datadir.DBFile)
	rep.Format = format
	var store *mvcc.Store
	switch format {
	case FormatEtcd:
		store, err = restoreEtcd(path, dbPath, "", opts, &rep)
	default:
		store, err = restoreCairn(path, dbPath)
	}
	if err != nil {
		return Report{}, fmt.Errorf("inspect: %s: %w", path, err)
	}
	defer func() {
		if cerr := store.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("inspect: %w", cerr)
		}
	}()
	if err := rep.describe(store); err != nil {
		return Report{}, fmt.Errorf("inspect: %s: %w", path, err)
	}
	return rep, nil
}

// detect tells an etcd snapshot (a bbolt file: its meta pages carry
// bbolt's magic number after a 16-byte page header) from anything else,
// which is taken for cairn's and judged when opened as a store.
func detect(path string) (Format, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, 4096+20)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	if n == 0 {
		return "", fmt.Errorf("%s is empty, not a snapshot", path)
	}
	if isBolt(head[:n]) {
		return FormatEtcd, nil
	}
	return FormatCairn, nil
}

// bootstrap makes the store that of member m of the new cluster: the
// membership computed from m's initial cluster, as a new cluster's is,
// replaces the old one, alarms and the duplicate filter's records go,
// and the write-ahead log starts with a snapshot at the store's index
// (the store holds everything up to it; a member that needs it is sent a
// copy of the store).
func bootstrap(store *mvcc.Store, memberPath string, m Member) error {
	index, term := max(store.ConsistentIndex(), 1), max(store.AppliedTerm(), 1)
	names := make([]string, 0, len(m.InitialCluster))
	for name := range m.InitialCluster {
		names = append(names, name)
	}
	sort.Strings(names)
	var members []api.Member
	var ids []uint64
	var self uint64
	for _, name := range names {
		us := m.InitialCluster[name]
		mm := api.Member{ID: datadir.MemberID(us, m.InitialClusterToken), Name: name, PeerURLs: datadir.URLStrings(us)}
		members = append(members, mm)
		ids = append(ids, mm.ID)
		if name == m.Name {
			self = mm.ID
		}
	}
	clusterID := datadir.ClusterID(ids)
	tw := store.Write(index, term)
	for _, prefix := range []string{datadir.AuxMember, datadir.AuxRemoved, datadir.AuxAlarm, datadir.AuxDedup} {
		for _, r := range tw.Aux([]byte(prefix)) {
			if err := tw.PutAux(r.Key, nil); err != nil {
				_ = tw.End()
				return err
			}
		}
	}
	for _, mm := range members {
		if err := tw.PutAux(datadir.AuxIDKey(datadir.AuxMember, mm.ID), datadir.EncodeMember(mm)); err != nil {
			_ = tw.End()
			return err
		}
	}
	if err := tw.End(); err != nil {
		return err
	}
	if err := store.Commit(); err != nil {
		return err
	}
	wal, err := logstore.Open(logstore.Options{FS: fsx.OS{}, Dir: filepath.Join(memberPath, datadir.WALDir), Create: true,
		Metadata: []byte(fmt.Sprintf("cluster=%016x member=%016x", clusterID, self))})
	if err != nil {
		return fmt.Errorf("create log: %w", err)
	}
	snap := raftcore.Snapshot{Metadata: raftcore.SnapshotMetadata{Index: index, Term: term,
		ConfState: raftcore.ConfState{Voters: slices.Sorted(slices.Values(ids))}}}
	if err := wal.ApplySnapshot(snap); err != nil {
		_ = wal.Close()
		return fmt.Errorf("write snapshot to the log: %w", err)
	}
	if err := wal.Save(raftcore.HardState{Term: term, Commit: index}, nil); err != nil {
		_ = wal.Close()
		return err
	}
	return wal.Close()
}

// describe fills the report's summary of the restored store.
func (rep *Report) describe(store *mvcc.Store) error {
	rep.Revision, rep.CompactRevision = store.Rev(), store.CompactRev()
	res, err := store.Range([]byte{0}, []byte{0}, mvcc.RangeOptions{CountOnly: true})
	if err != nil {
		return err
	}
	rep.Keys = res.Count
	rep.Leases = len(store.Leases())
	a, err := loadAuth(store)
	if err != nil {
		return err
	}
	rep.Users, rep.Roles, rep.AuthEnabled = len(a.Users()), len(a.Roles()), a.Enabled()
	return nil
}

// loadAuth reads the auth state from the store's records.
func loadAuth(store *mvcc.Store) (*auth.State, error) {
	var recs []auth.Record
	for _, r := range store.Aux([]byte(datadir.AuxAuth)) {
		recs = append(recs, auth.Record{Key: string(r.Key[len(datadir.AuxAuth):]), Value: r.Value})
	}
	a := auth.New()
	if err := a.Load(recs); err != nil {
		return nil, err
	}
	return a, nil
}

// restoreCairn copies a cairn snapshot into place as the member's store
// and opens it, checking its auth records.
func restoreCairn(path, dbPath string) (*mvcc.Store, error) {
	if err := copyFileSynced(path, dbPath); err != nil {
		return nil, err
	}
	store, err := mvcc.Open(dbPath, mvcc.Options{FS: fsx.OS{}})
	if err != nil {
		return nil, fmt.Errorf("neither a cairn snapshot nor an etcd one: %w", err)
	}
	if _, err := loadAuth(store); err != nil {
		_ = store.Close()
		return nil, fmt.Errorf("the snapshot's auth records: %w", err)
	}
	return store, nil
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
