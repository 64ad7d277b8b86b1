package sim

import (
	"errors"
	"fmt"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/btreekv/mvcc"
	"github.com/cairndb/cairn/linearizability"
)

// watchStream is one watch a client keeps on a member. Like a real
// client it reconnects when the member restarts or replaces its store,
// asking for the revisions after the last one it was told about, so the
// stream it sees must stay complete and ordered across reconnections.
type watchStream struct {
	member uint64
	spec   linearizability.Watch
	// startRev is the start revision of the first connection (0: now).
	startRev int64
	events   []api.Event
	// upTo is the revision through which the stream is complete.
	upTo int64
	// w is the current connection (nil while disconnected).
	w     *mvcc.Watcher
	store *mvcc.Store
	// ended says why the stream ended for good ("" while it lives).
	ended string
	// slow streams are read only every slowEvery polls, with a small
	// buffer, so they fall behind and are caught up from the page file.
	slow bool
	// polls counts the polls of a slow stream.
	polls int
}

const (
	watchPoll      = 50 // ms between SyncWatchers calls on a member
	slowEvery      = 8  // a slow stream is read every slowEvery polls
	syncWindowRevs = 3  // revisions per watcher per SyncWatchers call
)

// watchersFor gives a new member its watchers: one on every client key,
// one on a single key; each from now or from a past revision, slow or
// not, with previous key-values or not.
func (w *World) watchersFor(m *member) {
	for i := 0; i < 2; i++ {
		s := &watchStream{member: m.id, slow: w.rng.IntN(2) == 0}
		s.spec.PrevKv = w.rng.IntN(2) == 0
		if i == 0 {
			// The accounts, the single keys and the leased keys.
			s.spec.Key, s.spec.RangeEnd = []byte(groupsStart), []byte("m")
		} else {
			s.spec.Key = []byte(fmt.Sprintf("k%d", w.rng.IntN(w.cfg.Keys)))
		}
		if w.applied.maxRev > 0 && w.rng.IntN(2) == 0 {
			s.startRev = 1 + w.rng.Int64N(w.applied.maxRev)
		}
		m.watchers = append(m.watchers, s)
	}
	w.resumeWatchers(m)
	w.schedule(watchPoll, event{kind: evWatch, who: m.id, arg: m.incarnation})
}

// resumeWatchers (re)connects the member's streams to its current store,
// once a peer confirmed it (confirm.go).
func (w *World) resumeWatchers(m *member) {
	if m.state != stateUp || !m.confirm.Confirmed() {
		return
	}
	store := m.sm.kv.Store()
	for _, s := range m.watchers {
		if s.ended != "" || s.w != nil {
			continue
		}
		start := s.upTo + 1
		if s.spec.StartRevision == 0 {
			start = s.startRev
			if start == 0 {
				start = store.Rev() + 1
			}
			s.spec.StartRevision, s.upTo = start, start-1
		}
		buffer := 16
		if s.slow {
			buffer = 2
		}
		wt, err := store.Watch(s.spec.Key, s.spec.RangeEnd, mvcc.WatchOptions{StartRev: start, PrevKV: s.spec.PrevKv, Buffer: buffer})
		var compacted *mvcc.CompactedError
		switch {
		case errors.As(err, &compacted):
			s.ended = fmt.Sprintf("revision %d compacted (at %d) before the watch resumed", start, compacted.CompactRev)
		case err != nil:
			w.fail("member %d: watch %q from %d: %v", m.id, s.spec.Key, start, err)
			s.ended = "failed"
		default:
			s.w, s.store = wt, store
		}
	}
}

// endWatchers disconnects the member's streams (it crashed or stopped);
// they resume when it restarts, unless it never will.
func (w *World) endWatchers(m *member) {
	for _, s := range m.watchers {
		s.w, s.store = nil, nil
		if (m.state == stateDead || m.state == stateRemoved) && s.ended == "" {
			s.ended = "member " + m.state.String()
		}
	}
}

// storeReplaced moves the streams to the store a snapshot installed.
func (w *World) storeReplaced(m *member) {
	m.sm.replaced = false
	w.drainWatchers(m, true)
	current := m.sm.kv.Store()
	for _, s := range m.watchers {
		if s.w != nil && s.store == current {
			continue // already on the new store
		}
		s.w, s.store = nil, nil
	}
	w.resumeWatchers(m)
}

// pollWatchers catches up the member's lagging watchers a few revisions
// at a time and reads every stream, slow ones only now and then.
func (w *World) pollWatchers(m *member, incarnation uint64) {
	if m.state != stateUp || m.incarnation != incarnation {
		if m.state == stateUp || m.state == stateDown || m.state == stateStopped {
			// Keep polling across restarts (the restart bumps the
			// incarnation).
			w.schedule(watchPoll, event{kind: evWatch, who: m.id, arg: m.incarnation})
		}
		return
	}
	if _, err := m.sm.kv.Store().SyncWatchers(syncWindowRevs); err != nil {
		w.fail("member %d: sync watchers: %v", m.id, err)
	}
	for _, s := range m.watchers {
		s.polls++
	}
	w.drainWatchers(m, false)
	w.schedule(watchPoll, event{kind: evWatch, who: m.id, arg: m.incarnation})
}

// drainWatchers reads what the member's streams have received: every
// stream if all, else the fast ones and the slow ones due.
func (w *World) drainWatchers(m *member, all bool) {
	for _, s := range m.watchers {
		if s.w == nil || s.slow && !all && s.polls%slowEvery != 0 {
			continue
		}
		w.drain(s)
	}
}

func (w *World) drain(s *watchStream) {
	for s.w != nil {
		select {
		case resp, ok := <-s.w.C():
			if !ok {
				s.w, s.store = nil, nil // closed with its store
				return
			}
			w.receive(s, resp)
		default:
			return
		}
	}
}

// receive takes one watch response into the stream.
func (w *World) receive(s *watchStream, resp mvcc.WatchResponse) {
	if resp.Canceled {
		s.w, s.store = nil, nil
		if resp.CompactRevision > 0 {
			s.ended = fmt.Sprintf("history compacted at %d", resp.CompactRevision)
		}
		return
	}
	for _, ev := range resp.Events {
		if ev.Kv.ModRevision > resp.Revision {
			w.fail("member %d: watch response at revision %d holds an event of revision %d", s.member, resp.Revision, ev.Kv.ModRevision)
		}
	}
	s.events = append(s.events, resp.Events...)
	s.upTo = max(s.upTo, resp.Revision)
}

// checkWatches brings every live stream up to date, then checks every
// stream against the committed changes: ordered, no gap, no duplicate,
// every event as written; and a live stream complete through its
// member's revision.
func (w *World) checkWatches() error {
	log, err := w.applied.changeLog()
	if err != nil {
		return err
	}
	for _, m := range w.members {
		if m.state != stateUp {
			continue
		}
		store := m.sm.kv.Store()
		for i := 0; ; i++ {
			behind, err := store.SyncWatchers(1 << 20)
			if err != nil {
				return fmt.Errorf("member %d: sync watchers: %w", m.id, err)
			}
			w.drainWatchers(m, true)
			if behind == 0 {
				break
			}
			if i == 100 {
				return fmt.Errorf("member %d: %d watchers still behind after 100 catch-ups", m.id, behind)
			}
		}
		for _, s := range m.watchers {
			if s.w != nil && !store.RequestProgress(s.w) {
				return fmt.Errorf("member %d: watcher on %q not synced after catching up", m.id, s.spec.Key)
			}
		}
		w.drainWatchers(m, true)
		for _, s := range m.watchers {
			if s.w == nil && !m.confirm.Confirmed() {
				// Disconnected by a restart, and no peer confirmed the
				// member since (one the cluster never took, say): it
				// serves no watch, so the stream cannot resume.
				continue
			}
			// A stream that asked to start past the member's revision
			// (a member that never caught up) waits for it: complete
			// through the revision before its start.
			if want := max(store.Rev(), s.spec.StartRevision-1); s.ended == "" && s.upTo != want {
				return fmt.Errorf("member %d: watch on %q from revision %d is complete through revision %d, the store is at %d (connected %v)",
					m.id, s.spec.Key, s.spec.StartRevision, s.upTo, store.Rev(), s.w != nil)
			}
		}
	}
	for _, m := range w.members {
		for _, s := range m.watchers {
			if s.spec.StartRevision == 0 {
				continue // never connected
			}
			if err := linearizability.CheckWatch(log, s.spec, s.events, max(s.upTo, 0)); err != nil {
				return fmt.Errorf("member %d: %w (stream of %d events complete through %d; %s)", m.id, err, len(s.events), s.upTo, s.describeEnd())
			}
		}
	}
	return nil
}

func (s *watchStream) describeEnd() string {
	if s.ended == "" {
		return "live"
	}
	return "ended: " + s.ended
}
