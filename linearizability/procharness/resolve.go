package procharness

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cairndb/cairn/client"
)

// Resolved counts the writes of unknown outcome by what the cluster's
// history says became of them.
type Resolved struct {
	// Applied writes are in the history: they stay in the checked
	// history with an unknown outcome (their time is still unknown).
	Applied int
	// NotApplied writes are not: they never took effect, and are left
	// out of the checked history.
	NotApplied int
}

// appliedValues reads every change ever made to keys with prefix, up to
// their last change, by watching from revision 1, and
// returns the values written. Nothing is compacted during a run (the
// members run without auto-compaction), so the history is complete.
func appliedValues(ctx context.Context, endpoints []string, prefix string, timeout time.Duration) (map[string]bool, error) {
	cli, err := client.New(client.Config{Endpoints: endpoints, DialTimeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("procharness: read the history: %w", err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// The clients never delete, so the keys' last change is the
	// newest mod revision among them.
	head, err := cli.Get(ctx, prefix, client.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("procharness: read the history: current revision: %w", err)
	}
	var end int64
	for _, kv := range head.Kvs {
		end = max(end, kv.ModRevision)
	}
	values := map[string]bool{}
	if end == 0 {
		return values, nil
	}
	seen := int64(0)
	for resp := range cli.Watch(ctx, prefix, client.WithPrefix(), client.WithRev(1), client.WithProgressNotify()) {
		if err := resp.Err(); err != nil {
			return nil, fmt.Errorf("procharness: read the history: watch from revision 1: %w", err)
		}
		for _, ev := range resp.Events {
			values[string(ev.Kv.Value)] = true
			seen = max(seen, ev.Kv.ModRevision)
		}
		if resp.IsProgressNotify() {
			seen = max(seen, resp.Header.Revision)
		}
		if seen >= end {
			return values, nil
		}
	}
	return nil, fmt.Errorf("procharness: read the history: watch from revision 1 reached revision %d of %d within %v", seen, end, timeout)
}

// resolveUnknownWrites leaves out of the history the writes of unknown
// outcome that never took effect: their unique values appear nowhere in
// the cluster's history of the keys. This keeps the check fast (each
// unknown write multiplies the checker's search). It cannot hide a
// violation: an unknown write may also never take effect, so leaving one
// out only takes choices away from the checker. Should the cluster's
// history miss a write that did take effect, a read of its value shows up
// as a violation.
func (w *workload) resolveUnknownWrites(ctx context.Context, prefix string, timeout time.Duration) (Resolved, error) {
	var r Resolved
	applied, err := appliedValues(ctx, w.endpoints, prefix, timeout)
	if err != nil {
		return r, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for value, id := range w.unknownWrites {
		if applied[value] {
			r.Applied++
			continue
		}
		if err := w.rec.Discard(id); err != nil {
			return r, fmt.Errorf("procharness: leave out unknown write of %q: %w", value, err)
		}
		r.NotApplied++
	}
	return r, nil
}

// ErrLostWrite is wrapped by Run's error when a member's history lacks a
// write the cluster acknowledged.
var ErrLostWrite = errors.New("acknowledged write missing from a member's history")

// checkAcknowledged reads each member's own history of the keys with
// prefix (a watch from revision 1 on that member alone) and requires
// every acknowledged write to be in it: a member that lost data and
// repaired itself must hold again everything the cluster acknowledged.
func (w *workload) checkAcknowledged(ctx context.Context, members []*process, prefix string, timeout time.Duration) error {
	w.mu.Lock()
	acked := maps.Clone(w.acked)
	w.mu.Unlock()
	var errs []error
	for _, m := range members {
		applied, err := appliedValues(ctx, []string{m.client}, prefix, timeout)
		if err != nil {
			errs = append(errs, fmt.Errorf("procharness: member %s: %w", m.name, err))
			continue
		}
		var missing []string
		for v := range acked {
			if !applied[v] {
				missing = append(missing, v)
			}
		}
		if len(missing) > 0 {
			slices.Sort(missing)
			errs = append(errs, fmt.Errorf("procharness: %w: member %s lacks %d of %d acknowledged writes (first: %s)",
				ErrLostWrite, m.name, len(missing), len(acked), strings.Join(missing[:min(5, len(missing))], ", ")))
		}
	}
	return errors.Join(errs...)
}
