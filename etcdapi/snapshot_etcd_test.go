package etcdapi_test

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cairndb/cairn/internal/datadir"
	"github.com/cairndb/cairn/internal/restore"
)

// TestSnapshotIsEtcds: etcd's Snapshot call gets an etcd snapshot (the
// restore of one reads it as etcd's, with the member's revision,
// compaction, keys and leases), and leaves nothing in the data dir but
// what was there: the work directory of a snapshot a crash interrupted
// (another process's) goes too.
func TestSnapshotIsEtcds(t *testing.T) {
	c := startCluster(t, 1)
	ctx := ctxT(t)
	cli := etcdClient(t, c.Endpoints()...)
	for _, k := range []string{"a", "b", "c", "d"} {
		must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, k, "v"))
	}
	must[*clientv3.DeleteResponse](t, "delete")(cli.Delete(ctx, "b"))
	must[*clientv3.CompactResponse](t, "compact")(cli.Compact(ctx, 4))
	l := must[*clientv3.LeaseGrantResponse](t, "grant")(cli.Grant(ctx, 100))
	last := must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, "l", "v", clientv3.WithLease(l.ID)))

	memberDir := filepath.Join(c.Configs[0].DataDir, datadir.MemberDir)
	stale := filepath.Join(memberDir, "etcd-snapshot-0-left-by-a-crash")
	if err := os.MkdirAll(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadDir(memberDir)
	if err != nil {
		t.Fatal(err)
	}

	rc, err := cli.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "snapshot.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(f, rc)
	rc.Close()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	rep, err := restore.Inspect(path, restore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := restore.Report{Format: restore.FormatEtcd, Revision: last.Header.Revision, CompactRevision: 4, Keys: 4, Leases: 1}
	if rep.Format != want.Format || rep.Revision != want.Revision || rep.CompactRevision != want.CompactRevision ||
		rep.Keys != want.Keys || rep.Leases != want.Leases {
		t.Fatalf("the snapshot reads as %+v, want %+v", rep, want)
	}

	after, err := os.ReadDir(memberDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before)-1 {
		t.Fatalf("member dir before the snapshot %v, after %v: want it without the stale work directory only", names(before), names(after))
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("the stale work directory is still there: %v", err)
	}
}

func names(es []os.DirEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// A snapshot's work directory that a crash left behind (it may hold two
// copies of the store) is removed when the member starts again, not only
// by its next etcd snapshot.
func TestStaleSnapshotWorkIsRemovedAtStart(t *testing.T) {
	c := startCluster(t, 1)
	memberDir := filepath.Join(c.Configs[0].DataDir, datadir.MemberDir)
	stale := filepath.Join(memberDir, "etcd-snapshot-0-left-by-a-crash")
	c.StopMember(0)
	if err := os.MkdirAll(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	c.StartMember(0)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("the stale work directory is still there after a restart (stat: %v)", err)
	}
}
