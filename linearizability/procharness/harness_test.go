package procharness

import (
	"context"
	"errors"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/cairndb/cairn/linearizability"
)

// processTestEnv enables TestProcessCluster, which builds cmd/node and
// runs three real member processes under faults for about 20 seconds.
const processTestEnv = "CAIRN_PROCESS_TEST"

// TestProcessCluster runs the harness: real processes, kill -9, SIGSTOP,
// partitions, then liveness and linearizability checks. Set
// CAIRN_PROCESS_SEED to pick the seed and CAIRN_PROCESS_DURATION (a Go
// duration) to change the length; CAIRN_SHORT=1 shortens it to 10s.
func TestProcessCluster(t *testing.T) {
	if os.Getenv(processTestEnv) != "1" {
		t.Skipf("set %s=1 to run three cmd/node processes under kill -9, SIGSTOP and partitions (about 30s)", processTestEnv)
	}
	cfg := Config{Duration: 20 * time.Second, Seed: uint64(time.Now().UnixNano()), Log: testLog{t}}
	if s := os.Getenv("CAIRN_PROCESS_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CAIRN_PROCESS_SEED=%q: %v", s, err)
		}
		cfg.Seed = seed
	}
	if os.Getenv("CAIRN_SHORT") != "" {
		cfg.Duration = 10 * time.Second
	}
	if s := os.Getenv("CAIRN_PROCESS_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("CAIRN_PROCESS_DURATION=%q: %v", s, err)
		}
		cfg.Duration = d
	}
	res, err := Run(context.Background(), cfg)
	t.Logf("seed %d\n%s", cfg.Seed, res.Summary())
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops.OK == 0 {
		t.Fatal("no operation succeeded")
	}
	if len(res.Faults) == 0 {
		t.Fatal("no fault was injected")
	}
	if res.Net.Unidentified != 0 {
		t.Fatalf("%d peer connections could not be traced to a member", res.Net.Unidentified)
	}
}

// testLog writes the harness's progress lines to the test log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

// TestProcessClusterCatchesStaleReads shows that the harness can fail:
// with serializable reads, a partitioned member answers reads from its
// own, stale, store, and the check must find the violation.
func TestProcessClusterCatchesStaleReads(t *testing.T) {
	if os.Getenv(processTestEnv) != "1" {
		t.Skipf("set %s=1 to run three cmd/node processes with deliberately stale reads (about 30s)", processTestEnv)
	}
	cfg := Config{Duration: 20 * time.Second, Seed: 1, Log: testLog{t}, Dir: t.TempDir(),
		Faults: []FaultKind{FaultPartition, FaultIsolateLeader}, SerializableReads: true}
	res, err := Run(context.Background(), cfg)
	t.Logf("%s", res.Summary())
	if !errors.Is(err, linearizability.ErrNotLinearizable) {
		t.Fatalf("stale reads under partitions passed the check (err %v)", err)
	}
	t.Logf("caught, as expected: %v", err)
}

// TestProcessClusterDiskFaults runs the harness with the disk faults
// only: a member is killed, its WAL loses its tail, its newest segment or
// its vote record, or has a bit flipped, and it restarts. Each damaged
// member must notice, repair itself from the other two and hold every
// acknowledged write again, and the history must stay linearizable. About
// 30s of faults, 45s in all. CAIRN_PROCESS_SEED picks the seed.
func TestProcessClusterDiskFaults(t *testing.T) {
	if os.Getenv(processTestEnv) != "1" {
		t.Skipf("set %s=1 to run three cmd/node processes whose WALs lose data between restarts (about 45s)", processTestEnv)
	}
	cfg := Config{Duration: 30 * time.Second, Seed: uint64(time.Now().UnixNano()), Log: testLog{t},
		Faults: DiskFaultKinds(), FaultInterval: time.Second}
	if s := os.Getenv("CAIRN_PROCESS_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CAIRN_PROCESS_SEED=%q: %v", s, err)
		}
		cfg.Seed = seed
	}
	res, err := Run(context.Background(), cfg)
	t.Logf("seed %d\n%s", cfg.Seed, res.Summary())
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops.OK == 0 {
		t.Fatal("no operation succeeded")
	}
	damaged := map[FaultKind]int{}
	for _, f := range res.Faults {
		if f.Detail != "" {
			damaged[f.Kind]++
		}
	}
	if len(damaged) == 0 {
		t.Fatal("no member's WAL was damaged")
	}
	for _, k := range DiskFaultKinds() {
		if damaged[k] == 0 {
			t.Logf("no %s fault was applied in this run", k)
		}
	}
}

// TestProcessClusterDiskFaultsCatchSkippedRepair is the mutation test of
// the disk faults: members built to start as if their disks had lost
// nothing (cmd/node with -tags cairn_mutation, --unsafe-skip-repair) must
// fail the run: the damage goes unnoticed, or an acknowledged write is
// lost, or the history is not linearizable. About 45s.
func TestProcessClusterDiskFaultsCatchSkippedRepair(t *testing.T) {
	if os.Getenv(processTestEnv) != "1" {
		t.Skipf("set %s=1 to run three cmd/node processes that skip their repair after losing data (about 45s)", processTestEnv)
	}
	cfg := Config{Duration: 30 * time.Second, Seed: 3, Log: testLog{t}, Faults: DiskFaultKinds(),
		FaultInterval: time.Second, UnsafeSkipRepair: true}
	res, err := Run(context.Background(), cfg)
	t.Logf("%s", res.Summary())
	if err == nil {
		t.Fatal("members that skip their repair passed the disk-fault run")
	}
	if !errors.Is(err, ErrDamageUnnoticed) && !errors.Is(err, ErrLostWrite) && !errors.Is(err, ErrNotLive) && !errors.Is(err, linearizability.ErrNotLinearizable) {
		t.Fatalf("the run failed, but not on the skipped repair: %v", err)
	}
	t.Logf("caught, as expected: %v", err)
}
