package sim

import "testing"

// Runs with a store quota pass their checks, and the stores reach it:
// members raise the NOSPACE alarm, refuse writes that grow the store
// (which the linearizability check holds as certainly not applied) until
// the operator disarms it, and nothing is left raised after the healing.
func TestQuotaRaisesNoSpace(t *testing.T) {
	var total Coverage
	for seed := uint64(1); seed <= 4; seed++ {
		cfg := seedConfig(seed)
		cfg.Quota = QuotaAlways
		w, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Run(); err != nil {
			t.Fatalf("seed %d with a store quota: %.1500s", seed, err)
		}
		total.Add(w.Coverage())
	}
	if total.NoSpaceAlarms == 0 || total.NoSpaceRefused == 0 {
		t.Errorf("four runs with a store quota raised %d NOSPACE alarms and refused %d writes for it", total.NoSpaceAlarms, total.NoSpaceRefused)
	}
}
