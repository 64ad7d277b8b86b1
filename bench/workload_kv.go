package bench

import (
	"context"
	"fmt"
	"sync/atomic"
)

// putWorkload writes one key per operation.
type putWorkload struct{}

func (putWorkload) name() string { return "put" }

func (putWorkload) detail(cfg Config) string {
	return fmt.Sprintf("%s, key %d B, value %d B", keyOrder(cfg), cfg.KeySize, cfg.ValSize)
}

func (putWorkload) prepare(context.Context, *run) error { return nil }

func (putWorkload) op(ctx context.Context, r *run, w *worker) error {
	w.key = r.keys.key(w.key, r.keys.pick(w.rng))
	_, err := w.conn.Put(ctx, w.key, w.val)
	return err
}

func (putWorkload) finish(context.Context, *run, *Result) error { return nil }

// rangeWorkload reads one key, or the 10 keys sharing its prefix, per
// operation, after writing every key once.
type rangeWorkload struct {
	empty atomic.Int64 // reads that found no key
}

func (*rangeWorkload) name() string { return "range" }

func (*rangeWorkload) detail(cfg Config) string {
	what := "single key"
	if cfg.Prefix {
		what = "prefix of 10 keys"
	}
	return fmt.Sprintf("%s, %s, %s, key %d B, value %d B", consistency(cfg), what, keyOrder(cfg), cfg.KeySize, cfg.ValSize)
}

func (*rangeWorkload) prepare(ctx context.Context, r *run) error { return preload(ctx, r) }

func (rw *rangeWorkload) op(ctx context.Context, r *run, w *worker) error {
	n, err := read(ctx, r, w)
	if err == nil && n == 0 {
		rw.empty.Add(1)
	}
	return err
}

func (rw *rangeWorkload) finish(_ context.Context, _ *run, res *Result) error {
	if n := rw.empty.Load(); n > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d reads found no key (run without --no-preload?)", n))
	}
	return nil
}

// read runs one Get of the range and mixed workloads.
func read(ctx context.Context, r *run, w *worker) (int, error) {
	w.key = r.keys.key(w.key, r.keys.pick(w.rng))
	key := w.key
	if r.cfg.Prefix {
		key = prefixOf(key)
	}
	return w.conn.Get(ctx, key, GetOptions{Prefix: r.cfg.Prefix, Serializable: r.cfg.Serializable})
}

// preload writes every key of the key space once, unless the run says
// not to, so reads find them.
func preload(ctx context.Context, r *run) error {
	if r.cfg.NoPreload {
		return nil
	}
	val := fillValue(r.cfg.ValSize)
	return forEach(ctx, r.cfg.KeySpace, min(r.cfg.Clients, 64), func(ctx context.Context, i int) error {
		key := r.keys.key(nil, i)
		if _, err := r.conns[i%len(r.conns)].Put(ctx, key, val); err != nil {
			return fmt.Errorf("preloading key %s: %w", key, err)
		}
		return nil
	})
}

// txnPutWorkload is a compare-and-swap loop: each operation is a
// transaction "if the key's mod revision is the one I last saw, put it,
// else read it", so a client that lost a race learns the new revision
// and succeeds next time. Each client works on its own share of the key
// space (key numbers ≡ its id mod the number of clients), so that every
// transaction does the full work of a swap: conflicts happen only when
// there are fewer keys than clients, or something else writes the keys.
type txnPutWorkload struct {
	seed      map[string]int64 // every key's mod revision before the run
	note      string
	conflicts atomic.Int64 // transactions whose comparison failed
}

func (*txnPutWorkload) name() string { return "txn-put" }

func (*txnPutWorkload) detail(cfg Config) string {
	return fmt.Sprintf("compare-and-swap on mod revision, %s, each client on its own %d of them, key %d B, value %d B",
		keyOrder(cfg), max(cfg.KeySpace/cfg.Clients, 1), cfg.KeySize, cfg.ValSize)
}

// maxSeededKeys bounds the key space whose revisions txn-put reads
// before it starts (one range read of every key).
const maxSeededKeys = 100000

// prepare reads the mod revision of every existing key, so that a
// client's first transaction on a key that exists succeeds instead of
// conflicting: conflicts then measure contention between clients.
func (t *txnPutWorkload) prepare(ctx context.Context, r *run) error {
	if r.cfg.KeySpace > maxSeededKeys {
		t.note = fmt.Sprintf("key space over %d: revisions not read first, so a client's first txn on an existing key conflicts", maxSeededKeys)
		return nil
	}
	seed, err := r.conns[0].ModRevisions(ctx, nil)
	if err != nil {
		return fmt.Errorf("reading the keys' revisions: %w", err)
	}
	t.seed = seed
	return nil
}

func (t *txnPutWorkload) op(ctx context.Context, r *run, w *worker) error {
	i := ownKey(r, w)
	w.key = r.keys.key(w.key, i)
	if w.revs == nil {
		w.revs = map[int]int64{}
	}
	rev, ok := w.revs[i]
	if !ok {
		rev = t.seed[string(w.key)]
	}
	res, err := w.conn.CAS(ctx, w.key, w.val, rev)
	if err != nil {
		return err
	}
	if !res.Swapped {
		t.conflicts.Add(1)
	}
	w.revs[i] = res.ModRevision
	return nil
}

func (t *txnPutWorkload) finish(_ context.Context, _ *run, res *Result) error {
	n := t.conflicts.Load()
	res.Notes = append(res.Notes, fmt.Sprintf("%d swaps, %d conflicts (%.1f%%: the key changed since the client last saw it)",
		res.Ops-n, n, 100*float64(n)/float64(max(res.Ops, 1))))
	if t.note != "" {
		res.Notes = append(res.Notes, t.note)
	}
	return nil
}

// ownKey picks a key of w's share of the key space: at random, or the
// next one in order.
func ownKey(r *run, w *worker) int {
	clients := r.cfg.Clients
	per := max(r.cfg.KeySpace/clients, 1)
	var k int
	if r.cfg.Sequential {
		k = w.next % per
		w.next++
	} else {
		k = w.rng.IntN(per)
	}
	return (k*clients + w.id) % r.cfg.KeySpace
}

// mixedWorkload reads with probability ReadRatio and writes otherwise.
type mixedWorkload struct {
	reads, writes atomic.Int64
}

func (*mixedWorkload) name() string { return "mixed" }

func (*mixedWorkload) detail(cfg Config) string {
	return fmt.Sprintf("%.0f%% %s reads, %.0f%% puts, %s, key %d B, value %d B",
		100*cfg.ReadRatio, consistency(cfg), 100*(1-cfg.ReadRatio), keyOrder(cfg), cfg.KeySize, cfg.ValSize)
}

func (*mixedWorkload) prepare(ctx context.Context, r *run) error { return preload(ctx, r) }

func (m *mixedWorkload) op(ctx context.Context, r *run, w *worker) error {
	if w.rng.Float64() < r.cfg.ReadRatio {
		m.reads.Add(1)
		_, err := read(ctx, r, w)
		return err
	}
	m.writes.Add(1)
	return putWorkload{}.op(ctx, r, w)
}

func (m *mixedWorkload) finish(_ context.Context, _ *run, res *Result) error {
	res.Notes = append(res.Notes, fmt.Sprintf("%d reads, %d writes issued", m.reads.Load(), m.writes.Load()))
	return nil
}

// keyOrder describes how a run picks keys.
func keyOrder(cfg Config) string {
	if cfg.Sequential {
		return fmt.Sprintf("sequential keys over %d", cfg.KeySpace)
	}
	return fmt.Sprintf("random keys over %d", cfg.KeySpace)
}

// consistency names a run's read consistency.
func consistency(cfg Config) string {
	if cfg.Serializable {
		return "serializable"
	}
	return "linearizable"
}
