// Command bench measures a cairn cluster (or, for comparison, an etcd
// cluster) under a workload and reports throughput and latency.
//
//	bench put --clients 1000 --conns 100 --total 100000
//	bench range --consistency s --duration 10s --json
//	bench watch --watchers 100 --clients 10 --plot watch.svg
//	bench --target etcd --endpoints 127.0.0.1:12379 put
//	bench leader --target etcd --endpoints 127.0.0.1:12379,127.0.0.1:22379
//	bench compare cairn.jsonl etcd.jsonl etcd-spread=spread.jsonl
//	bench disk --dir /var/lib/cairn --writers 3
//
// Workloads: put, range, txn-put, watch, lease-keepalive, mixed (see
// package bench). The summary gives QPS, mean/p50/p90/p99/p99.9/max
// latency and a histogram; --json writes one JSON object per run for
// scripts, and "bench compare" turns files of them into a side-by-side
// table. "bench leader" prints the leader's endpoint. bench/compare.sh
// runs the whole comparison. "bench disk" measures, without any member,
// how fast the disk makes writes durable in the members' pattern: the
// bound of a write-heavy run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
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
       bench leader [--target T] [--endpoints E] [--dial-timeout D]
       bench compare A.jsonl [NAME=]B.jsonl [[NAME=]C.jsonl ...]
       bench disk [--dir D] [--writers N] [--chunk-kib K] [--mib M] [--overwrite]

Workloads: ` + strings.Join(bench.Workloads(), ", ") + `
  put              write one key per operation (--sequential-keys or random over --key-space)
  range            read one key (--prefix: the 10 keys of a prefix), --consistency l|s
  txn-put          compare-and-swap on mod revision: if unchanged put, else read
  watch            --watchers watch every key; --clients put; measures delivery latency
  lease-keepalive  each client renews its own lease once per operation
  mixed            --read-ratio reads, the rest puts

leader asks the members for their status and prints the leader's endpoint
(exit status 1 if none answers with one).

compare reads files of --json results and prints, per workload and per
file after the first, QPS, p50 and p99 of A and of the other side with the
ratios A/other, then the runs' notes and errors. A side is named NAME when
given as NAME=FILE, else by the target its results ran against.

disk writes as the members of a cluster on one machine write their logs:
--writers files at once, each a chunk and then an fsync, over and over, and
prints the MB/s made durable (the bound of write-heavy runs on this disk)
and the write+fsync latency; --overwrite writes over files written before,
as a log reusing its segments would.

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
	targetFlags(fs, o)
	fs.IntVar(&c.Clients, "clients", 1, "concurrent clients, each with one operation in flight")
	fs.IntVar(&c.Conns, "conns", 1, "connections the clients share (client i uses connection i mod conns)")
	fs.Int64Var(&c.Total, "total", 0, "operations to run (0: run for --duration)")
	fs.DurationVar(&c.Duration, "duration", 0, "how long to run (default 10s without --total)")
	fs.IntVar(&c.KeySize, "key-size", 8, "key size in bytes (keys are zero-padded decimal numbers)")
	fs.IntVar(&c.ValSize, "val-size", 256, "value size in bytes")
	fs.IntVar(&c.KeySpace, "key-space", 10000, "number of distinct keys")
	fs.BoolVar(&c.Sequential, "sequential-keys", false, "use keys in order instead of at random")
	fs.IntVar(&c.FirstKey, "first-key", 0, "with --sequential-keys, the key number to start from")
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
	fs.BoolVar(&o.jsonOut, "json", false, "write the result as one line of JSON instead of text")
	fs.StringVar(&o.plot, "plot", "", "also write an SVG plot of the run to this file")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (the client side) to this file")
	return fs
}

// targetFlags defines the flags saying what to drive and where.
func targetFlags(fs *flag.FlagSet, o *options) {
	fs.StringVar(&o.target, "target", "cairn", "client to drive the store with: cairn (its Go client), or etcd (etcd's clientv3, for etcd or a store serving etcd's gRPC API)")
	fs.StringVar(&o.endpoints, "endpoints", defaultEndpoints, "members' client addresses, comma separated (host:port or http://host:port)")
	fs.DurationVar(&o.dialTimeout, "dial-timeout", 5*time.Second, "time allowed to connect to a member")
}

// run is the command, returning its exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, tty bool) int {
	if len(args) > 0 && args[0] == "compare" {
		return compare(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "leader" {
		return leader(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "disk" {
		return disk(ctx, args[1:], stdout, stderr)
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
	o.cfg.Endpoints = o.endpointList()
	switch o.consistency {
	case "l":
	case "s":
		o.cfg.Serializable = true
	default:
		return nil, fmt.Errorf("--consistency %q: want l or s", o.consistency)
	}
	return o.newTarget()
}

// endpointList is --endpoints as a list.
func (o *options) endpointList() []string {
	var eps []string
	for _, e := range strings.Split(o.endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			eps = append(eps, e)
		}
	}
	return eps
}

// newTarget is the target --target names.
func (o *options) newTarget() (bench.Target, error) {
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

// leader prints the endpoint of the cluster's leader.
func leader(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("bench leader", flag.ContinueOnError)
	fs.SetOutput(stderr)
	targetFlags(fs, &o)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bench leader: unexpected arguments %q\n", fs.Args())
		return 2
	}
	target, err := o.newTarget()
	if err == nil && len(o.endpointList()) == 0 {
		err = errors.New("--endpoints is empty")
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench leader: %v\n", err)
		return 2
	}
	ep, err := target.Leader(ctx, o.endpointList())
	if err != nil {
		fmt.Fprintf(stderr, "bench leader: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, ep)
	return 0
}

// disk measures the disk's bound on durable writes (bench.Disk).
func disk(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench disk", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg      bench.DiskConfig
		chunkKiB int
		mib      int64
	)
	fs.StringVar(&cfg.Dir, "dir", os.TempDir(), "directory on the disk to measure (a temporary directory is made in it and removed)")
	fs.IntVar(&cfg.Writers, "writers", 3, "writers at once, each with a file of its own (the members of a local cluster)")
	fs.IntVar(&chunkKiB, "chunk-kib", 1300, "KiB written between two fsyncs (a member's batch: about 1.3 MiB under 64 KiB puts at 100 clients)")
	fs.Int64Var(&mib, "mib", 256, "MiB each writer writes")
	fs.BoolVar(&cfg.Overwrite, "overwrite", false, "write over files written before the run instead of growing new ones")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bench disk: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if chunkKiB < 1 || mib < 1 || cfg.Writers < 1 {
		fmt.Fprintf(stderr, "bench disk: --writers, --chunk-kib and --mib must be at least 1\n")
		return 2
	}
	cfg.Chunk, cfg.Bytes = chunkKiB<<10, mib<<20
	res, err := bench.Disk(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "bench %v\n", err)
		return 1
	}
	if _, err := res.WriteTo(stdout); err != nil {
		fmt.Fprintf(stderr, "bench disk: %v\n", err)
		return 1
	}
	return 0
}

// compare prints the comparison table of result files: the first
// against each of the others.
func compare(args []string, stdout, stderr io.Writer) int {
	if len(args) < 2 {
		fmt.Fprintf(stderr, "usage: bench compare A.jsonl [NAME=]B.jsonl [[NAME=]C.jsonl ...]\n")
		return 2
	}
	sides := make([]bench.Side, len(args))
	for i, arg := range args {
		name, path, named := strings.Cut(arg, "=")
		if !named {
			name, path = "", arg
		}
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintf(stderr, "bench: %v\n", err)
			return 1
		}
		results, err := bench.ReadResults(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(stderr, "bench: %s: %v\n", path, err)
			return 1
		}
		if name == "" && len(results) > 0 {
			name = results[0].Target
		}
		if name == "" {
			name = strings.TrimSuffix(filepath.Base(path), ".jsonl")
		}
		sides[i] = bench.Side{Name: name, Results: results}
	}
	if err := bench.WriteComparison(stdout, sides[0], sides[1:]...); err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	var notes strings.Builder
	_ = bench.WriteNotes(&notes, sides...)
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
