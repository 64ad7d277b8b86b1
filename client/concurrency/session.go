package concurrency

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/client"
)

// DefaultTTL is a session's lease TTL in seconds when WithTTL is not
// given.
const DefaultTTL = 60

// Session is a lease kept alive in the background for as long as the
// session is open. Keys written with the session's lease (lock and
// election keys) vanish when the session ends: closed, or lost because
// its process stopped renewing the lease.
type Session struct {
	client *client.Client
	opts   sessionOptions
	id     int64

	cancel context.CancelFunc // stops the keep-alive
	donec  chan struct{}      // closed when the keep-alive has stopped
}

// sessionOptions are the settings SessionOptions change.
type sessionOptions struct {
	ttl   int64
	lease int64
	ctx   context.Context
}

// SessionOption changes how NewSession makes a session.
type SessionOption func(*sessionOptions)

// WithTTL sets the session's lease TTL in seconds (the server may raise
// small values to its minimum). Values below 1 are ignored.
func WithTTL(ttl int) SessionOption {
	return func(o *sessionOptions) {
		if ttl > 0 {
			o.ttl = int64(ttl)
		}
	}
}

// WithLease makes the session use an existing lease instead of granting
// a new one.
func WithLease(id int64) SessionOption {
	return func(o *sessionOptions) { o.lease = id }
}

// WithContext sets the context the session lives in: when it ends, the
// session stops renewing its lease (which then expires) and Done closes.
func WithContext(ctx context.Context) SessionOption {
	return func(o *sessionOptions) { o.ctx = ctx }
}

// NewSession grants a lease (unless WithLease names one) and keeps it
// alive until the session is closed or orphaned, its context ends, or
// the lease cannot be renewed in time.
func NewSession(c *client.Client, opts ...SessionOption) (*Session, error) {
	o := sessionOptions{ttl: DefaultTTL, ctx: context.Background()}
	for _, opt := range opts {
		opt(&o)
	}
	id := o.lease
	if id == 0 {
		resp, err := c.Grant(o.ctx, o.ttl)
		if err != nil {
			return nil, fmt.Errorf("concurrency: granting the session's lease: %w", err)
		}
		id, o.ttl = resp.ID, resp.TTL
	}
	ctx, cancel := context.WithCancel(o.ctx)
	renewals, err := c.KeepAlive(ctx, id)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("concurrency: keeping lease %016x alive: %w", id, err)
	}
	if first, ok := <-renewals; ok && first.TTL > 0 {
		o.ttl = first.TTL // the TTL of a lease given WithLease
	}
	s := &Session{client: c, opts: o, id: id, cancel: cancel, donec: make(chan struct{})}
	go s.watchRenewals(ctx, renewals)
	return s, nil
}

// watchRenewals follows the keep-alive until it stops: the lease is gone,
// the session was orphaned or closed, or no renewal arrived for a whole
// TTL — then the lease may have expired on the server, and the session
// must not be trusted any more. It closes Done.
func (s *Session) watchRenewals(ctx context.Context, renewals <-chan *api.LeaseKeepAliveResponse) {
	defer close(s.donec)
	defer s.cancel()
	ttl := s.opts.ttl
	deadline := time.NewTimer(time.Duration(ttl) * time.Second)
	defer deadline.Stop()
	for {
		select {
		case resp, ok := <-renewals:
			if !ok {
				return
			}
			if resp.TTL > 0 {
				ttl = resp.TTL
			}
			deadline.Reset(time.Duration(ttl) * time.Second)
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// Client is the client the session was made with.
func (s *Session) Client() *client.Client { return s.client }

// Lease is the id of the session's lease.
func (s *Session) Lease() int64 { return s.id }

// TTL is the session's lease TTL in seconds, as the server granted it.
func (s *Session) TTL() int64 { return s.opts.ttl }

// Ctx is the context the session lives in (see WithContext).
func (s *Session) Ctx() context.Context { return s.opts.ctx }

// Done is closed when the session stops keeping its lease alive: after
// Close or Orphan, when its context ends, or when the lease is lost.
// Locks and leaderships taken through the session are no longer safe
// to rely on then.
func (s *Session) Done() <-chan struct{} { return s.donec }

// Orphan stops keeping the lease alive without revoking it: the lease,
// and the keys attached to it, live on until its TTL runs out.
func (s *Session) Orphan() {
	s.cancel()
	<-s.donec
}

// Close ends the session: it stops the keep-alive and revokes the lease,
// deleting at once every key attached to it (releasing its locks and
// leaderships). The revoke is bounded by the session's TTL; if it fails
// the lease expires on its own. Closing a session whose lease has
// already expired is not an error.
func (s *Session) Close() error {
	s.Orphan()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.opts.ctx), time.Duration(s.opts.ttl)*time.Second)
	defer cancel()
	if _, err := s.client.Revoke(ctx, s.id); err != nil && !errors.Is(err, api.ErrLeaseNotFound) {
		return fmt.Errorf("concurrency: revoking the session's lease %016x: %w", s.id, err)
	}
	return nil
}
