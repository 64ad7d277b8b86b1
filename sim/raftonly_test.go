package sim

import (
	"testing"

	"github.com/cairndb/cairn/raftcore"
)

// TestRaftOnlySeeds runs the raft-only simulation over the sweep.
func TestRaftOnlySeeds(t *testing.T) {
	for seed := uint64(1); seed <= uint64(4*seedCount()); seed++ {
		if err := RunRaft(DefaultRaftConfig(seed)); err != nil {
			t.Error(err)
		}
	}
}

// TestMutationCommitAnyTermCaught breaks Raft's commit rule (figure 8 of
// the paper: a leader counts replicas of an entry from an earlier term)
// and requires the raft-only sweep to catch a committed entry being
// overwritten.
func TestMutationCommitAnyTermCaught(t *testing.T) {
	for seed := uint64(1); seed <= uint64(4*max(8, seedCount())); seed++ {
		cfg := DefaultRaftConfig(seed)
		cfg.Raft = func(c *raftcore.Config) { c.UnsafeCommitAnyTerm = true }
		if err := RunRaft(cfg); err != nil {
			t.Logf("caught at seed %d: %.400s", seed, err)
			return
		}
	}
	t.Fatal("committing earlier-term entries by counting passed every seed")
}
