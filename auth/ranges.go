package auth

import (
	"bytes"
	"slices"
	"strings"

	"github.com/cairndb/cairn/api"
)

// Key ranges follow the conventions of RangeRequest: [key, end), where an
// empty end means the single key and end "\x00" means every key from key
// on. An empty key with a non-empty end starts at the smallest key (no
// stored key is empty).

// interval is a half-open range of keys [start, end); inf means no upper
// bound.
type interval struct {
	start, end string
	inf        bool
}

// toInterval converts a (key, end) pair to an interval; ok is false for a
// range that holds no key at all.
func toInterval(key, end []byte) (iv interval, ok bool) {
	switch {
	case len(end) == 0:
		if len(key) == 0 {
			return interval{}, false // the empty key: not a key
		}
		return interval{start: string(key), end: string(key) + "\x00"}, true
	}
	start := string(key)
	if start == "" {
		start = "\x00" // the smallest key there can be
	}
	if len(end) == 1 && end[0] == 0 {
		return interval{start: start, inf: true}, true
	}
	if start >= string(end) {
		return interval{}, false
	}
	return interval{start: start, end: string(end)}, true
}

// rangeSet is a union of intervals, kept sorted, disjoint and with no
// two touching (adjacent ones are merged), so a range is covered by the
// union exactly when one of its intervals covers it.
type rangeSet []interval

// newRangeSet merges ivs into a rangeSet.
func newRangeSet(ivs []interval) rangeSet {
	ivs = slices.Clone(ivs)
	slices.SortFunc(ivs, func(a, b interval) int { return strings.Compare(a.start, b.start) })
	var out rangeSet
	for _, iv := range ivs {
		if n := len(out); n > 0 {
			last := &out[n-1]
			if last.inf || iv.start <= last.end {
				// Overlapping or touching: extend the last interval.
				if iv.inf {
					last.inf, last.end = true, ""
				} else if !last.inf && iv.end > last.end {
					last.end = iv.end
				}
				continue
			}
		}
		out = append(out, iv)
	}
	return out
}

// covers reports whether every key of [key, end) is in the set. A range
// holding no key is covered.
func (rs rangeSet) covers(key, end []byte) bool {
	iv, ok := toInterval(key, end)
	if !ok {
		return true
	}
	// The last interval starting at or before iv.start is the only one
	// that can contain it.
	i, found := slices.BinarySearchFunc(rs, iv.start, func(x interval, s string) int { return strings.Compare(x.start, s) })
	if !found {
		i--
	}
	if i < 0 {
		return false
	}
	c := rs[i]
	switch {
	case c.inf:
		return true
	case iv.inf:
		return false
	default:
		return iv.end <= c.end
	}
}

// CheckGrantRange refuses, with etcd's error (api.CodeInvalidAuthMgmt,
// "etcdserver: invalid auth management"), a permission range etcd 3.6
// refuses to grant: one with an empty key (etcdctl sends "\x00" for the
// whole key space), or whose end is at or before its key and is not
// "\x00" (every key from key on). A member checks it before it proposes
// a grant; apply still checks only that the range holds a key, so that a
// grant an older member proposed is applied the same way everywhere.
func CheckGrantRange(key, end []byte) error {
	switch {
	case len(key) == 0:
		return api.Errorf(api.CodeInvalidAuthMgmt, "auth: a permission's key cannot be empty (\"\\x00\" starts at the first key)")
	case len(end) == 0, len(end) == 1 && end[0] == 0, bytes.Compare(key, end) < 0:
		return nil
	}
	return api.Errorf(api.CodeInvalidAuthMgmt, "auth: permission on %s holds no key", DescribeRange(key, end))
}
