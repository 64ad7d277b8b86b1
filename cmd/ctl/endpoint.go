package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sync"
	"time"

	"github.com/cairndb/cairn/api"
)

// eachEndpoint runs fn for every endpoint at once, each with its own
// --command-timeout, and returns the results in endpoint order.
func eachEndpoint[T any](e *env, eps []string, fn func(ctx context.Context, ep string) (T, error)) ([]T, []error) {
	out := make([]T, len(eps))
	errs := make([]error, len(eps))
	var wg sync.WaitGroup
	for i, ep := range eps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := e.request()
			defer cancel()
			out[i], errs[i] = fn(ctx, ep)
		}()
	}
	wg.Wait()
	return out, errs
}

// endpointStatus is one endpoint's status, as json prints it.
type endpointStatus struct {
	Endpoint string
	Status   *api.StatusResponse
}

// endpointHash is one endpoint's key-value hash, as json prints it.
type endpointHash struct {
	Endpoint string
	HashKV   *api.HashKVResponse
}

// endpointHealth is one endpoint's health, as json prints it.
type endpointHealth struct {
	Endpoint string `json:"endpoint"`
	Health   bool   `json:"health"`
	Took     string `json:"took"`
	Error    string `json:"error,omitempty"`
}

// failures prints a line on stderr for each endpoint that failed and
// returns an error counting them, or nil if none did.
func failures(e *env, what string, eps []string, errs []error) error {
	n := 0
	for i, err := range errs {
		if err != nil {
			n++
			fmt.Fprintf(e.stderr, "Failed to %s %s (%v)\n", what, eps[i], err)
		}
	}
	if n > 0 {
		return fmt.Errorf("failed to %s %d of %d endpoints", what, n, len(eps))
	}
	return nil
}

func endpointStatusCommand() command {
	return command{name: "endpoint status", minArgs: 0, maxArgs: 0,
		summary: "Show each endpoint's member ID, version, DB size, leadership and raft progress",
		setup: func(fs *flag.FlagSet) action {
			var cluster bool
			fs.BoolVar(&cluster, "cluster", false, "visit every member's client URLs, from the member list")
			return func(e *env, _ []string) error {
				eps, err := e.endpointsOrCluster(cluster)
				if err != nil {
					return err
				}
				c, err := e.client()
				if err != nil {
					return err
				}
				resps, errs := eachEndpoint(e, eps, func(ctx context.Context, ep string) (*api.StatusResponse, error) {
					return c.Status(ctx, ep)
				})
				var ok []endpointStatus
				for i, r := range resps {
					if errs[i] == nil {
						ok = append(ok, endpointStatus{eps[i], r})
					}
				}
				e.p.endpointStatus(ok)
				return failures(e, "get the status of endpoint", eps, errs)
			}
		}}
}

// healthKey is the key a health check reads; it need not exist.
const healthKey = "health"

func endpointHealthCommand() command {
	return command{name: "endpoint health", minArgs: 0, maxArgs: 0,
		summary: "Check each endpoint serves a linearizable read within --command-timeout and has no alarm raised",
		setup: func(fs *flag.FlagSet) action {
			var cluster bool
			fs.BoolVar(&cluster, "cluster", false, "visit every member's client URLs, from the member list")
			return func(e *env, _ []string) error {
				eps, err := e.endpointsOrCluster(cluster)
				if err != nil {
					return err
				}
				hs, _ := eachEndpoint(e, eps, func(ctx context.Context, ep string) (endpointHealth, error) {
					return checkHealth(ctx, e, ep), nil
				})
				e.p.endpointHealth(hs, e.stderr)
				for _, h := range hs {
					if !h.Health {
						return errors.New("unhealthy cluster")
					}
				}
				return nil
			}
		}}
}

// checkHealth reads healthKey linearizably through ep alone (a missing
// key is a success) and checks no alarm is raised.
func checkHealth(ctx context.Context, e *env, ep string) endpointHealth {
	h := endpointHealth{Endpoint: ep}
	c, err := e.newClient([]string{ep})
	if err != nil {
		h.Error = err.Error()
		return h
	}
	defer c.Close()
	start := time.Now()
	_, err = c.Get(ctx, healthKey)
	h.Took = time.Since(start).String()
	if err != nil && !errors.Is(err, api.ErrKeyNotFound) && !errors.Is(err, api.ErrPermissionDenied) {
		h.Error = err.Error()
		return h
	}
	alarms, err := c.AlarmList(ctx)
	if err != nil {
		h.Error = fmt.Sprintf("listing alarms: %v", err)
		return h
	}
	if len(alarms.Alarms) > 0 {
		h.Error = "Active Alarm(s): " // each name followed by a space, as etcdctl's
		for _, a := range alarms.Alarms {
			h.Error += a.Alarm.String() + " "
		}
		return h
	}
	h.Health = true
	return h
}

func endpointHashKVCommand() command {
	return command{name: "endpoint hashkv", minArgs: 0, maxArgs: 0,
		summary: "Show the hash of each endpoint's key-value history (members at the same revision must agree)",
		setup: func(fs *flag.FlagSet) action {
			var cluster bool
			var rev int64
			fs.BoolVar(&cluster, "cluster", false, "visit every member's client URLs, from the member list")
			fs.Int64Var(&rev, "rev", 0, "hash up to `revision` (0: the current one)")
			return func(e *env, _ []string) error {
				if rev < 0 {
					return badUsage("--rev %d is negative", rev)
				}
				eps, err := e.endpointsOrCluster(cluster)
				if err != nil {
					return err
				}
				c, err := e.client()
				if err != nil {
					return err
				}
				resps, errs := eachEndpoint(e, eps, func(ctx context.Context, ep string) (*api.HashKVResponse, error) {
					return c.HashKV(ctx, ep, rev)
				})
				var ok []endpointHash
				for i, r := range resps {
					if errs[i] == nil {
						ok = append(ok, endpointHash{eps[i], r})
					}
				}
				e.p.endpointHashKV(ok)
				return failures(e, "get the hash of endpoint", eps, errs)
			}
		}}
}
