package mvcc

import (
	"bytes"
	"fmt"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/btreekv/pagefile"
)

// WatchResponse is one delivery to a watcher: events in revision order,
// or a progress notification (no events), or the watcher's cancellation.
// Watchers of the same change share its events' byte slices: treat them
// as read-only.
type WatchResponse struct {
	WatchID int64
	// Events are the changes delivered, in revision order (none for a
	// progress notification or a cancellation).
	Events []api.Event
	// Revision is the store revision the response is current to.
	Revision int64
	// Canceled says the watcher ends here; CompactRevision is set when it
	// ended because the history it needed was compacted.
	Canceled        bool
	CompactRevision int64
}

// WatchOptions shape a watcher.
type WatchOptions struct {
	// StartRev is the first revision to deliver (0: from now on).
	StartRev int64
	PrevKV   bool
	// NoPut and NoDelete filter out those events.
	NoPut, NoDelete bool
	// ProgressNotify asks for the periodic progress notifications of
	// NotifyProgress.
	ProgressNotify bool
	// Buffer is the channel capacity (default 128 responses).
	Buffer int
}

// Watcher receives every change to a key or range from a revision on, in
// revision order, none missing and none twice.
//
// A watcher that keeps up ("synced") gets events as writes happen. One
// whose channel is full, or that started in the past, falls behind
// ("unsynced") and is caught up from the page file by SyncWatchers, which
// the server calls periodically; writes never wait for a slow watcher.
type Watcher struct {
	ID   int64
	key  []byte
	end  []byte
	opts WatchOptions
	ch   chan WatchResponse
	// next is the first revision not yet delivered.
	next     int64
	synced   bool
	canceled bool
	// compacted is set when history the watcher needs was compacted.
	compacted int64
}

// C returns the channel the watcher's responses arrive on; it is closed
// when the watcher is canceled.
func (w *Watcher) C() <-chan WatchResponse { return w.ch }

type watchers struct {
	nextID int64
	all    map[int64]*Watcher
	// prevKV counts the watchers in all that want previous versions.
	prevKV int
}

// wantPrev reports whether a watcher wants the previous versions of key's
// changes (so a write must read them).
func (ws *watchers) wantPrev(key []byte) bool {
	if ws.prevKV == 0 {
		return false
	}
	for _, w := range ws.all {
		if w.opts.PrevKV && w.matches(key) {
			return true
		}
	}
	return false
}

func (ws *watchers) init() { ws.all = map[int64]*Watcher{} }

// CompactedError says a watch asked for history that was compacted.
type CompactedError struct{ CompactRev int64 }

// Error describes the compaction.
func (e *CompactedError) Error() string {
	return fmt.Sprintf("mvcc: required revision has been compacted (compacted at %d)", e.CompactRev)
}

// Unwrap makes errors.Is(err, ErrCompacted) hold.
func (e *CompactedError) Unwrap() error { return ErrCompacted }

// Watch starts a watcher on [key, end) (end as in Range).
func (s *Store) Watch(key, end []byte, opts WatchOptions) (*Watcher, error) {
	if len(key) == 0 {
		return nil, ErrEmptyKey
	}
	if opts.Buffer <= 0 {
		opts.Buffer = 128
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// A watch from the compacted revision itself is refused too, unlike
	// etcd's: the compaction dropped that revision's deletes and its puts'
	// previous versions, so the stream could not be whole. The client
	// learns the compacted revision and starts after it.
	if opts.StartRev > 0 && opts.StartRev <= s.compactRev {
		return nil, &CompactedError{CompactRev: s.compactRev}
	}
	s.watch.nextID++
	w := &Watcher{ID: s.watch.nextID, key: bytes.Clone(key), end: bytes.Clone(end), opts: opts,
		ch: make(chan WatchResponse, opts.Buffer), next: opts.StartRev}
	if w.next <= 0 {
		w.next = s.currentRev + 1
	}
	w.synced = w.next > s.currentRev
	s.watch.all[w.ID] = w
	if opts.PrevKV {
		s.watch.prevKV++
	}
	return w, nil
}

// CancelWatch stops a watcher and closes its channel.
func (s *Store) CancelWatch(w *Watcher) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cancelLocked(w)
}

func (s *Store) cancelLocked(w *Watcher) {
	if w.canceled {
		return
	}
	w.canceled = true
	delete(s.watch.all, w.ID)
	if w.opts.PrevKV {
		s.watch.prevKV--
	}
	close(w.ch)
}

func (w *Watcher) matches(key []byte) bool {
	switch {
	case len(w.end) == 0:
		return bytes.Equal(key, w.key)
	case len(w.end) == 1 && w.end[0] == 0:
		return bytes.Compare(key, w.key) >= 0
	}
	return bytes.Compare(key, w.key) >= 0 && bytes.Compare(key, w.end) < 0
}

// wanted reports whether w receives ev: its key is in w's range and its
// type is not filtered out.
func (w *Watcher) wanted(ev api.Event) bool {
	return w.matches(ev.Kv.Key) && !(w.opts.NoPut && ev.Type == api.EventPut) && !(w.opts.NoDelete && ev.Type == api.EventDelete)
}

// filter returns the events of a write transaction that w receives.
func (w *Watcher) filter(evs []api.Event) []api.Event {
	var out []api.Event
	for _, ev := range evs {
		if !w.wanted(ev) {
			continue
		}
		if !w.opts.PrevKV {
			ev.PrevKv = nil
		}
		out = append(out, ev)
	}
	return out
}

// notify delivers a write transaction's events (revision rev) to the
// synced watchers; one whose channel is full falls behind.
func (ws *watchers) notify(s *Store, changes []api.Event, rev int64) {
	for _, w := range ws.all {
		if !w.synced || rev < w.next {
			continue // behind, or starting at a future revision
		}
		evs := w.filter(changes)
		if len(evs) == 0 {
			w.next = rev + 1
			continue
		}
		select {
		case w.ch <- WatchResponse{WatchID: w.ID, Events: evs, Revision: rev}:
			w.next = rev + 1
		default:
			w.synced = false // catch up from the page file later
		}
	}
}

// onCompact marks the watchers that need history now gone.
func (ws *watchers) onCompact(rev int64) {
	for _, w := range ws.all {
		// A watcher behind at rev itself is canceled too: what the
		// compaction leaves of rev is not the whole of it.
		if !w.synced && w.next <= rev {
			w.compacted = rev
		}
	}
}

// SyncWatchers catches up watchers that fell behind, reading their events
// from the page file (at most maxRevs revisions per watcher per call). It
// reports how many are still behind. The server calls it periodically.
//
// It works in three steps so that writes go on while it reads: under the
// store's lock it picks each lagging watcher's window of revisions, pins
// a page-file snapshot (which holds every revision up to the last
// commit) and copies the later records still in memory; without the lock
// it scans the windows; under the lock again it adds the previous
// versions watchers asked for and delivers. Writes made in the meantime
// are after every window, and a lagging watcher gets none of them until
// it has caught up, so nothing is missed or sent twice. It never forces a
// commit, so a slow watcher does not cost writers any fsyncs.
func (s *Store) SyncWatchers(maxRevs int64) (behind int, err error) {
	maxRevs = max(maxRevs, 1)
	jobs, rtx, err := s.planCatchUp(maxRevs)
	if err != nil || rtx == nil {
		return len(jobs), err
	}
	for i := range jobs {
		j := &jobs[i]
		if j.events, err = j.scan(rtx, s.opts.LogValues); err != nil {
			break
		}
	}
	// Release the snapshot before taking the lock again: Defragment
	// holds the lock while it waits for snapshots to be released.
	rtx.Rollback()
	if err != nil {
		return len(jobs), err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range jobs {
		j := &jobs[i]
		w := j.w
		switch {
		case w.canceled || w.synced || w.next != j.from:
			continue // canceled, or moved on by another call
		case w.compacted != 0:
			// Compacted while we read: the window may be whole, but
			// the watcher is canceled all the same, simply.
			if !s.sendCompacted(w) {
				behind++
			}
			continue
		}
		if w.opts.PrevKV {
			if err := s.addPrevKVs(j.events); err != nil {
				return behind, err
			}
		}
		if len(j.events) > 0 {
			select {
			case w.ch <- WatchResponse{WatchID: w.ID, Events: j.events, Revision: j.to}:
			default:
				behind++
				continue
			}
		}
		w.next = j.to + 1
		if w.next > s.currentRev {
			w.synced = true
		} else {
			behind++
		}
	}
	return behind, nil
}

// catchUp is one lagging watcher's window of revisions [from, to]: the
// part up to inFile is read from the page-file snapshot, the records
// after it were copied from memory (the open batch's).
type catchUp struct {
	w        *Watcher
	from, to int64
	inFile   int64
	recent   []revRecord
	events   []api.Event
}

// revRecord is a record with its revision.
type revRecord struct {
	rev Revision
	rec []byte
}

// planCatchUp is SyncWatchers' first step, under the store's lock. It
// returns a nil snapshot if there is nothing to read.
func (s *Store) planCatchUp(maxRevs int64) ([]catchUp, *pagefile.Tx, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var jobs []catchUp
	for _, w := range s.watch.all {
		switch {
		case w.synced:
		case w.compacted != 0:
			s.sendCompacted(w)
		default:
			jobs = append(jobs, catchUp{w: w, from: w.next, to: min(s.currentRev, w.next+maxRevs-1), inFile: s.fileRev})
		}
	}
	if len(jobs) == 0 {
		return nil, nil, nil
	}
	// The records of the open batch, in revision order (they are never
	// modified, so sharing them is safe).
	var recent []revRecord
	s.overlay.each(func(rev Revision, rec []byte) {
		recent = append(recent, revRecord{rev, rec})
	})
	for i := range jobs {
		j := &jobs[i]
		for _, r := range recent {
			if r.rev.Main >= j.from && r.rev.Main <= j.to {
				j.recent = append(j.recent, r)
			}
		}
	}
	rtx, err := s.db.Begin(false)
	if err != nil {
		return jobs, nil, err
	}
	return jobs, rtx, nil
}

// sendCompacted tells w that the history it needs is gone and cancels it;
// false if its channel is full (it is tried again on the next call).
func (s *Store) sendCompacted(w *Watcher) bool {
	select {
	case w.ch <- WatchResponse{WatchID: w.ID, Canceled: true, CompactRevision: w.compacted, Revision: s.currentRev}:
		s.cancelLocked(w)
		return true
	default:
		return false
	}
}

// scan reads the events of the window that the watcher wants: the
// committed ones from a page-file snapshot, then the copied recent ones.
// It uses only the watcher's fixed settings (and log, the store's
// LogValues), so it runs without the store's lock.
func (j *catchUp) scan(rtx *pagefile.Tx, log LogValues) ([]api.Event, error) {
	var evs []api.Event
	add := func(kv api.KeyValue, tomb bool) {
		if ev, ok := j.w.wants(kv, tomb); ok {
			evs = append(evs, ev)
		}
	}
	if last := min(j.to, j.inFile); j.from <= last {
		c := rtx.Bucket(bucketKey).Cursor()
		end := revBytes(Revision{Main: last + 1})
		for k, v := c.Seek(revBytes(Revision{Main: j.from})); k != nil && bytes.Compare(k, end) < 0; k, v = c.Next() {
			rev, err := bytesRev(k)
			if err != nil {
				return nil, err
			}
			kv, tomb, err := readStored(rtx, log, rev, v, false)
			if err != nil {
				return nil, err
			}
			// The event outlives the transaction: copy it off the page.
			add(cloneKV(kv), tomb)
		}
		if err := c.Err(); err != nil {
			return nil, err
		}
	}
	for _, r := range j.recent {
		kv, tomb, err := decodeRecord(r.rec)
		if err != nil {
			return nil, err
		}
		add(kv, tomb)
	}
	return evs, nil
}

// wants turns a record into the event w receives, if it wants it.
func (w *Watcher) wants(kv api.KeyValue, tomb bool) (api.Event, bool) {
	ev := api.Event{Type: api.EventPut, Kv: kv}
	if tomb {
		ev.Type = api.EventDelete
	}
	return ev, w.wanted(ev)
}

// addPrevKVs sets each event's previous version of its key, found through
// the index and read from memory or the page file (under the store's
// lock, which keeps a compaction from removing it meanwhile: the previous
// version of an event after the compacted revision is kept).
func (s *Store) addPrevKVs(evs []api.Event) error {
	var revs []Revision
	var at []int
	var ki keyIndex
	for i := range evs {
		if s.idx.get(evs[i].Kv.Key, &ki) {
			if pr, _, _, ok := ki.get(evs[i].Kv.ModRevision - 1); ok {
				revs = append(revs, pr)
				at = append(at, i)
			}
		}
	}
	if len(revs) == 0 {
		return nil
	}
	f, err := s.newFetcher(revs)
	if err != nil {
		return err
	}
	defer f.close()
	for n, r := range revs {
		prev, err := f.get(r, false)
		if err != nil {
			return err
		}
		evs[at[n]].PrevKv = &prev
	}
	return nil
}

// RequestProgress sends w a progress notification (the current revision,
// no events) if it is synced: everything before that revision has been
// delivered.
func (s *Store) RequestProgress(w *Watcher) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !w.synced || w.canceled {
		return false
	}
	select {
	case w.ch <- WatchResponse{WatchID: w.ID, Revision: s.currentRev}:
		return true
	default:
		return false
	}
}

// NotifyProgress sends a progress notification to every synced watcher
// that asked for them (WatchOptions.ProgressNotify) and has room in its
// channel (the server calls it on its progress interval), and returns how
// many got one.
func (s *Store) NotifyProgress() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, w := range s.watch.all {
		if !w.synced || !w.opts.ProgressNotify {
			continue
		}
		select {
		case w.ch <- WatchResponse{WatchID: w.ID, Revision: s.currentRev}:
			n++
		default:
		}
	}
	return n
}
