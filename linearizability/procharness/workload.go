package procharness

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/client"
	"github.com/cairndb/cairn/linearizability"
	"github.com/cairndb/cairn/rpc"
)

// OpCounts counts the operations of a run by how they ended.
type OpCounts struct {
	// OK operations got a response (a failed compare-and-swap is OK).
	OK int
	// Unknown operations timed out or lost their connection: they may or
	// may not have taken effect.
	Unknown int
	// Failed operations were refused before they were sent, so certainly
	// did not take effect.
	Failed int
}

// Total is the number of operations called.
func (c OpCounts) Total() int { return c.OK + c.Unknown + c.Failed }

func (c *OpCounts) add(o OpCounts) {
	c.OK += o.OK
	c.Unknown += o.Unknown
	c.Failed += o.Failed
}

// workload runs clients against a cluster, recording every operation.
type workload struct {
	rec       *linearizability.Recorder
	endpoints []string
	keys      []string
	opTimeout time.Duration
	clients   int
	// serializable makes gets serializable (answered from the member's
	// own store, possibly stale) instead of linearizable.
	serializable bool

	mu     sync.Mutex
	counts OpCounts
	errors map[string]ErrorStat // errors by kind (errorKind)
	since  func() time.Duration // time since the run started
	// unknownWrites are the writes of unknown outcome, by the unique
	// value each would have written.
	unknownWrites map[string]linearizability.OpID
	nextID        int // next client id for a client whose last operation is unknown
	values        int // unique values handed out

	// acked are the unique values of the writes the cluster
	// acknowledged (puts, and compare-and-swaps that succeeded).
	acked map[string]bool
}

// kvClient is one sequential client: it has one operation in flight at a
// time, and a recorder id that changes after an operation of unknown
// outcome (as in Jepsen, such a client is "crashed": its last operation
// may still be in flight, so it continues as a new client).
type kvClient struct {
	w    *workload
	id   int
	rng  *rand.Rand
	cli  *client.Client
	seen map[string]string // the last value this client read or wrote per key
}

// run starts the clients and returns when ctx ends and every client has
// finished its last operation.
func (w *workload) run(ctx context.Context, seed uint64) error {
	w.nextID = w.clients
	var clients []*kvClient
	for i := range w.clients {
		// Each client lists the endpoints starting from a different
		// member, so the clients spread over the cluster.
		eps := append(append([]string(nil), w.endpoints[i%len(w.endpoints):]...), w.endpoints[:i%len(w.endpoints)]...)
		cli, err := client.New(client.Config{Endpoints: eps, DialTimeout: w.opTimeout})
		if err != nil {
			return fmt.Errorf("procharness: client %d: %w", i, err)
		}
		defer cli.Close()
		clients = append(clients, &kvClient{w: w, id: i, cli: cli,
			rng: newRand(seed, uint64(i)+1), seen: map[string]string{}})
	}
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				c.step(ctx)
			}
		}()
	}
	wg.Wait()
	return nil
}

func (w *workload) uniqueValue(client int) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.values++
	return fmt.Sprintf("c%d-%d", client, w.values)
}

// step does one random operation: a get (40%), a put (35%) or a
// compare-and-swap (25%) on a random key.
func (c *kvClient) step(ctx context.Context) {
	key := c.w.keys[c.rng.IntN(len(c.w.keys))]
	switch r := c.rng.IntN(100); {
	case r < 40:
		c.get(ctx, key)
	case r < 75:
		c.put(ctx, key, c.w.uniqueValue(c.id))
	default:
		c.cas(ctx, key, c.w.uniqueValue(c.id))
	}
}

// get reads key and records the read.
func (c *kvClient) get(ctx context.Context, key string) {
	req := api.RequestOp{Range: &api.RangeRequest{Key: []byte(key)}}
	id := c.w.rec.Call(c.id, req)
	opCtx, cancel := context.WithTimeout(ctx, c.w.opTimeout)
	var opts []client.OpOption
	if c.w.serializable {
		opts = append(opts, client.WithSerializable())
	}
	resp, err := c.cli.Get(opCtx, key, opts...)
	cancel()
	if err == nil && len(resp.Kvs) > 0 {
		c.seen[key] = string(resp.Kvs[0].Value)
	}
	c.finish(id, api.ResponseOp{Range: resp}, err, "")
}

// put writes a unique value to key and records the write.
func (c *kvClient) put(ctx context.Context, key, value string) {
	req := api.RequestOp{Put: &api.PutRequest{Key: []byte(key), Value: []byte(value)}}
	id := c.w.rec.Call(c.id, req)
	opCtx, cancel := context.WithTimeout(ctx, c.w.opTimeout)
	resp, err := c.cli.Put(opCtx, key, value)
	cancel()
	if err == nil {
		c.seen[key] = value
		c.w.acknowledged(value)
	}
	c.finish(id, api.ResponseOp{Put: resp}, err, value)
}

// cas writes value to key if key still holds the value this client last
// saw there, and reads key otherwise.
func (c *kvClient) cas(ctx context.Context, key, value string) {
	old := c.seen[key]
	cmp := client.Compare(client.Value(key), "=", old)
	if old == "" {
		// Never seen: the key must not exist yet (mod revision 0).
		cmp = client.Compare(client.ModRevision(key), "=", 0)
	}
	req := api.RequestOp{Txn: &api.TxnRequest{
		Compare: []api.Compare{api.Compare(cmp)},
		Success: []api.RequestOp{{Put: &api.PutRequest{Key: []byte(key), Value: []byte(value)}}},
		Failure: []api.RequestOp{{Range: &api.RangeRequest{Key: []byte(key)}}},
	}}
	id := c.w.rec.Call(c.id, req)
	opCtx, cancel := context.WithTimeout(ctx, c.w.opTimeout)
	resp, err := c.cli.Txn(opCtx).If(cmp).Then(client.OpPut(key, value)).Else(client.OpGet(key)).Commit()
	cancel()
	if err == nil {
		if resp.Succeeded {
			c.seen[key] = value
			c.w.acknowledged(value)
		} else if len(resp.Responses) == 1 && resp.Responses[0].Range != nil && len(resp.Responses[0].Range.Kvs) > 0 {
			c.seen[key] = string(resp.Responses[0].Range.Kvs[0].Value)
		}
	}
	c.finish(id, api.ResponseOp{Txn: resp}, err, value)
}

// acknowledged notes that the cluster acknowledged the write of value.
func (w *workload) acknowledged(value string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.acked == nil {
		w.acked = map[string]bool{}
	}
	w.acked[value] = true
}

// finish records how operation id ended. An error means the outcome is
// unknown, unless the request was never sent; after a write of unknown
// outcome the client continues under a new id. written is the unique
// value a write would write ("" for a read).
func (c *kvClient) finish(id linearizability.OpID, resp api.ResponseOp, err error, written string) {
	var n OpCounts
	switch {
	case err == nil:
		n.OK++
		_ = c.w.rec.Return(id, resp)
	case rpc.NotSent(err):
		n.Failed++
		_ = c.w.rec.Discard(id)
	default:
		n.Unknown++
		_ = c.w.rec.Unknown(id)
	}
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	c.w.counts.add(n)
	if err == nil {
		return
	}
	if c.w.errors == nil {
		c.w.errors = map[string]ErrorStat{}
	}
	kind, now := errorKind(err), c.w.since()
	st, ok := c.w.errors[kind]
	if !ok {
		st = ErrorStat{First: now, Example: err.Error()}
	}
	st.Count++
	st.Last = now
	c.w.errors[kind] = st
	if n.Unknown > 0 && written != "" {
		if c.w.unknownWrites == nil {
			c.w.unknownWrites = map[string]linearizability.OpID{}
		}
		c.w.unknownWrites[written] = id
		c.id = c.w.nextID
		c.w.nextID++
	}
}

// errorKind names the kind of a client error for the summary: the API
// error's code, the transport's code, or "timeout".
func errorKind(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded) || rpc.ErrorCode(err) == rpc.CodeDeadlineExceeded:
		return "timeout"
	case api.CodeOf(err) != 0:
		return api.CodeOf(err).String()
	case rpc.ErrorCode(err) != 0:
		kind := rpc.ErrorCode(err).String()
		if rpc.NotSent(err) {
			kind += " (not sent)"
		}
		return kind
	}
	return "other"
}

// finalReads reads every key once more after the cluster healed, so the
// history ends with what the cluster settled on.
func (w *workload) finalReads(ctx context.Context, timeout time.Duration) error {
	cli, err := client.New(client.Config{Endpoints: w.endpoints})
	if err != nil {
		return fmt.Errorf("procharness: final reads: %w", err)
	}
	defer cli.Close()
	w.mu.Lock()
	id := w.nextID
	w.nextID++
	w.mu.Unlock()
	c := &kvClient{w: w, id: id, cli: cli, seen: map[string]string{}}
	for _, key := range w.keys {
		before := w.snapshotCounts()
		deadline := time.Now().Add(timeout)
		for {
			c.get(ctx, key)
			if w.snapshotCounts().OK > before.OK {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("procharness: final read of %q: no answer within %v", key, timeout)
			}
		}
	}
	return nil
}

// ErrorStat describes the client errors of one kind.
type ErrorStat struct {
	Count int
	// First and Last are when the first and last happened, since the
	// run started.
	First, Last time.Duration
	// Example is the first one's message.
	Example string
}

// errorStats returns the errors by kind.
func (w *workload) errorStats() map[string]ErrorStat {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.errors)
}

func (w *workload) snapshotCounts() OpCounts {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.counts
}

// newRand returns the random source of one actor of a run: stream 0 is
// the nemesis, stream i+1 client i.
func newRand(seed, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, stream))
}
