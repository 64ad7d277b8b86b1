// Package etcd lets the benchmark drive an etcd cluster with the same
// workloads as cairn, for side-by-side comparisons, without depending on
// etcd's client library: it speaks etcd's gRPC API itself, over the
// HTTP/2 client of the standard library, encoding the few protobuf
// messages it needs by hand (wire.go, messages.go, grpc.go).
//
// This is etcd's native client protocol — the one its own clientv3 and
// benchmark tool use — so etcd is measured without a JSON gateway in the
// way. The client stack differs from clientv3's (net/http's HTTP/2 in
// place of grpc-go), which is stated in every report (Describe).
package etcd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cairndb/cairn/bench"
)

// gRPC method paths of etcd's v3 API.
const (
	methodRange     = "/etcdserverpb.KV/Range"
	methodPut       = "/etcdserverpb.KV/Put"
	methodTxn       = "/etcdserverpb.KV/Txn"
	methodGrant     = "/etcdserverpb.Lease/LeaseGrant"
	methodKeepAlive = "/etcdserverpb.Lease/LeaseKeepAlive"
	methodWatch     = "/etcdserverpb.Watch/Watch"
	methodStatus    = "/etcdserverpb.Maintenance/Status"
)

// Target is the bench.Target for an etcd v3 cluster (plain-text client
// URLs). Each Conn is one HTTP/2 connection to one member: the first
// endpoint it is given.
type Target struct {
	// DialTimeout bounds connecting to a member (default 5s).
	DialTimeout time.Duration
}

// Name implements bench.Target.
func (Target) Name() string { return "etcd" }

// Describe implements bench.Target.
func (Target) Describe() string {
	return "etcd via its gRPC API (bench/etcd: hand-encoded protobuf over net/http HTTP/2, one connection per conn, no failover)"
}

func (t Target) dialTimeout() time.Duration {
	if t.DialTimeout > 0 {
		return t.DialTimeout
	}
	return 5 * time.Second
}

// Dial implements bench.Target.
func (t Target) Dial(endpoints []string) (bench.Conn, error) {
	if len(endpoints) == 0 {
		return nil, errors.New("etcd: no endpoints given")
	}
	addr, err := hostPort(endpoints[0])
	if err != nil {
		return nil, err
	}
	return &conn{ch: newChannel(addr, t.dialTimeout())}, nil
}

// Leader implements bench.Target: it asks every member for its status
// and returns the endpoint of the member the others name as leader.
func (t Target) Leader(ctx context.Context, endpoints []string) (string, error) {
	ids := map[uint64]string{}
	var leader uint64
	var errs []error
	for _, ep := range endpoints {
		addr, err := hostPort(ep)
		if err != nil {
			return "", err
		}
		ch := newChannel(addr, t.dialTimeout())
		msg, err := ch.unary(ctx, methodStatus, nil)
		ch.close()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		member, l, err := decodeStatusLeader(msg)
		if err != nil {
			errs = append(errs, fmt.Errorf("etcd: status of %s: %w", ep, err))
			continue
		}
		ids[member] = ep
		if l != 0 {
			leader = l
		}
	}
	if ep, ok := ids[leader]; ok {
		return ep, nil
	}
	return "", fmt.Errorf("etcd: no member of %v is a known leader: %w", endpoints, errors.Join(errs...))
}

// hostPort accepts host:port or an http:// URL.
func hostPort(ep string) (string, error) {
	const scheme = "http://"
	if len(ep) > len(scheme) && ep[:len(scheme)] == scheme {
		ep = ep[len(scheme):]
	}
	for i := len(ep) - 1; i >= 0; i-- {
		if ep[i] == ':' {
			return ep, nil
		}
		if ep[i] == '/' {
			break
		}
	}
	return "", fmt.Errorf("etcd: endpoint %q is not host:port or http://host:port", ep)
}

// conn is one connection to one etcd member.
type conn struct{ ch *channel }

func (c *conn) Put(ctx context.Context, key, val []byte) (int64, error) {
	msg, err := c.ch.unary(ctx, methodPut, putRequest(key, val))
	if err != nil {
		return 0, err
	}
	h, err := responseHeader(msg)
	return h.revision, err
}

func (c *conn) Get(ctx context.Context, key []byte, o bench.GetOptions) (int, error) {
	var end []byte
	if o.Prefix {
		key, end = prefixRange(key)
	}
	msg, err := c.ch.unary(ctx, methodRange, rangeRequest(key, end, o.Serializable, false))
	if err != nil {
		return 0, err
	}
	r, err := decodeRange(msg)
	return r.n, err
}

func (c *conn) ModRevisions(ctx context.Context, prefix []byte) (map[string]int64, error) {
	key, end := prefixRange(prefix)
	msg, err := c.ch.unary(ctx, methodRange, rangeRequest(key, end, false, true))
	if err != nil {
		return nil, err
	}
	return decodeModRevisions(msg)
}

func (c *conn) CAS(ctx context.Context, key, val []byte, modRev int64) (bench.CASResult, error) {
	msg, err := c.ch.unary(ctx, methodTxn, casRequest(key, val, modRev))
	if err != nil {
		return bench.CASResult{}, err
	}
	t, err := decodeTxn(msg)
	if err != nil {
		return bench.CASResult{}, err
	}
	if t.succeeded {
		return bench.CASResult{Swapped: true, ModRevision: t.revision}, nil
	}
	return bench.CASResult{ModRevision: t.rng.modRevision}, nil
}

func (c *conn) Watch(ctx context.Context, prefix []byte, deliver func([]byte)) error {
	key, end := prefixRange(prefix)
	st, err := c.ch.openStream(ctx, methodWatch, watchCreateRequest(key, end))
	if err != nil {
		return err
	}
	msg, err := st.next()
	if err != nil {
		st.close()
		return fmt.Errorf("etcd: watch of %q: %w", prefix, err)
	}
	w, err := decodeWatch(msg)
	if err == nil && (!w.created || w.canceled) {
		err = fmt.Errorf("etcd: watch of %q not created: %s", prefix, w.cancelReason)
	}
	if err != nil {
		st.close()
		return err
	}
	go func() {
		defer st.close()
		for {
			msg, err := st.next()
			if err != nil {
				return
			}
			w, err := decodeWatch(msg)
			if err != nil || w.canceled {
				return
			}
			for _, v := range w.putValues {
				deliver(v)
			}
		}
	}()
	go func() {
		<-ctx.Done()
		st.close()
	}()
	return nil
}

func (c *conn) Grant(ctx context.Context, ttl int64) (int64, error) {
	msg, err := c.ch.unary(ctx, methodGrant, leaseGrantRequest(ttl))
	if err != nil {
		return 0, err
	}
	return decodeLeaseGrant(msg)
}

// KeepAliveOnce opens a keep-alive stream, sends one request, reads one
// answer and ends the stream — what etcd's clientv3 KeepAliveOnce does.
func (c *conn) KeepAliveOnce(ctx context.Context, id int64) error {
	msg, err := c.ch.unary(ctx, methodKeepAlive, keepAliveRequest(id))
	if err != nil {
		return err
	}
	ttl, err := decodeKeepAlive(msg)
	if err == nil && ttl <= 0 {
		err = fmt.Errorf("etcd: lease %x expired or revoked", id)
	}
	return err
}

func (c *conn) Close() error {
	c.ch.close()
	return nil
}

// prefixRange is the range [key, end) of every key starting with
// prefix; for an empty prefix, every key ("\x00" to "\x00").
func prefixRange(prefix []byte) (key, end []byte) {
	if len(prefix) == 0 {
		return []byte{0}, []byte{0}
	}
	end = append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return prefix, end[:i+1]
		}
	}
	return prefix, []byte{0}
}
