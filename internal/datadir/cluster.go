package datadir

import (
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"sort"
	"strings"
)

// The defaults of a new cluster's identity, as etcd's: a member named
// "default" whose peers reach it at 127.0.0.1:2380.
const (
	DefaultName                = "default"
	DefaultPeerURL             = "http://127.0.0.1:2380"
	DefaultInitialClusterToken = "cairn-cluster"
)

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
		if err := CheckURL(u); err != nil {
			return nil, fmt.Errorf("URL %q: %w", part, err)
		}
		out = append(out, *u)
	}
	return out, nil
}

// CheckURL reports what makes u unfit for a listen or advertise URL: it
// must be http:// or https://, with a host and a port and nothing else.
func CheckURL(u *url.URL) error {
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

// CheckInitialCluster reports what is wrong with a member's place in the
// initial cluster, naming the flag: the cluster must list the member
// under its name with exactly its peer URLs, and no peer URL may belong
// to two members.
func CheckInitialCluster(name string, peerURLs []url.URL, initial map[string][]url.URL) error {
	mine, ok := initial[name]
	if !ok {
		return fmt.Errorf("--initial-cluster has no member named %q (the value of --name)", name)
	}
	if !slices.Equal(URLStrings(mine), URLStrings(peerURLs)) {
		return fmt.Errorf("--initial-cluster gives %q the peer URLs %s but --initial-advertise-peer-urls is %s",
			name, JoinURLs(mine), JoinURLs(peerURLs))
	}
	seen := map[string]string{}
	for _, member := range slices.Sorted(maps.Keys(initial)) {
		for _, u := range initial[member] {
			if other, dup := seen[u.String()]; dup && other != member {
				return fmt.Errorf("--initial-cluster gives peer URL %s to both %q and %q", u.String(), other, member)
			}
			seen[u.String()] = member
		}
	}
	return nil
}

// URLStrings returns the URLs as strings, sorted.
func URLStrings(us []url.URL) []string {
	s := make([]string, len(us))
	for i := range us {
		s[i] = us[i].String()
	}
	sort.Strings(s)
	return s
}

// JoinURLs is the URLs sorted and joined by commas, as the flags take them.
func JoinURLs(us []url.URL) string { return strings.Join(URLStrings(us), ",") }

// MemberID derives a member's id from its peer URLs and the cluster token,
// so every initial member computes the same ids for everyone without
// talking, and two clusters with different tokens never share ids.
func MemberID(peerURLs []url.URL, clusterToken string) uint64 {
	h := sha1.New()
	for _, s := range URLStrings(peerURLs) {
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
