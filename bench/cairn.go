package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/client"
)

// Cairn is the Target for a cairn cluster, driven through package client
// (cairn's binary RPC). Each Conn is one client.Client with one
// connection per member.
type Cairn struct {
	// DialTimeout bounds connecting to a member (default 5s).
	DialTimeout time.Duration
}

// Name implements Target.
func (Cairn) Name() string { return "cairn" }

// Describe implements Target.
func (Cairn) Describe() string {
	return "cairn via its Go client (package client, binary RPC over TCP)"
}

// Dial implements Target.
func (t Cairn) Dial(endpoints []string) (Conn, error) {
	c, err := client.New(client.Config{Endpoints: endpoints, ConnsPerEndpoint: 1, DialTimeout: t.DialTimeout})
	if err != nil {
		return nil, fmt.Errorf("bench: cairn client for %v: %w", endpoints, err)
	}
	return cairnConn{c}, nil
}

// Leader implements Target: it asks each member for its status until one
// names a leader, and returns the endpoint of the member with that id.
func (t Cairn) Leader(ctx context.Context, endpoints []string) (string, error) {
	c, err := client.New(client.Config{Endpoints: endpoints, DialTimeout: t.DialTimeout})
	if err != nil {
		return "", fmt.Errorf("bench: cairn client for %v: %w", endpoints, err)
	}
	defer c.Close()
	ids := map[uint64]string{}
	var leader uint64
	var errs []error
	for _, ep := range endpoints {
		st, err := c.Status(ctx, ep)
		if err != nil {
			errs = append(errs, fmt.Errorf("status of %s: %w", ep, err))
			continue
		}
		ids[st.Header.MemberID] = ep
		if st.Leader != 0 {
			leader = st.Leader
		}
	}
	if ep, ok := ids[leader]; ok {
		return ep, nil
	}
	return "", fmt.Errorf("bench: no member of %v is a known leader: %w", endpoints, errors.Join(errs...))
}

type cairnConn struct{ c *client.Client }

func (k cairnConn) Put(ctx context.Context, key, val []byte) (int64, error) {
	resp, err := k.c.Put(ctx, string(key), string(val))
	if err != nil {
		return 0, err
	}
	return resp.Header.Revision, nil
}

func (k cairnConn) Get(ctx context.Context, key []byte, o GetOptions) (int, error) {
	var opts []client.OpOption
	if o.Prefix {
		opts = append(opts, client.WithPrefix())
	}
	if o.Serializable {
		opts = append(opts, client.WithSerializable())
	}
	resp, err := k.c.Get(ctx, string(key), opts...)
	if err != nil {
		return 0, err
	}
	return len(resp.Kvs), nil
}

func (k cairnConn) ModRevisions(ctx context.Context, prefix []byte) (map[string]int64, error) {
	resp, err := k.c.Get(ctx, string(prefix), client.WithPrefix(), client.WithKeysOnly())
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out[string(kv.Key)] = kv.ModRevision
	}
	return out, nil
}

func (k cairnConn) CAS(ctx context.Context, key, val []byte, modRev int64) (CASResult, error) {
	ks := string(key)
	resp, err := k.c.Txn(ctx).
		If(client.Compare(client.ModRevision(ks), "=", modRev)).
		Then(client.OpPut(ks, string(val))).
		Else(client.OpGet(ks)).
		Commit()
	if err != nil {
		return CASResult{}, err
	}
	if resp.Succeeded {
		return CASResult{Swapped: true, ModRevision: resp.Header.Revision}, nil
	}
	var cur int64
	if len(resp.Responses) == 1 && resp.Responses[0].Range != nil && len(resp.Responses[0].Range.Kvs) > 0 {
		cur = resp.Responses[0].Range.Kvs[0].ModRevision
	}
	return CASResult{ModRevision: cur}, nil
}

func (k cairnConn) Watch(ctx context.Context, prefix []byte, deliver func([]byte)) error {
	wc := k.c.Watch(ctx, string(prefix), client.WithPrefix())
	first, ok := <-wc
	if !ok {
		return fmt.Errorf("bench: watch of %q ended before it started: %w", prefix, context.Cause(ctx))
	}
	if err := first.Err(); err != nil {
		return fmt.Errorf("bench: watch of %q: %w", prefix, err)
	}
	deliverPuts(first.Events, deliver)
	go func() {
		for resp := range wc {
			deliverPuts(resp.Events, deliver)
		}
	}()
	return nil
}

func deliverPuts(evs []api.Event, deliver func([]byte)) {
	for i := range evs {
		if evs[i].Type == api.EventPut {
			deliver(evs[i].Kv.Value)
		}
	}
}

func (k cairnConn) Grant(ctx context.Context, ttl int64) (int64, error) {
	resp, err := k.c.Grant(ctx, ttl)
	if err != nil {
		return 0, err
	}
	return resp.ID, nil
}

func (k cairnConn) KeepAliveOnce(ctx context.Context, id int64) error {
	_, err := k.c.KeepAliveOnce(ctx, id)
	return err
}

func (k cairnConn) Close() error { return k.c.Close() }
