package concurrency

import (
	"context"
	"fmt"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/client"
)

// Election is a leader election among the sessions campaigning under one
// prefix. Campaigners queue as for a Mutex; the one whose key has the
// lowest create revision leads, and its key's value is the leader's
// proclamation (an address, a version, whatever followers need). An
// Election is not safe for concurrent use; each campaigner uses its own.
type Election struct {
	s      *Session
	prefix string // the election's name with a trailing "/"
	key    string // this session's key while campaigning or leading
	rev    int64  // the key's create revision
	hdr    *api.ResponseHeader
}

// NewElection returns the election named prefix, joined through session
// s. Its keys live under prefix + "/".
func NewElection(s *Session, prefix string) *Election {
	return &Election{s: s, prefix: prefix + "/"}
}

// Campaign puts value up for election and waits until this session
// leads, ctx ends, or the session ends (ErrSessionExpired). A session
// already campaigning in this election keeps its place in the queue and
// has its value replaced. When Campaign fails it leaves the queue.
func (e *Election) Campaign(ctx context.Context, value string) error {
	key := queueKey(e.prefix, e.s.Lease())
	rev, head, resp, err := enqueue(ctx, e.s, e.prefix, key, value)
	if err != nil {
		return fmt.Errorf("concurrency: campaigning in %q: %w", e.name(), err)
	}
	e.key, e.rev, e.hdr = key, rev, &resp.Header
	if !resp.Succeeded {
		mine := resp.Responses[0].Range.Kvs[0]
		if string(mine.Value) != value {
			if err := e.Proclaim(ctx, value); err != nil {
				_ = e.Resign(ctx)
				return err
			}
		}
	}
	if head != nil && head.CreateRevision == e.rev {
		return nil // first in the queue: leading already
	}
	wctx, cancel := untilSessionEnds(ctx, e.s)
	defer cancel()
	hdr, err := waitDeletes(wctx, e.s.Client(), e.prefix, e.rev-1)
	if err == nil {
		err = stillQueued(wctx, e.s.Client(), e.key, e.rev)
	}
	if err != nil {
		if wctx.Err() != nil {
			err = context.Cause(wctx)
		}
		_ = e.Resign(ctx)
		return fmt.Errorf("concurrency: campaigning in %q: %w", e.name(), err)
	}
	if hdr != nil {
		e.hdr = hdr
	}
	return nil
}

// Proclaim changes the leader's value without giving up leadership. It
// fails with ErrElectionNotLeader unless this session leads (its key
// still exists with the create revision it campaigned with).
func (e *Election) Proclaim(ctx context.Context, value string) error {
	if e.key == "" {
		return ErrElectionNotLeader
	}
	resp, err := e.s.Client().Txn(ctx).
		If(client.Compare(client.CreateRevision(e.key), "=", e.rev)).
		Then(client.OpPut(e.key, value, client.WithLease(e.s.Lease()))).
		Commit()
	if err != nil {
		return fmt.Errorf("concurrency: proclaiming in %q: %w", e.name(), err)
	}
	if !resp.Succeeded {
		e.key, e.rev = "", 0
		return ErrElectionNotLeader
	}
	e.hdr = &resp.Header
	return nil
}

// Resign gives up leadership (or the place in the queue): it deletes the
// session's key, and the next campaigner leads. Resigning when not
// campaigning does nothing.
func (e *Election) Resign(ctx context.Context) error {
	if e.key == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	resp, err := e.s.Client().Txn(ctx).
		If(client.Compare(client.CreateRevision(e.key), "=", e.rev)).
		Then(client.OpDelete(e.key)).
		Commit()
	if err != nil {
		return fmt.Errorf("concurrency: resigning from %q: %w", e.name(), err)
	}
	e.key, e.rev, e.hdr = "", 0, &resp.Header
	return nil
}

// Leader reads the current leader's key-value: its key and proclaimed
// value. It fails with ErrElectionNoLeader when nobody campaigns.
func (e *Election) Leader(ctx context.Context) (*api.KeyValue, error) {
	resp, err := e.s.Client().Get(ctx, e.prefix, firstInQueue(e.prefix)...)
	if err != nil {
		return nil, fmt.Errorf("concurrency: reading the leader of %q: %w", e.name(), err)
	}
	if len(resp.Kvs) == 0 {
		return nil, ErrElectionNoLeader
	}
	return &resp.Kvs[0], nil
}

// Key is the session's key in the election ("" when not campaigning).
func (e *Election) Key() string { return e.key }

// Rev is the create revision of the session's key: it orders the
// campaigners, and, once leading, identifies this term of leadership.
func (e *Election) Rev() int64 { return e.rev }

// Header is the header of the last response that changed this
// session's standing (won leadership, proclaimed, resigned).
func (e *Election) Header() *api.ResponseHeader { return e.hdr }

// name is the election's name for error messages.
func (e *Election) name() string { return e.prefix[:len(e.prefix)-1] }
