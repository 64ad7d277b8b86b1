package etcdapi_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// keysOf lists the keys of a get.
func keysOf(r *clientv3.GetResponse) string {
	var ks []string
	for _, kv := range r.Kvs {
		ks = append(ks, string(kv.Key))
	}
	return strings.Join(ks, ",")
}

// TestKVThroughClientv3 runs every KV option through etcd's client
// against a 3-member cluster, each call at a different member.
func TestKVThroughClientv3(t *testing.T) {
	c := startCluster(t, 3)
	ctx := ctxT(t)
	cli := etcdClient(t, c.Endpoints()...)
	at := func(i int) *clientv3.Client { return etcdClient(t, c.Endpoint(i)) }

	put := must[*clientv3.PutResponse](t, "put")
	for i, k := range []string{"a/1", "a/2", "a/3", "b/1"} {
		put(at(i%3).Put(ctx, k, fmt.Sprintf("v%d", i)))
	}
	first := put(cli.Put(ctx, "a/2", "again", clientv3.WithPrevKV()))
	if first.PrevKv == nil || string(first.PrevKv.Value) != "v1" || first.Header.ClusterId == 0 || first.Header.MemberId == 0 || first.Header.RaftTerm == 0 {
		t.Fatalf("put with prev_kv: %+v", first)
	}
	rev := first.Header.Revision

	get := must[*clientv3.GetResponse](t, "get")
	cases := []struct {
		name string
		key  string
		opts []clientv3.OpOption
		want string
	}{
		{"single", "a/1", nil, "a/1"},
		{"prefix", "a/", []clientv3.OpOption{clientv3.WithPrefix()}, "a/1,a/2,a/3"},
		{"from key", "a/3", []clientv3.OpOption{clientv3.WithFromKey()}, "a/3,b/1"},
		{"range", "a/2", []clientv3.OpOption{clientv3.WithRange("b/")}, "a/2,a/3"},
		{"limit", "a/", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithLimit(2)}, "a/1,a/2"},
		{"sort descending", "a/", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend)}, "a/3,a/2,a/1"},
		{"sort by mod", "", []clientv3.OpOption{clientv3.WithFromKey(), clientv3.WithSort(clientv3.SortByModRevision, clientv3.SortAscend)}, "a/1,a/3,b/1,a/2"},
		{"at an old revision", "a/2", []clientv3.OpOption{clientv3.WithRev(rev - 1)}, "a/2"},
		{"serializable", "b/1", []clientv3.OpOption{clientv3.WithSerializable()}, "b/1"},
		{"min mod revision", "", []clientv3.OpOption{clientv3.WithFromKey(), clientv3.WithMinModRev(rev)}, "a/2"},
		{"max create revision", "a/", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithMaxCreateRev(rev - 3)}, "a/1,a/2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := get(cli.Get(ctx, tc.key, tc.opts...))
			if got := keysOf(r); got != tc.want {
				t.Fatalf("keys %q, want %q", got, tc.want)
			}
		})
	}
	if r := get(cli.Get(ctx, "a/2", clientv3.WithRev(rev-1))); string(r.Kvs[0].Value) != "v1" {
		t.Errorf("a/2 at revision %d = %q, want v1", rev-1, r.Kvs[0].Value)
	}
	if r := get(cli.Get(ctx, "a/", clientv3.WithPrefix(), clientv3.WithLimit(1))); !r.More || r.Count != 3 {
		t.Errorf("limited get: more %v count %d, want true 3", r.More, r.Count)
	}
	if r := get(cli.Get(ctx, "a/", clientv3.WithPrefix(), clientv3.WithCountOnly())); r.Count != 3 || len(r.Kvs) != 0 {
		t.Errorf("count only: %+v", r)
	}
	if r := get(cli.Get(ctx, "a/1", clientv3.WithKeysOnly())); len(r.Kvs) != 1 || len(r.Kvs[0].Value) != 0 {
		t.Errorf("keys only: %+v", r.Kvs)
	}
	kv := get(cli.Get(ctx, "a/2")).Kvs[0]
	if kv.Version != 2 || kv.ModRevision != rev || kv.CreateRevision != 3 {
		t.Errorf("a/2 metadata %+v, want version 2, mod %d, create 3 (the first write is revision 2)", kv, rev)
	}

	// Leases on keys, ignore_value and ignore_lease.
	lease := must[*clientv3.LeaseGrantResponse](t, "grant")(cli.Grant(ctx, 60))
	put(cli.Put(ctx, "l", "with-lease", clientv3.WithLease(lease.ID)))
	put(cli.Put(ctx, "l", "", clientv3.WithIgnoreLease()))
	put(cli.Put(ctx, "l", "new", clientv3.WithIgnoreLease()))
	if kv := get(cli.Get(ctx, "l")).Kvs[0]; kv.Lease != int64(lease.ID) || string(kv.Value) != "new" {
		t.Errorf("after ignore_lease: %+v", kv)
	}
	put(cli.Put(ctx, "l", "", clientv3.WithIgnoreValue()))
	if kv := get(cli.Get(ctx, "l")).Kvs[0]; kv.Lease != 0 || string(kv.Value) != "new" {
		t.Errorf("after ignore_value: %+v", kv)
	}
	if _, err := cli.Put(ctx, "missing", "", clientv3.WithIgnoreValue()); !errors.Is(err, rpctypes.ErrKeyNotFound) {
		t.Errorf("ignore_value on a missing key: %v, want %v", err, rpctypes.ErrKeyNotFound)
	}

	// Delete with prev_kv.
	del := must[*clientv3.DeleteResponse](t, "delete")(cli.Delete(ctx, "a/", clientv3.WithPrefix(), clientv3.WithPrevKV()))
	if del.Deleted != 3 || len(del.PrevKvs) != 3 || string(del.PrevKvs[1].Value) != "again" {
		t.Fatalf("delete: %+v", del)
	}

	// Compaction: reads before it are refused with etcd's error.
	now := get(cli.Get(ctx, "b/1")).Header.Revision
	must[*clientv3.CompactResponse](t, "compact")(cli.Compact(ctx, now-1, clientv3.WithCompactPhysical()))
	if _, err := cli.Get(ctx, "b/1", clientv3.WithRev(now-2)); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Errorf("get below the compaction: %v, want %v", err, rpctypes.ErrCompacted)
	}
	if _, err := cli.Get(ctx, "b/1", clientv3.WithRev(now+100)); !errors.Is(err, rpctypes.ErrFutureRev) {
		t.Errorf("get in the future: %v, want %v", err, rpctypes.ErrFutureRev)
	}
	if _, err := cli.Put(ctx, "", "x"); !errors.Is(err, rpctypes.ErrEmptyKey) {
		t.Errorf("empty key: %v, want %v", err, rpctypes.ErrEmptyKey)
	}
}

// TestTxnThroughClientv3 checks every compare target and nested
// transactions.
func TestTxnThroughClientv3(t *testing.T) {
	c := startCluster(t, 1)
	ctx := ctxT(t)
	cli := etcdClient(t, c.Endpoints()...)
	lease := must[*clientv3.LeaseGrantResponse](t, "grant")(cli.Grant(ctx, 60))
	p := must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, "k", "v", clientv3.WithLease(lease.ID)))
	rev := p.Header.Revision
	cases := []struct {
		name string
		cmp  clientv3.Cmp
		want bool
	}{
		{"value equal", clientv3.Compare(clientv3.Value("k"), "=", "v"), true},
		{"value not equal", clientv3.Compare(clientv3.Value("k"), "!=", "v"), false},
		{"version greater", clientv3.Compare(clientv3.Version("k"), ">", 0), true},
		{"create revision", clientv3.Compare(clientv3.CreateRevision("k"), "=", rev), true},
		{"mod revision less", clientv3.Compare(clientv3.ModRevision("k"), "<", rev), false},
		{"lease", clientv3.Compare(clientv3.LeaseValue("k"), "=", lease.ID), true},
		{"missing key version 0", clientv3.Compare(clientv3.Version("nope"), "=", 0), true},
		{"range of keys", clientv3.Compare(clientv3.Version("a"), ">", 0).WithRange("z"), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := cli.Txn(ctx).If(tc.cmp).Then(clientv3.OpGet("k")).Else(clientv3.OpGet("nope")).Commit()
			if err != nil {
				t.Fatal(err)
			}
			if r.Succeeded != tc.want {
				t.Fatalf("succeeded %v, want %v", r.Succeeded, tc.want)
			}
			if tc.want && len(r.Responses[0].GetResponseRange().Kvs) != 1 {
				t.Fatalf("then-branch get: %+v", r.Responses[0])
			}
		})
	}
	// A nested transaction, writes and reads in one step.
	r, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.Value("k"), "=", "v")).Then(
		clientv3.OpPut("k", "w", clientv3.WithPrevKV()),
		clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.Version("k2"), "=", 0)},
			[]clientv3.Op{clientv3.OpPut("k2", "x")}, nil),
		clientv3.OpDelete("nope"),
	).Commit()
	if err != nil || !r.Succeeded || len(r.Responses) != 3 {
		t.Fatalf("nested txn: %+v %v", r, err)
	}
	if pk := r.Responses[0].GetResponsePut().PrevKv; pk == nil || string(pk.Value) != "v" {
		t.Errorf("put in txn prev_kv %+v", pk)
	}
	if inner := r.Responses[1].GetResponseTxn(); inner == nil || !inner.Succeeded {
		t.Errorf("inner txn %+v", inner)
	}
	g := must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, "k", clientv3.WithRange("l")))
	if keysOf(g) != "k,k2" || g.Kvs[0].ModRevision != g.Kvs[1].ModRevision {
		t.Errorf("after the txn: %v, both written at one revision? %+v", keysOf(g), g.Kvs)
	}
	// Two puts of one key in one txn are refused as etcd refuses them.
	_, err = cli.Txn(ctx).Then(clientv3.OpPut("d", "1"), clientv3.OpPut("d", "2")).Commit()
	if !errors.Is(err, rpctypes.ErrDuplicateKey) {
		t.Errorf("duplicate key in txn: %v, want %v", err, rpctypes.ErrDuplicateKey)
	}
}
