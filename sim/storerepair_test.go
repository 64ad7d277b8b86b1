package sim

import (
	"strings"
	"testing"
)

// TestCorruptPageFilesAreRepaired: with bits flipping in the files of
// crashed members, a member whose page file turns out corrupt repairs its
// store from the leader and comes back, instead of staying down for good:
// every run ends with the members' stores equal and every acknowledged
// write there (the checks of every run), and the runs repaired stores.
func TestCorruptPageFilesAreRepaired(t *testing.T) {
	repaired := 0
	for seed := uint64(1); seed <= 4; seed++ {
		w, err := New(flipsOnly(seed, NoMutation))
		if err != nil {
			t.Fatal(err)
		}
		w.nemesis.enabled, w.nemesis.churn = []fault{fFlipBit}, false
		if err := w.Run(); err != nil {
			t.Fatalf("seed %d: %.20000s", seed, err)
		}
		repaired += w.Coverage().Faults[storeRepairedFault]
	}
	if repaired == 0 {
		t.Fatal("no store was repaired in 4 seeds of bit flips: the test covers nothing")
	}
}

// flipsOnly is the configuration of a run of seed whose only faults are
// bits flipped (and the crashes they need).
func flipsOnly(seed uint64, mutation Mutation) Config {
	cfg := DefaultConfig(seed)
	cfg.LossFaults, cfg.Mutation = false, mutation
	return cfg
}

// TestMutationNoStoreRepairCaught: a member opened without its store's
// repair refuses to start on a corrupt page file, which a run fails on.
func TestMutationNoStoreRepairCaught(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		cfg := flipsOnly(seed, NoStoreRepair)
		cfg.VizDir = t.TempDir()
		w, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		w.nemesis.enabled, w.nemesis.churn = []fault{fFlipBit}, false
		if err := w.Run(); err != nil {
			if !strings.Contains(err.Error(), "instead of repairing its store") {
				t.Fatalf("seed %d failed, but not on the missing repair: %.2000s", seed, err)
			}
			t.Logf("caught at seed %d: %.300s", seed, err)
			return
		}
	}
	t.Fatal("the mutation passed every check on 4 seeds")
}
