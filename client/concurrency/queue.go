package concurrency

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/client"
)

// The queue under a prefix: each waiter's key, ordered by create
// revision. Mutex and Election share these helpers.

// Errors of the package, to test with errors.Is.
var (
	// ErrLocked is returned by TryLock when another session holds the
	// lock.
	ErrLocked = errors.New("concurrency: mutex is locked by another session")
	// ErrSessionExpired is returned when the session's lease ended (or
	// its key vanished) before a lock or leadership was won.
	ErrSessionExpired = errors.New("concurrency: session expired")
	// ErrElectionNotLeader is returned by Proclaim when the caller is not
	// (or no longer) the leader.
	ErrElectionNotLeader = errors.New("concurrency: election: not leader")
	// ErrElectionNoLeader is returned by Leader when nobody leads.
	ErrElectionNoLeader = errors.New("concurrency: election: no leader")
)

// errWatchEnded is a watch that ended before seeing what it waited for.
var errWatchEnded = errors.New("concurrency: the watch ended")

// cleanupTimeout bounds the deletion of a waiter's key after its wait
// was abandoned (the caller's context is over by then).
const cleanupTimeout = 5 * time.Second

// queueKey is the key a session queues with under prefix: the prefix and
// the session's lease id in hex, unique per session.
func queueKey(prefix string, lease int64) string {
	return fmt.Sprintf("%s%x", prefix, lease)
}

// firstInQueue reads the key under prefix with the lowest create
// revision: the lock holder, or the leader.
func firstInQueue(prefix string) []client.OpOption {
	return []client.OpOption{client.WithPrefix(), client.WithSort(api.SortByCreate, api.SortAscend), client.WithLimit(1)}
}

// lastBefore reads the key under prefix with the highest create revision
// at most maxCreateRev: the waiter just ahead of one whose key was
// created at maxCreateRev+1 or later.
func lastBefore(prefix string, maxCreateRev int64) []client.OpOption {
	return []client.OpOption{client.WithPrefix(), client.WithSort(api.SortByCreate, api.SortDescend),
		client.WithLimit(1), client.WithMaxCreateRev(maxCreateRev)}
}

// enqueue puts key under the session's lease unless it exists, in one
// transaction that also reads the head of the queue. It returns the
// key's create revision (the key may have existed: a session queues only
// once per prefix), the head's key-value (nil for an empty queue, which
// cannot happen unless the key was deleted meanwhile) and the
// transaction's response.
func enqueue(ctx context.Context, s *Session, prefix, key, val string) (rev int64, head *api.KeyValue, resp *api.TxnResponse, err error) {
	c := s.Client()
	resp, err = c.Txn(ctx).
		If(client.Compare(client.CreateRevision(key), "=", 0)).
		Then(client.OpPut(key, val, client.WithLease(s.Lease())), client.OpGet(prefix, firstInQueue(prefix)...)).
		Else(client.OpGet(key), client.OpGet(prefix, firstInQueue(prefix)...)).
		Commit()
	if err != nil {
		return 0, nil, nil, err
	}
	if len(resp.Responses) != 2 || resp.Responses[1].Range == nil {
		return 0, nil, nil, fmt.Errorf("concurrency: enqueue transaction returned %d responses, want a put or get and a get", len(resp.Responses))
	}
	rev = resp.Header.Revision
	if !resp.Succeeded {
		mine := resp.Responses[0].Range
		if mine == nil || len(mine.Kvs) == 0 {
			return 0, nil, nil, fmt.Errorf("concurrency: key %q exists but could not be read", key)
		}
		rev = mine.Kvs[0].CreateRevision
	}
	if kvs := resp.Responses[1].Range.Kvs; len(kvs) > 0 {
		head = &kvs[0]
	}
	return rev, head, resp, nil
}

// waitDeletes waits until no key under prefix has a create revision at
// most maxCreateRev: everyone queued ahead has left. It waits for one key
// at a time, the last one ahead, so that a release wakes only the next
// waiter. It returns the header of the read that found the way clear
// (nil if no read was needed).
func waitDeletes(ctx context.Context, c *client.Client, prefix string, maxCreateRev int64) (*api.ResponseHeader, error) {
	if maxCreateRev < 1 {
		// Nothing is created before revision 1; and a zero bound would
		// mean "no bound" to the server.
		return nil, nil
	}
	for {
		resp, err := c.Get(ctx, prefix, lastBefore(prefix, maxCreateRev)...)
		if err != nil {
			return nil, err
		}
		if len(resp.Kvs) == 0 {
			return &resp.Header, nil
		}
		if err := waitDelete(ctx, c, string(resp.Kvs[0].Key), resp.Header.Revision); err != nil {
			return nil, err
		}
	}
}

// waitDelete waits for key, which existed at revision rev, to be
// deleted. A watch canceled because rev was compacted meanwhile returns
// nil: the caller reads the queue again.
func waitDelete(ctx context.Context, c *client.Client, key string, rev int64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for resp := range c.Watch(ctx, key, client.WithRev(rev+1), client.WithFilterPut()) {
		for _, ev := range resp.Events {
			if ev.Type == api.EventDelete {
				return nil
			}
		}
		if resp.Canceled {
			if err := resp.Err(); err != nil && !errors.Is(err, api.ErrCompacted) {
				return fmt.Errorf("concurrency: watching %q: %w", key, err)
			}
			return nil
		}
	}
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return fmt.Errorf("concurrency: the watch on %q ended", key)
}

// untilSessionEnds returns a context that also ends, with cause
// ErrSessionExpired, when the session's keep-alive stops: a waiter whose
// lease is gone has lost its place in the queue.
func untilSessionEnds(ctx context.Context, s *Session) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-s.Done():
			cancel(ErrSessionExpired)
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(context.Canceled) }
}

// stillQueued checks that key still exists with create revision rev
// after a wait: the session's lease may have expired while it waited.
func stillQueued(ctx context.Context, c *client.Client, key string, rev int64) error {
	resp, err := c.Get(ctx, key)
	if err != nil {
		return err
	}
	if len(resp.Kvs) == 0 || resp.Kvs[0].CreateRevision != rev {
		return ErrSessionExpired
	}
	return nil
}

// dequeue deletes key if it is still the one created at rev (not a newer
// key of the same session), with a context that outlives the caller's.
func dequeue(ctx context.Context, c *client.Client, key string, rev int64) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_, err := c.Txn(ctx).If(client.Compare(client.CreateRevision(key), "=", rev)).Then(client.OpDelete(key)).Commit()
	return err
}
