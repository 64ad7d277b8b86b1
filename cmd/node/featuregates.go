package main

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// featureGates is --feature-gates, as etcd 3.6 takes it: comma-separated
// Name=true|false pairs. cairn's own flags say the same things, so a gate
// sets the flag it stands for (InitialCorruptCheck: --initial-corrupt-check),
// or, for etcd's gates cairn has nothing for, is accepted with a warning
// saying what cairn does instead. A name etcd does not know is an error,
// as in etcd.
type featureGates struct {
	o   *options
	raw string
}

// etcdOnlyGates are etcd 3.6's feature gates cairn has no setting for,
// with what it does instead.
var etcdOnlyGates = map[string]string{
	"CompactHashCheck":             "cairn compares the members' hashes every --corrupt-check-time",
	"LeaseCheckpoint":              "a new leader gives every lease its full TTL again",
	"LeaseCheckpointPersist":       "a new leader gives every lease its full TTL again",
	"SetMemberLocalAddr":           "cairn dials peers from the address the system chooses",
	"StopGRPCServiceOnDefrag":      "cairn serves during a defragmentation",
	"TxnModeWriteWithSharedBuffer": "cairn's store has its own write path",
}

func (g *featureGates) String() string {
	if g == nil {
		return ""
	}
	return g.raw
}

// Set takes one --feature-gates value.
func (g *featureGates) Set(s string) error {
	for pair := range strings.SplitSeq(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		name, val, ok := strings.Cut(pair, "=")
		name = strings.TrimSpace(name)
		if !ok {
			return fmt.Errorf("feature gate %q: want Name=true or Name=false", pair)
		}
		on, err := strconv.ParseBool(strings.TrimSpace(val))
		if err != nil {
			return fmt.Errorf("feature gate %s: %q is not true or false", name, val)
		}
		switch instead, known := etcdOnlyGates[name]; {
		case name == "InitialCorruptCheck":
			g.o.cfg.InitialCorruptCheck = on
		case known:
			g.o.warnings = append(g.o.warnings, fmt.Sprintf("--feature-gates %s=%v is etcd's and has no effect: %s", name, on, instead))
		default:
			return fmt.Errorf("unknown feature gate %q (etcd 3.6's are InitialCorruptCheck and %s)", name, strings.Join(sortedKeys(etcdOnlyGates), ", "))
		}
	}
	g.raw = s
	return nil
}

// sortedKeys returns m's keys in order.
func sortedKeys(m map[string]string) []string {
	keys := slices.Collect(maps.Keys(m))
	slices.Sort(keys)
	return keys
}
