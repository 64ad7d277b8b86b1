// Command linearize tests a three-member cairn cluster of real processes
// for linearizability under faults, in the manner of Jepsen.
//
//	linearize --duration 60s --clients 8 --seed 7
//	linearize --node-bin ./bin/node --dir /tmp/run --keep-data
//	linearize --faults lose-wal-tail,lose-segment,lose-vote,flip-bit,kill
//
// It builds cmd/node (run it from inside the cairn module, or give
// --node-bin), starts three members whose peer traffic passes through a
// fault proxy, and runs concurrent clients doing get, put and
// compare-and-swap on a few keys while a nemesis kills members with
// SIGKILL and restarts them, pauses them with SIGSTOP, and partitions them
// (see package linearizability/procharness); with --faults naming them,
// it also damages a killed member's WAL before restarting it
// (lose-wal-tail, lose-segment, lose-vote, flip-bit). Then it heals the
// cluster, checks that it accepts a write again, that every member is
// whole and holds every acknowledged write, and checks the history with
// porcupine. It prints a summary and exits 1 on a violation (the error
// names porcupine's HTML visualization), 2 on bad flags, and 3 when the
// run could not be carried out or the healed cluster took no write. Linux
// only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/cairndb/cairn/linearizability"
	"github.com/cairndb/cairn/linearizability/procharness"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes.
const (
	exitOK        = 0
	exitViolation = 1
	exitUsage     = 2
	exitFailed    = 3
)

// parseFlags reads the command line into a harness configuration.
func parseFlags(args []string, stderr io.Writer) (procharness.Config, bool, error) {
	var cfg procharness.Config
	fs := flag.NewFlagSet("linearize", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&cfg.Duration, "duration", 30*time.Second, "how long clients and faults run")
	fs.IntVar(&cfg.Clients, "clients", 5, "concurrent clients")
	fs.IntVar(&cfg.Keys, "keys", 3, "keys the clients share")
	seed := fs.Uint64("seed", 0, "seed of the clients' and the nemesis's choices (0: from the clock)")
	fs.StringVar(&cfg.Dir, "dir", "", "directory for data dirs, logs and the visualization (default: a temporary one)")
	fs.BoolVar(&cfg.KeepData, "keep-data", false, "keep the directory after a clean run")
	fs.StringVar(&cfg.NodeBinary, "node-bin", "", "a built cmd/node (default: build one)")
	fs.DurationVar(&cfg.OpTimeout, "op-timeout", time.Second, "timeout of each client operation")
	fs.DurationVar(&cfg.FaultInterval, "fault-interval", 2*time.Second, "mean calm between faults")
	faults := fs.String("faults", joinKinds(procharness.FaultKinds()),
		"comma-separated fault kinds to inject; the disk faults, damage to a killed member's WAL, are also known: "+joinKinds(procharness.DiskFaultKinds()))
	quiet := fs.Bool("quiet", false, "print only the summary")
	if err := fs.Parse(args); err != nil {
		return cfg, false, err
	}
	if fs.NArg() > 0 {
		return cfg, false, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if cfg.Duration <= 0 || cfg.Clients <= 0 || cfg.Keys <= 0 || cfg.OpTimeout <= 0 || cfg.FaultInterval <= 0 {
		return cfg, false, errors.New("--duration, --clients, --keys, --op-timeout and --fault-interval must be positive")
	}
	kinds, err := parseKinds(*faults)
	if err != nil {
		return cfg, false, err
	}
	cfg.Faults = kinds
	cfg.Seed = *seed
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}
	return cfg, *quiet, nil
}

func joinKinds(kinds []procharness.FaultKind) string {
	s := make([]string, len(kinds))
	for i, k := range kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ",")
}

// knownKinds lists every fault kind --faults takes: the default ones and
// the disk faults.
func knownKinds() []procharness.FaultKind {
	return append(procharness.FaultKinds(), procharness.DiskFaultKinds()...)
}

// parseKinds reads a comma-separated list of fault kinds.
func parseKinds(s string) ([]procharness.FaultKind, error) {
	var kinds []procharness.FaultKind
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		found := false
		for _, k := range knownKinds() {
			if string(k) == part {
				kinds = append(kinds, k)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("--faults: unknown fault %q (known: %s)", part, joinKinds(knownKinds()))
		}
	}
	if len(kinds) == 0 {
		return nil, errors.New("--faults: no fault kind given")
	}
	return kinds, nil
}

// run is the command, returning its exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, quiet, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "linearize:", err)
		return exitUsage
	}
	if !quiet {
		cfg.Log = stderr
	}
	res, err := procharness.Run(ctx, cfg)
	fmt.Fprintf(stdout, "seed: %d\n%s", cfg.Seed, res.Summary())
	for _, f := range res.Faults {
		fmt.Fprintf(stdout, "  %s\n", f)
	}
	switch {
	case err == nil:
		fmt.Fprintln(stdout, "result: linearizable")
		return exitOK
	case errors.Is(err, linearizability.ErrNotLinearizable):
		fmt.Fprintln(stdout, "result: NOT LINEARIZABLE")
		fmt.Fprintln(stderr, "linearize:", err)
		return exitViolation
	default:
		fmt.Fprintln(stdout, "result: run failed")
		fmt.Fprintln(stderr, "linearize:", err)
		return exitFailed
	}
}
