package sim

import (
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
		cfg := DefaultConfig(seed)
		cfg.LossFaults = false
		w, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		w.nemesis.enabled, w.nemesis.churn = []fault{fFlipBit}, false
		if err := w.Run(); err != nil {
			t.Fatalf("seed %d: %.2000s", seed, err)
		}
		repaired += w.Coverage().Faults[storeRepairedFault]
	}
	if repaired == 0 {
		t.Fatal("no store was repaired in 4 seeds of bit flips: the test covers nothing")
	}
}
