// Package client is the Go library applications use to talk to a cairn
// cluster: KV (get, put, delete, transactions, compaction), Watch, Lease,
// Cluster and Maintenance, in the spirit of etcd's clientv3.
//
//	c, err := client.New(client.Config{Endpoints: []string{"127.0.0.1:2379"}})
//	if err != nil { ... }
//	defer c.Close()
//	_, err = c.Put(ctx, "greeting", "hello")
//	resp, err := c.Get(ctx, "greeting")
//	fmt.Printf("%s\n", resp.Kvs[0].Value)
//
// Calls go to one member and move to the next when it cannot be reached
// or cannot serve the call (not the leader for a leader-only call, no
// leader known). Errors are the typed errors of package api: test them
// with errors.Is (errors.Is(err, api.ErrCompacted)).
//
// A write is sent to another member only when the first surely did not
// take it (api.ErrNotLeader, api.ErrNoLeader, api.ErrStopped). A write
// that ends with api.ErrTimeout, or with the connection lost, may or may
// not have been applied, as with etcd: the member may have stopped with
// it in flight, or installed a snapshot of the leader's that holds it.
// Read the key back (or make the write a transaction that compares a
// revision) before writing again.
//
// On a cluster with authentication on, set Config.Username and
// Config.Password: the client authenticates and sends its token with
// every call, renewing it when the cluster no longer accepts it. The
// users, roles and permissions themselves are managed with AuthEnable,
// UserAdd, RoleAdd, RoleGrantPermission and the other methods of auth.go.
package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/rpc"
)

// Config configures a Client.
type Config struct {
	// Endpoints are the members' client addresses: host:port, or
	// http://host:port / https://host:port URLs.
	Endpoints []string
	// DialTimeout bounds connecting to one member (default 5s).
	DialTimeout time.Duration
	// TLS, when set, is used for every endpoint (https:// endpoints
	// without it use the system's roots).
	TLS *tls.Config
	// ConnsPerEndpoint is how many connections to keep to each member
	// (default 1); many concurrent callers spread over them.
	ConnsPerEndpoint int
	// Username and Password, when Username is set, are the user the
	// client acts as on a cluster with authentication on.
	Username string
	Password string
}

// Client is a connection to a cluster. It is safe for concurrent use.
type Client struct {
	cfg       Config
	endpoints []string
	rpc       *rpc.Client
	dial      rpc.DialOptions
	creds     *credentials // nil: no user configured

	mu     sync.Mutex
	single map[string]*rpc.Client // per-endpoint clients for member-specific calls
	rot    int                    // rotation position for leader-only streams

	keepAlives keepAlives // the leases KeepAlive renews, over one stream (lease_keepalive.go)
}

// New returns a client for cfg. Without a Username it does not connect
// until the first call. With one it authenticates at once (within
// DialTimeout), so that a wrong name or password fails here; if no
// member can be reached yet, it returns the client and authenticates on
// the first call instead.
func New(cfg Config) (*Client, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("client: no endpoints given")
	}
	var eps []string
	useTLS := cfg.TLS != nil
	for _, e := range cfg.Endpoints {
		for _, part := range strings.Split(e, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			addr, secure, err := ParseEndpoint(part)
			if err != nil {
				return nil, err
			}
			useTLS = useTLS || secure
			eps = append(eps, addr)
		}
	}
	if len(eps) == 0 {
		return nil, errors.New("client: no endpoints given")
	}
	dial := rpc.DialOptions{DialTimeout: cfg.DialTimeout, TLS: cfg.TLS}
	if useTLS && dial.TLS == nil {
		dial.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	rc, err := rpc.NewClient(eps, rpc.ClientOptions{DialOptions: dial, ConnsPerEndpoint: cfg.ConnsPerEndpoint})
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	c := &Client{cfg: cfg, endpoints: eps, rpc: rc, dial: dial, single: map[string]*rpc.Client{}}
	if cfg.Username != "" {
		c.creds = newCredentials(cfg.Username, cfg.Password)
		if err := c.authenticateEarly(); err != nil {
			_ = c.Close()
			return nil, err
		}
	}
	return c, nil
}

// authenticateEarly gets the client's first token. Only the cluster's
// refusal is an error: a cluster that cannot be reached yet may be by the
// first call.
func (c *Client) authenticateEarly() error {
	timeout := c.cfg.DialTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, err := c.token(ctx)
	if err != nil && api.CodeOf(toError(err)) != 0 {
		return err
	}
	return nil
}

// ParseEndpoint turns an endpoint (host:port or an http/https URL) into
// an address, saying whether it asks for TLS.
func ParseEndpoint(e string) (addr string, useTLS bool, err error) {
	if strings.Contains(e, "://") {
		u, err := url.Parse(e)
		if err != nil {
			return "", false, fmt.Errorf("client: endpoint %q: %w", e, err)
		}
		switch u.Scheme {
		case "http", "unix":
		case "https":
			useTLS = true
		default:
			return "", false, fmt.Errorf("client: endpoint %q: scheme must be http or https", e)
		}
		e = u.Host
	}
	if _, port, err := splitHostPort(e); err != nil || port == "" {
		return "", false, fmt.Errorf("client: endpoint %q is not host:port", e)
	}
	return e, useTLS, nil
}

func splitHostPort(hp string) (string, string, error) {
	i := strings.LastIndex(hp, ":")
	if i < 0 {
		return "", "", errors.New("missing port")
	}
	return hp[:i], hp[i+1:], nil
}

// Endpoints are the member addresses the client uses.
func (c *Client) Endpoints() []string { return append([]string(nil), c.endpoints...) }

// Close closes every connection.
func (c *Client) Close() error {
	c.mu.Lock()
	for _, s := range c.single {
		_ = s.Close()
	}
	c.single = map[string]*rpc.Client{}
	c.mu.Unlock()
	return c.rpc.Close()
}

// retryElsewhere says which errors mean "another member may serve this":
// the member is not the leader, knows none, or is stopping.
func retryElsewhere(err error) bool {
	err = toError(err)
	return errors.Is(err, api.ErrNotLeader) || errors.Is(err, api.ErrNoLeader) || errors.Is(err, api.ErrStopped)
}

// retryRead also moves a read on when its member died before answering
// (a read may safely run twice; writes are not retried then: the member
// may have applied the write before it died, and a second attempt could
// apply it twice), or is unhealthy (a member repairing data its disk lost
// serves no reads).
func retryRead(err error) bool {
	return retryElsewhere(err) || rpc.ErrorCode(err) == rpc.CodeUnavailable || errors.Is(toError(err), api.ErrUnhealthy)
}

// call makes a unary write call with failover, as the client's user,
// and decodes the response.
func (c *Client) call(ctx context.Context, method uint16, req api.Message, resp api.Message) error {
	return c.authed(ctx, func(ctx context.Context) error {
		return c.invoke(ctx, method, req, resp, retryElsewhere)
	})
}

// callRead makes a unary read call with failover, as the client's user,
// and decodes the response.
func (c *Client) callRead(ctx context.Context, method uint16, req api.Message, resp api.Message) error {
	return c.authed(ctx, func(ctx context.Context) error {
		return c.invoke(ctx, method, req, resp, retryRead)
	})
}

// invoke makes a unary call with failover (retry says which errors may go
// to another member) and decodes the response. It attaches no token.
func (c *Client) invoke(ctx context.Context, method uint16, req api.Message, resp api.Message, retry func(error) bool) error {
	b, err := c.rpc.Call(ctx, rpc.Method(method), api.Marshal(req), retry)
	return decodeReply(b, err, resp)
}

// callAt makes a unary call to one endpoint, without failover, as the
// client's user.
func (c *Client) callAt(ctx context.Context, endpoint string, method uint16, req api.Message, resp api.Message) error {
	rc, err := c.endpointClient(endpoint)
	if err != nil {
		return err
	}
	return c.authed(ctx, func(ctx context.Context) error {
		b, err := rc.Call(ctx, rpc.Method(method), api.Marshal(req), nil)
		return decodeReply(b, err, resp)
	})
}

// openStream opens a stream of method on rc and sends its first message.
// A member that refuses the stream (a stale token, permission denied)
// may end it before the message goes out: Send then fails with io.EOF,
// and the stream is returned all the same, for its Recv to report the
// refusal.
func openStream(ctx context.Context, rc *rpc.Client, method uint16, first api.Message) (*rpc.Stream, error) {
	st, err := rc.NewStream(ctx, rpc.Method(method))
	if err != nil {
		return nil, toError(err)
	}
	if err := st.Send(api.Marshal(first)); err != nil && !errors.Is(err, io.EOF) {
		st.Close()
		return nil, toError(err)
	}
	return st, nil
}

func (c *Client) endpointClient(endpoint string) (*rpc.Client, error) {
	addr, _, err := ParseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if rc, ok := c.single[addr]; ok {
		return rc, nil
	}
	rc, err := rpc.NewClient([]string{addr}, rpc.ClientOptions{DialOptions: c.dial})
	if err != nil {
		return nil, err
	}
	c.single[addr] = rc
	return rc, nil
}

func decodeReply(b []byte, err error, resp api.Message) error {
	if err != nil {
		return toError(err)
	}
	if err := api.Unmarshal(b, resp); err != nil {
		return fmt.Errorf("client: malformed response: %w", err)
	}
	return nil
}

// toError turns a remote error carrying an API code into the API's typed
// error, so errors.Is(err, api.ErrX) works; transport errors stay *rpc.Error.
func toError(err error) error {
	var re *rpc.Error
	if errors.As(err, &re) && re.Code >= 100 {
		return api.ErrorFromCode(uint16(re.Code), re.Message)
	}
	return err
}
