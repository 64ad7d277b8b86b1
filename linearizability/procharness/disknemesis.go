package procharness

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cairndb/cairn/client"
)

// The nemesis's side of the disk faults (disk.go): choosing a member it
// may damage, damaging it between a kill and a restart, checking that it
// noticed, and following its repair.

// diskState is what the nemesis knows of the members' repairs.
type diskState struct {
	// unrepaired are the members the nemesis damaged that have not yet
	// reported that they are whole again, by name.
	unrepaired map[string]*damagedMember
	// failures are damaged members that restarted without noticing the
	// damage, or could not restart.
	failures []error
}

// damagedMember is a member whose repair the nemesis follows.
type damagedMember struct {
	// event is the index, in nemesis.events, of the fault that damaged
	// it; restarted is when it restarted, since the run started.
	event     int
	restarted time.Duration
}

// fillKey is the key the nemesis writes filler values to (outside the
// clients' keyPrefix).
const fillKey = "procharness-fill"

// injectDisk kills a member, damages its WAL, holds it down, restarts it
// and follows its repair for up to hold again. It damages a member only
// while every other member reports that it is whole (diskVictim).
func (n *nemesis) injectDisk(ctx context.Context, kind FaultKind, hold time.Duration) FaultEvent {
	e := FaultEvent{Kind: kind, Start: n.since()}
	victim, why := n.diskVictim(ctx)
	if victim == nil {
		e.Member, e.Err = "-", fmt.Errorf("skipped: %s", why)
		return e
	}
	e.Member = victim.name
	if kind == FaultLoseSegment {
		puts, err := n.fillSegments(ctx, victim)
		if err != nil {
			e.Err = err
			return e
		}
		if puts > 0 {
			n.logf("nemesis: %d filler puts of 1 MiB moved %s's WAL to a second segment", puts, victim.name)
		}
		e.Start = n.since()
	}
	if err := victim.kill(); err != nil {
		e.Err = err
		return e
	}
	what, err := damageWAL(kind, walSegmentDir(victim.dataDir), n.rng)
	damaged := err == nil
	if damaged {
		e.Detail = what
	} else {
		e.Err = err
	}
	sleepCtx(ctx, hold)
	from := logSize(victim.logPath)
	startErr := victim.start(30 * time.Second)
	restarted := n.since()
	if startErr != nil {
		e.Err = errors.Join(e.Err, startErr)
	}
	if damaged {
		if n.disk.unrepaired == nil {
			n.disk.unrepaired = map[string]*damagedMember{}
		}
		n.disk.unrepaired[victim.name] = &damagedMember{event: len(n.events), restarted: restarted}
		switch {
		case startErr != nil:
			n.disk.failures = append(n.disk.failures, fmt.Errorf("procharness: %s cannot restart after %s: %w", victim.name, what, startErr))
		case !waitLogSays(victim.logPath, from, damageNoticedLine, 2*time.Second):
			n.disk.failures = append(n.disk.failures, fmt.Errorf("procharness: %w: %s after %s (its log, %s, never says %q)",
				ErrDamageUnnoticed, victim.name, what, victim.logPath, damageNoticedLine))
		default:
			// Follow the repair for a while, to measure it.
			deadline := time.Now().Add(hold)
			for time.Now().Before(deadline) && ctx.Err() == nil {
				if report, err := victim.repairReport(ctx); err == nil && report == "" {
					e.Repaired = n.since() - restarted
					delete(n.disk.unrepaired, victim.name)
					n.logf("nemesis: %s reports that it is whole again, %v after its restart", victim.name, e.Repaired.Round(time.Millisecond))
					break
				}
				sleepCtx(ctx, 100*time.Millisecond)
			}
		}
	}
	e.Held = n.since() - e.Start
	return e
}

// diskVictim returns the member a disk fault may damage now, or nil and
// why none. Damage may leave at most one member of the three unrepaired
// (a majority must hold everything it acknowledged): when every member
// is up and reports that it is whole, any member; when one is not, that
// one (damaging it again leaves the other two whole); otherwise none.
func (n *nemesis) diskVictim(ctx context.Context) (*process, string) {
	n.refreshRepairs(ctx)
	var bad []*process
	var why []string
	for _, m := range n.c.members {
		switch {
		case !m.running():
			bad = append(bad, m)
			why = append(why, m.name+" is down")
		case n.disk.unrepaired[m.name] != nil:
			bad = append(bad, m)
			why = append(why, m.name+" is not repaired yet")
		}
	}
	switch {
	case len(bad) == 0:
		return n.c.members[n.rng.IntN(len(n.c.members))], ""
	case len(bad) == 1 && bad[0].running():
		return bad[0], ""
	}
	return nil, strings.Join(why, ", ")
}

// refreshRepairs asks each member the nemesis damaged whether it is whole
// again, and stops following those that are.
func (n *nemesis) refreshRepairs(ctx context.Context) {
	for _, m := range n.c.members {
		d := n.disk.unrepaired[m.name]
		if d == nil || !m.running() {
			continue
		}
		if report, err := m.repairReport(ctx); err == nil && report == "" {
			n.repaired(m, d, false)
		}
	}
}

// repaired records that damaged member m reports that it is whole. When
// exact is false the time is an upper bound (the member was not watched
// continuously).
func (n *nemesis) repaired(m *process, d *damagedMember, exact bool) {
	took := n.since() - d.restarted
	delete(n.disk.unrepaired, m.name)
	if d.event < len(n.events) {
		n.events[d.event].Repaired = took
	}
	bound := "within "
	if exact {
		bound = ""
	}
	n.logf("nemesis: %s reports that it is whole again, %s%v after its restart", m.name, bound, took.Round(time.Millisecond))
}

// waitRepaired waits until every member reports that it is whole (no
// repair under way, nothing refused), for at most within. Its error wraps
// ErrNotRepaired and names each member that did not, with what it says.
func (n *nemesis) waitRepaired(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		var pending []string
		for _, m := range n.c.members {
			report, err := m.repairReport(ctx)
			switch {
			case err != nil:
				pending = append(pending, fmt.Sprintf("%s: %v", m.name, err))
			case report != "":
				pending = append(pending, fmt.Sprintf("%s: %s", m.name, report))
			default:
				if d := n.disk.unrepaired[m.name]; d != nil {
					n.repaired(m, d, true)
				}
			}
		}
		if len(pending) == 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("procharness: %w within %v: %s", ErrNotRepaired, within, strings.Join(pending, "; "))
		}
		sleepCtx(ctx, 100*time.Millisecond)
	}
}

// repairReport asks the member for its status and returns what it
// reports besides alarms — a repair under way, a store ahead of the
// cluster, an identity its peers refuse — or "" when nothing.
func (p *process) repairReport(ctx context.Context) (string, error) {
	cli, err := client.New(client.Config{Endpoints: []string{p.client}, DialTimeout: 500 * time.Millisecond})
	if err != nil {
		return "", fmt.Errorf("procharness: status of %s: %w", p.name, err)
	}
	defer cli.Close()
	sctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	st, err := cli.Status(sctx, p.client)
	if err != nil {
		return "", fmt.Errorf("procharness: status of %s: %w", p.name, err)
	}
	var reports []string
	for _, e := range st.Errors {
		if !strings.Contains(e, " alarm:") {
			reports = append(reports, e)
		}
	}
	return strings.Join(reports, "; "), nil
}

// fillSegments writes filler values of 1 MiB through the cluster until
// member m's WAL has at least two segments (a lose-segment fault deletes
// the newest, which must not be the only one), and returns how many it
// wrote. It gives up after 60 s or when ctx ends.
func (n *nemesis) fillSegments(ctx context.Context, m *process) (int, error) {
	dir := walSegmentDir(m.dataDir)
	cli, err := client.New(client.Config{Endpoints: n.c.endpoints(), DialTimeout: time.Second})
	if err != nil {
		return 0, fmt.Errorf("procharness: fill %s's WAL: %w", m.name, err)
	}
	defer cli.Close()
	value := strings.Repeat("f", 1<<20)
	deadline := time.Now().Add(60 * time.Second)
	for puts := 0; ; {
		segs, err := walSegments(dir)
		if err != nil {
			return puts, err
		}
		if len(segs) >= 2 {
			return puts, nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return puts, fmt.Errorf("procharness: fill %s's WAL: still one segment after %d puts of 1 MiB", m.name, puts)
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if _, err := cli.Put(pctx, fillKey, value); err == nil {
			puts++
		}
		cancel()
	}
}

// waitLogSays waits up to within for the member log at path to say line
// after byte offset from (a member's output reaches its log file a
// moment after it is written).
func waitLogSays(path string, from int64, line string, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for {
		if logSaysSince(path, from, line) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}
