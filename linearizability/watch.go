package linearizability

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/cairndb/cairn/api"
)

// Change is one revision of the store: the events of the write that made
// it, in the order of the write's operations, each with PrevKv set when the
// key existed before.
type Change struct {
	Revision int64
	Events   []api.Event
}

// ChangeLog checks history against MultiKeyModel(start), like Check, and
// returns the changes its writes made, one per revision, in the order of
// the linearization porcupine found. Acknowledged writes are pinned to the
// revisions in their responses; a write whose outcome is unknown is placed
// where the checker found it fits, which is one possibility among maybe
// several, so a watch check against this log is exact only when no two
// unknown writes could swap places (the simulator can instead build the log
// from a member's store).
func ChangeLog(history []porcupine.Operation, start Start, timeout time.Duration, vizDir string) ([]Change, error) {
	model, err := MultiKeyModel(start)
	if err != nil {
		return nil, err
	}
	history = withoutUnknownReads(history)
	info, err := check(history, model, timeout, vizDir, true)
	if err != nil {
		return nil, err
	}
	var order []porcupine.Operation
	for _, partition := range info.PartialLinearizationsOperations() {
		for _, seq := range partition {
			if len(seq) > len(order) {
				order = seq
			}
		}
	}
	if len(order) != len(history) {
		return nil, fmt.Errorf("linearizability: change log: porcupine linearized %d of %d operations", len(order), len(history))
	}
	s := model.Init().(store)
	var log []Change
	for _, op := range order {
		e, ok := stepMultiKey(s, op.Input.(api.RequestOp), op.Output.(Outcome), true)
		if !ok {
			return nil, fmt.Errorf("linearizability: change log: linearized operation %s does not replay",
				describeOperation(op.Input, op.Output))
		}
		if e.changed {
			log = append(log, Change{Revision: e.s.rev, Events: e.events})
		}
		s = e.s
	}
	return log, nil
}

// Watch describes one watch stream.
type Watch struct {
	// Key and RangeEnd are the watched keys, with the same rules as a
	// RangeRequest.
	Key, RangeEnd []byte
	// StartRevision is the first revision the stream reports: the start
	// revision the watch asked for, or the store revision at its creation
	// plus one.
	StartRevision int64
	// PrevKv says the watch asked for previous key-values, so they are
	// checked too.
	PrevKv bool
}

// CheckWatch checks that events, in the order the watch delivered them,
// are exactly the changes in log to the watched keys from w.StartRevision
// through upTo: revisions never go backwards, no change is missing (a gap)
// or delivered twice, and every event matches the write at its revision.
// upTo is the revision through which the stream is known complete (the
// last event's revision, or a later progress notification's); 0 means the
// highest revision among the events. log must be in revision order.
func CheckWatch(log []Change, w Watch, events []api.Event, upTo int64) error {
	if w.StartRevision < 1 {
		return fmt.Errorf("linearizability: watch: start revision %d, want >= 1", w.StartRevision)
	}
	watched := keyRange{w.Key, w.RangeEnd}
	if upTo == 0 {
		for _, ev := range events {
			upTo = max(upTo, ev.Kv.ModRevision)
		}
	}

	// The stream on its own: in range, in order, within [start, upTo].
	observed := make(map[int64][]api.Event)
	var revisions []int64
	for i, ev := range events {
		rev := ev.Kv.ModRevision
		switch {
		case rev < w.StartRevision:
			return fmt.Errorf("linearizability: watch: event %d (%s) at revision %d, before the watch's start revision %d",
				i, describeEvent(ev), rev, w.StartRevision)
		case rev > upTo:
			return fmt.Errorf("linearizability: watch: event %d (%s) at revision %d, after the revision %d the stream is complete to",
				i, describeEvent(ev), rev, upTo)
		case i > 0 && rev < events[i-1].Kv.ModRevision:
			return fmt.Errorf("linearizability: watch: event %d (%s) at revision %d after an event at revision %d: out of order",
				i, describeEvent(ev), rev, events[i-1].Kv.ModRevision)
		case !watched.contains(ev.Kv.Key):
			return fmt.Errorf("linearizability: watch: event %d (%s) is outside the watched keys %s",
				i, describeEvent(ev), describeRange(w.Key, w.RangeEnd))
		}
		for _, seen := range observed[rev] {
			if bytes.Equal(seen.Kv.Key, ev.Kv.Key) {
				return fmt.Errorf("linearizability: watch: event %d (%s): duplicate of an earlier event at revision %d",
					i, describeEvent(ev), rev)
			}
		}
		if len(observed[rev]) == 0 {
			revisions = append(revisions, rev)
		}
		observed[rev] = append(observed[rev], ev)
	}

	// Against the log: every change to the watched keys, exactly once.
	expected := make(map[int64][]api.Event)
	for i, c := range log {
		if i > 0 && c.Revision <= log[i-1].Revision {
			return fmt.Errorf("linearizability: watch: change log not in revision order: %d after %d", c.Revision, log[i-1].Revision)
		}
		if c.Revision < w.StartRevision || c.Revision > upTo {
			continue
		}
		var mine []api.Event
		for _, ev := range c.Events {
			if watched.contains(ev.Kv.Key) {
				mine = append(mine, ev)
			}
		}
		if len(mine) > 0 {
			expected[c.Revision] = mine
			if len(observed[c.Revision]) == 0 {
				revisions = append(revisions, c.Revision)
			}
		}
	}
	slices.Sort(revisions)
	for _, rev := range revisions {
		if err := matchEvents(expected[rev], observed[rev], w.PrevKv); err != nil {
			return fmt.Errorf("linearizability: watch %s from revision %d: revision %d: %w",
				describeRange(w.Key, w.RangeEnd), w.StartRevision, rev, err)
		}
	}
	return nil
}

// matchEvents compares the events of one revision, ignoring their order
// within the revision.
func matchEvents(want, got []api.Event, prevKv bool) error {
	switch {
	case len(want) == 0:
		return fmt.Errorf("event %s matches no write to the watched keys", describeEvent(got[0]))
	case len(got) == 0:
		return fmt.Errorf("gap: the stream skipped %s", describeEvent(want[0]))
	}
	byKey := func(a, b api.Event) int { return bytes.Compare(a.Kv.Key, b.Kv.Key) }
	want, got = slices.Clone(want), slices.Clone(got)
	slices.SortFunc(want, byKey)
	slices.SortFunc(got, byKey)
	for i, j := 0, 0; i < len(want) || j < len(got); {
		switch {
		case j == len(got) || i < len(want) && bytes.Compare(want[i].Kv.Key, got[j].Kv.Key) < 0:
			return fmt.Errorf("gap: the stream skipped %s", describeEvent(want[i]))
		case i == len(want) || bytes.Compare(want[i].Kv.Key, got[j].Kv.Key) > 0:
			return fmt.Errorf("event %s matches no write at this revision", describeEvent(got[j]))
		}
		if err := sameEvent(want[i], got[j], prevKv); err != nil {
			return fmt.Errorf("got %s, want %s: %w", describeEvent(got[j]), describeEvent(want[i]), err)
		}
		i++
		j++
	}
	return nil
}

// sameEvent compares the fields a watcher can rely on: a delete event
// carries only the key and its revision.
func sameEvent(want, got api.Event, prevKv bool) error {
	if want.Type != got.Type {
		return errors.New("wrong event type")
	}
	if want.Type == api.EventPut {
		w, g := want.Kv, got.Kv
		if !bytes.Equal(w.Value, g.Value) || w.Version != g.Version || w.CreateRevision != g.CreateRevision || w.Lease != g.Lease {
			return errors.New("wrong key-value")
		}
	}
	if !prevKv {
		return nil
	}
	switch {
	case want.PrevKv == nil && got.PrevKv == nil:
		return nil
	case want.PrevKv == nil || got.PrevKv == nil:
		return errors.New("previous key-value present on one side only")
	case !sameKeyValue(*want.PrevKv, *got.PrevKv):
		return fmt.Errorf("previous key-value %s, want %s", describeKV(*got.PrevKv), describeKV(*want.PrevKv))
	}
	return nil
}

func describeEvent(ev api.Event) string {
	if ev.Type == api.EventDelete {
		return fmt.Sprintf("delete %s @%d", quote(ev.Kv.Key), ev.Kv.ModRevision)
	}
	return fmt.Sprintf("put %s=%s (v%d create %d) @%d", quote(ev.Kv.Key), quote(ev.Kv.Value),
		ev.Kv.Version, ev.Kv.CreateRevision, ev.Kv.ModRevision)
}
