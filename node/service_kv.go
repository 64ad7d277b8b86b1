package node

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/auth"
	"github.com/cairndb/cairn/btreekv/mvcc"
)

// The KV and Watch services. A KV request is served as replica.Plan
// says (servePlan, services.go).

func (s *Server) serveRange(ctx context.Context, req *api.RangeRequest) (api.Message, error) {
	return s.servePlan(ctx, req)
}

func (s *Server) servePut(ctx context.Context, req *api.PutRequest) (api.Message, error) {
	return s.servePlan(ctx, req)
}

func (s *Server) serveDeleteRange(ctx context.Context, req *api.DeleteRangeRequest) (api.Message, error) {
	return s.servePlan(ctx, req)
}

// serveTxn serves a transaction: through raft, or, if it neither puts nor
// deletes, as a read (serveRead).
func (s *Server) serveTxn(ctx context.Context, req *api.TxnRequest) (api.Message, error) {
	return s.servePlan(ctx, req)
}

// serveCompact compacts the history before req.Revision. The apply only
// marks the revision compacted; the store's commits remove what it drops,
// a part at a time (mvcc.Store.StartCompact). With req.Physical the
// answer waits, as etcd's does, until this member's store has removed
// it all.
func (s *Server) serveCompact(ctx context.Context, req *api.CompactionRequest) (api.Message, error) {
	resp, err := s.servePlan(ctx, req)
	if err != nil || !req.Physical {
		return resp, err
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for s.replica.State.Store().CompactionPending() {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.stop:
			// Applied, not yet removed from this member's file.
			return nil, ErrStoppedInFlight
		case <-tick.C:
		}
	}
	return resp, nil
}

// watchSession is one client's watch stream: the watchers it created and
// the one goroutine sending their responses. Watch ids belong to the
// stream, as in etcd: a client may choose its own, or the session gives
// the lowest unused one.
type watchSession struct {
	s      *Server
	stream WatchStream
	sendMu sync.Mutex

	mu       sync.Mutex
	store    *mvcc.Store
	watchers map[int64]*sessionWatcher // by the stream's watch id
	nextID   int64                     // the next id to try for a watcher the client did not name
	closed   bool                      // set under mu before the session waits for its forwarders
	// caller is the user whose permissions the watchers were checked
	// against when auth was on at their creation, nil when it was off
	// (recheckWatches: what auth withdraws ends the watchers it covered).
	caller *auth.Identity
	// progress is the stream's progress request being answered, if any
	// (watch_progress.go).
	progress *progressRound
	ended    chan error
	endOnce  sync.Once
	wg       sync.WaitGroup
}

// sessionWatcher is one watcher of a stream: its id there and the
// store's watcher.
type sessionWatcher struct {
	id       int64
	x        *mvcc.Watcher
	key, end []byte
	fragment bool  // the client accepts a batch of events split over several responses
	revoked  error // why the server canceled it (auth withdrawn), under the session's mu
}

func (w *watchSession) end(err error) {
	w.endOnce.Do(func() { w.ended <- err })
}

func (w *watchSession) send(resp *api.WatchResponse) error {
	w.sendMu.Lock()
	defer w.sendMu.Unlock()
	return w.stream.Send(resp)
}

// serveWatch runs a watch stream: it reads create, cancel and progress
// requests, and forwards each watcher's events in order.
func (s *Server) serveWatch(ctx context.Context, st WatchStream) error {
	w := &watchSession{s: s, stream: st, store: s.replica.State.Store(), watchers: map[int64]*sessionWatcher{}, ended: make(chan error, 1)}
	s.watchMu.Lock()
	s.watches[w] = struct{}{}
	s.watchMu.Unlock()
	defer func() {
		s.watchMu.Lock()
		delete(s.watches, w)
		s.watchMu.Unlock()
		w.mu.Lock()
		w.closed = true
		for _, sw := range w.watchers {
			w.store.CancelWatch(sw.x)
		}
		w.mu.Unlock()
		w.wg.Wait()
	}()
	go func() {
		for {
			req, err := st.Recv()
			if errors.Is(err, io.EOF) {
				// The client sent its last request, and still wants what
				// its watchers deliver (as with etcd: a gateway client
				// sends one create and listens); the stream ends with its
				// context.
				return
			}
			if err != nil {
				w.end(err)
				return
			}
			if req.Create != nil {
				if s.refuseWatch(ctx, w, req.Create) {
					continue
				}
				w.noteCaller(ctx)
			}
			if err := w.handle(req); err != nil {
				w.end(err)
				return
			}
		}
	}()
	select {
	case err := <-w.ended:
		return err
	case <-ctx.Done():
		return nil
	}
}

func (w *watchSession) handle(req *api.WatchRequest) error {
	switch {
	case req.Create != nil:
		return w.create(req.Create)
	case req.Cancel != nil:
		w.mu.Lock()
		sw, ok := w.watchers[req.Cancel.WatchID]
		delete(w.watchers, req.Cancel.WatchID)
		w.mu.Unlock()
		if ok {
			w.store.CancelWatch(sw.x) // the forwarder reports the cancellation
		}
		return nil
	case req.Progress != nil:
		w.requestProgress() // watch_progress.go
		return nil
	}
	return api.Errorf(api.CodeInvalidArgument, "empty watch request")
}

func (w *watchSession) create(c *api.WatchCreateRequest) error {
	opts := mvcc.WatchOptions{StartRev: c.StartRevision, PrevKV: c.PrevKv, ProgressNotify: c.ProgressNotify}
	for _, f := range c.Filters {
		switch f {
		case api.FilterNoPut:
			opts.NoPut = true
		case api.FilterNoDelete:
			opts.NoDelete = true
		}
	}
	refuse := func(err error) error {
		resp := &api.WatchResponse{Header: w.s.header(), WatchID: refusedWatchID, Created: true, Canceled: true, CancelReason: err.Error(), CancelCode: api.CodeOf(toAPIError(err))}
		var ce *mvcc.CompactedError
		if errors.As(err, &ce) {
			resp.CompactRevision = ce.CompactRev
			resp.CancelCode = api.CodeCompacted
		}
		return w.send(resp)
	}
	if c.WatchID < 0 {
		return refuse(api.Errorf(api.CodeInvalidArgument, "watch id %d is negative", c.WatchID))
	}
	w.mu.Lock()
	_, taken := w.watchers[c.WatchID]
	w.mu.Unlock()
	if c.WatchID != 0 && taken {
		return refuse(api.Errorf(api.CodeInvalidArgument, "mvcc: duplicate watch ID provided on the WatchStream"))
	}
	if emptyWatchRange(c.Key, c.RangeEnd) {
		return refuse(api.Errorf(api.CodeInvalidArgument, "mvcc: watcher range is empty"))
	}
	x, err := w.store.Watch(c.Key, c.RangeEnd, opts)
	var compacted *mvcc.CompactedError
	if errors.As(err, &compacted) {
		return w.createCompacted(c, compacted.CompactRev)
	}
	if err != nil {
		return refuse(err)
	}
	// Register before the creation answer goes out so a cancel racing
	// it finds the watcher; a session already ending takes no more.
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		w.store.CancelWatch(x)
		return nil
	}
	id := w.idFor(c.WatchID)
	sw := &sessionWatcher{id: id, x: x, key: c.Key, end: c.RangeEnd, fragment: c.Fragment}
	w.watchers[id] = sw
	w.wg.Add(1)
	w.mu.Unlock()
	if err := w.send(&api.WatchResponse{Header: w.s.header(), WatchID: id, Created: true}); err != nil {
		w.wg.Done()
		return err
	}
	go w.forward(sw)
	return nil
}

// emptyWatchRange reports whether [key, end) holds no key at all (end at
// or before key; "\x00" means every key from key), a watch etcd refuses.
func emptyWatchRange(key, end []byte) bool {
	return len(end) > 0 && !bytes.Equal(end, []byte{0}) && bytes.Compare(key, end) >= 0
}

// refusedWatchID is the watch id of the answer refusing a watch, whatever
// id the client asked for, as etcd answers (clientv3's InvalidWatchID).
const refusedWatchID = -1

// idFor is the id of a new watcher: the one the client asked for, or the
// lowest free one counting from 0, as etcd's (w.mu held).
func (w *watchSession) idFor(requested int64) int64 {
	if requested != 0 {
		return requested
	}
	for w.watchers[w.nextID] != nil {
		w.nextID++
	}
	w.nextID++
	return w.nextID - 1
}

// createCompacted answers a watch that asks for revisions compacted away
// as etcd does: the watch is created, then canceled with the compaction
// revision (a client resumes or gives up knowing where history begins).
func (w *watchSession) createCompacted(c *api.WatchCreateRequest, compactRev int64) error {
	w.mu.Lock()
	id := w.idFor(c.WatchID)
	w.mu.Unlock()
	if err := w.send(&api.WatchResponse{Header: w.s.header(), WatchID: id, Created: true}); err != nil {
		return err
	}
	return w.send(&api.WatchResponse{Header: w.s.header(), WatchID: id, Canceled: true, CompactRevision: compactRev,
		CancelReason: api.ErrCompacted.Error(), CancelCode: api.CodeCompacted})
}

// forward sends one watcher's responses until it is canceled.
func (w *watchSession) forward(sw *sessionWatcher) {
	defer w.wg.Done()
	canceled := false
	for r := range sw.x.C() {
		if len(r.Events) == 0 && !r.Canceled && r.CompactRevision == 0 {
			taken, err := w.progressArrived(sw, r.Revision)
			if err != nil {
				w.end(err)
				return
			}
			if taken {
				continue // the stream's answer counts it
			}
		}
		h := w.s.header()
		h.Revision = r.Revision
		resp := &api.WatchResponse{Header: h, WatchID: sw.id, Events: r.Events,
			Canceled: r.Canceled, CompactRevision: r.CompactRevision}
		if r.Canceled && r.CompactRevision != 0 {
			resp.CancelReason = api.ErrCompacted.Error()
			resp.CancelCode = api.CodeCompacted
		}
		if err := w.sendEvents(sw, resp); err != nil {
			w.end(err)
			return
		}
		if r.Canceled {
			canceled = true
			w.mu.Lock()
			if w.watchers[sw.id] == sw {
				delete(w.watchers, sw.id)
			}
			w.mu.Unlock()
		}
	}
	// A cancel asked by the client, or by recheck: tell it (and why).
	w.mu.Lock()
	still := w.watchers[sw.id] == sw
	revoked := sw.revoked
	w.mu.Unlock()
	if !still && !canceled {
		resp := &api.WatchResponse{Header: w.s.header(), WatchID: sw.id, Canceled: true}
		if revoked != nil {
			resp.CancelReason, resp.CancelCode = revoked.Error(), api.CodeOf(revoked)
		}
		_ = w.send(resp)
	}
	// A progress request waiting for it waits no more.
	if err := w.progressGone(sw); err != nil {
		w.end(err)
	}
}

// sendEvents sends a response, split over several when the watcher
// accepts fragments and its events would pass the request size limit
// (every part but the last is marked Fragment).
func (w *watchSession) sendEvents(sw *sessionWatcher, resp *api.WatchResponse) error {
	limit := w.s.cfg.MaxRequestBytes
	if !sw.fragment || len(resp.Events) < 2 || eventsSize(resp.Events) <= limit {
		return w.send(resp)
	}
	evs := resp.Events
	for len(evs) > 0 {
		n, size := 0, 0
		for n < len(evs) && (n == 0 || size+eventSize(&evs[n]) <= limit) {
			size += eventSize(&evs[n])
			n++
		}
		part := *resp
		part.Events = evs[:n]
		part.Fragment = n < len(evs)
		part.Canceled = resp.Canceled && !part.Fragment
		if err := w.send(&part); err != nil {
			return err
		}
		evs = evs[n:]
	}
	return nil
}

// eventSize is about what an event takes on the wire.
func eventSize(e *api.Event) int {
	n := 32 + len(e.Kv.Key) + len(e.Kv.Value)
	if e.PrevKv != nil {
		n += 32 + len(e.PrevKv.Key) + len(e.PrevKv.Value)
	}
	return n
}

func eventsSize(evs []api.Event) int {
	n := 0
	for i := range evs {
		n += eventSize(&evs[i])
	}
	return n
}

// noteCaller records, once, the user the session's watchers act for
// while auth is on (its token's, or its certificate's).
func (w *watchSession) noteCaller(ctx context.Context) {
	w.mu.Lock()
	known := w.caller != nil
	w.mu.Unlock()
	if known || !w.s.replica.State.Auth().Enabled() {
		return
	}
	id, err := w.s.identify(ctx)
	if err != nil {
		return // refuseWatch let it through: auth went off in between
	}
	id.Revision = 0 // the user as of each check, not as of its token
	w.mu.Lock()
	w.caller = &id
	w.mu.Unlock()
}

// recheck cancels the watchers their user may no longer read, by the
// auth state a: a role revoked, a permission taken away, the user
// deleted, or auth turned on under watchers that named no user.
func (w *watchSession) recheck(a *auth.State) {
	w.mu.Lock()
	var gone []*sessionWatcher
	for id, sw := range w.watchers {
		var err error
		if w.caller == nil {
			err = api.ErrUserEmpty
		} else {
			err = a.CheckRange(*w.caller, api.PermRead, sw.key, sw.end)
		}
		if err != nil {
			sw.revoked = err
			delete(w.watchers, id)
			gone = append(gone, sw)
		}
	}
	w.mu.Unlock()
	for _, sw := range gone {
		w.store.CancelWatch(sw.x) // its forwarder tells the client why
	}
}

// recheckWatches re-checks every open watch after the auth state changed
// (the background loop calls it when the auth revision moves or auth is
// turned on).
func (s *Server) recheckWatches() {
	a := s.replica.State.Auth()
	if !a.Enabled() {
		return
	}
	s.watchMu.Lock()
	sessions := make([]*watchSession, 0, len(s.watches))
	for w := range s.watches {
		sessions = append(sessions, w)
	}
	s.watchMu.Unlock()
	for _, w := range sessions {
		w.recheck(a)
	}
}

// endWatches ends every watch stream with err (the store under them was
// replaced, or the server stops).
func (s *Server) endWatches(err error) {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	for w := range s.watches {
		w.end(toAPIError(err))
	}
}
