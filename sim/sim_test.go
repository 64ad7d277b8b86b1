package sim

import (
	"flag"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

var (
	seedFlag  = flag.Uint64("seed", 0, "run only this seed")
	seedsFlag = flag.Int("seeds", 0, "number of seeds to sweep (default 11, or CAIRN_SIM_SEEDS), then the regression seeds")
)

func seedCount() int {
	if *seedsFlag > 0 {
		return *seedsFlag
	}
	if n, err := strconv.Atoi(os.Getenv("CAIRN_SIM_SEEDS")); err == nil && n > 0 {
		return n
	}
	if os.Getenv("CAIRN_SHORT") != "" {
		return 2
	}
	return 11 // and the 5 regression seeds: 16 runs
}

// regressionSeeds failed once, each in its own way, and run in every
// sweep: 1295 (a bit flipped in the last WAL record was taken for a torn
// write and cut), 2143 and 2748 (a member restarted on a disk still full
// stopped on ENOSPC, which the simulator did not expect), 2541 and 2574
// (a watch started past the revision of a member that never caught up).
// They run as they did then, without the faults that lose acknowledged
// data (added since, they would change the runs).
var regressionSeeds = []uint64{1295, 2143, 2541, 2574, 2748}

// seedConfig is the configuration seed runs with.
func seedConfig(seed uint64) Config {
	cfg := DefaultConfig(seed)
	cfg.LossFaults = !slices.Contains(regressionSeeds, seed)
	return cfg
}

// TestSeeds runs `go test ./sim -seed N` for one seed, or a sweep of
// -seeds K (default 11) starting at 1, then the regression seeds. Every
// failing seed is reported.
func TestSeeds(t *testing.T) {
	seeds := []uint64{}
	if *seedFlag != 0 {
		seeds = append(seeds, *seedFlag)
	} else {
		for i := 1; i <= seedCount(); i++ {
			seeds = append(seeds, uint64(i))
		}
		for _, s := range regressionSeeds {
			if s > uint64(seedCount()) {
				seeds = append(seeds, s)
			}
		}
	}
	var virtual time.Duration
	start := time.Now()
	failed := 0
	for _, seed := range seeds {
		w, err := New(seedConfig(seed))
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Run(); err != nil {
			failed++
			t.Errorf("%v\nreplay with: go test ./sim -run TestSeeds -seed %d", err, seed)
			continue
		}
		virtual += time.Duration(w.Now()) * time.Millisecond
		if testing.Verbose() {
			t.Logf("seed %d: %d members, %d operations, %d leases revoked (%d expiry proposals, %d past a deposed leader's renewal), trace %016x; nemesis: %s",
				seed, w.cfg.Members, w.Operations(), w.leases.revoked, w.leases.expiries, w.leases.unseen, w.TraceHash(), w.describeFaults())
		}
	}
	t.Logf("%d of %d seeds clean; %.1f simulated cluster-seconds per wall second",
		len(seeds)-failed, len(seeds), virtual.Seconds()/time.Since(start).Seconds())
}

// TestSameSeedSameTrace runs seeds twice and compares the trace hashes
// (the second runs come after other seeds in the same process, which
// exposes state shared between runs as well as map-order dependences).
func TestSameSeedSameTrace(t *testing.T) {
	run := func(seed uint64) uint64 {
		w, err := New(DefaultConfig(seed))
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Run(); err != nil {
			t.Fatal(err)
		}
		return w.TraceHash()
	}
	seeds := []uint64{7, 28, 3}
	first := map[uint64]uint64{}
	for _, seed := range seeds {
		first[seed] = run(seed)
	}
	for _, seed := range seeds {
		if again := run(seed); again != first[seed] {
			t.Errorf("seed %d gave trace %016x, then %016x", seed, first[seed], again)
		}
	}
}
