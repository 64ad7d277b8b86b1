package sim

import (
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

func expectCaught(t *testing.T, mutation Mutation) {
	t.Helper()
	seeds := max(8, seedCount())
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		cfg := DefaultConfig(seed)
		cfg.Mutation = mutation
		cfg.VizDir = t.TempDir()
		w, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Run(); err != nil {
			t.Logf("caught at seed %d: %.600s", seed, err)
			return
		}
	}
	t.Fatalf("mutation %d passed every check on all %d seeds", mutation, seeds)
}
