// Package node is the cairn server: it wires raft (raftcore), the
// write-ahead log (logstore), the MVCC store (btreekv), the RPC layer (rpc),
// leases, watches, membership and auth into one member of a cluster. The
// member's deterministic part — the raft core, the state machine, the
// lessor — is package node/replica, which the server opens (replica.Open)
// and runs in a Driver, one goroutine that owns the core; this package is
// the shell around it: the services, the transport, the background work.
//
// # Memory per request
//
// What one client request can make a member hold, beyond what the rpc
// package bounds for every connection and frame (see its Memory section):
//
//   - Range, and a read-only Txn (all its reads together), over cairn's
//     rpc: the answer may not pass the client port's frame limit
//     (rpc.ResponseLimit), the larger of 2 MiB and --max-request-bytes
//     plus 64 KiB. The store stops reading as soon as the keys it would
//     return pass it (mvcc.RangeOptions.MaxBytes), and the request fails
//     at once with RequestTooLarge naming the limit: a refused range costs
//     about the limit, not the range. Filters and
//     every order but by value are decided from the in-memory index, which
//     holds, for a read sorted by version, create or mod revision, 32
//     bytes per key of its answer (its limit, or every key that fits). A
//     read sorted by value reads every record of the range and keeps the
//     values of the best Limit keys, which count toward the limit even for
//     a keys-only answer; it also holds 16 bytes per key of the range. A
//     count holds nothing but the walk over the index. Through the etcd
//     face, which answers up to 2 GiB as etcd does, a read is not bounded.
//   - Put, DeleteRange and a write Txn: the request is refused before it
//     is proposed if it is larger than --max-request-bytes. Not bounded
//     yet: the reads of a write Txn and the previous values a DeleteRange
//     returns (prev_kv) are built whole on every member, and only the
//     client port refuses an answer over the limit
//     (mvcc.Options.MaxTxnResponseBytes can bound the first; the member
//     does not set it).
//   - Watch: each watcher's channel holds at most its buffer of responses
//     (128); one that falls behind is caught up from the page file.
//   - Snapshot (to a client or a peer): a chunk at a time, whatever the
//     store's size.
//   - A connection to the peer port, before its handshake proved a
//     member (peer_handshake.go): its messages, at most 2 KiB each of
//     text (peer URLs, a refusal), within rpc's handshake timeout.
package node

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/cairndb/cairn/internal/datadir"
	"github.com/cairndb/cairn/node/replica"
)

// ClusterState says whether a member starts a new cluster or joins one.
type ClusterState string

const (
	// ClusterStateNew bootstraps a new cluster from InitialCluster.
	ClusterStateNew ClusterState = "new"
	// ClusterStateExisting joins a running cluster (after MemberAdd).
	ClusterStateExisting ClusterState = "existing"
)

// Defaults mirror etcd's, so operators meet no surprise.
const (
	DefaultName              = datadir.DefaultName
	DefaultClientURL         = "http://127.0.0.1:2379"
	DefaultPeerURL           = datadir.DefaultPeerURL
	DefaultSnapshotCount     = replica.DefaultSnapshotCount
	DefaultQuotaBackendBytes = 2 << 30 // 2 GiB
	// DefaultBackendCacheBytes bounds the store's cache of decoded pages
	// (see docs/memory.md): it holds every branch page of a store of
	// tens of GiB and its hot leaves, a fraction of what etcd, which maps
	// its whole file, has resident for a large store.
	DefaultBackendCacheBytes = 256 << 20 // 256 MiB
	// DefaultLogValueMinBytes is the size from which a put's value stays
	// in the raft log instead of being copied into the store's page file
	// (see Config.LogValueMinBytes).
	DefaultLogValueMinBytes = 16 << 10 // 16 KiB
	// DefaultBackendBatchInterval and DefaultBackendBatchLimit are
	// etcd's defaults.
	DefaultBackendBatchInterval = 100 * time.Millisecond
	DefaultBackendBatchLimit    = 10000
	DefaultMaxRequestBytes      = replica.DefaultMaxRequestBytes
	DefaultMaxTxnOps            = replica.DefaultMaxTxnOps
	DefaultHeartbeatInterval    = 100 * time.Millisecond
	DefaultElectionTimeout      = 1000 * time.Millisecond
	DefaultInitialClusterToken  = datadir.DefaultInitialClusterToken
)

// MaxRequestBytesLimit is the most --max-request-bytes may be: a request
// becomes one raft entry, which must fit in one peer frame (peerMaxFrame,
// with room for the message around it). etcd has no hard limit but warns
// past 10 MiB.
const MaxRequestBytesLimit = peerMaxFrame - 1<<20

// DefaultCorruptCheckTime is how often the leader compares the members'
// key-value hashes by default. Unlike etcd (0: never, and no initial check
// unless asked), cairn checks by default, initial check included: a store
// of critical data should notice a member whose data differ. A round
// costs each member one pass over its history since the last compaction,
// on a read transaction that blocks no write (a CRC-32C of what it
// reads): measured at 0.65 s for 200,000 keys of 1 KiB, about 0.2% of a
// core every five minutes; a store near the 2 GiB quota takes ten times
// that.
const DefaultCorruptCheckTime = 5 * time.Minute

// DefaultWatchProgressNotifyInterval is etcd's default interval of watch
// progress notifications.
const DefaultWatchProgressNotifyInterval = 10 * time.Minute

// Config is everything a member needs to start. The zero value is not
// usable; start from DefaultConfig.
type Config struct {
	Name    string
	DataDir string

	ListenClientURLs         []url.URL
	AdvertiseClientURLs      []url.URL
	ListenPeerURLs           []url.URL
	InitialAdvertisePeerURLs []url.URL
	// ListenMetricsURLs serve /health and /metrics over plain HTTP (none
	// if empty).
	ListenMetricsURLs []url.URL
	// EnablePprof serves Go's profiles under /debug/pprof/ beside /metrics
	// (on the metrics listener and the client port), as etcd's
	// --enable-pprof does.
	EnablePprof bool
	// InitialCluster maps member name to its peer URLs.
	InitialCluster      map[string][]url.URL
	InitialClusterState ClusterState
	InitialClusterToken string

	SnapshotCount     uint64
	QuotaBackendBytes int64
	// BackendCacheBytes bounds the memory of the store's cache of decoded
	// pages (clean pages only: a write's changed pages are its own until
	// it commits). Reads past it go to the file through the operating
	// system's page cache.
	BackendCacheBytes int64
	// LogValueMinBytes is the size from which a put's value is not
	// copied into the store's page file: the store points at the value's
	// bytes in the raft log, where every member has already written it,
	// and the log keeps the segments the store points into (see
	// docs/value-log.md). A large value is then written once per member,
	// not twice. 0 turns it off: every value is copied.
	LogValueMinBytes int
	// BackendBatchInterval is how often the store commits what was applied
	// to its page file, and BackendBatchLimit how many changes make it
	// commit sooner (etcd's --backend-batch-interval and
	// --backend-batch-limit; 0: the defaults, 100 ms and 10,000). Until a
	// commit, applied changes are durable in the log alone.
	BackendBatchInterval time.Duration
	BackendBatchLimit    int
	MaxRequestBytes      int
	MaxTxnOps            int
	HeartbeatInterval    time.Duration
	ElectionTimeout      time.Duration
	// InitialElectionTickAdvance starts the member's election clock
	// nearly run out, as etcd's --initial-election-tick-advance does: a
	// member that hears no leader campaigns within one election timeout
	// of starting instead of one or two (pre-vote keeps a member that
	// restarts into a cluster with a leader from disturbing it).
	InitialElectionTickAdvance bool

	// UnsafeSkipRepair is for mutation tests of whole processes only: a
	// member whose disk lost data it acknowledged starts as if it had lost
	// nothing (replica.CoreConfig.UnsafeSkipRepair). cmd/node sets it only
	// when built with the cairn_mutation tag (--unsafe-skip-repair).
	UnsafeSkipRepair bool

	// AuthToken is the kind of token Authenticate hands out: "simple"
	// (random, learned by every member through raft, kept in memory) or
	// "signed" (self-contained, HMAC-signed with the cluster's key).
	// AuthTokenTTL is a simple token's life since its last use, a signed
	// token's life. BcryptCost is the bcrypt cost of new password hashes
	// (etcd's --bcrypt-cost; the key schedule runs 2^cost times), between
	// auth.MinBcryptCost and auth.MaxBcryptCost. Zero values mean the
	// defaults.
	AuthToken    string
	AuthTokenTTL time.Duration
	BcryptCost   int

	// AutoCompactionMode is "periodic" or "revision" ("" disables it).
	AutoCompactionMode      string
	AutoCompactionRetention string

	// PeerCertAllowedCNs and PeerCertAllowedHostnames restrict the TLS
	// client certificates the peer port accepts (with peer client
	// certificate authentication): a certificate must carry one of the
	// common names, or be valid for one of the host names. With neither,
	// a member's certificate must be valid for the host of its peer URLs.
	// At most one of the two may be set.
	PeerCertAllowedCNs       []string
	PeerCertAllowedHostnames []string

	// CorruptCheckTime is how often the leader compares the members'
	// key-value hashes (0: never; DefaultCorruptCheckTime by default); a
	// member that differs gets the CORRUPT alarm. InitialCorruptCheck (on
	// by default) makes a starting member compare its hash with its peers'
	// and stop if it is the one that differs.
	CorruptCheckTime    time.Duration
	InitialCorruptCheck bool

	// WatchProgressNotifyInterval is how often the watches that asked for
	// progress notifications get one while they see no event
	// (0: DefaultWatchProgressNotifyInterval), as etcd's
	// --watch-progress-notify-interval.
	WatchProgressNotifyInterval time.Duration

	// WarningApplyDuration is how long applying one committed entry may
	// take before it is logged as slow and counted in
	// etcd_server_slow_apply_total (0: never).
	WarningApplyDuration time.Duration

	// WarningUnaryRequestDuration is how long serving one unary request
	// may take before its "request stats" line is logged at warn level
	// (0: never; at debug level every request is logged).
	WarningUnaryRequestDuration time.Duration
}

// DefaultConfig is a single-member cluster on loopback, data in
// ./default.node.
func DefaultConfig() Config {
	client, _ := url.Parse(DefaultClientURL)
	peer, _ := url.Parse(DefaultPeerURL)
	return Config{
		Name:                        DefaultName,
		DataDir:                     DefaultName + ".node",
		ListenClientURLs:            []url.URL{*client},
		AdvertiseClientURLs:         []url.URL{*client},
		ListenPeerURLs:              []url.URL{*peer},
		InitialAdvertisePeerURLs:    []url.URL{*peer},
		InitialCluster:              map[string][]url.URL{DefaultName: {*peer}},
		InitialClusterState:         ClusterStateNew,
		InitialClusterToken:         DefaultInitialClusterToken,
		SnapshotCount:               DefaultSnapshotCount,
		QuotaBackendBytes:           DefaultQuotaBackendBytes,
		BackendCacheBytes:           DefaultBackendCacheBytes,
		LogValueMinBytes:            DefaultLogValueMinBytes,
		MaxRequestBytes:             DefaultMaxRequestBytes,
		MaxTxnOps:                   DefaultMaxTxnOps,
		HeartbeatInterval:           DefaultHeartbeatInterval,
		ElectionTimeout:             DefaultElectionTimeout,
		InitialElectionTickAdvance:  true,
		AuthToken:                   DefaultAuthToken,
		AuthTokenTTL:                DefaultAuthTokenTTL,
		BcryptCost:                  DefaultBcryptCost,
		WarningApplyDuration:        DefaultWarningApplyDuration,
		WarningUnaryRequestDuration: DefaultWarningUnaryRequestDuration,
		CorruptCheckTime:            DefaultCorruptCheckTime,
		WatchProgressNotifyInterval: DefaultWatchProgressNotifyInterval,
		InitialCorruptCheck:         true,
	}
}

// ParseURLs parses a comma-separated list of http:// or https:// URLs with
// a host and a port and nothing else, as the URL flags take them.
func ParseURLs(s string) ([]url.URL, error) { return datadir.ParseURLs(s) }

// ParseInitialCluster parses "name=url,name=url2,other=url3" (a name may
// repeat to give a member several URLs).
func ParseInitialCluster(s string) (map[string][]url.URL, error) {
	return datadir.ParseInitialCluster(s)
}

// Validate reports the first thing wrong with c, naming the setting.
func (c *Config) Validate() error {
	switch {
	case c.Name == "":
		return errors.New("--name must not be empty")
	case c.DataDir == "":
		return errors.New("--data-dir must not be empty")
	case len(c.ListenClientURLs) == 0:
		return errors.New("--listen-client-urls must not be empty")
	case len(c.ListenPeerURLs) == 0:
		return errors.New("--listen-peer-urls must not be empty")
	case len(c.AdvertiseClientURLs) == 0:
		return errors.New("--advertise-client-urls must not be empty")
	case len(c.InitialAdvertisePeerURLs) == 0:
		return errors.New("--initial-advertise-peer-urls must not be empty")
	case c.InitialClusterState != ClusterStateNew && c.InitialClusterState != ClusterStateExisting:
		return fmt.Errorf("--initial-cluster-state must be new or existing, not %q", c.InitialClusterState)
	case c.SnapshotCount == 0:
		return errors.New("--snapshot-count must be positive")
	case c.QuotaBackendBytes <= 0:
		return errors.New("--quota-backend-bytes must be positive")
	case c.BackendCacheBytes <= 0:
		return errors.New("--backend-cache-bytes must be positive")
	case c.LogValueMinBytes < 0:
		return fmt.Errorf("--log-value-min-bytes must not be negative, not %d", c.LogValueMinBytes)
	case c.BackendBatchInterval < 0:
		return fmt.Errorf("--backend-batch-interval must not be negative, not %v", c.BackendBatchInterval)
	case c.BackendBatchLimit < 0:
		return fmt.Errorf("--backend-batch-limit must not be negative, not %d", c.BackendBatchLimit)
	case c.MaxRequestBytes <= 0:
		return errors.New("--max-request-bytes must be positive")
	case c.MaxRequestBytes > MaxRequestBytesLimit:
		return fmt.Errorf("--max-request-bytes %d is more than the %d a member takes (a request must fit in one message between members)", c.MaxRequestBytes, MaxRequestBytesLimit)
	case c.MaxTxnOps <= 0:
		return errors.New("--max-txn-ops must be positive")
	case c.HeartbeatInterval <= 0:
		return errors.New("--heartbeat-interval must be positive")
	case c.ElectionTimeout < 5*c.HeartbeatInterval:
		return fmt.Errorf("--election-timeout (%v) must be at least 5 times --heartbeat-interval (%v)", c.ElectionTimeout, c.HeartbeatInterval)
	case c.WatchProgressNotifyInterval < 0:
		return fmt.Errorf("--watch-progress-notify-interval (%v) must not be negative", c.WatchProgressNotifyInterval)
	case c.CorruptCheckTime < 0:
		return fmt.Errorf("--corrupt-check-time (%v) must not be negative", c.CorruptCheckTime)
	case len(c.PeerCertAllowedCNs) > 0 && len(c.PeerCertAllowedHostnames) > 0:
		return errors.New("--peer-cert-allowed-cn and --peer-cert-allowed-hostname cannot both be set")
	case c.WarningApplyDuration < 0:
		return fmt.Errorf("--warning-apply-duration (%v) must not be negative", c.WarningApplyDuration)
	case c.WarningUnaryRequestDuration < 0:
		return fmt.Errorf("--warning-unary-request-duration (%v) must not be negative", c.WarningUnaryRequestDuration)
	}
	for _, names := range [][]string{c.PeerCertAllowedCNs, c.PeerCertAllowedHostnames} {
		for _, n := range names {
			if strings.TrimSpace(n) == "" || strings.Contains(n, ",") {
				return fmt.Errorf("--peer-cert-allowed-cn and --peer-cert-allowed-hostname take non-empty names, not %q", n)
			}
		}
	}
	for _, group := range [][]url.URL{c.ListenClientURLs, c.AdvertiseClientURLs, c.ListenPeerURLs, c.InitialAdvertisePeerURLs} {
		for i := range group {
			if err := datadir.CheckURL(&group[i]); err != nil {
				return fmt.Errorf("URL %s: %w", group[i].String(), err)
			}
		}
	}
	if err := datadir.CheckInitialCluster(c.Name, c.InitialAdvertisePeerURLs, c.InitialCluster); err != nil {
		return err
	}
	switch c.AutoCompactionMode {
	case "", "periodic", "revision":
	default:
		return fmt.Errorf("--auto-compaction-mode must be periodic or revision, not %q", c.AutoCompactionMode)
	}
	return c.validateAuth()
}

func urlStrings(us []url.URL) []string { return datadir.URLStrings(us) }

func joinURLs(us []url.URL) string { return datadir.JoinURLs(us) }

// MemberID derives a member's id from its peer URLs and the cluster token
// (see datadir.MemberID).
func MemberID(peerURLs []url.URL, clusterToken string) uint64 {
	return datadir.MemberID(peerURLs, clusterToken)
}

// ClusterID derives the cluster's id from its initial members' ids.
func ClusterID(memberIDs []uint64) uint64 { return datadir.ClusterID(memberIDs) }

// backendBatchInterval is BackendBatchInterval, or its default.
func (c *Config) backendBatchInterval() time.Duration {
	if c.BackendBatchInterval == 0 {
		return DefaultBackendBatchInterval
	}
	return c.BackendBatchInterval
}

// backendBatchLimit is BackendBatchLimit, or its default.
func (c *Config) backendBatchLimit() int {
	if c.BackendBatchLimit == 0 {
		return DefaultBackendBatchLimit
	}
	return c.BackendBatchLimit
}
