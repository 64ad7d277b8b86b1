package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// watchWorkload measures event delivery: Watchers watchers watch every
// key, the run's clients put keys whose values carry their send time, and
// each watcher records how long each event took to reach it. The result's
// main figures are the deliveries (events per second, delivery latency);
// Writes holds the puts'.
type watchWorkload struct {
	watchers []*recorder // one per watcher, so delivery does not contend
	last     atomic.Int64
}

// watchDrainIdle is how long finish waits for more events once none
// arrive, and watchDrainMax how long it waits at most.
const (
	watchDrainIdle = 5 * time.Second
	watchDrainMax  = 30 * time.Second
)

func (*watchWorkload) name() string { return "watch" }

func (*watchWorkload) detail(cfg Config) string {
	return fmt.Sprintf("%d watchers of every key, %d writers putting %s, value %d B",
		cfg.Watchers, cfg.Clients, keyOrder(cfg), cfg.ValSize)
}

func (ww *watchWorkload) prepare(ctx context.Context, r *run) error {
	if r.cfg.ValSize < stampLen {
		return fmt.Errorf("--val-size %d is too small: a watch run writes an %d-byte send time in each value", r.cfg.ValSize, stampLen)
	}
	if r.cfg.Watchers == 0 {
		return fmt.Errorf("a watch run needs at least one watcher")
	}
	wctx, cancel := context.WithCancel(ctx)
	r.cleanup = append(r.cleanup, cancel)
	ww.watchers = make([]*recorder, r.cfg.Watchers)
	for i := range ww.watchers {
		ww.watchers[i] = &recorder{}
	}
	return forEach(ctx, r.cfg.Watchers, 64, func(_ context.Context, i int) error {
		rec := ww.watchers[i]
		deliver := func(val []byte) {
			age, ok := stampAge(val, r.clock)
			if !ok {
				return
			}
			at := time.Since(r.clock) - time.Duration(r.offset.Load()) // since the measured part started
			rec.record(at-age, age, nil)
			ww.last.Store(int64(at))
		}
		if err := r.conns[i%len(r.conns)].Watch(wctx, nil, deliver); err != nil {
			return fmt.Errorf("watcher %d: %w", i, err)
		}
		return nil
	})
}

func (*watchWorkload) op(ctx context.Context, r *run, w *worker) error {
	w.key = r.keys.key(w.key, r.keys.pick(w.rng))
	stamp(w.val, r.clock)
	_, err := w.conn.Put(ctx, w.key, w.val)
	return err
}

func (ww *watchWorkload) finish(ctx context.Context, r *run, res *Result) error {
	want := res.Ops * int64(len(ww.watchers))
	got := ww.drain(ctx, want)
	res.Writes = &Phase{Ops: res.Ops, Errors: res.Errors, QPS: res.QPS, Latency: res.Latency}
	all := mergeRecorders(ww.watchers)
	h := all.total()
	secs := time.Duration(ww.last.Load()).Seconds()
	res.Ops = int64(h.Count())
	res.Seconds = secs
	res.QPS = float64(h.Count()) / max(secs, 1e-9)
	res.Latency = summarize(h)
	res.Histogram = histogramRows(h, histogramRowCount)
	res.Timeline = all.timeline()
	res.Notes = append(res.Notes, fmt.Sprintf("ops are events delivered (%d puts × %d watchers = %d expected, %d delivered); latency is put send to watcher receipt; writes are the puts",
		res.Writes.Ops, len(ww.watchers), want, got))
	if got < want {
		res.Notes = append(res.Notes, fmt.Sprintf("%d events did not arrive within %v of the last one", want-got, watchDrainIdle))
	}
	return nil
}

// drain waits until want events were delivered, or none arrived for
// watchDrainIdle, and returns how many were.
func (ww *watchWorkload) drain(ctx context.Context, want int64) int64 {
	count := func() int64 {
		var n int64
		for _, w := range ww.watchers {
			n += w.done.Load()
		}
		return n
	}
	deadline := time.Now().Add(watchDrainMax)
	lastN, lastChange := count(), time.Now()
	for lastN < want && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
		if n := count(); n != lastN {
			lastN, lastChange = n, time.Now()
		} else if time.Since(lastChange) > watchDrainIdle {
			break
		}
	}
	return lastN
}
