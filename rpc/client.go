package rpc

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ClientOptions configures a Client.
type ClientOptions struct {
	DialOptions
	// ConnsPerEndpoint is how many connections to keep to each endpoint
	// (default 1); calls round-robin across them.
	ConnsPerEndpoint int
}

// Redial backoff after a failed dial to an endpoint: during it, the
// endpoint fails fast with the last dial error so calls move on.
const (
	minRedialBackoff = 50 * time.Millisecond
	maxRedialBackoff = 2 * time.Second
)

// Client calls a set of equivalent endpoints (the members of a cluster)
// with failover: it sticks to a current endpoint while that one works and
// moves to the next when it does not. Connections are dialed lazily and
// redialed when they die. Safe for concurrent use.
type Client struct {
	opts ClientOptions

	mu        sync.Mutex
	endpoints []*endpoint
	current   int
	closed    bool
}

// endpoint holds the connections to one address.
type endpoint struct {
	addr  string
	next  atomic.Uint32 // round-robin position
	slots []*connSlot
}

// connSlot is one connection to an endpoint, dialed on demand.
type connSlot struct {
	mu      sync.Mutex
	conn    *Conn
	dialing chan struct{} // non-nil while a dial runs; closed when it ends
	lastErr error         // the last dial failure
	retryAt time.Time     // no new dial before this
	backoff time.Duration
}

// NewClient returns a client over endpoints (host:port each). Nothing is
// dialed until the first call.
func NewClient(endpoints []string, opts ClientOptions) (*Client, error) {
	if len(endpoints) == 0 {
		return nil, errors.New("rpc: NewClient: no endpoints")
	}
	c := &Client{opts: opts}
	c.opts.ConnsPerEndpoint = withDefault(opts.ConnsPerEndpoint, 1)
	for _, addr := range endpoints {
		c.endpoints = append(c.endpoints, c.newEndpoint(addr))
	}
	return c, nil
}

func (c *Client) newEndpoint(addr string) *endpoint {
	ep := &endpoint{addr: addr}
	for range c.opts.ConnsPerEndpoint {
		ep.slots = append(ep.slots, &connSlot{})
	}
	return ep
}

// Endpoints returns the client's endpoints in order.
func (c *Client) Endpoints() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.endpoints))
	for i, ep := range c.endpoints {
		out[i] = ep.addr
	}
	return out
}

// Pin makes endpoint the current one (adding it if it is new), so calls go
// there first — to the leader, say.
func (c *Client) Pin(addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := slices.IndexFunc(c.endpoints, func(ep *endpoint) bool { return ep.addr == addr })
	if i < 0 {
		c.endpoints = append(c.endpoints, c.newEndpoint(addr))
		i = len(c.endpoints) - 1
	}
	c.current = i
}

// Close closes every connection; later calls fail with ErrClientClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	eps := c.endpoints
	c.mu.Unlock()
	for _, ep := range eps {
		for _, sl := range ep.slots {
			sl.mu.Lock()
			conn := sl.conn
			sl.conn = nil
			sl.mu.Unlock()
			if conn != nil {
				conn.Close()
			}
		}
	}
	return nil
}

// pick returns the endpoint i places after the current one, and the
// number of endpoints.
func (c *Client) pick(i int, start int) (*endpoint, int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, 0, ErrClientClosed
	}
	n := len(c.endpoints)
	return c.endpoints[(start+i)%n], n, nil
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// start returns the index of the current endpoint.
func (c *Client) start() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.current
}

// moveOn makes the endpoint after ep current, unless another caller has
// already moved the client elsewhere.
func (c *Client) moveOn(ep *endpoint) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.endpoints[c.current] == ep {
		c.current = (c.current + 1) % len(c.endpoints)
	}
}

// Call makes a unary call with failover. It tries the current endpoint;
// if it could not connect to it, or retry(err) is true (retry may be
// nil), it moves to the next endpoint and tries again, until ctx ends or
// every endpoint has failed once in this call; then it returns the last
// error. Other errors are returned at once.
func (c *Client) Call(ctx context.Context, m Method, req []byte, retry func(error) bool) ([]byte, error) {
	start := c.start()
	var lastErr error
	for i := 0; ; i++ {
		ep, n, err := c.pick(i, start)
		if err != nil {
			return nil, err
		}
		if i >= n {
			return nil, lastErr
		}
		conn, err := c.connTo(ctx, ep)
		sent := false
		if err == nil {
			var resp []byte
			resp, err = conn.Call(ctx, m, req)
			if err == nil {
				return resp, nil
			}
			sent = !NotSent(err)
		}
		if ctx.Err() != nil {
			return nil, err
		}
		// A call that never reached a connection is safe to make
		// elsewhere; one that was sent may have run, so only retry
		// decides (a read may go again, a write must not).
		unsentFailure := !sent && ErrorCode(err) == CodeUnavailable
		if !unsentFailure && (retry == nil || !retry(err)) {
			return nil, err
		}
		lastErr = err
		c.moveOn(ep)
	}
}

// NewStream opens a stream on the current endpoint, moving on to the next
// ones while connecting fails. Failures after the stream is open are the
// caller's to handle (typically by opening a new stream).
func (c *Client) NewStream(ctx context.Context, m Method) (*Stream, error) {
	start := c.start()
	var lastErr error
	for i := 0; ; i++ {
		ep, n, err := c.pick(i, start)
		if err != nil {
			return nil, err
		}
		if i >= n {
			return nil, lastErr
		}
		conn, err := c.connTo(ctx, ep)
		if err == nil {
			var st *Stream
			if st, err = conn.NewStream(ctx, m); err == nil {
				return st, nil
			}
		}
		if ctx.Err() != nil || ErrorCode(err) != CodeUnavailable {
			return nil, err
		}
		lastErr = err
		c.moveOn(ep)
	}
}

// connTo returns a live connection to ep, round-robin across its slots,
// dialing if needed.
func (c *Client) connTo(ctx context.Context, ep *endpoint) (*Conn, error) {
	sl := ep.slots[int(ep.next.Add(1)-1)%len(ep.slots)]
	conn, err := sl.get(ctx, ep.addr, c.opts.DialOptions)
	if err == nil && c.isClosed() {
		conn.Close() // dialed while Close ran
		return nil, ErrClientClosed
	}
	return conn, err
}

// get returns the slot's connection, dialing a new one if there is none
// or it died. One dial runs at a time per slot; others wait for it. After
// a failed dial the slot fails fast until its backoff passes.
func (sl *connSlot) get(ctx context.Context, addr string, opts DialOptions) (*Conn, error) {
	for {
		sl.mu.Lock()
		if sl.conn != nil && sl.conn.Err() == nil {
			conn := sl.conn
			sl.mu.Unlock()
			return conn, nil
		}
		if ch := sl.dialing; ch != nil {
			sl.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if wait := time.Until(sl.retryAt); wait > 0 {
			err := sl.lastErr
			sl.mu.Unlock()
			return nil, unavailable(err, "endpoint %s: redial in %v after", addr, wait.Round(time.Millisecond))
		}
		ch := make(chan struct{})
		sl.dialing = ch
		sl.mu.Unlock()

		conn, err := Dial(ctx, addr, opts)

		sl.mu.Lock()
		sl.dialing = nil
		close(ch)
		switch {
		case err == nil:
			sl.conn, sl.backoff, sl.lastErr = conn, 0, nil
		case ctx.Err() == nil: // a real failure, not the caller giving up
			sl.backoff = min(max(2*sl.backoff, minRedialBackoff), maxRedialBackoff)
			sl.retryAt = time.Now().Add(sl.backoff)
			sl.lastErr = err
		}
		sl.mu.Unlock()
		if err != nil && ErrorCode(err) == 0 && ctx.Err() == nil {
			err = unavailable(err, "dial %s", addr)
		}
		return conn, err
	}
}
