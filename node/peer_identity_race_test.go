package node_test

import (
	"testing"

	"github.com/cairndb/cairn/node"
	"github.com/cairndb/cairn/node/nodetest"
)

// A race at bootstrap: one member asks for votes under its own
// provisional identity while the others settle on another one and elect
// a leader without it (here it stops before they start: they never hear
// from it). Its identity is only campaigned — it heard no promise under
// it — so when it runs again it takes the identity the majority
// committed and follows their leader, instead of being refused for ever.
func TestCampaignedMemberTakesTheMajorityIdentity(t *testing.T) {
	c := nodetest.New(t, 3, nodetest.Options{})
	const lone = 0
	c.StartMember(lone)
	c.Servers[lone].SendVoteRequestForTest(t)
	if got := node.ClusterIdentityStateForTest(t, c.Configs[lone].DataDir); got != "campaigned" {
		t.Fatalf("after its vote request, the member's identity is %s, want campaigned", got)
	}
	_, lost, _ := node.ClusterIdentityForTest(t, c.Configs[lone].DataDir)
	c.StopMember(lone)

	c.StartMember(1)
	c.StartMember(2)
	c.Leader()
	ctx := ctxT(t)
	if _, err := c.Client(c.Endpoint(1)).Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	_, won, _ := node.ClusterIdentityForTest(t, c.Configs[1].DataDir)
	if won == lost {
		t.Fatalf("the two members took the lone member's incarnation %016x: no race to test", lost)
	}

	c.StartMember(lone)
	c.Leader()
	if resp, err := c.Client(c.Endpoint(lone)).Get(ctx, "k"); err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("the member that campaigned alone: %+v %v", resp, err)
	}
	for i := range c.Configs {
		if _, got, _ := node.ClusterIdentityForTest(t, c.Configs[i].DataDir); got != won {
			t.Fatalf("member %d holds incarnation %016x, the majority %016x", i, got, won)
		}
		if got := node.ClusterIdentityStateForTest(t, c.Configs[i].DataDir); got != "committed" {
			t.Fatalf("member %d's identity is %s, want committed", i, got)
		}
	}
}
