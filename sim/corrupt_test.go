package sim

import (
	"strings"
	"testing"
)

// Runs that rot a store pass their checks, and the corruption check on
// virtual time finds the rotten store in some of them (not in all: the
// member may take a snapshot that replaces its store first, or the
// history may be compacted past the rot before a round compares it).
// Seeds are run until four rotted a store (in some, no member can be
// spared for the rot before the faults end: one keeps losing its state).
func TestCorruptionCheckFindsRot(t *testing.T) {
	var total Coverage
	for seed := uint64(1); seed <= 8 && total.Faults["rot-store"] < 4; seed++ {
		cfg := DefaultConfig(seed)
		cfg.CorruptCheck, cfg.Rot = CheckAlways, true
		w, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Run(); err != nil {
			t.Fatalf("seed %d with a rotten store: %.1500s", seed, err)
		}
		total.Add(w.Coverage())
	}
	if total.CorruptRounds == 0 || total.Faults["rot-store"] != 4 || total.RotDetected == 0 || total.CorruptAlarms < total.RotDetected {
		t.Errorf("runs until four rotted a store covered %+v", total)
	}
}

// TestMutationBlindCorruptCheckCaught answers every corruption check with
// the leader's own hash: a rotten store goes unnoticed, which the checks
// must notice.
func TestMutationBlindCorruptCheckCaught(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		cfg := DefaultConfig(seed)
		cfg.CorruptCheck, cfg.Rot, cfg.Mutation, cfg.VizDir = CheckAlways, true, BlindCorruptCheck, t.TempDir()
		w, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		err = w.Run()
		if err != nil && strings.Contains(err.Error(), "did not name member") {
			t.Logf("caught at seed %d: %.600s", seed, err)
			return
		}
		if err != nil {
			t.Fatalf("seed %d failed, but not for a rotten store left unnamed: %.1500s", seed, err)
		}
	}
	t.Fatal("a blind corruption check passed every check on 8 seeds")
}
