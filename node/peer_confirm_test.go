package node_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/client"
	"github.com/cairndb/cairn/node/nodetest"
)

// TestRestartedMemberServesOnceAPeerConfirmsIt: a member restarted on its
// data dir while no peer is up serves no read, not even a serializable
// one (its data dir could be another cluster's), and says why; once a
// peer is up and accepts its handshake, it serves them.
func TestRestartedMemberServesOnceAPeerConfirmsIt(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{})
	ctx := ctxT(t)
	if _, err := c.Client().Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the store commits every 100 ms
	c.StopAll()
	c.StartMember(0)
	one := c.Client(c.Endpoint(0))
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	resp, err := one.Get(rctx, "k", client.WithSerializable())
	cancel()
	if !errors.Is(err, api.ErrUnhealthy) || !strings.Contains(err.Error(), "serves no reads until a peer confirms") {
		t.Fatalf("a serializable read on a member that reached no peer since its restart: %+v, %v", resp, err)
	}
	c.StartMember(1)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		resp, err = one.Get(rctx, "k", client.WithSerializable())
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the member serves no serializable read with a peer up: %v", err)
		}
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("serializable read after the peer confirmed: %+v", resp)
	}
}

// TestLoneMemberServesAtOnce: a cluster of one member needs no peer to
// confirm its data dir: restarted, it serves serializable reads at once.
func TestLoneMemberServesAtOnce(t *testing.T) {
	c := nodetest.Start(t, 1, nodetest.Options{})
	ctx := ctxT(t)
	if _, err := c.Client().Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	c.StopAll()
	c.StartMember(0)
	resp, err := c.Client().Get(ctx, "k", client.WithSerializable())
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("a restarted lone member's serializable read: %+v, %v", resp, err)
	}
}
