package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// workload is one kind of benchmark. Its methods are called in order:
// prepare once, then op many times from every client, then finish once.
type workload interface {
	// name is the workload's name (its command-line word).
	name() string
	// detail says what exactly a run of cfg does.
	detail(cfg Config) string
	// prepare readies the store and the clients before the clock starts
	// (preloading keys, granting leases, opening watches).
	prepare(ctx context.Context, r *run) error
	// op runs one measured operation for worker w.
	op(ctx context.Context, r *run, w *worker) error
	// finish completes res after the clients stop (waiting for watch
	// events, adding notes).
	finish(ctx context.Context, r *run, res *Result) error
}

// workloads lists every workload by name.
var workloads = map[string]func() workload{
	"put":             func() workload { return &putWorkload{} },
	"range":           func() workload { return &rangeWorkload{} },
	"txn-put":         func() workload { return &txnPutWorkload{} },
	"watch":           func() workload { return &watchWorkload{} },
	"lease-keepalive": func() workload { return &leaseWorkload{} },
	"mixed":           func() workload { return &mixedWorkload{} },
}

// Workloads returns the names of the workloads, sorted.
func Workloads() []string {
	var names []string
	for n := range workloads {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// run is the state of one benchmark run shared by its clients.
type run struct {
	cfg     Config
	conns   []Conn
	keys    *keyspace
	limiter *Limiter
	workers []*worker
	rec     recorder
	clock   time.Time    // fixed origin of the run's time stamps
	base    time.Time    // when the measured part started
	offset  atomic.Int64 // base - clock in nanoseconds, for other goroutines
	cleanup []func()     // run when the run ends (stopping watches)
}

// worker is one client: it runs one operation at a time on its
// connection, with its own random source and buffers.
type worker struct {
	id    int
	conn  Conn
	rng   *rand.Rand
	key   []byte
	val   []byte
	revs  map[int]int64 // txn-put: the last mod revision seen per key
	next  int           // txn-put: the next of its own keys, in order
	lease int64         // lease-keepalive: the lease this client renews
}

// Run runs the named workload against target as cfg says and returns
// what it measured. Operations still in flight when ctx ends or the
// duration is up are not counted.
func Run(ctx context.Context, target Target, name string, cfg Config) (*Result, error) {
	mk, ok := workloads[name]
	if !ok {
		return nil, fmt.Errorf("bench: unknown workload %q (have %v)", name, Workloads())
	}
	w := mk()
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.Label == "" {
		cfg.Label = name
	}
	eps := cfg.Endpoints
	if cfg.LeaderFirst {
		if eps, err = leaderFirst(ctx, target, eps); err != nil {
			return nil, err
		}
	}
	r := &run{cfg: cfg, keys: &keyspace{size: cfg.KeySpace, width: cfg.KeySize, sequential: cfg.Sequential},
		limiter: NewLimiter(cfg.Rate, 1)}
	r.rec.kind = func(err error) string { return errorKind(target, err) }
	r.keys.next.Store(int64(cfg.FirstKey))
	defer r.close()
	for i := range cfg.Conns {
		c, err := target.Dial(rotate(eps, i))
		if err != nil {
			return nil, err
		}
		r.conns = append(r.conns, c)
	}
	r.workers = make([]*worker, cfg.Clients)
	for i := range r.workers {
		r.workers[i] = &worker{id: i, conn: r.conns[i%len(r.conns)],
			rng: rand.New(rand.NewPCG(cfg.Seed, uint64(i))), val: fillValue(cfg.ValSize)}
	}
	r.clock = time.Now()
	r.base = r.clock
	if err := w.prepare(ctx, r); err != nil {
		return nil, fmt.Errorf("bench: preparing %s: %w", name, err)
	}
	elapsed, err := r.measure(ctx, w)
	if err != nil {
		return nil, err
	}
	res := r.result(target, w, elapsed)
	if err := w.finish(ctx, r, res); err != nil {
		return nil, fmt.Errorf("bench: finishing %s: %w", name, err)
	}
	return res, nil
}

// measure runs the workers until the total or the duration is reached
// and returns the time it took.
func (r *run) measure(ctx context.Context, w workload) (time.Duration, error) {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if r.cfg.Duration > 0 {
		runCtx, cancel = context.WithTimeout(runCtx, r.cfg.Duration)
		defer cancel()
	}
	var issued atomic.Int64
	r.base = time.Now()
	r.offset.Store(int64(r.base.Sub(r.clock)))
	stopProgress := r.startProgress(w.name())
	var wg sync.WaitGroup
	for _, wk := range r.workers {
		wg.Go(func() {
			for runCtx.Err() == nil {
				if r.cfg.Total > 0 && issued.Add(1) > r.cfg.Total {
					return
				}
				if err := r.limiter.Wait(runCtx); err != nil {
					return
				}
				t0 := time.Now()
				err := w.op(runCtx, r, wk)
				lat := time.Since(t0)
				if err != nil && (runCtx.Err() != nil || r.pastDeadline()) {
					return // cut short by the end of the run: not counted
				}
				r.rec.record(t0.Sub(r.base), lat, err)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(r.base)
	stopProgress()
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("bench: run of %s interrupted: %w", w.name(), err)
	}
	return elapsed, nil
}

// pastDeadline says the run's duration is up. An operation can fail on
// its context's deadline a moment before the context itself says so.
func (r *run) pastDeadline() bool {
	return r.cfg.Duration > 0 && time.Since(r.base) >= r.cfg.Duration
}

// result builds the run's Result from what the recorder collected.
func (r *run) result(target Target, w workload, elapsed time.Duration) *Result {
	h := r.rec.total()
	nerr, samples := r.rec.errorSamples()
	secs := elapsed.Seconds()
	return &Result{
		Label: r.cfg.Label, Workload: w.name(), Detail: w.detail(r.cfg),
		Target: target.Name(), TargetInfo: target.Describe(), Endpoints: r.cfg.Endpoints,
		Clients: r.cfg.Clients, Conns: r.cfg.Conns,
		Ops: int64(h.Count()), Errors: nerr, ErrorSamples: samples,
		Seconds: secs, QPS: float64(h.Count()) / max(secs, 1e-9),
		Latency: summarize(h), Histogram: histogramRows(h, histogramRowCount),
		Timeline: r.rec.timeline(),
	}
}

// histogramRowCount is how many rows the coarse histogram has.
const histogramRowCount = 16

func (r *run) close() {
	for _, f := range r.cleanup {
		f()
	}
	for _, c := range r.conns {
		_ = c.Close()
	}
}

// leaderFirst returns endpoints reordered to start at the leader.
func leaderFirst(ctx context.Context, target Target, eps []string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	leader, err := target.Leader(ctx, eps)
	if err != nil {
		return nil, err
	}
	i := slices.Index(eps, leader)
	if i < 0 {
		return nil, fmt.Errorf("bench: leader %s is not among the endpoints %v", leader, eps)
	}
	return rotate(eps, i), nil
}

// rotate returns eps starting at index i mod len(eps).
func rotate(eps []string, i int) []string {
	i %= len(eps)
	return append(slices.Clone(eps[i:]), eps[:i]...)
}

// forEach runs fn(i) for i in [0, n) on up to par goroutines, and
// returns the first error.
func forEach(ctx context.Context, n, par int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(min(par, n), 1) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				if err := fn(ctx, int(i)); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}
