package procharness

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/cairndb/cairn/client"
)

// FaultKind names a fault the nemesis injects.
type FaultKind string

// The faults of the nemesis.
const (
	// FaultKill kills a member with SIGKILL, then restarts it from its
	// data dir.
	FaultKill FaultKind = "kill"
	// FaultPause stops a member with SIGSTOP, then resumes it with
	// SIGCONT.
	FaultPause FaultKind = "pause"
	// FaultPartition cuts a member off from the others through the proxy
	// (clients still reach it), then heals.
	FaultPartition FaultKind = "partition"
	// FaultIsolateLeader partitions whichever member leads.
	FaultIsolateLeader FaultKind = "isolate-leader"
	// FaultKillLeader kills whichever member leads, then restarts it.
	FaultKillLeader FaultKind = "kill-leader"
	// FaultPauseLeader pauses whichever member leads, then resumes it.
	FaultPauseLeader FaultKind = "pause-leader"
	// FaultSlow delays every link to and from a member by 50 to 250ms,
	// then heals.
	FaultSlow FaultKind = "slow"
)

// FaultKinds lists the fault kinds a run injects by default; the disk
// faults (DiskFaultKinds) are injected only when named.
func FaultKinds() []FaultKind {
	return []FaultKind{FaultKill, FaultPause, FaultPartition, FaultIsolateLeader,
		FaultKillLeader, FaultPauseLeader, FaultSlow}
}

// targetsLeader reports whether kind picks the leader as its victim.
func (k FaultKind) targetsLeader() bool {
	return k == FaultIsolateLeader || k == FaultKillLeader || k == FaultPauseLeader
}

// FaultEvent is one fault the nemesis injected.
type FaultEvent struct {
	Kind   FaultKind
	Member string
	// Start is when it began, since the run started (the recorder's
	// clock, which is also the visualization's time axis); Held is how
	// long it lasted.
	Start, Held time.Duration
	// Err says what went wrong injecting or healing it, if anything.
	Err error
	// Detail says what a disk fault damaged; Repaired is how long the
	// member took, from its restart, to report that it is whole again
	// (0 if it was not seen to: it was damaged again first, or never
	// repaired).
	Detail   string
	Repaired time.Duration
}

func (e FaultEvent) String() string {
	s := fmt.Sprintf("%8.3fs %-14s %s for %v", e.Start.Seconds(), e.Kind, e.Member, e.Held.Round(time.Millisecond))
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Repaired > 0 {
		s += fmt.Sprintf("; repaired %v after its restart", e.Repaired.Round(time.Millisecond))
	}
	if e.Err != nil {
		s += " (" + e.Err.Error() + ")"
	}
	return s
}

// nemesis injects one fault at a time into a cluster.
type nemesis struct {
	c        *cluster
	rng      *rand.Rand
	kinds    []FaultKind
	interval time.Duration // mean time between faults
	since    func() time.Duration
	logf     func(format string, args ...any)
	events   []FaultEvent
	disk     diskState
}

// run injects faults until ctx ends, then heals everything. Each round
// waits some calm (0.5 to 1.5 times the interval), then holds one fault
// for 2 to 5 seconds and undoes it. The kinds are dealt from a shuffled
// deck, so that a short run injects every kind once before any twice.
func (n *nemesis) run(ctx context.Context) {
	var deck []FaultKind
	for {
		calm := time.Duration(float64(n.interval) * (0.5 + n.rng.Float64()))
		if !sleepCtx(ctx, calm) {
			return
		}
		if len(deck) == 0 {
			deck = slices.Clone(n.kinds)
			n.rng.Shuffle(len(deck), func(i, j int) { deck[i], deck[j] = deck[j], deck[i] })
		}
		kind := deck[0]
		deck = deck[1:]
		hold := 2*time.Second + time.Duration(n.rng.Int64N(int64(3*time.Second)))
		e := n.inject(ctx, kind, hold)
		n.events = append(n.events, e)
		n.logf("nemesis: %s", e)
	}
}

// inject applies one fault, holds it (or until ctx ends), and undoes it.
func (n *nemesis) inject(ctx context.Context, kind FaultKind, hold time.Duration) FaultEvent {
	if kind.damagesDisk() {
		return n.injectDisk(ctx, kind, hold)
	}
	e := FaultEvent{Kind: kind, Start: n.since()}
	var victim *process
	if kind.targetsLeader() {
		victim = n.leader(ctx)
		if victim == nil {
			e.Err = errors.New("no leader found; chose a random member")
		}
	}
	if victim == nil {
		victim = n.c.members[n.rng.IntN(len(n.c.members))]
	}
	e.Member = victim.name
	var undo func() error
	switch kind {
	case FaultKill, FaultKillLeader:
		if err := victim.kill(); err != nil {
			e.Err = err
			return e
		}
		undo = func() error { return victim.start(30 * time.Second) }
	case FaultPause, FaultPauseLeader:
		if err := victim.pause(); err != nil {
			e.Err = err
			return e
		}
		undo = victim.resume
	case FaultPartition, FaultIsolateLeader:
		var others []string
		for _, m := range n.c.members {
			if m != victim {
				others = append(others, m.name)
			}
		}
		n.c.net.Partition([]string{victim.name}, others)
		undo = func() error { n.c.net.Heal(); return nil }
	case FaultSlow:
		d := 50*time.Millisecond + time.Duration(n.rng.Int64N(int64(200*time.Millisecond)))
		for _, m := range n.c.members {
			if m != victim {
				n.c.net.Delay(victim.name, m.name, d)
				n.c.net.Delay(m.name, victim.name, d)
			}
		}
		e.Member += fmt.Sprintf(" by %v", d)
		undo = func() error { n.c.net.Heal(); return nil }
	default:
		e.Err = fmt.Errorf("procharness: unknown fault kind %q", kind)
		return e
	}
	sleepCtx(ctx, hold)
	if err := undo(); err != nil {
		e.Err = errors.Join(e.Err, err)
	}
	e.Held = n.since() - e.Start
	return e
}

// leader asks each running member for its status and returns the one
// that says it leads, nil when none does.
func (n *nemesis) leader(ctx context.Context) *process {
	for _, m := range n.c.members {
		if !m.running() || m.isPaused() {
			continue
		}
		cli, err := client.New(client.Config{Endpoints: []string{m.client}, DialTimeout: 500 * time.Millisecond})
		if err != nil {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := cli.Status(sctx, m.client)
		cancel()
		cli.Close()
		if err == nil && st.Leader != 0 && st.Leader == st.Header.MemberID {
			return m
		}
	}
	return nil
}

// healAll undoes whatever a fault may have left: heals the network,
// resumes paused members and restarts dead ones.
func (c *cluster) healAll() error {
	c.net.Heal()
	var errs []error
	for _, m := range c.members {
		switch {
		case m.isPaused():
			errs = append(errs, m.resume())
		case !m.running():
			errs = append(errs, m.start(30*time.Second))
		}
	}
	return errors.Join(errs...)
}

// sleepCtx sleeps for d or until ctx ends, reporting whether it slept
// the whole time.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
