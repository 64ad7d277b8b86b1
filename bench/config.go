package bench

import (
	"fmt"
	"io"
	"strconv"
	"time"
)

// Config describes one benchmark run. Zero fields take the defaults
// below (see withDefaults).
type Config struct {
	// Endpoints are the members' client addresses.
	Endpoints []string
	// Clients is how many clients issue operations concurrently, each
	// one at a time (default 1).
	Clients int
	// Conns is how many connections the clients share (default 1, at
	// most Clients): client i uses connection i mod Conns.
	Conns int
	// Total is how many operations to run; 0 runs for Duration.
	Total int64
	// Duration bounds the run (default 10s when Total is 0; no bound
	// when Total is set and Duration is 0).
	Duration time.Duration
	// KeySize is the length of every key in bytes (default 8). Keys are
	// zero-padded decimal numbers, so 10 consecutive keys share a prefix.
	KeySize int
	// ValSize is the length of every value in bytes (default 256).
	ValSize int
	// KeySpace is how many distinct keys the run uses (default 10,000).
	KeySpace int
	// Sequential picks keys in order (0, 1, 2, …, wrapping) instead of
	// uniformly at random.
	Sequential bool
	// FirstKey is where a Sequential run starts (default 0): a store is
	// loaded in steps by runs over [FirstKey, KeySpace).
	FirstKey int
	// Rate limits the operations per second of the whole run (0: none).
	Rate float64
	// Seed seeds the clients' random key choices.
	Seed uint64
	// Progress, when set, receives a progress line redrawn in place
	// (for a terminal).
	Progress io.Writer
	// Label names the run in reports and comparison tables (default: the
	// workload's name).
	Label string

	// Serializable makes reads (range, mixed) serializable instead of
	// linearizable.
	Serializable bool
	// Prefix makes range read the 10 keys sharing a key's prefix instead
	// of one key.
	Prefix bool
	// NoPreload skips writing every key of the key space before a range
	// or mixed run (when they are known to exist already).
	NoPreload bool
	// ReadRatio is the fraction of reads in a mixed run (default 0.9).
	ReadRatio float64
	// Watchers is how many watchers a watch run opens (default 100);
	// Clients are its writers.
	Watchers int
	// LeaseTTL is the TTL in seconds of the leases a lease-keepalive run
	// renews (default 60).
	LeaseTTL int64
	// LeaderFirst orders the endpoints so that the leader is first:
	// connection i starts at endpoint i mod len(Endpoints) of that order,
	// so a single connection talks to the leader and many spread evenly.
	// Without it the endpoints are used in the order given.
	LeaderFirst bool
}

// withDefaults returns cfg with zero fields set to their defaults, or
// an error naming a field that cannot work.
func (cfg Config) withDefaults() (Config, error) {
	if len(cfg.Endpoints) == 0 {
		return cfg, fmt.Errorf("bench: no endpoints given")
	}
	setDefault(&cfg.Clients, 1)
	setDefault(&cfg.Conns, 1)
	setDefault(&cfg.KeySize, 8)
	setDefault(&cfg.ValSize, 256)
	setDefault(&cfg.KeySpace, 10000)
	setDefault(&cfg.Watchers, 100)
	setDefault(&cfg.LeaseTTL, 60)
	if cfg.ReadRatio == 0 {
		cfg.ReadRatio = 0.9
	}
	if cfg.Total == 0 && cfg.Duration == 0 {
		cfg.Duration = 10 * time.Second
	}
	cfg.Conns = min(cfg.Conns, cfg.Clients)
	switch {
	case cfg.Clients < 0:
		return cfg, fmt.Errorf("bench: --clients %d is negative", cfg.Clients)
	case cfg.Conns < 0:
		return cfg, fmt.Errorf("bench: --conns %d is negative", cfg.Conns)
	case cfg.Total < 0:
		return cfg, fmt.Errorf("bench: --total %d is negative", cfg.Total)
	case cfg.Duration < 0:
		return cfg, fmt.Errorf("bench: --duration %v is negative", cfg.Duration)
	case cfg.FirstKey < 0 || (cfg.FirstKey > 0 && cfg.FirstKey >= cfg.KeySpace):
		return cfg, fmt.Errorf("bench: --first-key %d must be in [0, --key-space %d)", cfg.FirstKey, cfg.KeySpace)
	case cfg.KeySpace < 1:
		return cfg, fmt.Errorf("bench: --key-space %d must be at least 1", cfg.KeySpace)
	case len(strconv.Itoa(cfg.KeySpace-1)) > cfg.KeySize:
		return cfg, fmt.Errorf("bench: --key-size %d is too short for %d keys (keys are decimal numbers: need %d bytes)",
			cfg.KeySize, cfg.KeySpace, len(strconv.Itoa(cfg.KeySpace-1)))
	case cfg.ValSize < 0:
		return cfg, fmt.Errorf("bench: --val-size %d is negative", cfg.ValSize)
	case cfg.ReadRatio < 0 || cfg.ReadRatio > 1:
		return cfg, fmt.Errorf("bench: --read-ratio %g is not between 0 and 1", cfg.ReadRatio)
	case cfg.Watchers < 0:
		return cfg, fmt.Errorf("bench: --watchers %d is negative", cfg.Watchers)
	case cfg.LeaseTTL < 1:
		return cfg, fmt.Errorf("bench: --lease-ttl %d must be at least 1 second", cfg.LeaseTTL)
	}
	return cfg, nil
}

func setDefault[T int | int64](p *T, v T) {
	if *p == 0 {
		*p = v
	}
}
