package concurrency

import (
	"context"
	"fmt"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/client"
)

// Mutex is a distributed lock: among all sessions locking the same
// prefix, one holds it at a time. A session queues with one key under
// the prefix, so one session can wait for a given lock only once: give
// concurrent lockers their own sessions. A Mutex is not safe for
// concurrent use; each locker uses its own.
type Mutex struct {
	s      *Session
	prefix string // the lock's name with a trailing "/"
	key    string // this session's key under prefix, "" when not queued
	rev    int64  // the key's create revision
	hdr    *api.ResponseHeader
}

// NewMutex returns the lock named prefix, taken through session s. Its
// keys live under prefix + "/".
func NewMutex(s *Session, prefix string) *Mutex {
	return &Mutex{s: s, prefix: prefix + "/"}
}

// Lock waits until the lock is held by this session, ctx ends, or the
// session ends (ErrSessionExpired). It queues a key under the prefix
// with the session's lease, then waits for every key queued before it
// to be deleted. When Lock fails it leaves the queue.
func (m *Mutex) Lock(ctx context.Context) error {
	head, err := m.enqueue(ctx)
	if err != nil {
		return err
	}
	if head == nil || head.CreateRevision == m.rev {
		return nil
	}
	wctx, cancel := untilSessionEnds(ctx, m.s)
	defer cancel()
	hdr, err := waitDeletes(wctx, m.s.Client(), m.prefix, m.rev-1)
	if err == nil {
		err = stillQueued(wctx, m.s.Client(), m.key, m.rev)
	}
	if err != nil {
		if wctx.Err() != nil {
			err = context.Cause(wctx)
		}
		_ = m.leave(ctx)
		return fmt.Errorf("concurrency: locking %q: %w", m.name(), err)
	}
	if hdr != nil {
		m.hdr = hdr
	}
	return nil
}

// TryLock takes the lock if nobody holds it, and otherwise fails at once
// with ErrLocked (leaving no key behind).
func (m *Mutex) TryLock(ctx context.Context) error {
	head, err := m.enqueue(ctx)
	if err != nil {
		return err
	}
	if head == nil || head.CreateRevision == m.rev {
		return nil
	}
	if err := m.leave(ctx); err != nil {
		return fmt.Errorf("concurrency: leaving the queue of %q: %w", m.name(), err)
	}
	return ErrLocked
}

// enqueue puts the session's key in the lock's queue and returns the
// queue's head.
func (m *Mutex) enqueue(ctx context.Context) (*api.KeyValue, error) {
	key := queueKey(m.prefix, m.s.Lease())
	rev, head, resp, err := enqueue(ctx, m.s, m.prefix, key, "")
	if err != nil {
		return nil, fmt.Errorf("concurrency: queueing for %q: %w", m.name(), err)
	}
	m.key, m.rev, m.hdr = key, rev, &resp.Header
	return head, nil
}

// leave deletes the session's key and forgets it.
func (m *Mutex) leave(ctx context.Context) error {
	err := dequeue(ctx, m.s.Client(), m.key, m.rev)
	m.key, m.rev = "", 0
	return err
}

// Unlock releases the lock (or leaves its queue), deleting the session's
// key; the next waiter then takes the lock.
func (m *Mutex) Unlock(ctx context.Context) error {
	if m.key == "" {
		return fmt.Errorf("concurrency: unlocking %q, which this session does not hold", m.name())
	}
	if _, err := m.s.Client().Delete(ctx, m.key); err != nil {
		return fmt.Errorf("concurrency: unlocking %q: %w", m.name(), err)
	}
	m.key, m.rev = "", 0
	return nil
}

// IsOwner is a transaction condition that holds only while this session
// holds the lock: its key still exists with the create revision it got.
// Put it in the If of every write the lock protects (fencing), so that a
// holder that lost the lock without noticing (a pause longer than the
// TTL) cannot write. When the session is not queued the condition never
// holds.
func (m *Mutex) IsOwner() client.Cmp {
	if m.key == "" {
		return client.Compare(client.CreateRevision(m.prefix), "=", -1) // no key has create revision -1
	}
	return client.Compare(client.CreateRevision(m.key), "=", m.rev)
}

// Key is the session's key in the lock's queue ("" when not queued).
func (m *Mutex) Key() string { return m.key }

// Rev is the create revision of the session's key: once the lock is
// held, a fencing token that is larger for every later holder.
func (m *Mutex) Rev() int64 { return m.rev }

// Header is the header of the response that granted the lock.
func (m *Mutex) Header() *api.ResponseHeader { return m.hdr }

// name is the lock's name for error messages.
func (m *Mutex) name() string { return m.prefix[:len(m.prefix)-1] }
