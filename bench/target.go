package bench

import (
	"context"
)

// Target is a kind of store the benchmark can drive: it opens
// connections to a cluster's members.
type Target interface {
	// Name is a short name for tables ("cairn", "etcd").
	Name() string
	// Describe says how the store is driven (protocol, client), for the
	// report: a comparison is only as fair as its clients.
	Describe() string
	// Dial returns a connection that uses endpoints, trying them in the
	// order given (endpoints[0] first).
	Dial(endpoints []string) (Conn, error)
	// Leader returns the endpoint of the cluster's current leader.
	Leader(ctx context.Context, endpoints []string) (string, error)
}

// Conn is one client connection to the store. Many workers share a Conn
// at once, so implementations must be safe for concurrent use.
type Conn interface {
	// Put sets key to val and returns the store revision it created.
	Put(ctx context.Context, key, val []byte) (rev int64, err error)
	// Get reads key (every key starting with key, with o.Prefix) and
	// returns how many keys it found.
	Get(ctx context.Context, key []byte, o GetOptions) (n int, err error)
	// ModRevisions reads every key starting with prefix (every key, for
	// an empty prefix) and returns each one's mod revision.
	ModRevisions(ctx context.Context, prefix []byte) (map[string]int64, error)
	// CAS puts key = val if key's mod revision is modRev (0: the key does
	// not exist), else reads key, in one transaction.
	CAS(ctx context.Context, key, val []byte, modRev int64) (CASResult, error)
	// Watch watches every key starting with prefix (every key, for an
	// empty prefix) from now on, and calls deliver with the value of each
	// put event, from one goroutine, until ctx ends. It returns once the
	// watch is established.
	Watch(ctx context.Context, prefix []byte, deliver func(val []byte)) error
	// Grant creates a lease of ttl seconds and returns its id.
	Grant(ctx context.Context, ttl int64) (id int64, err error)
	// KeepAliveOnce renews lease id once.
	KeepAliveOnce(ctx context.Context, id int64) error
	// Close closes the connection.
	Close() error
}

// GetOptions say how a Get reads.
type GetOptions struct {
	// Prefix reads every key starting with the key.
	Prefix bool
	// Serializable reads from the member reached, without a round to
	// confirm it is current (faster, possibly stale).
	Serializable bool
}

// CASResult is the outcome of a compare-and-swap.
type CASResult struct {
	// Swapped says the put happened.
	Swapped bool
	// ModRevision is the key's mod revision after the transaction: the
	// new one if Swapped, else the current one (0 if the key is absent).
	ModRevision int64
}
