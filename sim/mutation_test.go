package sim

import (
	"errors"
	"testing"

	"github.com/cairndb/cairn/linearizability"
)

// TestMutationStaleReadsCaught runs the default sweep with a broken read
// path and requires the checker to reject a seed: a simulator whose checks
// pass on a broken system proves nothing. It stops at the first seed
// caught (proving a history non-linearizable is the checker's slow case).
func TestMutationStaleReadsCaught(t *testing.T) {
	for seed := uint64(1); seed <= uint64(seedCount()); seed++ {
		cfg := DefaultConfig(seed)
		cfg.Mutation = StaleReads
		cfg.VizDir = t.TempDir()
		w, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		err = w.Run()
		switch {
		case errors.Is(err, linearizability.ErrNotLinearizable):
			t.Logf("stale reads caught at seed %d", seed)
			return
		case err != nil:
			t.Logf("seed %d failed otherwise: %v", seed, err)
		}
	}
	t.Fatalf("stale reads passed the linearizability check on all %d seeds", seedCount())
}
