// Command bench measures a cairn cluster (or, for comparison, an etcd
// cluster) under a workload and reports throughput and latency.
//
//	bench put --clients 1000 --conns 100 --total 100000
//	bench range --consistency s --duration 10s --json
//	bench watch --watchers 100 --clients 10 --plot watch.svg
//	bench --target etcd --endpoints 127.0.0.1:12379 put
//	bench compare cairn.jsonl etcd.jsonl
//
// Workloads: put, range, txn-put, watch, lease-keepalive, mixed (see
// package bench). The summary gives QPS, mean/p50/p90/p99/p99.9/max
// latency and a histogram; --json writes one JSON object per run for
// scripts, and "bench compare" turns two files of them into a
// side-by-side table. bench/compare.sh runs the whole comparison.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/cairndb/cairn/bench"
	"github.com/cairndb/cairn/bench/etcd"
)

// defaultEndpoints are the client addresses of the Procfile's cluster.
const defaultEndpoints = "127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, isTerminal(os.Stderr)))
}

// usage is the command's help text.
func usage() string {
	return `usage: bench [flags] WORKLOAD [flags]
       bench compare A.jsonl B.jsonl

Workloads: ` + strings.Join(bench.Workloads(), ", ") + `
  put              write one key per operation (--sequential-keys or random over --key-space)
  range            read one key (--prefix: the 10 keys of a prefix), --consistency l|s
  txn-put          compare-and-swap on mod revision: if unchanged put, else read
  watch            --watchers watch every key; --clients put; measures delivery latency
  lease-keepalive  each client renews its own lease once per operation
  mixed            --read-ratio reads, the rest puts

compare reads two files of --json results and prints QPS, p50 and p99 side
by side with the ratios A/B, then the runs' notes and errors.

Flags:
`
}

// options are the parsed command line.
type options struct {
	cfg         bench.Config
	target      string
	endpoints   string
	consistency string
	dialTimeout time.Duration
	jsonOut     bool
	plot        string
	cpuProfile  string
}

// newFlags defines the flags on a new FlagSet writing into o.
func newFlags(o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage())
		fs.PrintDefaults()
	}
	c := &o.cfg
	fs.StringVar(&o.target, "target", "cairn", "store to drive: cairn, or etcd (its gRPC API, for comparisons)")
	fs.StringVar(&o.endpoints, "endpoints", defaultEndpoints, "members' client addresses, comma separated (host:port or http://host:port)")
	fs.IntVar(&c.Clients, "clients", 1, "concurrent clients, each with one operation in flight")
	fs.IntVar(&c.Conns, "conns", 1, "connections the clients share (client i uses connection i mod conns)")
	fs.Int64Var(&c.Total, "total", 0, "operations to run (0: run for --duration)")
	fs.DurationVar(&c.Duration, "duration", 0, "how long to run (default 10s without --total)")
	fs.IntVar(&c.KeySize, "key-size", 8, "key size in bytes (keys are zero-padded decimal numbers)")
	fs.IntVar(&c.ValSize, "val-size", 256, "value size in bytes")
	fs.IntVar(&c.KeySpace, "key-space", 10000, "number of distinct keys")
	fs.BoolVar(&c.Sequential, "sequential-keys", false, "use keys in order instead of at random")
	fs.Float64Var(&c.Rate, "rate", 0, "operations per second, at most (0: no limit)")
	fs.Uint64Var(&c.Seed, "seed", 1, "seed of the random key choices")
	fs.StringVar(&c.Label, "label", "", "name of the run in reports and comparisons (default: the workload)")
	fs.StringVar(&o.consistency, "consistency", "l", "read consistency of range and mixed: l (linearizable) or s (serializable)")
	fs.BoolVar(&c.Prefix, "prefix", false, "range: read the 10 keys sharing a prefix instead of one key")
	fs.BoolVar(&c.NoPreload, "no-preload", false, "range, mixed: do not write the key space first")
	fs.Float64Var(&c.ReadRatio, "read-ratio", 0.9, "mixed: fraction of operations that are reads")
	fs.IntVar(&c.Watchers, "watchers", 100, "watch: number of watchers")
	fs.Int64Var(&c.LeaseTTL, "lease-ttl", 60, "lease-keepalive: TTL of the leases in seconds")
	fs.BoolVar(&c.LeaderFirst, "leader-first", true, "order endpoints leader first: one connection talks to the leader, many spread over all members")
	fs.DurationVar(&o.dialTimeout, "dial-timeout", 5*time.Second, "time allowed to connect to a member")
	fs.BoolVar(&o.jsonOut, "json", false, "write the result as one line of JSON instead of text")
	fs.StringVar(&o.plot, "plot", "", "also write an SVG plot of the run to this file")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (the client side) to this file")
	return fs
}

// run is the command, returning its exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, tty bool) int {
	if len(args) > 0 && args[0] == "compare" {
		return compare(args[1:], stdout, stderr)
	}
	var o options
	fs := newFlags(&o, stderr)
	workload, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 2
	}
	target, err := o.resolve()
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 2
	}
	if tty {
		o.cfg.Progress = stderr
	}
	stopProfile, err := startProfile(o.cpuProfile)
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	res, err := bench.Run(ctx, target, workload, o.cfg)
	if perr := stopProfile(); perr != nil && err == nil {
		err = perr
	}
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	if o.plot != "" {
		if err := writePlot(o.plot, res); err != nil {
			fmt.Fprintf(stderr, "bench: %v\n", err)
			return 1
		}
	}
	if o.jsonOut {
		err = bench.WriteJSON(stdout, res)
	} else {
		err = bench.WriteText(stdout, res)
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench: writing the result: %v\n", err)
		return 1
	}
	return 0
}

// parseArgs parses flags before and after the workload's name and
// returns the name.
func parseArgs(fs *flag.FlagSet, args []string) (string, error) {
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return "", fmt.Errorf("no workload given (one of %s)", strings.Join(bench.Workloads(), ", "))
	}
	name := rest[0]
	if !slices.Contains(bench.Workloads(), name) {
		return "", fmt.Errorf("unknown workload %q (one of %s)", name, strings.Join(bench.Workloads(), ", "))
	}
	if err := fs.Parse(rest[1:]); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("unexpected arguments after the flags: %q", fs.Args())
	}
	return name, nil
}

// resolve finishes the configuration from the string flags and picks
// the target.
func (o *options) resolve() (bench.Target, error) {
	for _, e := range strings.Split(o.endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			o.cfg.Endpoints = append(o.cfg.Endpoints, e)
		}
	}
	switch o.consistency {
	case "l":
	case "s":
		o.cfg.Serializable = true
	default:
		return nil, fmt.Errorf("--consistency %q: want l or s", o.consistency)
	}
	switch o.target {
	case "cairn":
		return bench.Cairn{DialTimeout: o.dialTimeout}, nil
	case "etcd":
		return etcd.Target{DialTimeout: o.dialTimeout}, nil
	}
	return nil, fmt.Errorf("--target %q: want cairn or etcd", o.target)
}

// startProfile starts a CPU profile into path (none if path is empty)
// and returns the function that ends it.
func startProfile(path string) (stop func() error, err error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile %s: %w", path, err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return fmt.Errorf("cpu profile %s: %w", path, err)
		}
		return nil
	}, nil
}

func writePlot(path string, res *bench.Result) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if err := bench.WritePlot(f, res); err != nil {
		f.Close()
		return fmt.Errorf("plot %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return nil
}

// compare prints the comparison table of two result files.
func compare(args []string, stdout, stderr io.Writer) int {
	if len(args) != 2 {
		fmt.Fprintf(stderr, "usage: bench compare A.jsonl B.jsonl\n")
		return 2
	}
	var sides [2][]bench.Result
	for i, path := range args {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintf(stderr, "bench: %v\n", err)
			return 1
		}
		sides[i], err = bench.ReadResults(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(stderr, "bench: %s: %v\n", path, err)
			return 1
		}
	}
	if err := bench.WriteComparison(stdout, sides[0], sides[1]); err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	var notes strings.Builder
	_ = bench.WriteNotes(&notes, sides[0], sides[1])
	if notes.Len() > 0 {
		fmt.Fprintf(stdout, "\n%s", notes.String())
	}
	return 0
}

// isTerminal reports whether f is a terminal (a character device).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
