package sim

import "testing"

// TestForgerReachesEveryCase runs seeds with the forger on until it has
// injected every kind of forgery, and voted and proposed at a leader:
// the checks after each forgery are only as good as what reaches them.
func TestForgerReachesEveryCase(t *testing.T) {
	var total forger
	runs := 0
	for seed := uint64(1); seed <= 20 && runs < 3; seed++ {
		w, err := New(DefaultConfig(seed))
		if err != nil {
			t.Fatal(err)
		}
		if !w.forger.on {
			continue
		}
		runs++
		if err := w.Run(); err != nil {
			t.Fatal(err)
		}
		for k, n := range w.forger.injected {
			total.injected[k] += n
		}
		total.leaderVotes += w.forger.leaderVotes
		total.leaderProps += w.forger.leaderProps
		total.forged += w.forger.forged
	}
	t.Logf("%d runs: forgeries by kind %v, %d votes and %d proposals at a leader, %d commands forged",
		runs, total.injected, total.leaderVotes, total.leaderProps, total.forged)
	for k, n := range total.injected {
		if n == 0 {
			t.Errorf("no forgery of kind %d in %d runs", k, runs)
		}
	}
	if total.leaderVotes == 0 || total.leaderProps == 0 || total.forged == 0 {
		t.Errorf("in %d runs: %d non-member votes and %d forged proposals reached a leader, %d commands forged",
			runs, total.leaderVotes, total.leaderProps, total.forged)
	}
}
