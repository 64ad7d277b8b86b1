package etcdapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/node"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The lock and election services (lock.go, election.go) are etcd's
// client-side recipes (clientv3/concurrency) run inside the member, as
// etcd runs them: every contender puts a key of its own under the name's
// prefix, with its lease, and the key of the lowest create revision
// holds the lock or leads. A contender waits, with the member's own
// watch service, until every key created before its own is deleted
// (released, resigned, or gone with its lease). These are the helpers
// both share; the calls go to the member's service layer with the
// caller's context, so auth and limits apply to the caller.

// defaultSessionTTL is the TTL in seconds of the lease granted for a
// Lock or Campaign that names none (lease 0), as etcd grants one: nothing
// renews it, so the key goes a minute later unless released first.
const defaultSessionTTL = 60

// cleanupTimeout bounds the deletion of a contender's key after its call
// was canceled (the call's own context is over by then).
const cleanupTimeout = 5 * time.Second

// concurrencyError is an error of the Lock and Election services as
// etcd sends it. etcd serves them with its client library in process,
// which turns etcd's own gRPC errors ("etcdserver: requested lease not
// found") into plain errors, and its server sends those with code Unknown
// and the same message; any other error keeps its code.
func concurrencyError(err error) error {
	err = toGRPCError(err)
	st, ok := status.FromError(err)
	if !ok || st.Code() == codes.Unknown {
		return err
	}
	if _, known := rpctypes.Error(err).(rpctypes.EtcdError); known {
		return status.Error(codes.Unknown, st.Message())
	}
	return err
}

// contenderKey is the key a contender of the lease puts under prefix:
// the prefix and the lease id in hexadecimal, as etcd names it.
func contenderKey(prefix []byte, lease int64) []byte {
	return strconv.AppendInt(append([]byte(nil), prefix...), lease, 16)
}

// namePrefix is the prefix of the contenders' keys of a lock or election:
// its name and a slash.
func namePrefix(name []byte) []byte {
	return append(append([]byte(nil), name...), '/')
}

// sessionLease is the lease a contender's key is put with: the caller's,
// or, when it names none, a new one of defaultSessionTTL seconds.
func sessionLease(ctx context.Context, s *node.Server, lease int64) (int64, error) {
	if lease != 0 {
		return lease, nil
	}
	resp, err := s.LeaseGrant(ctx, &api.LeaseGrantRequest{TTL: defaultSessionTTL})
	if err != nil {
		return 0, fmt.Errorf("grant a session lease: %w", err)
	}
	return resp.ID, nil
}

// firstCreated reads the key of the lowest create revision under prefix
// (nil if none): the lock's holder, the election's leader.
func firstCreated(prefix []byte) *api.RangeRequest {
	return &api.RangeRequest{Key: prefix, RangeEnd: api.PrefixEnd(prefix), Limit: 1,
		SortOrder: api.SortAscend, SortTarget: api.SortByCreate}
}

// createdAt compares key's create revision with rev (0: the key does not
// exist).
func createdAt(key []byte, rev int64) api.Compare {
	return api.Compare{Result: api.CompareEqual, Target: api.CompareCreate, Key: key, CreateRevision: rev}
}

// deleteCreated deletes key if its create revision is still rev (the
// contender's own key, not a later one of the same lease), with a context
// of its own: it runs when the caller's context may be over.
func deleteCreated(ctx context.Context, s *node.Server, key []byte, rev int64) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_, err := s.Txn(ctx, &api.TxnRequest{
		Compare: []api.Compare{createdAt(key, rev)},
		Success: []api.RequestOp{{DeleteRange: &api.DeleteRangeRequest{Key: key}}},
	})
	if err != nil {
		s.Logger().Warn("etcdapi: delete a canceled contender's key", "key", string(key), "err", err)
	}
}

// awaitTurn waits until key, created at rev, is the first created
// under prefix: until every key under prefix created before it is gone.
// If key itself goes first (its lease expired, someone deleted it), it
// returns gone at once, where etcd's recipe waits for the keys before it
// all the same. It returns the header of the read that found key still
// there.
func awaitTurn(ctx context.Context, s *node.Server, prefix, key []byte, rev int64, gone error) (api.ResponseHeader, error) {
	waitCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		if waitDelete(waitCtx, s, key, rev) == nil {
			cancel(gone)
		}
	}()
	if err := waitDeletes(waitCtx, s, prefix, rev-1); err != nil {
		if cause := context.Cause(waitCtx); errors.Is(cause, gone) && ctx.Err() == nil {
			return api.ResponseHeader{}, gone
		}
		return api.ResponseHeader{}, err
	}
	resp, err := s.Range(ctx, &api.RangeRequest{Key: key})
	if err != nil {
		return api.ResponseHeader{}, err
	}
	if len(resp.Kvs) == 0 || resp.Kvs[0].CreateRevision != rev {
		return api.ResponseHeader{}, gone
	}
	return resp.Header, nil
}

// waitDeletes returns once no key under prefix has a create revision of
// maxCreateRev or less: it waits for the deletion of the latest such key,
// then looks again.
func waitDeletes(ctx context.Context, s *node.Server, prefix []byte, maxCreateRev int64) error {
	for {
		resp, err := s.Range(ctx, &api.RangeRequest{Key: prefix, RangeEnd: api.PrefixEnd(prefix), Limit: 1,
			SortOrder: api.SortDescend, SortTarget: api.SortByCreate, MaxCreateRevision: maxCreateRev})
		if err != nil {
			return err
		}
		if len(resp.Kvs) == 0 {
			return nil
		}
		if err := waitDelete(ctx, s, resp.Kvs[0].Key, resp.Header.Revision); err != nil {
			return err
		}
	}
}

// waitDelete returns once key is deleted at or after revision rev.
func waitDelete(ctx context.Context, s *node.Server, key []byte, rev int64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := watchMember(ctx, s, &api.WatchCreateRequest{Key: key, StartRevision: rev,
		Filters: []api.WatchFilterType{api.FilterNoPut}})
	for {
		resp, err := w.next(ctx)
		if err != nil {
			return err
		}
		for _, ev := range resp.Events {
			if ev.Type == api.EventDelete {
				return nil
			}
		}
	}
}

// memberWatch is one watcher on the member's own watch service.
type memberWatch struct {
	responses chan *api.WatchResponse
	ended     chan struct{} // closed when the watch stream ends; err says why
	err       error
}

// watchMember starts a watcher of create on member s, until ctx ends.
func watchMember(ctx context.Context, s *node.Server, create *api.WatchCreateRequest) *memberWatch {
	w := &memberWatch{responses: make(chan *api.WatchResponse), ended: make(chan struct{})}
	st := &memberWatchStream{ctx: ctx, create: create, responses: w.responses}
	go func() {
		defer close(w.ended)
		w.err = s.Watch(ctx, st)
	}()
	return w
}

// next returns the watcher's next response with events (or a progress
// notification's header); an error when the watcher is canceled, the
// stream ends, or ctx ends.
func (w *memberWatch) next(ctx context.Context) (*api.WatchResponse, error) {
	for {
		select {
		case resp := <-w.responses:
			if resp.Canceled {
				return nil, watchCanceled(resp)
			}
			if resp.Created {
				continue
			}
			return resp, nil
		case <-w.ended:
			if w.err != nil {
				return nil, w.err
			}
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			return nil, errors.New("etcdapi: the member's watch stream ended")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// watchCanceled is the error of a watcher the member canceled.
func watchCanceled(resp *api.WatchResponse) error {
	if resp.CompactRevision != 0 {
		return api.ErrCompacted
	}
	if resp.CancelCode != 0 {
		return api.ErrorFromCode(uint16(resp.CancelCode), resp.CancelReason)
	}
	return fmt.Errorf("etcdapi: the member canceled a watcher: %s", resp.CancelReason)
}

// memberWatchStream is the stream of a memberWatch as the member's watch
// service sees it: one create request, then nothing more (the watcher
// lasts until ctx ends).
type memberWatchStream struct {
	ctx       context.Context
	create    *api.WatchCreateRequest
	sent      bool
	responses chan<- *api.WatchResponse
}

func (st *memberWatchStream) Recv() (*api.WatchRequest, error) {
	if st.sent {
		return nil, io.EOF
	}
	st.sent = true
	return &api.WatchRequest{Create: st.create}, nil
}

func (st *memberWatchStream) Send(resp *api.WatchResponse) error {
	select {
	case st.responses <- resp:
		return nil
	case <-st.ctx.Done():
		return st.ctx.Err()
	}
}
