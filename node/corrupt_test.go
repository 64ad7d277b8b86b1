package node_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/client"
	"github.com/cairndb/cairn/node"
	"github.com/cairndb/cairn/node/nodetest"
	"github.com/cairndb/cairn/rpc"
)

// corruptCluster starts three members whose leader checks their hashes
// every period.
func corruptCluster(t *testing.T, period time.Duration) *nodetest.Cluster {
	t.Helper()
	return nodetest.Start(t, 3, nodetest.Options{Configure: func(i int, cfg *node.Config) {
		cfg.CorruptCheckTime = period
	}})
}

// waitCorruptAlarm waits until the CORRUPT alarm is raised (as the
// member cl reaches first knows it) and returns the alarms.
func waitCorruptAlarm(t *testing.T, ctx context.Context, cl *client.Client) []api.AlarmMember {
	t.Helper()
	for {
		resp, err := cl.AlarmList(ctx)
		if err == nil {
			for _, a := range resp.Alarms {
				if a.Alarm == api.AlarmCorrupt {
					return resp.Alarms
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no CORRUPT alarm raised: last answer %+v, %v", resp, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// One member's store is changed behind raft's back: the leader's check
// finds it, raises the CORRUPT alarm naming that member, and the cluster
// refuses reads and writes until the member is removed and the alarm
// disarmed. Whichever member is damaged — a follower or the leader itself
// — the others outvote it.
func TestCorruptionCheckRaisesAlarm(t *testing.T) {
	for _, victim := range []string{"follower", "leader"} {
		t.Run(victim, func(t *testing.T) {
			c := corruptCluster(t, 50*time.Millisecond)
			ctx := ctxT(t)
			cl := c.Client()
			for i := range 5 {
				if _, err := cl.Put(ctx, fmt.Sprintf("k%d", i), "v"); err != nil {
					t.Fatal(err)
				}
			}
			lead := c.Leader()
			bad := (lead + 1) % 3
			if victim == "leader" {
				bad = lead
			}
			if err := c.Servers[bad].CorruptStoreForTest("injected", "behind raft's back"); err != nil {
				t.Fatal(err)
			}
			// Writes go on until the alarm stops them: the other members
			// reach the damaged member's revision and can be compared.
			var alarms []api.AlarmMember
			for i := 0; alarms == nil; i++ {
				_, err := cl.Put(ctx, fmt.Sprintf("after%d", i), "v")
				if errors.Is(err, api.ErrCorrupt) {
					alarms = waitCorruptAlarm(t, ctx, cl)
				} else if err != nil {
					t.Fatalf("put before the alarm: %v", err)
				}
				if i%10 == 9 {
					resp, _ := cl.AlarmList(ctx)
					if resp != nil && len(resp.Alarms) > 0 {
						alarms = resp.Alarms
					}
				}
			}
			want := api.AlarmMember{MemberID: c.Servers[bad].ID(), Alarm: api.AlarmCorrupt}
			if len(alarms) != 1 || alarms[0] != want {
				t.Fatalf("alarms %+v, want only %+v", alarms, want)
			}
			// Every member refuses reads and writes with the typed error,
			// once it has applied the alarm.
			for i := range 3 {
				one := c.Client(c.Endpoint(i))
				waitCorruptAlarm(t, ctx, one)
				if _, err := one.Put(ctx, "k", "v"); !errors.Is(err, api.ErrCorrupt) {
					t.Errorf("put through member %d under CORRUPT: %v", i, err)
				}
				if _, err := one.Get(ctx, "k0", client.WithSerializable()); !errors.Is(err, api.ErrCorrupt) {
					t.Errorf("get through member %d under CORRUPT: %v", i, err)
				}
			}
			if _, err := cl.Txn(ctx).Then(client.OpGet("k0")).Commit(); !errors.Is(err, api.ErrCorrupt) {
				t.Errorf("txn under CORRUPT: %v", err)
			}
			// Repair: remove the damaged member, disarm; the cluster
			// serves again and the check, still running, stays quiet.
			if _, err := cl.MemberRemove(ctx, c.Servers[bad].ID()); err != nil {
				t.Fatalf("remove the damaged member: %v", err)
			}
			c.StopMember(bad)
			cl = c.Client(c.Endpoint((bad+1)%3), c.Endpoint((bad+2)%3))
			// Requests forwarded to the removed leader before the others
			// elected a new one are lost: they time out and are retried.
			if err := retryTimeouts(ctx, func(ctx context.Context) error {
				_, err := cl.AlarmDisarm(ctx, api.AlarmMember{})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if err := retryTimeouts(ctx, func(ctx context.Context) error {
				_, err := cl.Put(ctx, "repaired", "yes")
				return err
			}); err != nil {
				t.Fatalf("put after repair: %v", err)
			}
			before := checksCompared(c)
			waitChecks(t, c, before+5)
			if resp, err := cl.AlarmList(ctx); err != nil || len(resp.Alarms) != 0 {
				t.Fatalf("alarms after repair: %+v, %v", resp, err)
			}
		})
	}
}

// checksCompared sums the running members' periodic checks that compared
// hashes.
func checksCompared(c *nodetest.Cluster) int64 {
	var n int64
	for _, s := range c.Servers {
		if s != nil {
			n += s.CorruptChecksComparedForTest()
		}
	}
	return n
}

// waitChecks waits until the members have compared hashes n times in
// all; it fails the test if the checks never compare anything.
func waitChecks(t *testing.T, c *nodetest.Cluster, n int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for checksCompared(c) < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d corruption checks compared two members", checksCompared(c), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A healthy cluster under writes and concurrent compactions never raises
// the alarm: members that compacted past the checked revision are left
// out of a round, not reported.
func TestCorruptionCheckQuietUnderLoadAndCompaction(t *testing.T) {
	c := corruptCluster(t, 20*time.Millisecond)
	ctx := ctxT(t)
	cl := c.Client()
	var stop atomic.Bool
	var wg sync.WaitGroup
	var failures atomic.Value
	wg.Add(2)
	go func() { // the writer
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			// A write forwarded to a leader that lost its leadership
			// (elections happen on a busy machine) times out: go on.
			opCtx, cancel := context.WithTimeout(ctx, time.Second)
			_, err := cl.Put(opCtx, fmt.Sprintf("load/%d", i%50), fmt.Sprint(i))
			cancel()
			if err != nil && !timedOut(err) {
				failures.Store(fmt.Errorf("put: %w", err))
				return
			}
		}
	}()
	go func() { // the compactor, a few revisions behind the writer
		defer wg.Done()
		for !stop.Load() {
			opCtx, cancel := context.WithTimeout(ctx, time.Second)
			resp, err := cl.Get(opCtx, "load/0")
			if err == nil && resp.Header.Revision > 5 {
				_, err = cl.Compact(opCtx, resp.Header.Revision-3)
			}
			cancel()
			if err != nil && !errors.Is(err, api.ErrCompacted) && !timedOut(err) {
				failures.Store(fmt.Errorf("compact: %w", err))
				return
			}
			time.Sleep(15 * time.Millisecond)
		}
	}()
	checks := int64(100)
	if os.Getenv("CAIRN_SHORT") != "" {
		checks = 20
	}
	waitChecks(t, c, checks)
	stop.Store(true)
	wg.Wait()
	if err, _ := failures.Load().(error); err != nil {
		t.Fatal(err)
	}
	if resp, err := cl.AlarmList(ctx); err != nil || len(resp.Alarms) != 0 {
		t.Fatalf("alarms in a healthy cluster: %+v, %v", resp, err)
	}
}

// timedOut reports whether a request failed only by running out of time
// or by losing its member (its outcome unknown).
func timedOut(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, api.ErrTimeout) ||
		errors.Is(err, api.ErrTimeoutDueToLeaderFail) || errors.Is(err, api.ErrNoLeader) ||
		rpc.ErrorCode(err) == rpc.CodeUnavailable
}

// retryTimeouts runs an idempotent request, each attempt bounded by a
// second, until it succeeds, fails otherwise than by timing out, or ctx
// ends.
func retryTimeouts(ctx context.Context, req func(context.Context) error) error {
	for {
		attempt, cancel := context.WithTimeout(ctx, time.Second)
		err := req(attempt)
		cancel()
		if err == nil || !timedOut(err) || ctx.Err() != nil {
			return err
		}
	}
}

// With --initial-corrupt-check a member whose data differ from its peers'
// refuses to go on serving; a healthy one passes the check.
func TestInitialCorruptCheck(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{})
	ctx := ctxT(t)
	cl := c.Client()
	bad := (c.Leader() + 1) % 3
	good := (bad + 1) % 3
	if err := c.Servers[bad].CorruptStoreForTest("injected", "x"); err != nil {
		t.Fatal(err)
	}
	for i := range 5 { // the others pass the damaged member's revision
		if _, err := cl.Put(ctx, fmt.Sprintf("k%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	restart := func(i int) {
		c.StopMember(i)
		c.Configs[i].InitialCorruptCheck = true
		c.StartMember(i)
		// The check hashes at the member's revision: write on, so that
		// the others reach it if they are behind.
		for j := range 3 {
			if err := retryTimeouts(ctx, func(ctx context.Context) error {
				_, err := cl.Put(ctx, fmt.Sprintf("after-restart-%d-%d", i, j), "v")
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	restart(bad)
	select {
	case <-c.Servers[bad].Done():
		if err := c.Servers[bad].Err(); err == nil || !strings.Contains(err.Error(), "initial corruption check") {
			t.Fatalf("damaged member stopped with %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the damaged member kept serving after its initial corruption check")
	}
	c.StopMember(bad)
	restart(good)
	for !c.Servers[good].InitialCorruptCheckPassedForTest() {
		select {
		case <-c.Servers[good].Done():
			t.Fatalf("healthy member stopped: %v", c.Servers[good].Err())
		case <-ctx.Done():
			t.Fatal("the healthy member's initial check never passed")
		case <-time.After(10 * time.Millisecond):
		}
	}
}
