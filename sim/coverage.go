package sim

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// Coverage counts what a run (or a sweep of runs, summed) exercised: how
// often each kind of fault fired, and the events of the protocol a reader
// wants to know a sweep went through. Every count is a function of the
// seeds alone: the same seeds give the same coverage.
type Coverage struct {
	// Runs is how many runs are summed here.
	Runs int `json:"runs"`
	// Faults counts the faults that took effect, by kind: the nemesis's
	// (faultNames), the leader churn's isolations, the disk losses
	// (lossNames) and the forger's messages ("forgery").
	Faults map[string]int `json:"faults"`
	// Elections counts the campaigns: a member asking for votes in a
	// term it had not asked in before.
	Elections int `json:"elections"`
	// LeadersElected counts the members that became leader.
	LeadersElected int `json:"leaders_elected"`
	// LeaderChanges counts elections won by another member than the
	// previous leader.
	LeaderChanges int `json:"leader_changes"`
	// SnapshotsSent counts the snapshots leaders put on the wire,
	// StreamsBroken those whose stream broke before its end (snapshot.go).
	SnapshotsSent int `json:"snapshots_sent"`
	StreamsBroken int `json:"streams_broken"`
	// UnconfirmedReads counts the reads refused by a restarted member no
	// peer had confirmed yet (confirm.go).
	UnconfirmedReads int `json:"unconfirmed_reads"`
	// MembershipChanges counts the conf changes that committed (the
	// bootstrap's excluded).
	MembershipChanges int `json:"membership_changes"`
	// LeaseExpiries counts the revokes leaders proposed for leases that
	// expired.
	LeaseExpiries int `json:"lease_expiries"`
	// ClientOps counts the client operations that ended, Indeterminate
	// those whose client could not tell whether they happened.
	ClientOps     int `json:"client_ops"`
	Indeterminate int `json:"indeterminate_ops"`
	// AuthRuns counts the runs that simulated auth (auth.go); in them,
	// AuthChanges counts the auth changes the cluster applied,
	// AuthRefusedWrites the client writes members refused for auth as
	// they applied them, AuthRefusedReads the reads refused for auth, and
	// AuthOldTokens the refusals of a token older than the auth state.
	AuthRuns          int `json:"auth_runs"`
	AuthChanges       int `json:"auth_changes"`
	AuthRefusedWrites int `json:"auth_refused_writes"`
	AuthRefusedReads  int `json:"auth_refused_reads"`
	AuthOldTokens     int `json:"auth_old_tokens"`
	// CorruptRounds counts the rounds of the corruption check that
	// compared at least two hashes (corrupt.go), CorruptAlarms the
	// CORRUPT alarms they raised, and RotDetected the runs in which one
	// named a member whose store rotted (the fault "rot-store").
	CorruptRounds int `json:"corrupt_rounds"`
	CorruptAlarms int `json:"corrupt_alarms"`
	RotDetected   int `json:"rot_detected"`
	// NoSpaceAlarms counts the NOSPACE alarms the space operator found
	// raised (space.go), NoSpaceRefused the writes members refused for
	// the quota.
	NoSpaceAlarms  int `json:"nospace_alarms"`
	NoSpaceRefused int `json:"nospace_refused"`
	// LogValues counts the values the stores of the members up at the
	// end keep in their raft logs (node/replica/logvalues.go): every
	// member keeps every value there.
	LogValues int64 `json:"log_values"`
	// SimulatedMillis is the virtual time the runs lasted.
	SimulatedMillis int64 `json:"simulated_ms"`
}

// Coverage returns what this run covered so far.
func (w *World) Coverage() Coverage {
	c := w.obs.cov
	c.Runs = 1
	c.Faults = maps.Clone(c.Faults)
	if c.Faults == nil {
		c.Faults = map[string]int{}
	}
	c.LeaseExpiries = w.leases.expiries
	for _, m := range w.members {
		c.UnconfirmedReads += m.unconfirmedReads
		if m.state == stateUp && m.replica != nil {
			n, _ := m.replica.State.Store().LogRefStats()
			c.LogValues += n
		}
	}
	if w.auth.on {
		c.AuthRuns = 1
	}
	c.SimulatedMillis = w.now
	return c
}

// Add adds o's counts to c.
func (c *Coverage) Add(o Coverage) {
	c.Runs += o.Runs
	if c.Faults == nil {
		c.Faults = map[string]int{}
	}
	for k, n := range o.Faults {
		c.Faults[k] += n
	}
	c.Elections += o.Elections
	c.LeadersElected += o.LeadersElected
	c.LeaderChanges += o.LeaderChanges
	c.SnapshotsSent += o.SnapshotsSent
	c.StreamsBroken += o.StreamsBroken
	c.UnconfirmedReads += o.UnconfirmedReads
	c.MembershipChanges += o.MembershipChanges
	c.LeaseExpiries += o.LeaseExpiries
	c.ClientOps += o.ClientOps
	c.Indeterminate += o.Indeterminate
	c.AuthRuns += o.AuthRuns
	c.AuthChanges += o.AuthChanges
	c.AuthRefusedWrites += o.AuthRefusedWrites
	c.AuthRefusedReads += o.AuthRefusedReads
	c.AuthOldTokens += o.AuthOldTokens
	c.CorruptRounds += o.CorruptRounds
	c.CorruptAlarms += o.CorruptAlarms
	c.RotDetected += o.RotDetected
	c.NoSpaceAlarms += o.NoSpaceAlarms
	c.NoSpaceRefused += o.NoSpaceRefused
	c.LogValues += o.LogValues
	c.SimulatedMillis += o.SimulatedMillis
}

// SeedTime is how long one seed's run took.
type SeedTime struct {
	Seed            uint64 `json:"seed"`
	WallMillis      int64  `json:"wall_ms"`
	SimulatedMillis int64  `json:"simulated_ms"`
}

// SweepReport is what a sweep of seeds covered: Coverage depends on the
// seeds only; Slowest and WallMillis on the machine.
type SweepReport struct {
	Seeds    int      `json:"seeds"`
	Failed   []uint64 `json:"failed"`
	Coverage Coverage `json:"coverage"`
	// Slowest are the runs that took the most wall time, slowest first.
	Slowest    []SeedTime `json:"slowest"`
	WallMillis int64      `json:"wall_ms"`
}

// slowestKept is how many of the slowest seeds a report names.
const slowestKept = 5

// Add counts one run into the report.
func (r *SweepReport) Add(seed uint64, cov Coverage, wall time.Duration, failed bool) {
	r.Seeds++
	if failed {
		r.Failed = append(r.Failed, seed)
		slices.Sort(r.Failed)
	}
	r.Coverage.Add(cov)
	r.Slowest = append(r.Slowest, SeedTime{Seed: seed, WallMillis: wall.Milliseconds(), SimulatedMillis: cov.SimulatedMillis})
	slices.SortFunc(r.Slowest, func(a, b SeedTime) int {
		return cmp.Or(cmp.Compare(b.WallMillis, a.WallMillis), cmp.Compare(a.Seed, b.Seed))
	})
	if len(r.Slowest) > slowestKept {
		r.Slowest = r.Slowest[:slowestKept]
	}
}

// WriteText prints the report for a person.
func (r *SweepReport) WriteText(out io.Writer) error {
	c := &r.Coverage
	var b strings.Builder
	failed := ""
	if len(r.Failed) > 0 {
		failed = fmt.Sprintf(" %v", r.Failed)
	}
	fmt.Fprintf(&b, "sweep: %d seeds, %d failed%s, %.1f s wall, %.1f simulated seconds\n",
		r.Seeds, len(r.Failed), failed, float64(r.WallMillis)/1000, float64(c.SimulatedMillis)/1000)
	fmt.Fprintf(&b, "faults fired:\n")
	kinds := slices.Sorted(maps.Keys(c.Faults))
	for _, k := range kinds {
		fmt.Fprintf(&b, "  %-20s %7d\n", k, c.Faults[k])
	}
	for _, row := range []struct {
		name string
		n    int
	}{
		{"elections (campaigns)", c.Elections},
		{"leaders elected", c.LeadersElected},
		{"leader changes", c.LeaderChanges},
		{"snapshots sent", c.SnapshotsSent},
		{"snapshot streams cut", c.StreamsBroken},
		{"reads unconfirmed", c.UnconfirmedReads},
		{"membership changes", c.MembershipChanges},
		{"lease expiries", c.LeaseExpiries},
		{"client operations", c.ClientOps},
		{"indeterminate ops", c.Indeterminate},
		{"runs with auth", c.AuthRuns},
		{"auth changes", c.AuthChanges},
		{"writes refused (auth)", c.AuthRefusedWrites},
		{"reads refused (auth)", c.AuthRefusedReads},
		{"old tokens refused", c.AuthOldTokens},
		{"corruption checks", c.CorruptRounds},
		{"CORRUPT alarms", c.CorruptAlarms},
		{"rotten stores found", c.RotDetected},
		{"NOSPACE alarms", c.NoSpaceAlarms},
		{"writes refused (quota)", c.NoSpaceRefused},
	} {
		fmt.Fprintf(&b, "%-22s %7d\n", row.name, row.n)
	}
	fmt.Fprintf(&b, "slowest seeds:")
	for _, s := range r.Slowest {
		fmt.Fprintf(&b, " %d (%d ms wall, %.1f s simulated)", s.Seed, s.WallMillis, float64(s.SimulatedMillis)/1000)
	}
	b.WriteString("\n")
	_, err := io.WriteString(out, b.String())
	return err
}
