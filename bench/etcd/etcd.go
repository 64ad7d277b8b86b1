// Package etcd lets the benchmark drive any store that speaks etcd's v3
// gRPC API — etcd itself, for side-by-side comparisons, or cairn's own
// etcd face — with the same workloads as cairn, through etcd's own Go
// client, go.etcd.io/etcd/client/v3. What is measured is what an etcd
// application sees, with no second implementation of etcd's protocol in
// the way.
package etcd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/cairndb/cairn/bench"
)

// Target is the bench.Target for a cluster serving etcd's v3 gRPC API on
// plain-text client URLs. Each Conn is one clientv3.Client, which keeps
// one gRPC connection to one member: the first endpoint it is given (a
// client given every endpoint would spread its calls over all of them,
// and the benchmark decides the spread itself, per connection).
type Target struct {
	// DialTimeout bounds connecting to a member, and Leader's question
	// to each member (default 5s).
	DialTimeout time.Duration
}

// Name implements bench.Target.
func (Target) Name() string { return "etcd" }

// Describe implements bench.Target.
func (Target) Describe() string {
	return "etcd's gRPC API via go.etcd.io/etcd/client/v3 (grpc-go), one clientv3.Client per connection, each to one member"
}

func (t Target) dialTimeout() time.Duration {
	if t.DialTimeout > 0 {
		return t.DialTimeout
	}
	return 5 * time.Second
}

// newClient returns a client of the one member at endpoint (checked
// with checkEndpoint), connected within DialTimeout: an endpoint that
// does not answer fails here rather than leaving every call waiting for
// it, as clientv3's calls do (they wait for a connection until their
// context ends).
func (t Target) newClient(endpoint string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:   []string{endpoint},
		DialTimeout: t.dialTimeout(),
		// Deprecated for grpc.NewClient, but clientv3 dials with
		// grpc.DialContext, which honours it (clientv3.Config says so).
		DialOptions: []grpc.DialOption{grpc.WithBlock()},
		// The benchmark counts and reports failed calls itself; the
		// client's log of its retries would only repeat them on stderr.
		Logger: zap.NewNop(),
	})
}

// checkEndpoint accepts host:port and http://host:port.
func checkEndpoint(ep string) error {
	hp, ok := strings.CutPrefix(ep, "http://")
	if !ok && strings.Contains(ep, "://") {
		return fmt.Errorf("etcd: endpoint %q: only plain-text http:// endpoints are supported", ep)
	}
	if host, port, err := net.SplitHostPort(hp); err != nil || host == "" || port == "" {
		return fmt.Errorf("etcd: endpoint %q is not host:port or http://host:port", ep)
	}
	return nil
}

// Dial implements bench.Target: the connection talks to endpoints[0].
func (t Target) Dial(endpoints []string) (bench.Conn, error) {
	if len(endpoints) == 0 {
		return nil, errors.New("etcd: no endpoints given")
	}
	if err := checkEndpoint(endpoints[0]); err != nil {
		return nil, err
	}
	c, err := t.newClient(endpoints[0])
	if err != nil {
		return nil, fmt.Errorf("etcd: connecting to %s: %w", endpoints[0], err)
	}
	return conn{c}, nil
}

// Leader implements bench.Target: it asks every member for its status
// (Maintenance.Status, each within DialTimeout) and returns the endpoint
// of the member that the members name as leader.
func (t Target) Leader(ctx context.Context, endpoints []string) (string, error) {
	if len(endpoints) == 0 {
		return "", errors.New("etcd: no endpoints given")
	}
	for _, ep := range endpoints {
		if err := checkEndpoint(ep); err != nil {
			return "", err
		}
	}
	type status struct {
		member, leader uint64
		err            error
	}
	sts := make([]status, len(endpoints))
	var wg sync.WaitGroup
	for i, ep := range endpoints {
		wg.Go(func() {
			st := &sts[i]
			c, err := t.newClient(ep)
			if err != nil {
				st.err = fmt.Errorf("etcd: status of %s: connecting: %w", ep, err)
				return
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(ctx, t.dialTimeout())
			defer cancel()
			resp, err := c.Status(ctx, ep)
			if err != nil {
				st.err = fmt.Errorf("etcd: status of %s: %w", ep, err)
				return
			}
			st.member, st.leader = resp.Header.MemberId, resp.Leader
		})
	}
	wg.Wait()
	var leader uint64
	var errs []error
	for _, st := range sts {
		if st.err != nil {
			errs = append(errs, st.err)
		} else if st.leader != 0 {
			leader = st.leader
		}
	}
	for i, st := range sts {
		if st.err == nil && leader != 0 && st.member == leader {
			return endpoints[i], nil
		}
	}
	if leader != 0 {
		errs = append(errs, fmt.Errorf("the leader, member %x, is not among them", leader))
	}
	return "", fmt.Errorf("etcd: no member of %v is a known leader: %w", endpoints, errors.Join(errs...))
}

// conn is one clientv3.Client, talking to one member.
type conn struct{ c *clientv3.Client }

func (c conn) Put(ctx context.Context, key, val []byte) (int64, error) {
	resp, err := c.c.Put(ctx, string(key), string(val))
	if err != nil {
		return 0, err
	}
	return resp.Header.Revision, nil
}

func (c conn) Get(ctx context.Context, key []byte, o bench.GetOptions) (int, error) {
	var opts []clientv3.OpOption
	if o.Prefix {
		opts = append(opts, clientv3.WithPrefix())
	}
	if o.Serializable {
		opts = append(opts, clientv3.WithSerializable())
	}
	resp, err := c.c.Get(ctx, string(key), opts...)
	if err != nil {
		return 0, err
	}
	return len(resp.Kvs), nil
}

func (c conn) ModRevisions(ctx context.Context, prefix []byte) (map[string]int64, error) {
	resp, err := c.c.Get(ctx, string(prefix), clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out[string(kv.Key)] = kv.ModRevision
	}
	return out, nil
}

func (c conn) CAS(ctx context.Context, key, val []byte, modRev int64) (bench.CASResult, error) {
	k := string(key)
	resp, err := c.c.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(k), "=", modRev)).
		Then(clientv3.OpPut(k, string(val))).
		Else(clientv3.OpGet(k)).
		Commit()
	if err != nil {
		return bench.CASResult{}, err
	}
	if resp.Succeeded {
		return bench.CASResult{Swapped: true, ModRevision: resp.Header.Revision}, nil
	}
	if len(resp.Responses) != 1 {
		return bench.CASResult{}, fmt.Errorf("etcd: failed compare-and-swap of %q: %d responses to its one get", key, len(resp.Responses))
	}
	var cur int64
	if r := resp.Responses[0].GetResponseRange(); r != nil && len(r.Kvs) > 0 {
		cur = r.Kvs[0].ModRevision
	}
	return bench.CASResult{ModRevision: cur}, nil
}

func (c conn) Watch(ctx context.Context, prefix []byte, deliver func([]byte)) error {
	wc := c.c.Watch(ctx, string(prefix), clientv3.WithPrefix(), clientv3.WithCreatedNotify())
	first, ok := <-wc
	if !ok {
		return fmt.Errorf("etcd: watch of %q ended before it started: %w", prefix, context.Cause(ctx))
	}
	if err := first.Err(); err != nil {
		return fmt.Errorf("etcd: watch of %q: %w", prefix, err)
	}
	if !first.Created {
		return fmt.Errorf("etcd: watch of %q: the first answer does not confirm its creation", prefix)
	}
	go func() {
		for resp := range wc {
			for _, ev := range resp.Events {
				if ev.Type == clientv3.EventTypePut {
					deliver(ev.Kv.Value)
				}
			}
		}
	}()
	return nil
}

func (c conn) Grant(ctx context.Context, ttl int64) (int64, error) {
	resp, err := c.c.Grant(ctx, ttl)
	if err != nil {
		return 0, err
	}
	return int64(resp.ID), nil
}

// KeepAliveOnce renews the lease over a keep-alive stream of its own
// (clientv3's KeepAliveOnce), which fails for a lease that expired or
// was revoked.
func (c conn) KeepAliveOnce(ctx context.Context, id int64) error {
	_, err := c.c.KeepAliveOnce(ctx, clientv3.LeaseID(id))
	return err
}

func (c conn) Close() error { return c.c.Close() }
