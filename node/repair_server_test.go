package node_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/client"
)

// TestServerShowsARepair: a member whose WAL lost its tail, restarted
// while it cannot reach a quorum without itself, says it is under repair
// (the Status response's errors), refuses reads, linearizable and
// serializable; once the quorum is back it repairs itself, and serves
// every acknowledged write.
func TestServerShowsARepair(t *testing.T) {
	c := newTestCluster(t, 3)
	ctx := ctxT(t)
	cl := c.Client()
	for i := range 50 {
		if _, err := cl.Put(ctx, fmt.Sprintf("k%02d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond) // the store commits every 100 ms
	lead := c.Leader()
	v, w := (lead+1)%3, (lead+2)%3
	c.StopMember(v)
	c.StopMember(w)
	segs, _ := filepath.Glob(filepath.Join(c.Configs[v].DataDir, "member", "wal", "wal", "*.wal"))
	slices.Sort(segs)
	seg := segs[len(segs)-1]
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(seg, int64(len(bytes.TrimRight(b, "\x00"))-200)); err != nil {
		t.Fatal(err)
	}

	c.StartMember(v)
	one := c.Client(c.Endpoint(v))
	st, err := one.Status(ctx, c.Endpoint(v))
	if err != nil {
		t.Fatal(err)
	}
	// Just started, the member may not know the leader yet: etcd's "no
	// leader" then comes first.
	errs := st.Errors
	if len(errs) > 0 && errs[0] == api.ErrNoLeader.Error() && st.Leader == 0 {
		errs = errs[1:]
	}
	if len(errs) != 1 || !strings.Contains(errs[0], "under repair") || !strings.Contains(errs[0], "truncated segment") {
		t.Fatalf("status errors of the member under repair: %q", st.Errors)
	}
	for _, opts := range [][]client.OpOption{{client.WithPrefix()}, {client.WithPrefix(), client.WithSerializable()}} {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := one.Get(rctx, "k", opts...)
		cancel()
		if !errors.Is(err, api.ErrUnhealthy) || !strings.Contains(err.Error(), "under repair") {
			t.Fatalf("read (%d options) on the member under repair: %v", len(opts), err)
		}
	}

	c.StartMember(w)
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := one.Status(ctx, c.Endpoint(v))
		if err == nil && len(st.Errors) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("member not repaired: %v %v", st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := one.Get(ctx, "k", client.WithPrefix(), client.WithSerializable(), client.WithCountOnly())
	if err != nil || resp.Count != 50 {
		t.Fatalf("repaired member holds %v keys (%v), want 50", resp, err)
	}
}
