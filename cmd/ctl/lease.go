package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/client"
)

func leaseGrantCommand() command {
	return command{name: "lease grant", args: "TTL", minArgs: 1, maxArgs: 1,
		summary: "Create a lease of TTL seconds; prints its ID",
		run: func(e *env, args []string) error {
			ttl, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || ttl <= 0 {
				return badUsage("TTL %q is not a positive number of seconds", args[0])
			}
			return call(e, "granting a lease",
				func(ctx context.Context, c *client.Client) (*api.LeaseGrantResponse, error) { return c.Grant(ctx, ttl) },
				e.p.leaseGrant)
		}}
}

// leaseIDArg parses the ID argument of a lease command as a usage error.
func leaseIDArg(s string) (int64, error) {
	id, err := parseLeaseID(s)
	if err != nil {
		return 0, badUsage("%v", err)
	}
	return id, nil
}

func leaseRevokeCommand() command {
	return command{name: "lease revoke", args: "ID", minArgs: 1, maxArgs: 1,
		summary: "Revoke lease ID (hex), deleting the keys attached to it",
		run: func(e *env, args []string) error {
			id, err := leaseIDArg(args[0])
			if err != nil {
				return err
			}
			return call(e, fmt.Sprintf("revoking lease %016x", id),
				func(ctx context.Context, c *client.Client) (*api.LeaseRevokeResponse, error) {
					return c.Revoke(ctx, id)
				},
				func(resp *api.LeaseRevokeResponse) { e.p.leaseRevoke(id, resp) })
		}}
}

func leaseTimeToLiveCommand() command {
	return command{name: "lease timetolive", args: "ID", minArgs: 1, maxArgs: 1,
		summary: "Show lease ID's granted and remaining TTL",
		setup: func(fs *flag.FlagSet) action {
			var keys bool
			fs.BoolVar(&keys, "keys", false, "also list the keys attached to the lease")
			return func(e *env, args []string) error {
				id, err := leaseIDArg(args[0])
				if err != nil {
					return err
				}
				return call(e, fmt.Sprintf("lease %016x", id),
					func(ctx context.Context, c *client.Client) (*api.LeaseTimeToLiveResponse, error) {
						return c.TimeToLive(ctx, id, keys)
					},
					func(resp *api.LeaseTimeToLiveResponse) {
						if resp.ID == 0 {
							resp.ID = id
						}
						e.p.timeToLive(resp, keys)
					})
			}
		}}
}

func leaseListCommand() command {
	return command{name: "lease list", minArgs: 0, maxArgs: 0,
		summary: "List the live leases",
		run: func(e *env, _ []string) error {
			return call(e, "listing leases",
				func(ctx context.Context, c *client.Client) (*api.LeaseLeasesResponse, error) { return c.Leases(ctx) },
				e.p.leases)
		}}
}

func leaseKeepAliveCommand() command {
	return command{name: "lease keep-alive", args: "ID", minArgs: 1, maxArgs: 1,
		summary: "Keep lease ID alive until interrupted, printing each renewal",
		setup: func(fs *flag.FlagSet) action {
			var once bool
			fs.BoolVar(&once, "once", false, "renew once and exit")
			return func(e *env, args []string) error {
				id, err := leaseIDArg(args[0])
				if err != nil {
					return err
				}
				c, err := e.client()
				if err != nil {
					return err
				}
				if once {
					ctx, cancel := e.request()
					defer cancel()
					resp, err := c.KeepAliveOnce(ctx, id)
					if err != nil {
						return leaseLost(id, err)
					}
					e.p.keepAlive(resp)
					return nil
				}
				ch, err := c.KeepAlive(e.ctx, id)
				if err != nil {
					return leaseLost(id, err)
				}
				for resp := range ch {
					e.p.keepAlive(resp)
				}
				if e.ctx.Err() != nil {
					return nil // interrupted
				}
				// The channel closed: the lease is gone, or the member
				// refused to renew it. One more renewal says which.
				ctx, cancel := e.request()
				defer cancel()
				if _, err := c.KeepAliveOnce(ctx, id); err != nil {
					return leaseLost(id, err)
				}
				return fmt.Errorf("lease %016x: keep-alive ended", id)
			}
		}}
}

// leaseLost words a keep-alive failure.
func leaseLost(id int64, err error) error {
	if errors.Is(err, client.ErrLeaseExpired) {
		return fmt.Errorf("lease %016x expired or revoked", id)
	}
	return fmt.Errorf("keeping lease %016x alive: %w", id, err)
}
