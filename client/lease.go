package client

import (
	"context"
	"errors"
	"time"

	"github.com/cairndb/cairn/api"
)

// Grant creates a lease of ttl seconds.
func (c *Client) Grant(ctx context.Context, ttl int64) (*api.LeaseGrantResponse, error) {
	resp := &api.LeaseGrantResponse{}
	return resp, c.call(ctx, api.MethodLeaseGrant, &api.LeaseGrantRequest{TTL: ttl}, resp)
}

// Revoke ends a lease at once, deleting its keys.
func (c *Client) Revoke(ctx context.Context, id int64) (*api.LeaseRevokeResponse, error) {
	resp := &api.LeaseRevokeResponse{}
	return resp, c.call(ctx, api.MethodLeaseRevoke, &api.LeaseRevokeRequest{ID: id}, resp)
}

// TimeToLive reports a lease's remaining and granted TTL (TTL -1: no such
// lease), and its keys when withKeys.
func (c *Client) TimeToLive(ctx context.Context, id int64, withKeys bool) (*api.LeaseTimeToLiveResponse, error) {
	resp := &api.LeaseTimeToLiveResponse{}
	return resp, c.callRead(ctx, api.MethodLeaseTimeToLive, &api.LeaseTimeToLiveRequest{ID: id, Keys: withKeys}, resp)
}

// Leases lists every lease.
func (c *Client) Leases(ctx context.Context) (*api.LeaseLeasesResponse, error) {
	resp := &api.LeaseLeasesResponse{}
	return resp, c.callRead(ctx, api.MethodLeaseLeases, &api.LeaseLeasesRequest{}, resp)
}

// ErrLeaseExpired is returned by KeepAliveOnce, and ends a KeepAlive
// channel, when the lease no longer exists.
var ErrLeaseExpired = errors.New("client: lease expired or revoked")

// KeepAliveOnce renews a lease once.
func (c *Client) KeepAliveOnce(ctx context.Context, id int64) (*api.LeaseKeepAliveResponse, error) {
	for {
		resp, err := c.keepAliveRound(ctx, id)
		if err == nil || !retryElsewhere(err) || ctx.Err() != nil {
			return resp, err
		}
		if !sleepCtx(ctx, 50*time.Millisecond) {
			return nil, ctx.Err()
		}
	}
}

// keepAliveRound renews a lease once over a stream of its own, as the
// client's user.
func (c *Client) keepAliveRound(ctx context.Context, id int64) (*api.LeaseKeepAliveResponse, error) {
	resp := &api.LeaseKeepAliveResponse{}
	err := c.authed(ctx, func(ctx context.Context) error {
		st, err := openStream(ctx, c.rpc, api.MethodLeaseKeepAlive, &api.LeaseKeepAliveRequest{ID: id})
		if err != nil {
			c.rotateOnNotLeader(err)
			return err
		}
		defer st.Close()
		b, err := st.Recv()
		if err != nil {
			c.rotateOnNotLeader(err)
			return toError(err)
		}
		return api.Unmarshal(b, resp)
	})
	if err != nil {
		return nil, err
	}
	if resp.TTL <= 0 {
		return resp, ErrLeaseExpired
	}
	return resp, nil
}

// rotateOnNotLeader moves the client to another member when one refused
// a leader-only stream.
func (c *Client) rotateOnNotLeader(err error) {
	if retryElsewhere(toError(err)) {
		c.rotateMember()
	}
}

// rotateMember pins the next member of the endpoints, in turn (nothing
// with one endpoint).
func (c *Client) rotateMember() {
	eps := c.rpc.Endpoints()
	if len(eps) > 1 {
		c.mu.Lock()
		c.rot = (c.rot + 1) % len(eps)
		next := eps[c.rot]
		c.mu.Unlock()
		c.rpc.Pin(next)
	}
}

// KeepAlive keeps a lease alive until ctx ends, renewing it at a third of
// its TTL, and reports each renewal on the returned channel (dropping
// reports the caller does not read in time). The channel closes when ctx
// ends or the lease is gone. It returns once the first renewal is on the
// channel, or with the error that kept it from coming: ErrLeaseExpired
// for a lease that does not exist, an auth error, ctx's error.
//
// Every lease a client keeps alive is renewed over one LeaseKeepAlive
// stream, to the leader (lease_keepalive.go).
func (c *Client) KeepAlive(ctx context.Context, id int64) (<-chan *api.LeaseKeepAliveResponse, error) {
	k := c.keepAlives.add(c, id)
	select {
	case <-k.ready:
	case <-ctx.Done():
		c.keepAlives.remove(k)
		return nil, ctx.Err()
	}
	if k.err != nil {
		return nil, k.err
	}
	go func() {
		select {
		case <-ctx.Done():
			c.keepAlives.remove(k)
		case <-k.done:
		}
	}()
	return k.out, nil
}
