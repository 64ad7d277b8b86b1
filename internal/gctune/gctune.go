// Package gctune gives the Go collector a floor under the heap's growth
// between collections, so that a member with a small live heap does not
// collect many times a second.
//
// With GOGC=100 the runtime collects each time the heap has grown by as
// much as was live after the last collection. A member serving writes to
// a small store keeps 20-30 MB live and allocates tens of MB a second
// (requests, raft messages, log entries): it collected three times a
// second, and marking (the goroutines' stacks and the heap) took a tenth
// of its CPU. A Tuner keeps the growth allowed between collections at
// least Floor bytes: after every collection it sets the GC percent to
// max(100, Floor/live), capped at MaxPercent. With a large live heap
// (a store whose page cache is full) it stays at 100 and nothing changes;
// with a small one the process holds at most Floor bytes more than with
// GOGC=100 between collections.
//
// It is for a program's main, not a library: the GC percent belongs to
// the whole process. It leaves the percent alone when GOGC is set in the
// environment (the operator chose).
package gctune

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// MaxPercent caps the GC percent a Tuner sets, so that a nearly empty
// heap is still collected now and then.
const MaxPercent = 2000

// Percent is the GC percent that lets the heap grow by at least floor
// bytes over live before the next collection: max(100, 100*floor/live),
// at most MaxPercent.
func Percent(live, floor uint64) int {
	if live == 0 {
		return MaxPercent
	}
	p := floor * 100 / live
	switch {
	case p < 100:
		return 100
	case p > MaxPercent:
		return MaxPercent
	}
	return int(p)
}

// Tuner sets the GC percent after each collection (see the package
// comment).
type Tuner struct {
	floor   uint64
	stopped atomic.Bool
	sample  []metrics.Sample // the live heap, the GC percent now
}

// The runtime metrics a Tuner reads: the heap marked live by the last
// collection, and the GC percent in force.
const (
	liveHeapMetric = "/gc/heap/live:bytes"
	percentMetric  = "/gc/gogc:percent"
)

// Start starts a Tuner that keeps floor bytes of growth between
// collections, unless env (KEY=VALUE pairs, as os.Environ) sets GOGC:
// then it returns nil. Stop it with Stop.
func Start(floor uint64, env []string) *Tuner {
	for _, kv := range env {
		if len(kv) >= 5 && kv[:5] == "GOGC=" {
			return nil
		}
	}
	t := &Tuner{floor: floor, sample: []metrics.Sample{{Name: liveHeapMetric}, {Name: percentMetric}}}
	t.tune()
	t.arm()
	return t
}

// arm sets a finalizer on a fresh object: it runs after the next
// collection, tunes, and arms again.
func (t *Tuner) arm() {
	runtime.SetFinalizer(&sentinel{t}, func(s *sentinel) {
		if s.t.stopped.Load() {
			return
		}
		s.t.tune()
		s.t.arm()
	})
}

// sentinel is the object whose finalizer runs after each collection (it
// holds a pointer, so it is never one of the tiny allocations a finalizer
// may not see freed).
type sentinel struct{ t *Tuner }

// tune sets the percent for the live heap the last collection found,
// unless it is in force already.
func (t *Tuner) tune() {
	metrics.Read(t.sample)
	live, now := t.sample[0].Value, t.sample[1].Value
	if live.Kind() != metrics.KindUint64 || now.Kind() != metrics.KindUint64 {
		return // not reported by this runtime: leave the default
	}
	if p := Percent(live.Uint64(), t.floor); uint64(p) != now.Uint64() {
		debug.SetGCPercent(p)
	}
}

// Stop stops adjusting the GC percent (it stays at the last value set).
// It does nothing on a nil Tuner.
func (t *Tuner) Stop() {
	if t != nil {
		t.stopped.Store(true)
	}
}
