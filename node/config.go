// Package node is the cairn server: it wires raft (raftcore), the
// write-ahead log (logstore), the MVCC store (btreekv), the RPC layer (rpc),
// leases, watches, membership and auth into one member of a cluster.
package node

import (
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
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
	DefaultName                = "default"
	DefaultClientURL           = "http://127.0.0.1:2379"
	DefaultPeerURL             = "http://127.0.0.1:2380"
	DefaultSnapshotCount       = 10000
	DefaultQuotaBackendBytes   = 2 << 30    // 2 GiB
	DefaultMaxRequestBytes     = 1536 << 10 // 1.5 MiB
	DefaultMaxTxnOps           = 128
	DefaultHeartbeatInterval   = 100 * time.Millisecond
	DefaultElectionTimeout     = 1000 * time.Millisecond
	DefaultInitialClusterToken = "cairn-cluster"
)

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
	// InitialCluster maps member name to its peer URLs.
	InitialCluster      map[string][]url.URL
	InitialClusterState ClusterState
	InitialClusterToken string

	SnapshotCount     uint64
	QuotaBackendBytes int64
	MaxRequestBytes   int
	MaxTxnOps         int
	HeartbeatInterval time.Duration
	ElectionTimeout   time.Duration

	// AuthToken is the kind of token Authenticate hands out: "simple"
	// (random, learned by every member through raft, kept in memory) or
	// "signed" (self-contained, HMAC-signed with the cluster's key).
	// AuthTokenTTL is a simple token's life since its last use, a signed
	// token's life. AuthPasswordCost is the PBKDF2 iteration count of new
	// password hashes. Zero values mean the defaults.
	AuthToken        string
	AuthTokenTTL     time.Duration
	AuthPasswordCost int

	// AutoCompactionMode is "periodic" or "revision" ("" disables it).
	AutoCompactionMode      string
	AutoCompactionRetention string

	// CorruptCheckTime is how often the leader compares the members'
	// key-value hashes (0: never); a member that differs gets the CORRUPT
	// alarm. InitialCorruptCheck makes a starting member compare its hash
	// with its peers' and stop if they differ.
	CorruptCheckTime    time.Duration
	InitialCorruptCheck bool
}

// DefaultConfig is a single-member cluster on loopback, data in
// ./default.node.
func DefaultConfig() Config {
	client, _ := url.Parse(DefaultClientURL)
	peer, _ := url.Parse(DefaultPeerURL)
	return Config{
		Name:                     DefaultName,
		DataDir:                  DefaultName + ".node",
		ListenClientURLs:         []url.URL{*client},
		AdvertiseClientURLs:      []url.URL{*client},
		ListenPeerURLs:           []url.URL{*peer},
		InitialAdvertisePeerURLs: []url.URL{*peer},
		InitialCluster:           map[string][]url.URL{DefaultName: {*peer}},
		InitialClusterState:      ClusterStateNew,
		InitialClusterToken:      DefaultInitialClusterToken,
		SnapshotCount:            DefaultSnapshotCount,
		QuotaBackendBytes:        DefaultQuotaBackendBytes,
		MaxRequestBytes:          DefaultMaxRequestBytes,
		MaxTxnOps:                DefaultMaxTxnOps,
		HeartbeatInterval:        DefaultHeartbeatInterval,
		ElectionTimeout:          DefaultElectionTimeout,
		AuthToken:                DefaultAuthToken,
		AuthTokenTTL:             DefaultAuthTokenTTL,
		AuthPasswordCost:         DefaultAuthPasswordCost,
	}
}

// ParseURLs parses a comma-separated list of http:// or https:// URLs with
// a host and a port and nothing else, as the URL flags take them.
func ParseURLs(s string) ([]url.URL, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty URL list")
	}
	var out []url.URL
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if !strings.Contains(part, "://") {
			return nil, fmt.Errorf("URL %q: scheme missing: write http://host:port or https://host:port", part)
		}
		u, err := url.Parse(part)
		if err != nil {
			return nil, fmt.Errorf("URL %q: %w", part, err)
		}
		if err := checkURL(u); err != nil {
			return nil, fmt.Errorf("URL %q: %w", part, err)
		}
		out = append(out, *u)
	}
	return out, nil
}

func checkURL(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scheme must be http or https, not %q", u.Scheme)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" || port == "" {
		return errors.New("must be scheme://host:port")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return errors.New("must not have a path, query, fragment or user")
	}
	return nil
}

// ParseInitialCluster parses "name=url,name=url2,other=url3" (a name may
// repeat to give a member several URLs).
func ParseInitialCluster(s string) (map[string][]url.URL, error) {
	out := map[string][]url.URL{}
	for _, part := range strings.Split(s, ",") {
		name, raw, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || name == "" || raw == "" {
			return nil, fmt.Errorf("initial cluster entry %q: want name=URL", part)
		}
		urls, err := ParseURLs(raw)
		if err != nil {
			return nil, fmt.Errorf("initial cluster member %q: %w", name, err)
		}
		out[name] = append(out[name], urls...)
	}
	return out, nil
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
	case c.MaxRequestBytes <= 0:
		return errors.New("--max-request-bytes must be positive")
	case c.MaxTxnOps <= 0:
		return errors.New("--max-txn-ops must be positive")
	case c.HeartbeatInterval <= 0:
		return errors.New("--heartbeat-interval must be positive")
	case c.ElectionTimeout < 5*c.HeartbeatInterval:
		return fmt.Errorf("--election-timeout (%v) must be at least 5 times --heartbeat-interval (%v)", c.ElectionTimeout, c.HeartbeatInterval)
	case c.CorruptCheckTime < 0:
		return fmt.Errorf("--corrupt-check-time (%v) must not be negative", c.CorruptCheckTime)
	}
	for _, group := range [][]url.URL{c.ListenClientURLs, c.AdvertiseClientURLs, c.ListenPeerURLs, c.InitialAdvertisePeerURLs} {
		for i := range group {
			if err := checkURL(&group[i]); err != nil {
				return fmt.Errorf("URL %s: %w", group[i].String(), err)
			}
		}
	}
	mine, ok := c.InitialCluster[c.Name]
	if !ok {
		return fmt.Errorf("--initial-cluster has no member named %q (the value of --name)", c.Name)
	}
	if !sameURLs(mine, c.InitialAdvertisePeerURLs) {
		return fmt.Errorf("--initial-cluster gives %q the peer URLs %s but --initial-advertise-peer-urls is %s",
			c.Name, joinURLs(mine), joinURLs(c.InitialAdvertisePeerURLs))
	}
	seen := map[string]string{}
	for name, urls := range c.InitialCluster {
		for _, u := range urls {
			if other, dup := seen[u.String()]; dup && other != name {
				return fmt.Errorf("--initial-cluster gives peer URL %s to both %q and %q", u.String(), other, name)
			}
			seen[u.String()] = name
		}
	}
	switch c.AutoCompactionMode {
	case "", "periodic", "revision":
	default:
		return fmt.Errorf("--auto-compaction-mode must be periodic or revision, not %q", c.AutoCompactionMode)
	}
	return c.validateAuth()
}

func sameURLs(a, b []url.URL) bool {
	as, bs := urlStrings(a), urlStrings(b)
	return slices.Equal(as, bs)
}

func urlStrings(us []url.URL) []string {
	s := make([]string, len(us))
	for i := range us {
		s[i] = us[i].String()
	}
	sort.Strings(s)
	return s
}

func joinURLs(us []url.URL) string { return strings.Join(urlStrings(us), ",") }

// MemberID derives a member's id from its peer URLs and the cluster token,
// so every initial member computes the same ids for everyone without
// talking, and two clusters with different tokens never share ids.
func MemberID(peerURLs []url.URL, clusterToken string) uint64 {
	h := sha1.New()
	for _, s := range urlStrings(peerURLs) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	h.Write([]byte(clusterToken))
	id := binary.BigEndian.Uint64(h.Sum(nil)[:8])
	if id == 0 {
		id = 1 // 0 means "none" in raft
	}
	return id
}

// ClusterID derives the cluster's id from its initial members' ids.
func ClusterID(memberIDs []uint64) uint64 {
	ids := slices.Clone(memberIDs)
	slices.Sort(ids)
	h := sha1.New()
	var b [8]byte
	for _, id := range ids {
		binary.BigEndian.PutUint64(b[:], id)
		h.Write(b[:])
	}
	return binary.BigEndian.Uint64(h.Sum(nil)[:8])
}
