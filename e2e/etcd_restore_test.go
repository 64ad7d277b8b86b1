package e2e

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/client"
)

// fillEtcd writes a history into etcd that exercises what a restore must
// carry over: versions, a transaction's several changes at one
// revision, deletions and keys created again, leases with keys, a
// revoked lease, a compaction, and auth (roles with permissions, users
// with passwords and without, auth enabled). It returns the compacted
// revision.
func fillEtcd(t *testing.T, e *etcdServer) (compacted int64) {
	t.Helper()
	cli := e.client("", "")
	defer cli.Close()
	return fillThrough(t, cli)
}

// fillThrough is fillEtcd through an etcd client of any server (etcd,
// or cairn's etcd face).
func fillThrough(t *testing.T, cli *clientv3.Client) (compacted int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(cli.Put(ctx, "a", "1"))
	must(cli.Put(ctx, "b", "1"))
	must(cli.Put(ctx, "a", "2"))
	must(cli.Txn(ctx).Then(clientv3.OpPut("t/1", "x"), clientv3.OpPut("t/2", "y"), clientv3.OpDelete("b")).Commit())
	lease, err := cli.Grant(ctx, 300)
	must(lease, err)
	must(cli.Put(ctx, "leased/1", "l", clientv3.WithLease(lease.ID)))
	must(cli.Put(ctx, "leased/2", "l", clientv3.WithLease(lease.ID)))
	must(cli.Grant(ctx, 600)) // a lease without keys
	gone, err := cli.Grant(ctx, 100)
	must(gone, err)
	must(cli.Put(ctx, "revoked", "r", clientv3.WithLease(gone.ID)))
	must(cli.Revoke(ctx, gone.ID))
	for i := range 30 {
		must(cli.Put(ctx, fmt.Sprintf("many/%02d", i), fmt.Sprint(i)))
	}
	resp, err := cli.Put(ctx, "b", "again")
	must(resp, err)
	compacted = resp.Header.Revision - 10
	must(cli.Compact(ctx, compacted, clientv3.WithCompactPhysical()))
	must(cli.Put(ctx, "a", "3"))
	must(cli.Delete(ctx, "many/1", clientv3.WithPrefix()))
	must(cli.Put(ctx, "app/config", "c"))

	must(cli.RoleAdd(ctx, "root"))
	must(cli.RoleAdd(ctx, "app"))
	must(cli.RoleGrantPermission(ctx, "app", "app/", clientv3.GetPrefixRangeEnd("app/"), clientv3.PermissionType(clientv3.PermReadWrite)))
	must(cli.RoleAdd(ctx, "reader"))
	must(cli.RoleGrantPermission(ctx, "reader", "a", "", clientv3.PermissionType(clientv3.PermRead)))
	must(cli.RoleGrantPermission(ctx, "reader", "many/", "\x00", clientv3.PermissionType(clientv3.PermRead)))
	must(cli.UserAdd(ctx, "root", "root-pw"))
	must(cli.UserGrantRole(ctx, "root", "root"))
	must(cli.UserAdd(ctx, "alice", "alice-pw"))
	must(cli.UserGrantRole(ctx, "alice", "app"))
	must(cli.UserGrantRole(ctx, "alice", "reader"))
	must(cli.UserAddWithOptions(ctx, "svc", "", &clientv3.UserAddOptions{NoPassword: true}))
	must(cli.UserGrantRole(ctx, "svc", "reader"))
	must(cli.AuthEnable(ctx))
	return compacted
}

// etcdView is what etcd answers about its state, to compare a restored
// cairn member with.
type etcdView struct {
	rev       int64
	at        map[int64][]api.KeyValue // every key at each revision from the compacted one on
	leases    map[int64][2]any         // id -> granted TTL, keys
	users     map[string][]string      // name -> roles
	roles     map[string][]api.Permission
	compacted int64
}

func fromEtcdKVs(kvs []*mvccpb.KeyValue) []api.KeyValue {
	out := []api.KeyValue{}
	for _, kv := range kvs {
		out = append(out, api.KeyValue{Key: kv.Key, Value: nilIfEmpty(kv.Value), CreateRevision: kv.CreateRevision,
			ModRevision: kv.ModRevision, Version: kv.Version, Lease: kv.Lease})
	}
	return out
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// viewEtcd reads everything through the root user.
func viewEtcd(t *testing.T, e *etcdServer, compacted int64) etcdView {
	t.Helper()
	cli := e.client("root", "root-pw")
	defer cli.Close()
	return viewThrough(t, cli, compacted)
}

// viewThrough is viewEtcd through an etcd client that may read
// everything.
func viewThrough(t *testing.T, cli *clientv3.Client, compacted int64) etcdView {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v := etcdView{at: map[int64][]api.KeyValue{}, leases: map[int64][2]any{}, users: map[string][]string{},
		roles: map[string][]api.Permission{}, compacted: compacted}
	now, err := cli.Get(ctx, "", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	v.rev = now.Header.Revision
	for rev := compacted; rev <= v.rev; rev++ {
		resp, err := cli.Get(ctx, "", clientv3.WithPrefix(), clientv3.WithRev(rev))
		if err != nil {
			t.Fatalf("etcd at revision %d: %v", rev, err)
		}
		v.at[rev] = fromEtcdKVs(resp.Kvs)
	}
	leases, err := cli.Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leases.Leases {
		ttl, err := cli.TimeToLive(ctx, l.ID, clientv3.WithAttachedKeys())
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, k := range ttl.Keys {
			keys = append(keys, string(k))
		}
		slices.Sort(keys)
		v.leases[int64(l.ID)] = [2]any{ttl.GrantedTTL, keys}
	}
	users, err := cli.UserList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users.Users {
		resp, err := cli.UserGet(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		v.users[u] = resp.Roles
	}
	roles, err := cli.RoleList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range roles.Roles {
		if r == "root" {
			v.roles[r] = nil // its powers are implied, not listed the same way
			continue
		}
		resp, err := cli.RoleGet(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		perms := []api.Permission{}
		for _, p := range resp.Perm {
			perms = append(perms, api.Permission{PermType: api.PermType(p.PermType), Key: nilIfEmpty(p.Key), RangeEnd: nilIfEmpty(p.RangeEnd)})
		}
		v.roles[r] = perms
	}
	return v
}

// viewCairn reads the same through cairn's client, as root.
func viewCairn(t *testing.T, endpoint string, compacted int64) etcdView {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cli, err := client.New(client.Config{Endpoints: []string{endpoint}, Username: "root", Password: "root-pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	v := etcdView{at: map[int64][]api.KeyValue{}, leases: map[int64][2]any{}, users: map[string][]string{},
		roles: map[string][]api.Permission{}, compacted: compacted}
	now, err := cli.Get(ctx, "\x00", client.WithFromKey())
	if err != nil {
		t.Fatal(err)
	}
	v.rev = now.Header.Revision
	for rev := compacted; rev <= v.rev; rev++ {
		resp, err := cli.Get(ctx, "\x00", client.WithFromKey(), client.WithRev(rev))
		if err != nil {
			t.Fatalf("cairn at revision %d: %v", rev, err)
		}
		kvs := []api.KeyValue{}
		for _, kv := range resp.Kvs {
			kv.Value = nilIfEmpty(kv.Value)
			kvs = append(kvs, kv)
		}
		v.at[rev] = kvs
	}
	if _, err := cli.Get(ctx, "a", client.WithRev(compacted-1)); !errors.Is(err, api.ErrCompacted) {
		t.Fatalf("cairn below the compacted revision %d: %v, want ErrCompacted", compacted, err)
	}
	leases, err := cli.Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leases.Leases {
		ttl, err := cli.TimeToLive(ctx, l.ID, true)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, k := range ttl.Keys {
			keys = append(keys, string(k))
		}
		slices.Sort(keys)
		v.leases[l.ID] = [2]any{ttl.GrantedTTL, keys}
	}
	users, err := cli.UserList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users.Users {
		resp, err := cli.UserGet(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		v.users[u] = resp.Roles
	}
	roles, err := cli.RoleList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range roles.Roles {
		if r == "root" {
			v.roles[r] = nil
			continue
		}
		resp, err := cli.RoleGet(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		perms := []api.Permission{}
		for _, p := range resp.Perm {
			p.Key, p.RangeEnd = nilIfEmpty(p.Key), nilIfEmpty(p.RangeEnd)
			perms = append(perms, p)
		}
		v.roles[r] = perms
	}
	return v
}

// TestRestoreFromEtcdSnapshot is the migration from etcd in one command:
// a real etcd 3.6 gets a history with leases, deletions, a compaction
// and auth; etcdctl saves a snapshot; ctl snapshot restore makes a cairn
// data dir of it; the cairn member started on it answers every read, at
// every revision etcd still held, as etcd did, holds its leases, users
// and roles, and lets etcd's users in with their etcd passwords.
func TestRestoreFromEtcdSnapshot(t *testing.T) {
	e := startEtcd(t)
	compacted := fillEtcd(t, e)
	dir := t.TempDir()
	snap := filepath.Join(dir, "etcd.snapshot")
	e.etcdctl("--user", "root:root-pw", "snapshot", "save", snap)
	want := viewEtcd(t, e, compacted)
	e.stop()

	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	out := ctl(t, "", "snapshot", "restore", snap, "--name", "solo", "--data-dir", filepath.Join(dir, "solo.node"),
		"--initial-advertise-peer-urls", peer)
	for _, s := range []string{"restored etcd snapshot", fmt.Sprintf("revision %d (compacted at %d)", want.rev, compacted),
		"2 leases", "3 users", "auth enabled"} {
		if !strings.Contains(out, s) {
			t.Errorf("ctl snapshot restore printed no %q:\n%s", s, out)
		}
	}
	startNode(t, dir, "--name", "solo", "--data-dir", "solo.node", "--listen-peer-urls", peer, "--listen-client-urls", clientURL)
	endpoint := strings.TrimPrefix(clientURL, "http://")
	got := viewCairn(t, endpoint, compacted)
	if got.rev != want.rev {
		t.Errorf("cairn is at revision %d, etcd was at %d", got.rev, want.rev)
	}
	for rev := compacted; rev <= want.rev; rev++ {
		if !reflect.DeepEqual(got.at[rev], want.at[rev]) {
			t.Errorf("at revision %d cairn has\n%+v\netcd had\n%+v", rev, got.at[rev], want.at[rev])
		}
	}
	for _, part := range []struct {
		name      string
		got, want any
	}{{"leases", got.leases, want.leases}, {"users", got.users, want.users}, {"roles", got.roles, want.roles}} {
		if !reflect.DeepEqual(part.got, part.want) {
			t.Errorf("%s: cairn has\n%v\netcd had\n%v", part.name, part.got, part.want)
		}
	}
	if len(want.leases) != 2 || len(want.users) != 3 || len(want.at[want.rev]) < 20 {
		t.Fatalf("etcd's state is not what the test meant to make: %d leases, %d users, %d keys", len(want.leases), len(want.users), len(want.at[want.rev]))
	}

	// etcd's users keep their passwords and their permissions.
	eps := "--endpoints=" + endpoint
	if out := ctl(t, "", eps, "--user", "alice:alice-pw", "get", "app/config"); out != "app/config\nc\n" {
		t.Errorf("alice reads app/config: %q", out)
	}
	if out, code := ctlCode(t, "", eps, "--user", "alice:alice-pw", "put", "b", "x"); code == 0 || !strings.Contains(out, "permission denied") {
		t.Errorf("alice wrote b outside her roles: exit %d %s", code, out)
	}
	if out, code := ctlCode(t, "", eps, "--user", "alice:wrong", "get", "a"); code == 0 || !strings.Contains(out, "authentication failed") {
		t.Errorf("alice with a wrong password: exit %d %s", code, out)
	}
	if out, code := ctlCode(t, "", eps, "--user", "svc:anything", "get", "a"); code == 0 {
		t.Errorf("svc, without a password in etcd, authenticated by password: %s", out)
	}
	// The restored member takes writes on top of etcd's history.
	if out := ctl(t, "", eps, "--user", "root:root-pw", "put", "after", "restore"); !strings.Contains(out, "OK") {
		t.Errorf("put after the restore: %s", out)
	}
}

// TestRestoreFromDamagedEtcdSnapshot: a truncated etcd snapshot and one
// with a flipped byte are refused with a clear error, leaving no data
// dir.
func TestRestoreFromDamagedEtcdSnapshot(t *testing.T) {
	e := startEtcd(t)
	cli := e.client("", "")
	for i := range 20 {
		if _, err := cli.Put(context.Background(), fmt.Sprintf("k%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	cli.Close()
	dir := t.TempDir()
	snap := filepath.Join(dir, "etcd.snapshot")
	e.etcdctl("snapshot", "save", snap)
	raw, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	flipped := slices.Clone(raw)
	flipped[len(flipped)/3] ^= 0x01
	for _, tt := range []struct {
		name, wantErr string
		data          []byte
	}{
		{"truncated", "no SHA-256 at its end", raw[:len(raw)-1000]},
		{"flipped", "etcd snapshot is damaged", flipped},
	} {
		path := filepath.Join(dir, tt.name+".snapshot")
		if err := os.WriteFile(path, tt.data, 0o600); err != nil {
			t.Fatal(err)
		}
		dataDir := filepath.Join(dir, tt.name+".node")
		out, code := ctlCode(t, "", "snapshot", "restore", path, "--data-dir", dataDir)
		if code != 1 || !strings.Contains(out, tt.wantErr) {
			t.Errorf("%s: exit %d, %q; want exit 1 and an error mentioning %q", tt.name, code, out, tt.wantErr)
		}
		if _, err := os.Stat(dataDir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: the failed restore left %s (%v)", tt.name, dataDir, err)
		}
	}
	// The intact file restores.
	if out := ctl(t, "", "snapshot", "restore", snap, "--data-dir", filepath.Join(dir, "good.node")); !strings.Contains(out, "20 keys") {
		t.Errorf("restore of the intact snapshot printed %q", out)
	}
}
