package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/rpc"
)

// keepAlives is a client's one LeaseKeepAlive stream and the leases kept
// alive over it, as etcd's client does: one request per lease every third
// of its TTL, the answers matched to the leases by id. The stream is
// opened when the first lease is added and closed when the last one goes;
// when it fails, or a member refuses it for not being the leader, it is
// opened again, against the next member, with every lease renewed at once.
// The zero value is ready to use.
type keepAlives struct {
	mu     sync.Mutex
	leases map[int64]*keptLease
	// running says the goroutine serving the stream (run) is up.
	running bool
	// wake tells run that a lease was added or removed.
	wake chan struct{}
}

// keptLease is one lease kept alive and the callers waiting on it.
type keptLease struct {
	keepers map[*keeper]struct{}
	// ttl is the lease's TTL as last granted (0: no answer yet).
	ttl int64
	// next is when its next request is due; sent, when non-zero, when
	// the oldest request not answered yet went out.
	next, sent time.Time
}

// keeper is one KeepAlive call: its channel, and the outcome of its
// first renewal.
type keeper struct {
	id    int64
	out   chan *api.LeaseKeepAliveResponse
	ready chan struct{} // closed with the first renewal on out, or err set
	err   error         // why the first renewal failed
	done  chan struct{} // closed when the keeper is removed
	// started says ready is closed; closed says done is.
	started, closed bool
}

// Timing of the keep-alive stream.
const (
	// keepAliveMinInterval bounds how often one lease is renewed.
	keepAliveMinInterval = 200 * time.Millisecond
	// keepAliveUnknownTTL paces the requests of a lease not answered yet.
	keepAliveUnknownTTL = 3 // seconds
	// keepAliveReplyTimeout: a request unanswered this long means the
	// member or the stream is stuck, and the stream is opened again.
	keepAliveReplyTimeout = 2 * time.Second
	// Pause between two openings of the stream, doubling from the first
	// to the second while they keep failing.
	keepAliveMinBackoff = 50 * time.Millisecond
	keepAliveMaxBackoff = time.Second
)

// errNoReply ends a keep-alive stream on which a request went unanswered.
var errNoReply = errors.New("client: a lease keep-alive request got no answer")

// errNoLeases ends a keep-alive stream with no lease left to keep alive.
var errNoLeases = errors.New("client: no lease left to keep alive")

// renewInterval is how long after a renewal granting ttl seconds the next
// one is sent.
func renewInterval(ttl int64) time.Duration {
	return max(time.Duration(ttl)*time.Second/3, keepAliveMinInterval)
}

// add registers a caller keeping lease id alive, starting the stream if
// it is not running.
func (ka *keepAlives) add(c *Client, id int64) *keeper {
	k := &keeper{id: id, out: make(chan *api.LeaseKeepAliveResponse, 1), ready: make(chan struct{}), done: make(chan struct{})}
	ka.mu.Lock()
	defer ka.mu.Unlock()
	if ka.leases == nil {
		ka.leases = map[int64]*keptLease{}
		ka.wake = make(chan struct{}, 1)
	}
	l := ka.leases[id]
	if l == nil {
		l = &keptLease{keepers: map[*keeper]struct{}{}}
		ka.leases[id] = l
	}
	l.keepers[k] = struct{}{}
	l.next = time.Time{} // renew now: the caller waits for a first answer
	if !ka.running {
		ka.running = true
		go ka.run(c)
	}
	ka.signal()
	return k
}

// signal wakes run; the caller holds mu.
func (ka *keepAlives) signal() {
	select {
	case ka.wake <- struct{}{}:
	default:
	}
}

// remove unregisters a keeper and closes its channel.
func (ka *keepAlives) remove(k *keeper) {
	ka.mu.Lock()
	defer ka.mu.Unlock()
	ka.removeLocked(k)
	ka.signal()
}

func (ka *keepAlives) removeLocked(k *keeper) {
	if k.closed {
		return
	}
	k.closed = true
	close(k.out)
	close(k.done)
	if l := ka.leases[k.id]; l != nil {
		delete(l.keepers, k)
		if len(l.keepers) == 0 {
			delete(ka.leases, k.id)
		}
	}
}

// fail ends a keeper: the first renewal failed with err.
func (k *keeper) fail(err error) {
	k.err = err
	k.started = true
	close(k.ready)
}

// renewed hands an answer to the callers of its lease: a renewal, or the
// news that the lease is gone (TTL 0), which closes their channels.
func (ka *keepAlives) renewed(resp *api.LeaseKeepAliveResponse, now time.Time) {
	ka.mu.Lock()
	defer ka.mu.Unlock()
	l := ka.leases[resp.ID]
	if l == nil {
		return // no longer kept alive
	}
	if resp.TTL <= 0 {
		for k := range l.keepers {
			if !k.started {
				k.fail(ErrLeaseExpired)
			}
			ka.removeLocked(k)
		}
		return
	}
	l.ttl, l.sent, l.next = resp.TTL, time.Time{}, now.Add(renewInterval(resp.TTL))
	for k := range l.keepers {
		if !k.started {
			k.out <- resp // empty until ready is closed
			k.started = true
			close(k.ready)
			continue
		}
		select {
		case k.out <- resp:
		default: // the caller has not read the last one: drop this one
		}
	}
}

// due returns the leases whose request is due at now (every lease when
// all: a new stream renews them at once), marking them sent, and how long
// until the next one is due. It fails with errNoReply when a request has
// waited too long for its answer, and errNoLeases when no lease is left.
func (ka *keepAlives) due(now time.Time, all bool) (ids []int64, wait time.Duration, err error) {
	ka.mu.Lock()
	defer ka.mu.Unlock()
	if len(ka.leases) == 0 {
		return nil, 0, errNoLeases
	}
	wait = time.Hour
	for id, l := range ka.leases {
		if all {
			l.sent = time.Time{}
		}
		if !l.sent.IsZero() {
			if now.Sub(l.sent) >= keepAliveReplyTimeout {
				return nil, 0, errNoReply
			}
			wait = min(wait, l.sent.Add(keepAliveReplyTimeout).Sub(now))
		}
		if all || !now.Before(l.next) {
			ids = append(ids, id)
			if l.sent.IsZero() {
				l.sent = now
			}
			ttl := l.ttl
			if ttl == 0 {
				ttl = keepAliveUnknownTTL
			}
			l.next = now.Add(renewInterval(ttl))
		}
		wait = min(wait, l.next.Sub(now))
	}
	return ids, max(wait, 0), nil
}

// stopped ends every keeper: the client is closed. Callers waiting for a
// first renewal get err.
func (ka *keepAlives) stopped(err error) {
	ka.mu.Lock()
	defer ka.mu.Unlock()
	for _, l := range ka.leases {
		for k := range l.keepers {
			if !k.started {
				k.fail(err)
			}
			ka.removeLocked(k)
		}
	}
}

// failWaiting fails the callers still waiting for a first renewal with
// err, which another attempt will not cure (an auth refusal, say). The
// others keep their leases alive, trying again.
func (ka *keepAlives) failWaiting(err error) {
	ka.mu.Lock()
	defer ka.mu.Unlock()
	for _, l := range ka.leases {
		for k := range l.keepers {
			if !k.started {
				k.fail(err)
				ka.removeLocked(k)
			}
		}
	}
}

// resetSent forgets the requests of a stream that ended: their answers
// will not come.
func (ka *keepAlives) resetSent() {
	ka.mu.Lock()
	defer ka.mu.Unlock()
	for _, l := range ka.leases {
		l.sent = time.Time{}
	}
}

// finish ends run when no lease is left; it reports whether run ended.
func (ka *keepAlives) finish() bool {
	ka.mu.Lock()
	defer ka.mu.Unlock()
	if len(ka.leases) > 0 {
		return false
	}
	ka.running = false
	return true
}

// keepsWaiting says whether a caller of KeepAlive still waiting for its
// first renewal waits on when a stream fails with err: the member was
// not the leader, knew none or was stopping, or the stream went quiet.
// Other errors (an auth refusal, no member reachable) are the caller's,
// as they were when each renewal had a stream of its own.
func keepsWaiting(err error) bool {
	return retryElsewhere(err) || errors.Is(err, io.EOF) || errors.Is(err, errNoReply)
}

// refusesLease says whether a stream failed because the member refused
// to renew a lease for the client's user (a permission lost, a user
// removed): trying again renews none of the leases on the stream while
// that lease is on it.
func refusesLease(err error) bool {
	c := api.CodeOf(toError(err))
	return c >= 400 && c < 500
}

// dropRefused finds the leases the member refuses to renew, each over a
// stream of its own, and ends their callers, so that one lease refused
// does not stall the others on the shared stream. It also ends the
// leases found gone.
func (ka *keepAlives) dropRefused(c *Client) {
	ka.mu.Lock()
	ids := make([]int64, 0, len(ka.leases))
	for id := range ka.leases {
		ids = append(ids, id)
	}
	ka.mu.Unlock()
	for _, id := range ids {
		ctx, cancel := context.WithTimeout(context.Background(), keepAliveReplyTimeout)
		_, err := c.keepAliveRound(ctx, id)
		cancel()
		if refusesLease(err) || errors.Is(err, ErrLeaseExpired) {
			ka.drop(id, err)
		}
	}
}

// drop ends every caller keeping lease id alive; those still waiting
// for a first renewal get err.
func (ka *keepAlives) drop(id int64, err error) {
	ka.mu.Lock()
	defer ka.mu.Unlock()
	if l := ka.leases[id]; l != nil {
		for k := range l.keepers {
			if !k.started {
				k.fail(err)
			}
			ka.removeLocked(k)
		}
	}
}

// run keeps the stream open while leases are kept alive: it opens it,
// serves it until it fails, and opens it again (on the next member when
// this one is not the leader), pausing longer after each failure in a
// row. Callers whose lease was renewed already keep it alive through
// every failure, until their context ends.
func (ka *keepAlives) run(c *Client) {
	backoff := keepAliveMinBackoff
	for !ka.finish() {
		opened, err := ka.stream(c)
		ka.resetSent()
		if opened {
			backoff = keepAliveMinBackoff
		}
		switch {
		case err == nil || errors.Is(err, errNoLeases):
			continue
		case errors.Is(err, rpc.ErrClientClosed):
			ka.stopped(err)
			continue
		case !keepsWaiting(err):
			ka.failWaiting(err)
			if refusesLease(err) {
				ka.dropRefused(c)
			}
		}
		c.rotateOnNotLeader(err)
		time.Sleep(backoff)
		backoff = min(2*backoff, keepAliveMaxBackoff)
	}
}

// stream opens one keep-alive stream and serves it until it fails or no
// lease is left; opened says whether it got as far as a first answer.
func (ka *keepAlives) stream(c *Client) (opened bool, err error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, first, err := ka.open(ctx, c)
	if err != nil {
		return false, err
	}
	defer st.Close()
	ka.renewed(first, time.Now())
	return true, ka.serve(st)
}

// open opens the stream as the client's user, sends a request for every
// lease and waits for the first answer: a member refuses a stream (a
// stale token, not the leader) when it reads its first request.
func (ka *keepAlives) open(ctx context.Context, c *Client) (*rpc.Stream, *api.LeaseKeepAliveResponse, error) {
	var st *rpc.Stream
	resp := &api.LeaseKeepAliveResponse{}
	err := c.authed(ctx, func(ctx context.Context) error {
		ids, _, err := ka.due(time.Now(), true)
		if err != nil {
			return err
		}
		if st, err = openStream(ctx, c.rpc, api.MethodLeaseKeepAlive, &api.LeaseKeepAliveRequest{ID: ids[0]}); err != nil {
			return err
		}
		for _, id := range ids[1:] {
			if err := st.Send(api.Marshal(&api.LeaseKeepAliveRequest{ID: id})); err != nil {
				break // the member ended the stream: Recv says why
			}
		}
		timer := time.AfterFunc(keepAliveReplyTimeout, st.Close)
		b, err := st.Recv()
		if !timer.Stop() {
			err = errNoReply
		}
		if err == nil {
			err = api.Unmarshal(b, resp)
		}
		if err != nil {
			st.Close()
			ka.resetSent()
			return toError(err)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return st, resp, nil
}

// serve sends each lease's requests when they are due and hands out the
// answers, until the stream fails (its error) or no lease is left.
func (ka *keepAlives) serve(st *rpc.Stream) error {
	recvErr := make(chan error, 1)
	go func() {
		for {
			b, err := st.Recv()
			if err != nil {
				recvErr <- toError(err)
				return
			}
			var resp api.LeaseKeepAliveResponse
			if err := api.Unmarshal(b, &resp); err != nil {
				recvErr <- fmt.Errorf("client: malformed keep-alive response: %w", err)
				return
			}
			ka.renewed(&resp, time.Now())
		}
	}()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		ids, wait, err := ka.due(time.Now(), false)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := st.Send(api.Marshal(&api.LeaseKeepAliveRequest{ID: id})); err != nil {
				if errors.Is(err, io.EOF) {
					return <-recvErr // the member ended the stream: Recv says why
				}
				return toError(err)
			}
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-ka.wake:
		case err := <-recvErr:
			return err
		}
	}
}
