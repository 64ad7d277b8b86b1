package sim

import (
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"testing"
)

// TestSweepCoverageIsDeterministic sweeps a few seeds twice, on different
// numbers of workers (so runs finish in other orders): the coverage must
// be the same, and show faults, and the elections and operations every run
// has. (TestCoverageCountsForcedFaults checks each kind is counted.)
func TestSweepCoverageIsDeterministic(t *testing.T) {
	seeds := []uint64{3, 4}
	const duration = 5000
	cfgOf := func(seed uint64) Config {
		cfg := seedConfig(seed)
		cfg.Duration = duration
		return cfg
	}
	fail := func(seed uint64, err error) { t.Errorf("seed %d: %.500s", seed, err) }
	a := sweep(seeds, cfgOf, 2, io.Discard, fail, func(string) {})
	b := sweep(seeds, cfgOf, 1, io.Discard, fail, func(string) {})
	if !reflect.DeepEqual(a.Coverage, b.Coverage) {
		t.Fatalf("the same seeds covered\n%+v\nthen\n%+v", a.Coverage, b.Coverage)
	}
	c := a.Coverage
	if c.Runs != len(seeds) || a.Seeds != len(seeds) || len(a.Slowest) != len(seeds) {
		t.Errorf("report of %d seeds: %d runs, %d seeds, %d slowest", len(seeds), c.Runs, a.Seeds, len(a.Slowest))
	}
	faults := 0
	for _, n := range c.Faults {
		faults += n
	}
	if faults == 0 || c.Faults[faultNames[fHealNetwork]]+c.Faults[faultNames[fPartition]]+c.Faults[faultNames[fCrash]] == 0 {
		t.Errorf("%d runs with faults on counted no fault of the kinds always enabled: %v", len(seeds), c.Faults)
	}
	if c.Elections < len(seeds) || c.LeadersElected < len(seeds) || c.ClientOps == 0 || c.LogValues == 0 || c.SimulatedMillis < int64(len(seeds))*duration {
		t.Errorf("coverage too small for %d runs: %+v", len(seeds), c)
	}
	var text strings.Builder
	if err := a.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sweep: 2 seeds, 0 failed", "faults fired:\n  ", "leader changes", "slowest seeds: "} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, text.String())
		}
	}
	data, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var back SweepReport
	if err := json.Unmarshal(data, &back); err != nil || !reflect.DeepEqual(back.Coverage, a.Coverage) {
		t.Errorf("the JSON report does not read back: %v\n%s", err, data)
	}
}

// TestCoverageCountsForcedFaults runs a nemesis that has one kind of fault
// only: the coverage counts that kind, and no other of the nemesis's.
func TestCoverageCountsForcedFaults(t *testing.T) {
	for _, f := range []fault{fCrash, fPartition, fLossy, fTransferLeader, fMembership} {
		cfg := DefaultConfig(5)
		cfg.Duration, cfg.LossFaults = 4000, false
		w, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		w.nemesis.enabled, w.nemesis.churn = []fault{f}, false
		if err := w.Run(); err != nil {
			t.Fatalf("%s only: %.500s", faultNames[f], err)
		}
		c := w.Coverage()
		if c.Faults[faultNames[f]] == 0 {
			t.Errorf("%s only: not counted: %v", faultNames[f], c.Faults)
		}
		for other := fault(0); other < numFaults; other++ {
			if other != f && c.Faults[faultNames[other]] != 0 {
				t.Errorf("%s only: %d %s counted", faultNames[f], c.Faults[faultNames[other]], faultNames[other])
			}
		}
		if f == fMembership && c.MembershipChanges == 0 {
			t.Errorf("membership changes only: none counted committed; fault log:\n%s", strings.Join(w.faultLog, "\n"))
		}
	}
}
