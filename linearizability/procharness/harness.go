package procharness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/cairndb/cairn/client"
	"github.com/cairndb/cairn/linearizability"
)

// Config configures a Run. Zero fields take the defaults named.
type Config struct {
	// NodeBinary is a built cmd/node; empty builds one (the current
	// directory must be inside the cairn module).
	NodeBinary string
	// Dir holds the members' data dirs, their logs and, on a violation,
	// the visualization. Empty makes a temporary directory, removed
	// after a clean run unless KeepData is set.
	Dir string
	// KeepData keeps Dir after a clean run (it is always kept after a
	// failed one).
	KeepData bool
	// Duration is how long the clients and the nemesis run (20s).
	Duration time.Duration
	// Clients is the number of concurrent clients (5).
	Clients int
	// Keys is the number of keys they share (3).
	Keys int
	// Seed seeds the clients' and the nemesis's choices. Real processes
	// run on real time, so a seed does not replay a run exactly.
	Seed uint64
	// OpTimeout bounds each client operation (1s).
	OpTimeout time.Duration
	// FaultInterval is the mean calm between faults (2s).
	FaultInterval time.Duration
	// Faults are the fault kinds to inject (all of FaultKinds). The disk
	// faults (DiskFaultKinds) are injected only when named here.
	Faults []FaultKind
	// HeartbeatMS and ElectionMS are the members' --heartbeat-interval
	// and --election-timeout (50 and 500).
	HeartbeatMS, ElectionMS int
	// SerializableReads makes the clients' gets serializable: a member
	// answers from its own store without asking the leader, so a member
	// cut off from the others serves stale values. It is a deliberate
	// mistake, to show that the check catches stale reads; a run with it
	// should fail once partitions happen.
	SerializableReads bool
	// UnsafeSkipRepair is a mutation: the members start as if their
	// disks had lost nothing (cmd/node built with -tags cairn_mutation,
	// run with --unsafe-skip-repair; NodeBinary must then be empty). A run
	// with disk faults must fail.
	UnsafeSkipRepair bool
	// CheckTimeout bounds the linearizability check (2m).
	CheckTimeout time.Duration
	// Log receives progress lines (nothing when nil).
	Log io.Writer
}

func (c Config) withDefaults() Config {
	if c.Duration == 0 {
		c.Duration = 20 * time.Second
	}
	if c.Clients == 0 {
		c.Clients = 5
	}
	if c.Keys == 0 {
		c.Keys = 3
	}
	if c.OpTimeout == 0 {
		c.OpTimeout = time.Second
	}
	if c.FaultInterval == 0 {
		c.FaultInterval = 2 * time.Second
	}
	if len(c.Faults) == 0 {
		c.Faults = FaultKinds()
	}
	if c.HeartbeatMS == 0 {
		c.HeartbeatMS = 50
	}
	if c.ElectionMS == 0 {
		c.ElectionMS = 500
	}
	if c.CheckTimeout == 0 {
		c.CheckTimeout = 2 * time.Minute
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	return c
}

// Result is what a Run did.
type Result struct {
	// Dir is where the data dirs, logs and any visualization are (gone
	// if it was temporary and the run was clean).
	Dir string
	// Ops counts the clients' operations by outcome.
	Ops OpCounts
	// Errors describes the clients' errors by kind ("timeout", or the
	// error's code).
	Errors map[string]ErrorStat
	// Resolved says what became of the writes of unknown outcome.
	Resolved Resolved
	// Faults are the faults injected, in order.
	Faults []FaultEvent
	// Net counts what the proxy did with peer connections.
	Net NetStats
	// CheckTimedOut says the checker gave up before deciding (no
	// violation was found in that time).
	CheckTimedOut bool
	// Elapsed is the wall time of the whole run.
	Elapsed time.Duration
}

// Summary describes the result in a few lines.
func (r Result) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "operations: %d (ok %d, unknown %d, failed %d)\n", r.Ops.Total(), r.Ops.OK, r.Ops.Unknown, r.Ops.Failed)
	fmt.Fprintf(&b, "unknown writes: %d applied, %d never applied (left out of the check)\n", r.Resolved.Applied, r.Resolved.NotApplied)
	if len(r.Errors) > 0 {
		kinds := make([]string, 0, len(r.Errors))
		for k := range r.Errors {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		b.WriteString("client errors:\n")
		for _, k := range kinds {
			e := r.Errors[k]
			fmt.Fprintf(&b, "  %s: %d from %.3fs to %.3fs (first: %s)\n", k, e.Count, e.First.Seconds(), e.Last.Seconds(), e.Example)
		}
	}
	counts := map[FaultKind]int{}
	for _, f := range r.Faults {
		counts[f.Kind]++
	}
	fmt.Fprintf(&b, "faults: %d (", len(r.Faults))
	for i, k := range FaultKinds() {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", k, counts[k])
	}
	for _, k := range DiskFaultKinds() {
		if counts[k] > 0 {
			fmt.Fprintf(&b, ", %s %d", k, counts[k])
		}
	}
	b.WriteString(")\n")
	var damaged, repaired int
	var slowest time.Duration
	for _, f := range r.Faults {
		if f.Detail != "" {
			damaged++
		}
		if f.Repaired > 0 {
			repaired++
			slowest = max(slowest, f.Repaired)
		}
	}
	if damaged > 0 {
		fmt.Fprintf(&b, "disk damage: %d WALs damaged, %d members seen repaired after it (the slowest %v after its restart)\n",
			damaged, repaired, slowest.Round(time.Millisecond))
	}
	fmt.Fprintf(&b, "peer connections: %d forwarded, %d refused, %d severed, %d unidentified\n",
		r.Net.Accepted, r.Net.Refused, r.Net.Severed, r.Net.Unidentified)
	if r.CheckTimedOut {
		b.WriteString("linearizability: check timed out (inconclusive)\n")
	}
	fmt.Fprintf(&b, "elapsed: %v; dir: %s\n", r.Elapsed.Round(time.Millisecond), r.Dir)
	return b.String()
}

// keyPrefix starts the name of every key the clients use.
const keyPrefix = "key"

// ErrNotLive is wrapped by Run's error when the healed cluster accepts
// no write in time.
var ErrNotLive = errors.New("cluster accepted no write after the faults healed")

// Run starts a cluster, runs the clients and the nemesis for
// cfg.Duration, heals, checks liveness and linearizability, and stops the
// cluster. The error wraps linearizability.ErrNotLinearizable (naming the
// visualization file) on a violation; it also reports a cluster that does
// not accept a write within 10s of healing (ErrNotLive), a member that
// does not report itself whole within a minute (ErrNotRepaired), a member
// whose history misses an acknowledged write (ErrLostWrite), a member
// that restarted on a damaged WAL without noticing (ErrDamageUnnoticed),
// and any failure to set up.
func Run(ctx context.Context, cfg Config) (res Result, err error) {
	cfg = cfg.withDefaults()
	start := time.Now()
	defer func() { res.Elapsed = time.Since(start) }()
	if runtime.GOOS != "linux" {
		return res, fmt.Errorf("procharness: needs Linux (it reads /proc to tell members' connections apart), not %s", runtime.GOOS)
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(cfg.Log, "%7.3fs "+format+"\n", append([]any{time.Since(start).Seconds()}, args...)...)
	}

	dir, temporary := cfg.Dir, cfg.Dir == ""
	if temporary {
		if dir, err = os.MkdirTemp("", "cairn-procharness-"); err != nil {
			return res, fmt.Errorf("procharness: %w", err)
		}
	} else if err = os.MkdirAll(dir, 0o755); err != nil {
		return res, fmt.Errorf("procharness: %w", err)
	}
	res.Dir = dir
	defer func() {
		if err == nil && temporary && !cfg.KeepData {
			os.RemoveAll(dir)
		}
	}()

	bin := cfg.NodeBinary
	var tags, extra []string
	if cfg.UnsafeSkipRepair {
		if bin != "" {
			return res, errors.New("procharness: UnsafeSkipRepair builds its own cmd/node: leave NodeBinary empty")
		}
		tags, extra = []string{"cairn_mutation"}, []string{"--unsafe-skip-repair"}
	}
	if bin == "" {
		logf("building cmd/node")
		if bin, err = BuildNode(dir, tags...); err != nil {
			return res, err
		}
	}
	c, err := newCluster(clusterOptions{bin: bin, dir: dir, size: 3, heartbeatMS: cfg.HeartbeatMS, electionMS: cfg.ElectionMS, extraArgs: extra})
	if err != nil {
		return res, err
	}
	defer func() {
		if stopErr := c.stop(); stopErr != nil && err == nil {
			err = stopErr
		}
		res.Net = c.net.Stats()
	}()
	logf("starting %s in %s", strings.Join(c.names(), ", "), dir)
	if err := c.start(30 * time.Second); err != nil {
		return res, err
	}

	clock := linearizability.NewWallClock()
	rec := linearizability.NewRecorder(clock)
	keys := make([]string, cfg.Keys)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s%d", keyPrefix, i)
	}
	w := &workload{rec: rec, endpoints: c.endpoints(), keys: keys, opTimeout: cfg.OpTimeout, clients: cfg.Clients,
		since: func() time.Duration { return time.Duration(clock()) }, serializable: cfg.SerializableReads}
	nem := &nemesis{c: c, rng: newRand(cfg.Seed, 0), kinds: cfg.Faults, interval: cfg.FaultInterval,
		since: func() time.Duration { return time.Duration(clock()) }, logf: logf}

	logf("running %d clients on %d keys for %v (seed %d)", cfg.Clients, cfg.Keys, cfg.Duration, cfg.Seed)
	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	nemDone := make(chan struct{})
	go func() {
		defer close(nemDone)
		nem.run(runCtx)
	}()
	werr := w.run(runCtx, cfg.Seed)
	cancel()
	<-nemDone
	res.Faults = nem.events
	res.Ops = w.snapshotCounts()
	res.Errors = w.errorStats()
	if werr != nil {
		return res, werr
	}

	logf("healing; %d operations so far", res.Ops.Total())
	if err := c.healAll(); err != nil {
		return res, err
	}
	// A cluster that does not come back is reported, and its history is
	// still checked (without the final reads and the resolution of
	// unknown writes, which need it to answer).
	liveErr := checkLiveness(ctx, c.endpoints(), 10*time.Second)
	// Every member must be whole again: a member that lost data repairs
	// itself from the others, and none refuses to serve.
	repairErr := nem.waitRepaired(ctx, time.Minute)
	res.Faults = nem.events
	var ackErr error
	if liveErr == nil {
		if err := w.finalReads(ctx, 10*time.Second); err != nil {
			return res, err
		}
		if res.Resolved, err = w.resolveUnknownWrites(ctx, keyPrefix, 30*time.Second); err != nil {
			return res, err
		}
		res.Ops = w.snapshotCounts()
		if repairErr == nil {
			ackErr = w.checkAcknowledged(ctx, c.members, keyPrefix, 30*time.Second)
		}
	} else {
		logf("%v", liveErr)
	}
	if repairErr != nil {
		logf("%v", repairErr)
	}
	if ackErr != nil {
		logf("%v", ackErr)
	}
	diskErr := errors.Join(nem.disk.failures...)

	logf("checking %d operations", res.Ops.Total())
	checkErr := linearizability.Check(rec.Operations(), linearizability.KVModel(), cfg.CheckTimeout, dir)
	switch {
	case errors.Is(checkErr, linearizability.ErrCheckTimeout):
		res.CheckTimedOut = true
		logf("%v", checkErr)
		checkErr = nil
	case checkErr != nil:
		checkErr = fmt.Errorf("procharness: %w (member logs in %s)", checkErr, dir)
	default:
		logf("linearizable")
	}
	return res, errors.Join(checkErr, liveErr, repairErr, ackErr, diskErr)
}

// checkLiveness writes until one write succeeds, failing after within.
func checkLiveness(ctx context.Context, endpoints []string, within time.Duration) error {
	cli, err := client.New(client.Config{Endpoints: endpoints, DialTimeout: time.Second})
	if err != nil {
		return fmt.Errorf("procharness: liveness: %w", err)
	}
	defer cli.Close()
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		_, last = cli.Put(wctx, "procharness-liveness", time.Now().String())
		cancel()
		if last == nil {
			return nil
		}
		if ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("procharness: %w within %v (last error: %v)", ErrNotLive, within, last)
}
