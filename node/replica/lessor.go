package replica

import (
	"cmp"
	"container/heap"
	"errors"
	"slices"
	"sync"
	"time"
)

// Lease errors, in etcd's words.
var (
	ErrLeaseNotFound    = errors.New("node: requested lease not found")
	ErrLeaseExists      = errors.New("node: lease already exists")
	ErrLeaseTTLTooLarge = errors.New("node: too large lease TTL")
	ErrNotPrimary       = errors.New("node: not a primary lessor (only the leader keeps leases alive)")
)

// MaxLeaseTTL is the largest TTL a lease may have, in seconds.
const MaxLeaseTTL = 9_000_000_000

// MinLeaseTTL is the smallest TTL granted where the member's
// configuration does not say (Config.MinLeaseTTL): a lease must outlive
// an election, or it could expire while no leader can renew it.
const MinLeaseTTL = 3

// MinLeaseTTLFor is the smallest TTL granted by a member with these raft
// timings, in seconds: as etcd, one and a half election timeouts (counted
// in whole heartbeats) rounded up — 2 s with the defaults (100 ms
// heartbeats, a 1 s election timeout).
func MinLeaseTTLFor(heartbeat, electionTimeout time.Duration) int64 {
	if heartbeat <= 0 || electionTimeout <= 0 {
		return MinLeaseTTL
	}
	ticks := int64(electionTimeout / heartbeat)
	d := time.Duration(3*ticks/2) * heartbeat
	return max(1, int64((d+time.Second-1)/time.Second))
}

// minTTL is the smallest TTL this member grants.
func (r *Replica) minTTL() int64 {
	if r.minLeaseTTL <= 0 {
		return MinLeaseTTL
	}
	return r.minLeaseTTL
}

// Lease is the lessor's view of one lease.
type Lease struct {
	ID  int64
	TTL int64 // seconds, as granted
	// expiry is when the leader will revoke it (zero on non-leaders).
	expiry time.Time
	keys   map[string]struct{}
	index  int // in the expiry heap, -1 if not in it
}

// Keys returns the keys attached to the lease, sorted.
func (l *Lease) Keys() []string {
	out := make([]string, 0, len(l.keys))
	for k := range l.keys {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Lessor tracks leases and decides when they expire. Every member keeps
// the same set of leases (grants, attachments and revocations are applied
// from the raft log); only the leader — the primary — keeps expiry times
// and revokes expired leases, by proposing a revoke through raft, so all
// members delete the same keys at the same revision.
//
// When a member becomes leader it extends every lease by its full TTL (it
// cannot know how long the previous leader had let it run), which is why
// a lease may outlive its TTL across a leader change but never expires
// early. The clock is injected; the lessor never reads time itself.
type Lessor struct {
	mu      sync.Mutex
	leases  map[int64]*Lease
	byKey   map[string]int64
	expiry  expiryHeap
	primary bool
	minTTL  int64
}

// NewLessor returns an empty lessor. minTTL raises smaller TTLs (use a
// value above the election timeout; MinLeaseTTL if 0).
func NewLessor(minTTL int64) *Lessor {
	if minTTL <= 0 {
		minTTL = MinLeaseTTL
	}
	return &Lessor{leases: map[int64]*Lease{}, byKey: map[string]int64{}, minTTL: minTTL}
}

// Grant records a lease (applied from the log). now is the apply time on
// the leader, used to start its expiry clock.
func (le *Lessor) Grant(id, ttl int64, now time.Time) (*Lease, error) {
	if ttl > MaxLeaseTTL {
		return nil, ErrLeaseTTLTooLarge
	}
	le.mu.Lock()
	defer le.mu.Unlock()
	if _, ok := le.leases[id]; ok {
		return nil, ErrLeaseExists
	}
	l := &Lease{ID: id, TTL: max(ttl, le.minTTL), keys: map[string]struct{}{}, index: -1}
	le.leases[id] = l
	if le.primary {
		l.expiry = now.Add(time.Duration(l.TTL) * time.Second)
		heap.Push(&le.expiry, l)
	}
	return l, nil
}

// Revoke forgets a lease and returns the keys that were attached to it
// (which the caller deletes in the same revision).
func (le *Lessor) Revoke(id int64) ([]string, error) {
	le.mu.Lock()
	defer le.mu.Unlock()
	l, ok := le.leases[id]
	if !ok {
		return nil, ErrLeaseNotFound
	}
	keys := l.Keys()
	for _, k := range keys {
		delete(le.byKey, k)
	}
	delete(le.leases, id)
	if l.index >= 0 {
		heap.Remove(&le.expiry, l.index)
	}
	return keys, nil
}

// Attach attaches key to lease id, detaching it from any other lease.
func (le *Lessor) Attach(id int64, key string) error {
	le.mu.Lock()
	defer le.mu.Unlock()
	l, ok := le.leases[id]
	if !ok {
		return ErrLeaseNotFound
	}
	if old, ok := le.byKey[key]; ok && old != id {
		delete(le.leases[old].keys, key)
	}
	l.keys[key] = struct{}{}
	le.byKey[key] = id
	return nil
}

// Detach removes key from whatever lease holds it (the key was deleted or
// overwritten without that lease).
func (le *Lessor) Detach(key string) {
	le.mu.Lock()
	defer le.mu.Unlock()
	if id, ok := le.byKey[key]; ok {
		delete(le.leases[id].keys, key)
		delete(le.byKey, key)
	}
}

// Renew restarts a lease's expiry clock (KeepAlive) and returns its TTL.
// Only the primary renews.
func (le *Lessor) Renew(id int64, now time.Time) (int64, error) {
	le.mu.Lock()
	defer le.mu.Unlock()
	if !le.primary {
		return 0, ErrNotPrimary
	}
	l, ok := le.leases[id]
	if !ok {
		return 0, ErrLeaseNotFound
	}
	l.expiry = now.Add(time.Duration(l.TTL) * time.Second)
	heap.Fix(&le.expiry, l.index)
	return l.TTL, nil
}

// Promote makes this lessor the primary (its member became leader): every
// lease gets a full TTL from now.
func (le *Lessor) Promote(now time.Time) {
	le.mu.Lock()
	defer le.mu.Unlock()
	le.primary = true
	le.expiry = le.expiry[:0]
	for _, l := range le.leases {
		l.expiry = now.Add(time.Duration(l.TTL) * time.Second)
		l.index = -1
		heap.Push(&le.expiry, l)
	}
}

// Demote stops expiry decisions (its member lost leadership).
func (le *Lessor) Demote() {
	le.mu.Lock()
	defer le.mu.Unlock()
	le.primary = false
	for _, l := range le.expiry {
		l.index = -1
		l.expiry = time.Time{}
	}
	le.expiry = nil
}

// Expired returns up to limit leases whose expiry has passed, oldest
// first, for the leader to revoke. They stay until revoked through the log.
func (le *Lessor) Expired(now time.Time, limit int) []int64 {
	le.mu.Lock()
	defer le.mu.Unlock()
	// Pop the expired ones in order, then put them back: they stay until
	// the revoke is applied.
	var popped []*Lease
	for len(popped) < limit && le.expiry.Len() > 0 && !le.expiry[0].expiry.After(now) {
		popped = append(popped, heap.Pop(&le.expiry).(*Lease))
	}
	out := make([]int64, len(popped))
	for i, l := range popped {
		out[i] = l.ID
		heap.Push(&le.expiry, l)
	}
	return out
}

// TimeToLive returns a lease's granted TTL, the seconds it has left (-1 if
// this member is not the primary and cannot tell), and its keys.
func (le *Lessor) TimeToLive(id int64, now time.Time) (ttl, remaining int64, keys []string, err error) {
	le.mu.Lock()
	defer le.mu.Unlock()
	l, ok := le.leases[id]
	if !ok {
		return 0, 0, nil, ErrLeaseNotFound
	}
	remaining = -1
	if le.primary {
		remaining = max(0, int64((l.expiry.Sub(now)+time.Second-1)/time.Second))
	}
	return l.TTL, remaining, l.Keys(), nil
}

// Leases returns the ids of all leases, sorted.
func (le *Lessor) Leases() []int64 {
	le.mu.Lock()
	defer le.mu.Unlock()
	out := make([]int64, 0, len(le.leases))
	for id := range le.leases {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// SortByExpiry orders ids as etcd's lease list orders its leases at the
// leader: the lease that expires first, first. A lessor that is not the
// primary keeps no expiry times (etcd's followers list in no order):
// there, and between leases that expire together, ids go in increasing
// order; ids the lessor does not know go last.
func (le *Lessor) SortByExpiry(ids []int64) {
	le.mu.Lock()
	defer le.mu.Unlock()
	slices.SortFunc(ids, func(a, b int64) int {
		la, oka := le.leases[a]
		lb, okb := le.leases[b]
		switch {
		case oka != okb:
			if oka {
				return -1
			}
			return 1
		case oka && le.primary:
			if c := la.expiry.Compare(lb.expiry); c != 0 {
				return c
			}
		}
		return cmp.Compare(a, b)
	})
}

// LeaseOf returns the lease a key is attached to (0 if none).
func (le *Lessor) LeaseOf(key string) int64 {
	le.mu.Lock()
	defer le.mu.Unlock()
	return le.byKey[key]
}

// expiryHeap is a min-heap of leases by expiry.
type expiryHeap []*Lease

func (h expiryHeap) Len() int { return len(h) }
func (h expiryHeap) Less(i, j int) bool {
	if c := h[i].expiry.Compare(h[j].expiry); c != 0 {
		return c < 0
	}
	return h[i].ID < h[j].ID
}
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *expiryHeap) Push(x any) {
	l := x.(*Lease)
	l.index = len(*h)
	*h = append(*h, l)
}
func (h *expiryHeap) Pop() any {
	old := *h
	l := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	l.index = -1
	return l
}
