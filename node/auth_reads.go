package node

import (
	"context"
	"fmt"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/auth"
)

// The reads of the watch and lease services, checked on the serving
// member after a ReadIndex wait.

// refuseWatch checks a watch creation: the user must be allowed to read
// the whole watched range. A refused creation is answered as etcd does,
// with a created-and-canceled response giving the reason; it reports
// whether it refused.
func (s *Server) refuseWatch(ctx context.Context, w *watchSession, c *api.WatchCreateRequest) bool {
	err := s.identityRefusal() // peer_confirm.go
	if err == nil {
		err = s.authorizeRead(ctx, "Watch", c.Key, c.RangeEnd)
	}
	if err == nil {
		return false
	}
	apiErr := toAPIError(err)
	resp := &api.WatchResponse{Header: s.header(), WatchID: refusedWatchID, Created: true, Canceled: true, CancelReason: apiErr.Error(), CancelCode: api.CodeOf(apiErr)}
	if err := w.send(resp); err != nil {
		w.end(err)
	}
	return true
}

// authorizeLeaseTimeToLive: a user may ask about a lease; asking for its
// keys needs read on every one of them.
func (s *Server) authorizeLeaseTimeToLive(ctx context.Context, req *api.LeaseTimeToLiveRequest) error {
	on, err := s.authOnCurrent(ctx)
	if err != nil || !on {
		return err
	}
	if !req.Keys {
		return s.authorizeUser(ctx, "LeaseTimeToLive")
	}
	return s.authorize(ctx, "LeaseTimeToLive", nil, func(_ *auth.State, id auth.Identity) error {
		return s.replica.AuthorizeLeaseKeys(req.ID, &id)
	})
}

// authorizeKeepAlive checks one renewal: keeping a lease alive keeps its
// keys alive, so (as for revoking it) the user must be root or allowed to
// write every key the lease holds. Checked at every renewal, so a
// permission revoked or a user deleted stops the renewals at once.
func (s *Server) authorizeKeepAlive(ctx context.Context, id int64) error {
	what := func() string { return fmt.Sprintf("lease %x", id) }
	return s.authorize(ctx, "LeaseKeepAlive", what, func(_ *auth.State, caller auth.Identity) error {
		return s.replica.AuthorizeKeepAlive(id, &caller) // the user as of now
	})
}

// leaseFilter decides which leases LeaseLeases lists to its caller: with
// auth on, those whose keys the caller may all read (every lease for the
// root role; a lease with no key for any user).
func (s *Server) leaseFilter(ctx context.Context) (func(keys []string) bool, error) {
	all := func([]string) bool { return true }
	on, err := s.authOnCurrent(ctx)
	if err != nil {
		return nil, err
	}
	if !on {
		return all, nil
	}
	a := s.replica.State.Auth()
	var caller auth.Identity
	if err := s.authorize(ctx, "LeaseLeases", nil, func(a *auth.State, id auth.Identity) error {
		caller = id
		return a.CheckUser(id)
	}); err != nil {
		return nil, err
	}
	if a.CheckAdmin(caller) == nil {
		return all, nil
	}
	return func(keys []string) bool {
		bs := make([][]byte, len(keys))
		for i, k := range keys {
			bs[i] = []byte(k)
		}
		return a.CheckKeys(caller, api.PermRead, bs) == nil
	}, nil
}
