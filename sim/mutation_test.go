package sim

import (
	"strings"
	"testing"
)

// A simulator whose checks pass on a broken system proves nothing. These
// tests run the default sweep (at least 8 seeds, even with CAIRN_SHORT) with one
// safety rule broken on purpose and require some seed to fail. Each stops
// at the first seed caught.

// TestMutationStaleReadsCaught serves reads without a ReadIndex round.
func TestMutationStaleReadsCaught(t *testing.T) { expectCaught(t, StaleReads) }

// TestMutationLyingDiskCaught acknowledges fsyncs that persist nothing.
func TestMutationLyingDiskCaught(t *testing.T) { expectCaught(t, LyingDisk) }

// TestMutationFastLeaseClockCaught revokes leases at half their TTL.
func TestMutationFastLeaseClockCaught(t *testing.T) { expectCaught(t, FastLeaseClock) }

// TestMutationNoDedupCaught applies every copy of a duplicated
// proposal.
func TestMutationNoDedupCaught(t *testing.T) { expectCaught(t, NoDedup) }

func expectCaught(t *testing.T, mutation Mutation) { expectCaughtWith(t, mutation, nil) }

// expectCaughtWith is expectCaught on worlds that setup, if not nil,
// changes before they run.
func expectCaughtWith(t *testing.T, mutation Mutation, setup func(*World)) {
	t.Helper()
	seeds := max(8, seedCount())
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		cfg := DefaultConfig(seed)
		cfg.Mutation = mutation
		cfg.VizDir = t.TempDir()
		// Without auth (its refusals leave fewer writes for some of these
		// bugs to show in) and the corruption check: each mutation's
		// seeds run as they did before those were simulated (they have
		// mutation tests of their own, auth_test.go and corrupt_test.go).
		cfg.Auth, cfg.CorruptCheck = AuthNever, CheckNever
		w, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if setup != nil {
			setup(w)
		}
		if err := w.Run(); err != nil {
			t.Logf("caught at seed %d: %.600s", seed, err)
			return
		}
	}
	t.Fatalf("mutation %d passed every check on all %d seeds", mutation, seeds)
}

// TestLyingDiskCaughtByACheck: seed 1 of the lying disk used to make a
// leader panic ("need a snapshot for a lagging follower but storage has
// none"): a member that forgot its vote helped elect two leaders in term
// 3, a follower of one acknowledged to the other entries past its log,
// and the leader, taking that at face value, asked storage for a snapshot
// it did not need. Raft now refuses the acknowledgement
// (raftcore.ErrImpossibleAck), and the run fails on a check instead: the
// two leaders' entries diverge.
func TestLyingDiskCaughtByACheck(t *testing.T) {
	cfg := DefaultConfig(1)
	cfg.Mutation = LyingDisk
	cfg.VizDir = t.TempDir()
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = w.Run()
	if err == nil {
		t.Fatal("lying disk, seed 1: passed every check")
	}
	if strings.Contains(err.Error(), "panicked") {
		t.Fatalf("lying disk, seed 1: a member panicked instead of a check failing: %.2000s", err)
	}
}

// TestMutationNoRepairCaught starts members whose disks lost data they
// acknowledged as if they had lost nothing. Every seed draws every kind
// of loss, so that the test does not hang on which seeds draw them.
func TestMutationNoRepairCaught(t *testing.T) {
	expectCaughtWith(t, NoRepair, func(w *World) {
		if len(w.losses.enabled) == 0 {
			w.schedule(1000+w.losses.rng.Int64N(3000), event{kind: evLoss})
		}
		w.losses.enabled = []lossFault{lossTail, lossSegment, lossVote}
	})
}

// TestMutationNoOriginCheckCaught lets leaders append forwarded internal
// commands whatever member and term they are stamped with: the forger's
// commands get applied.
func TestMutationNoOriginCheckCaught(t *testing.T) { expectCaught(t, NoOriginCheck) }

// TestMutationNoSenderCheckCaught makes raft take messages from
// non-members and at any term: the forger's absurd terms get taken.
func TestMutationNoSenderCheckCaught(t *testing.T) { expectCaught(t, NoSenderCheck) }
