package node_test

import (
	"context"
	"testing"

	"github.com/cairndb/cairn/client"
	"github.com/cairndb/cairn/node/nodetest"
)

// BenchmarkReadOnlyTxn measures a compare-and-read transaction (no put,
// no delete) against a three-member cluster through the client, served
// linearizably by the leader and serializably by a follower.
func BenchmarkReadOnlyTxn(b *testing.B) {
	c := nodetest.Start(b, 3, nodetest.Options{})
	leader := c.Leader()
	ctx := context.Background()
	if _, err := c.Client().Put(ctx, "k", "v"); err != nil {
		b.Fatal(err)
	}
	follower := (leader + 1) % 3
	cases := []struct {
		name   string
		member int
		opts   []client.OpOption
	}{
		{"linearizable", leader, nil},
		{"serializable", follower, []client.OpOption{client.WithSerializable()}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			cl := c.Client(c.Endpoint(tc.member))
			for b.Loop() {
				resp, err := cl.Txn(ctx).If(client.Compare(client.Value("k"), "=", "v")).
					Then(client.OpGet("k", tc.opts...)).Else(client.OpGet("k", tc.opts...)).Commit()
				if err != nil || !resp.Succeeded {
					b.Fatalf("txn: %+v %v", resp, err)
				}
			}
		})
	}
}
