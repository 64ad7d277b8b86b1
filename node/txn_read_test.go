package node_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/client"
	"github.com/cairndb/cairn/rpc"
)

// A transaction that neither puts nor deletes is served as a read, by the
// member asked: after a ReadIndex wait, or at once when all its reads are
// serializable; never through raft.

// TestReadOnlyTxnLinearizable: a read-only transaction served by a
// follower sees every write acknowledged before it was sent, answers
// with the follower's header at the store revision it read, and adds
// nothing to the raft log.
func TestReadOnlyTxnLinearizable(t *testing.T) {
	c := newTestCluster(t, 3)
	lead := c.Leader()
	ctx := ctxT(t)
	writer := c.Client(c.Endpoint(lead))
	status := func() uint64 {
		t.Helper()
		st, err := writer.Status(ctx, c.Endpoint(lead))
		if err != nil {
			t.Fatal(err)
		}
		return st.RaftIndex
	}
	for i := range 10 {
		f := (lead + 1 + i%2) % 3
		reader := c.Client(c.Endpoint(f))
		val := fmt.Sprint(i)
		put, err := writer.Put(ctx, "k", val)
		if err != nil {
			t.Fatal(err)
		}
		before := status()
		const txns = 5
		for range txns {
			resp, err := reader.Txn(ctx).If(client.Compare(client.Value("k"), "=", val)).
				Then(client.OpGet("k")).Else(client.OpGet("k")).Commit()
			if err != nil {
				t.Fatalf("read-only txn through member %d: %v", f, err)
			}
			if !resp.Succeeded || len(resp.Responses) != 1 || string(resp.Responses[0].Range.Kvs[0].Value) != val {
				t.Fatalf("read-only txn through member %d after writing %q: %+v", f, val, resp)
			}
			want := api.ResponseHeader{ClusterID: c.Servers[f].ClusterID(), MemberID: c.Servers[f].ID(),
				Revision: put.Header.Revision, RaftTerm: put.Header.RaftTerm}
			if resp.Header != want {
				t.Fatalf("header %+v, want %+v", resp.Header, want)
			}
		}
		// The members' own entries (publishing their attributes at
		// start) may land meanwhile, but fewer than one per txn.
		if after := status(); after-before >= txns {
			t.Fatalf("read-only txns went through raft: index %d -> %d after %d txns", before, after, txns)
		}
	}
}

// TestReadOnlyTxnSerializableOnFollower: a transaction whose reads are
// all serializable is served by a follower that has lost its leader and
// quorum; a linearizable one is not.
func TestReadOnlyTxnSerializableOnFollower(t *testing.T) {
	c := newTestCluster(t, 3)
	lead := c.Leader()
	ctx := ctxT(t)
	if _, err := c.Client().Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	f := (lead + 1) % 3
	one := c.Client(c.Endpoint(f))
	for {
		// Wait for the follower to apply the write.
		resp, err := one.Get(ctx, "k", client.WithSerializable())
		if err == nil && len(resp.Kvs) == 1 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the follower never applied the write: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := range 3 {
		if i != f {
			c.StopMember(i)
		}
	}
	resp, err := one.Txn(ctx).If(client.Compare(client.Version("k"), "=", 1)).
		Then(client.OpGet("k", client.WithSerializable())).Else(client.OpGet("nothing", client.WithSerializable())).Commit()
	if err != nil || !resp.Succeeded || string(resp.Responses[0].Range.Kvs[0].Value) != "v" {
		t.Fatalf("serializable txn on a lone follower: %+v, %v", resp, err)
	}
	if resp.Header.MemberID != c.Servers[f].ID() {
		t.Fatalf("served by member %x, want %x", resp.Header.MemberID, c.Servers[f].ID())
	}
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	// One linearizable read makes the transaction linearizable.
	if resp, err := one.Txn(short).Then(client.OpGet("k", client.WithSerializable()), client.OpGet("k")).Commit(); err == nil {
		t.Fatalf("linearizable txn answered without a leader: %+v", resp)
	}
}

// TestReadOnlyTxnNested: nested read-only transactions take their
// branches as the store says, and the answer is the one the same
// transaction gets through raft.
func TestReadOnlyTxnNested(t *testing.T) {
	c := newTestCluster(t, 3)
	lead := c.Leader()
	ctx := ctxT(t)
	cl := c.Client(c.Endpoint((lead + 1) % 3))
	for k, v := range map[string]string{"a": "1", "b": "2"} {
		if _, err := cl.Put(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	inner := func() client.Op {
		return client.OpTxn([]client.Cmp{client.Compare(client.Value("b"), "=", "3")},
			[]client.Op{client.OpGet("a")}, []client.Op{client.OpGet("b"), client.OpGet("a", client.WithPrefix(), client.WithCountOnly())})
	}
	// The same transaction twice: read-only, and with a put in a branch
	// that is not taken, which makes it a write, proposed through raft.
	run := func(elseOp client.Op) *api.TxnResponse {
		t.Helper()
		resp, err := cl.Txn(ctx).If(client.Compare(client.Value("a"), "=", "1")).
			Then(inner(), client.OpGet("b")).Else(elseOp).Commit()
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	read := run(client.OpGet("a"))
	if !read.Succeeded || len(read.Responses) != 2 {
		t.Fatalf("outer txn: %+v", read)
	}
	nested := read.Responses[0].Txn
	if nested == nil || nested.Succeeded || len(nested.Responses) != 2 ||
		string(nested.Responses[0].Range.Kvs[0].Value) != "2" || nested.Responses[1].Range.Count != 1 {
		t.Fatalf("nested txn: %+v", nested)
	}
	proposed := run(client.OpPut("c", "never"))
	if !reflect.DeepEqual(read, proposed) {
		t.Fatalf("read-only answer %+v\ndiffers from the proposed one %+v", read, proposed)
	}
}

// TestReadOnlyTxnPermissions: with auth on, the serving member checks a
// read-only transaction as every member checks a proposed one: read on
// every compared key and every range of both branches, nested ones
// included; linearizable or serializable alike.
func TestReadOnlyTxnPermissions(t *testing.T) {
	c := authCluster(t, 3, nil)
	c0, c1, c2 := dial(t, c, 0), dial(t, c, 1), dial(t, c, 2)
	setUpAuth(t, c0)
	root := asUser{t, c0, mustAuthenticate(t, c0, "root", "rootpw")}
	root.must(api.MethodPut, &api.PutRequest{Key: []byte("secret"), Value: []byte("s")}, &api.PutResponse{})
	root.must(api.MethodPut, &api.PutRequest{Key: []byte("app/x"), Value: []byte("x")}, &api.PutResponse{})
	aliceTok := mustAuthenticate(t, c1, "alice", "alicepw")

	get := func(key string, serial bool) api.RequestOp {
		return api.RequestOp{Range: &api.RangeRequest{Key: []byte(key), Serializable: serial}}
	}
	compare := func(key string) []api.Compare {
		return []api.Compare{{Result: api.CompareEqual, Target: api.CompareVersion, Key: []byte(key), Version: 1}}
	}
	tests := []struct {
		name   string
		txn    func(serial bool) *api.TxnRequest
		denied bool
	}{
		{"compare on a forbidden key", func(serial bool) *api.TxnRequest {
			return &api.TxnRequest{Compare: compare("secret"), Success: []api.RequestOp{get("app/x", serial)}}
		}, true},
		{"read of a forbidden key in the branch not taken", func(serial bool) *api.TxnRequest {
			return &api.TxnRequest{Compare: compare("app/x"), Success: []api.RequestOp{get("app/x", serial)}, Failure: []api.RequestOp{get("secret", serial)}}
		}, true},
		{"read of a forbidden key in a nested txn", func(serial bool) *api.TxnRequest {
			return &api.TxnRequest{Success: []api.RequestOp{get("app/x", serial), {Txn: &api.TxnRequest{Success: []api.RequestOp{get("secret", serial)}}}}}
		}, true},
		{"compare and reads alice may make", func(serial bool) *api.TxnRequest {
			return &api.TxnRequest{Compare: compare("config"), Success: []api.RequestOp{get("app/x", serial)}, Failure: []api.RequestOp{get("config", serial)}}
		}, false},
	}
	for _, tt := range tests {
		for _, serial := range []bool{false, true} {
			for i, conn := range []*rpc.Conn{c0, c1, c2} {
				what := fmt.Sprintf("%s (serializable %v, member %d)", tt.name, serial, i)
				var resp api.TxnResponse
				err := asUser{t, conn, aliceTok}.call(api.MethodTxn, tt.txn(serial), &resp)
				switch {
				case tt.denied:
					wantCode(t, what, err, api.ErrPermissionDenied)
				case err != nil:
					t.Fatalf("%s: %v", what, err)
				case len(resp.Responses) != 1 || resp.Responses[0].Range == nil:
					t.Fatalf("%s: answer %+v", what, resp)
				}
			}
		}
	}
	txn := tests[len(tests)-1].txn(false)
	wantCode(t, "no token", asUser{t, c2, ""}.call(api.MethodTxn, txn, &api.TxnResponse{}), api.ErrUserEmpty)
}
