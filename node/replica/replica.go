package replica

import (
	"errors"
	"fmt"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/btreekv/mvcc"
	"github.com/cairndb/cairn/logstore"
	"github.com/cairndb/cairn/raftcore"
)

// Config says how to open a Replica: where its log and store are (each
// on the fsx.FS of its options), how its core runs, and its inputs from
// the world — a clock for the lessor, randomness for raft and the core
// (Core.Rand), and where its messages go (Send).
type Config struct {
	// Log opens the raft log: its FS, directory, and whether to create
	// it or salvage a damaged one.
	Log logstore.Options
	// Identify, if set, is called once the log is open and returns the
	// member's id, which then replaces Core.ID: a member that restarts
	// learns its id from its log's metadata. An error refuses the log.
	Identify func(log *logstore.Log) (uint64, error)
	// StorePath is the store's page file; Store its options (its FS).
	StorePath string
	Store     mvcc.Options
	// Core configures the core (its ID, raft's clock in ticks, snapshots,
	// the initial peers, and its randomness, Core.Rand).
	Core CoreConfig
	// MinLeaseTTL raises smaller TTLs of the leases granted, in seconds
	// (MinLeaseTTL if 0): a lease must outlive an election, so the server
	// derives it from its election timeout, as etcd does
	// (MinLeaseTTLFor).
	MinLeaseTTL int64
	// Clock is the time the lessor sees (time.Now if nil): a lease's
	// expiry counts from when its grant was applied, or its member became
	// leader, by this clock.
	Clock func() time.Time
	// Send, if set, takes the core's messages as soon as they may leave
	// (Core.SetSender); without it they come out in Effects.Messages.
	Send func([]raftcore.Message)
	// OnRestore, if set, is called after a snapshot from the leader
	// replaced the store (and the lessor was rebuilt from it).
	OnRestore func()
	// Wrap, if set, wraps the state machine before the core is given it:
	// the simulator watches every entry applied, and injects bugs.
	Wrap func(*KVState) StateMachine
	// StoreRepair, if set, repairs a store whose page file is corrupt
	// from the cluster instead of refusing to open (storerepair.go).
	StoreRepair *StoreRepair
}

// Replica is one member's deterministic part, wired: the raft log, the
// store and its state machine (KVState), the core that drives them, and
// the lessor that keeps the leases' clocks. It has no goroutine, network
// or clock of its own: the production server (package node) runs its core
// in a Driver and the simulator steps it on virtual time, and both open it
// with Open, so the simulator runs exactly the server's wiring.
type Replica struct {
	// ID is the member's id.
	ID     uint64
	Log    *logstore.Log
	State  *KVState
	Core   *Core
	Lessor *Lessor
	clock  func() time.Time
	// minLeaseTTL raises smaller TTLs of lease grants (Config.MinLeaseTTL).
	minLeaseTTL int64
}

// Open opens (or creates) a member's log and store and starts its core
// on them. The lessor learns of every lease granted or revoked as it is
// applied and is rebuilt from the store at start and after a snapshot
// install. On error nothing is left open.
func Open(cfg Config) (_ *Replica, err error) {
	r := &Replica{ID: cfg.Core.ID, clock: cfg.Clock, minLeaseTTL: cfg.MinLeaseTTL}
	if r.minLeaseTTL <= 0 {
		r.minLeaseTTL = MinLeaseTTL
	}
	if r.clock == nil {
		r.clock = time.Now
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, r.Close())
		}
	}()
	if r.Log, err = logstore.Open(cfg.Log); err != nil {
		return nil, fmt.Errorf("open write-ahead log: %w", err)
	}
	if cfg.Identify != nil {
		if r.ID, err = cfg.Identify(r.Log); err != nil {
			return nil, err
		}
	}
	// The store reaches the log whatever Store.MinLogValue: a store that
	// kept values in the log before a restart with 0 (no new ones) must
	// still read them, and the log keep their segments.
	values := newLogValues(r.Log)
	cfg.Store.LogValues = values
	if r.State, err = openStore(cfg, r.Log, values); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	r.Lessor = NewLessor(r.minLeaseTTL)
	r.resetLessor()
	r.State.OnLease = func(id, ttl int64) {
		if ttl > 0 {
			_, _ = r.Lessor.Grant(id, ttl, r.clock())
		} else {
			_, _ = r.Lessor.Revoke(id)
		}
	}
	r.State.OnRestore = func() {
		r.resetLessor()
		if cfg.OnRestore != nil {
			cfg.OnRestore()
		}
	}
	var sm StateMachine = r.State
	if cfg.Wrap != nil {
		sm = cfg.Wrap(r.State)
	}
	core := cfg.Core
	core.ID = r.ID
	if r.Core, err = NewCore(core, r.Log, sm); err != nil {
		return nil, fmt.Errorf("start raft: %w", err)
	}
	if cfg.Send != nil {
		r.Core.SetSender(cfg.Send)
	}
	return r, nil
}

// openStore opens the store, repairing it first from the cluster if it
// must be (cfg.StoreRepair): when an earlier run left the marker that says
// so, when its page file is missing while the log needs one, or when it
// turns out corrupt — its pages, or the values it keeps in the raft log
// (through values).
func openStore(cfg Config, log RaftLog, values *logValues) (*KVState, error) {
	rep := cfg.StoreRepair
	if rep == nil {
		return openKVStateWith(cfg, values)
	}
	reason, err := StoreRepairPending(cfg.Store.FS, rep.Marker)
	if err == nil && reason == "" {
		reason, err = storeMissing(cfg, log)
	}
	if err != nil {
		return nil, err
	}
	if reason == "" {
		k, err := openKVStateWith(cfg, values)
		if err == nil || !IsStoreCorrupt(err) {
			return k, err
		}
		reason = err.Error()
	}
	got, err := repairStore(cfg, log, reason)
	if err != nil {
		return nil, err
	}
	k, err := openKVStateWith(cfg, values)
	if err != nil {
		return nil, fmt.Errorf("node: open the store copy the repair installed: %w", err)
	}
	if k.AppliedIndex() != got.Index {
		_ = k.Close()
		return nil, fmt.Errorf("node: the store copy the repair installed holds index %d, it was sent as index %d", k.AppliedIndex(), got.Index)
	}
	if err := endStoreRepair(cfg.Store.FS, rep.Marker); err != nil {
		_ = k.Close()
		return nil, err
	}
	if rep.Installed != nil {
		rep.Installed(got)
	}
	return k, nil
}

// openKVStateWith opens the store with cfg.Store, checks that the log
// still has what the values the store keeps in it need (a store that lost
// them is corrupt), and has the log keep their segments.
func openKVStateWith(cfg Config, values *logValues) (*KVState, error) {
	k, err := openKVState(cfg.StorePath, cfg.Store)
	if err != nil {
		return nil, err
	}
	if err := values.checkSegments(k.Store()); err != nil {
		_ = k.Close()
		return nil, err
	}
	k.values = values
	if err := values.storeDurable(k.Store()); err != nil {
		_ = k.Close()
		return nil, err
	}
	return k, nil
}

// Close closes the store and the log (the core needs nothing closed).
func (r *Replica) Close() error {
	var errs []error
	if r.State != nil {
		errs = append(errs, r.State.Close())
	}
	if r.Log != nil {
		errs = append(errs, r.Log.Close())
	}
	return errors.Join(errs...)
}

// resetLessor rebuilds the lessor from the store's leases.
func (r *Replica) resetLessor() {
	for _, id := range r.Lessor.Leases() {
		_, _ = r.Lessor.Revoke(id)
	}
	now := r.clock()
	for _, l := range r.State.Store().Leases() {
		_, _ = r.Lessor.Grant(l.ID, l.TTL, now)
	}
}

// LeaderChanged tells the lessor of a new leader (0: none known): the
// member that becomes leader is the primary, and every lease gets its
// full TTL from now; a member that is not leader keeps no expiry times.
// Call it with Effects.Leader when Effects.LeaderChanged.
func (r *Replica) LeaderChanged(leader uint64) {
	if leader == r.ID {
		r.Lessor.Promote(r.clock())
	} else {
		r.Lessor.Demote()
	}
}

// ExpiredLeases returns up to limit leases whose time is up, for the
// leader to revoke with ExpiryCommand (none unless this member is the
// primary).
func (r *Replica) ExpiredLeases(limit int) []int64 { return r.Lessor.Expired(r.clock(), limit) }

// ExpiryCommand is the command a leader proposes to revoke lease id, whose
// time is up: the member's own command, not a client's.
func ExpiryCommand(id int64) Envelope {
	return Envelope{Who: WhoMember, Kind: KindLeaseRevoke, Payload: api.Marshal(&api.LeaseRevokeRequest{ID: id})}
}
