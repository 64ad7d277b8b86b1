package node

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/btreekv/mvcc"
	"github.com/cairndb/cairn/rpc"
)

// The KV and Watch services.

func (s *Server) serveRange(ctx context.Context, req *api.RangeRequest) (api.Message, error) {
	if err := s.refuseIfCorrupt(req); err != nil {
		return nil, err
	}
	if !req.Serializable {
		if err := s.readBarrier(ctx); err != nil {
			return nil, err
		}
	}
	// Checked after the ReadIndex wait above (if any).
	if err := s.authorizeRead(ctx, "Range", req.Key, req.RangeEnd, false); err != nil {
		return nil, err
	}
	resp, err := s.state.Store().RangeRequest(req)
	if err != nil {
		return nil, err
	}
	rev := resp.Header.Revision
	resp.Header = s.header()
	if rev != 0 {
		resp.Header.Revision = rev
	}
	return resp, nil
}

func (s *Server) servePut(ctx context.Context, req *api.PutRequest) (api.Message, error) {
	if len(req.Key) == 0 {
		return nil, api.ErrEmptyKey
	}
	if err := s.checkSpace(ctx); err != nil {
		return nil, err
	}
	return s.proposeAs(ctx, req)
}

func (s *Server) serveDeleteRange(ctx context.Context, req *api.DeleteRangeRequest) (api.Message, error) {
	if len(req.Key) == 0 {
		return nil, api.ErrEmptyKey
	}
	return s.proposeAs(ctx, req)
}

func (s *Server) serveTxn(ctx context.Context, req *api.TxnRequest) (api.Message, error) {
	if err := mvcc.CheckTxn(req, s.cfg.MaxTxnOps); err != nil {
		return nil, err
	}
	if mvcc.TxnReadOnly(req) {
		return s.serveReadTxn(ctx, req) // txn_read.go
	}
	if txnWrites(req) {
		if err := s.checkSpace(ctx); err != nil {
			return nil, err
		}
	}
	return s.proposeAs(ctx, req)
}

// txnWrites reports whether any branch of a transaction puts a key (the
// writes refused while NOSPACE is raised; deletes stay allowed).
func txnWrites(req *api.TxnRequest) bool {
	for _, ops := range [][]api.RequestOp{req.Success, req.Failure} {
		for _, op := range ops {
			if op.Put != nil || (op.Txn != nil && txnWrites(op.Txn)) {
				return true
			}
		}
	}
	return false
}

func (s *Server) serveCompact(ctx context.Context, req *api.CompactionRequest) (api.Message, error) {
	return s.proposeAs(ctx, req)
}

// watchSession is one client's watch stream: the watchers it created and
// the one goroutine sending their responses.
type watchSession struct {
	s      *Server
	stream *rpc.Stream
	sendMu sync.Mutex

	mu       sync.Mutex
	store    *mvcc.Store
	watchers map[int64]*mvcc.Watcher
	closed   bool // set under mu before the session waits for its forwarders
	ended    chan error
	endOnce  sync.Once
	wg       sync.WaitGroup
}

func (w *watchSession) end(err error) {
	w.endOnce.Do(func() { w.ended <- err })
}

func (w *watchSession) send(resp *api.WatchResponse) error {
	w.sendMu.Lock()
	defer w.sendMu.Unlock()
	return w.stream.Send(api.Marshal(resp))
}

// serveWatch runs a watch stream: it reads create, cancel and progress
// requests, and forwards each watcher's events in order.
func (s *Server) serveWatch(ctx context.Context, st *rpc.Stream) error {
	w := &watchSession{s: s, stream: st, store: s.state.Store(), watchers: map[int64]*mvcc.Watcher{}, ended: make(chan error, 1)}
	s.watchMu.Lock()
	s.watches[w] = struct{}{}
	s.watchMu.Unlock()
	defer func() {
		s.watchMu.Lock()
		delete(s.watches, w)
		s.watchMu.Unlock()
		w.mu.Lock()
		w.closed = true
		for _, x := range w.watchers {
			w.store.CancelWatch(x)
		}
		w.mu.Unlock()
		w.wg.Wait()
	}()
	go func() {
		for {
			b, err := st.Recv()
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				w.end(err)
				return
			}
			var req api.WatchRequest
			if err := api.Unmarshal(b, &req); err != nil {
				w.end(api.Errorf(api.CodeInvalidArgument, "malformed watch request: %v", err))
				return
			}
			if req.Create != nil && s.refuseWatch(ctx, w, req.Create) {
				continue
			}
			if err := w.handle(&req); err != nil {
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
		x, ok := w.watchers[req.Cancel.WatchID]
		delete(w.watchers, req.Cancel.WatchID)
		w.mu.Unlock()
		if ok {
			w.store.CancelWatch(x) // the forwarder reports the cancellation
		}
		return nil
	case req.Progress != nil:
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, x := range w.watchers {
			w.store.RequestProgress(x)
		}
		return nil
	}
	return api.Errorf(api.CodeInvalidArgument, "empty watch request")
}

func (w *watchSession) create(c *api.WatchCreateRequest) error {
	opts := mvcc.WatchOptions{StartRev: c.StartRevision, PrevKV: c.PrevKv}
	for _, f := range c.Filters {
		switch f {
		case api.FilterNoPut:
			opts.NoPut = true
		case api.FilterNoDelete:
			opts.NoDelete = true
		}
	}
	x, err := w.store.Watch(c.Key, c.RangeEnd, opts)
	if err != nil {
		resp := &api.WatchResponse{Header: w.s.header(), WatchID: -1, Created: true, Canceled: true, CancelReason: err.Error(), CancelCode: api.CodeOf(toAPIError(err))}
		var ce *mvcc.CompactedError
		if errors.As(err, &ce) {
			resp.CompactRevision = ce.CompactRev
			resp.CancelCode = api.CodeCompacted
		}
		return w.send(resp)
	}
	// Register before the creation answer goes out so a cancel racing
	// it finds the watcher; a session already ending takes no more.
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		w.store.CancelWatch(x)
		return nil
	}
	w.watchers[x.ID] = x
	w.wg.Add(1)
	w.mu.Unlock()
	if err := w.send(&api.WatchResponse{Header: w.s.header(), WatchID: x.ID, Created: true}); err != nil {
		w.wg.Done()
		return err
	}
	go w.forward(x)
	return nil
}

// forward sends one watcher's responses until it is canceled.
func (w *watchSession) forward(x *mvcc.Watcher) {
	defer w.wg.Done()
	canceled := false
	for r := range x.C() {
		h := w.s.header()
		h.Revision = r.Revision
		resp := &api.WatchResponse{Header: h, WatchID: r.WatchID, Events: r.Events,
			Canceled: r.Canceled, CompactRevision: r.CompactRevision}
		if r.Canceled && r.CompactRevision != 0 {
			resp.CancelReason = api.ErrCompacted.Error()
			resp.CancelCode = api.CodeCompacted
		}
		if err := w.send(resp); err != nil {
			w.end(err)
			return
		}
		if r.Canceled {
			canceled = true
			w.mu.Lock()
			delete(w.watchers, x.ID)
			w.mu.Unlock()
		}
	}
	// A cancel asked by the client: tell it.
	w.mu.Lock()
	_, still := w.watchers[x.ID]
	w.mu.Unlock()
	if !still && !canceled {
		_ = w.send(&api.WatchResponse{Header: w.s.header(), WatchID: x.ID, Canceled: true})
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
