package replica

import (
	"errors"
	"slices"
	"sort"
	"sync"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/datadir"
	"github.com/cairndb/cairn/raftcore"
)

// Member is one member of the cluster as operators see it: the API's
// type, so the registry, the raft log and the Cluster service share it.
type Member = api.Member

// Errors of membership changes, in etcd's words.
var (
	ErrMemberExists     = errors.New("node: member ID already exists")
	ErrMemberNotFound   = errors.New("node: member not found")
	ErrPeerURLExists    = errors.New("node: peer URL already exists")
	ErrMemberNotLearner = errors.New("node: can only promote a learner member")
	ErrIDRemoved        = errors.New("node: ID removed")
	ErrTooManyLearners  = errors.New("node: too many learner members in cluster")
	ErrMemberBadURLs    = errors.New("node: given member URLs are invalid")
)

const (
	// maxLearners is how many learners a cluster may have at once (as in
	// etcd: one catching up at a time).
	maxLearners = 1
)

// encodeMember is the conf-change context of a member (and its record
// in the store).
func encodeMember(m Member) []byte { return datadir.EncodeMember(m) }

func decodeMember(b []byte) (Member, error) { return datadir.DecodeMember(b) }

// Members is the membership registry, kept in step with raft's committed
// conf changes: the server reads it to answer MemberList and to know its
// peers' addresses. It is safe for concurrent use.
type Members struct {
	mu      sync.RWMutex
	members map[uint64]Member
	// removed ids can never come back (a removed member must not rejoin
	// with its old log).
	removed map[uint64]bool
}

// NewMembers returns an empty registry.
func NewMembers() *Members {
	return &Members{members: map[uint64]Member{}, removed: map[uint64]bool{}}
}

// replaceWith makes the registry hold what from holds (a snapshot
// install loads new records): the registry itself stays, since other
// goroutines hold it.
func (ms *Members) replaceWith(from *Members) {
	from.mu.RLock()
	members, removed := from.members, from.removed
	from.mu.RUnlock()
	ms.mu.Lock()
	ms.members, ms.removed = members, removed
	ms.mu.Unlock()
}

// ValidateChange checks a proposed change against the registry before it
// is proposed, so that bad requests fail fast with a clear error. The
// leader checks the change again when it takes it (CheckChange), against
// a registry that holds every earlier change.
func (ms *Members) ValidateChange(cc raftcore.ConfChange, m Member) error {
	return ms.check(cc, m, true)
}

// CheckChange checks a change the leader is about to take against the
// registry, which then holds every change taken before it
// (raftcore.Config.CheckConfChange): a removed id added back, a member
// added twice, a peer URL another member has, one learner too many. Two
// requests that raced past ValidateChange cannot both be taken. A change
// without a member record (a bootstrap peer, the simulator's) has no URLs
// to compare.
func (ms *Members) CheckChange(cc raftcore.ConfChange, m Member) error {
	if cc.Type == raftcore.RemoveNode {
		return nil // raft's own rule (a member of its configuration) decides
	}
	return ms.check(cc, m, false)
}

func (ms *Members) check(cc raftcore.ConfChange, m Member, needURLs bool) error {
	ms.mu.RLock()
	defer ms.mu.RUnlock()
	if ms.removed[cc.NodeID] {
		return ErrIDRemoved
	}
	cur, exists := ms.members[cc.NodeID]
	switch cc.Type {
	case raftcore.AddVoter:
		if exists && cur.IsLearner {
			return nil // promotion
		}
		if exists {
			return ErrMemberExists
		}
		return ms.checkNewURLs(m, needURLs)
	case raftcore.AddLearner:
		if exists {
			return ErrMemberExists
		}
		// The URLs before the count of learners, in etcd's order: a
		// learner added twice is refused for its URL.
		if err := ms.checkNewURLs(m, needURLs); err != nil {
			return err
		}
		learners := 0
		for _, x := range ms.members {
			if x.IsLearner {
				learners++
			}
		}
		if learners >= maxLearners {
			return ErrTooManyLearners
		}
		return nil
	case raftcore.RemoveNode:
		if !exists {
			return ErrMemberNotFound
		}
	}
	return nil
}

// CheckStarted is etcd's strict reconfiguration check on started members
// (a member is started once it has published its name): it refuses, with
// api.ErrMemberNotEnoughStarted, a change after which the voters that have
// started would be fewer than a quorum, as a voter added that has not
// started yet, or a started voter removed, can make them. The new voter
// counts as not started, a learner promoted as started; adding a second
// voter to a one-member cluster is allowed (how a cluster restored from a
// snapshot grows). Adding a learner, and removing one, cannot cost a
// quorum. An id that is no member is removed from nothing: every voter
// counts, as in etcd, and the change is refused later as unknown.
func (ms *Members) CheckStarted(cc raftcore.ConfChange) error {
	ms.mu.RLock()
	defer ms.mu.RUnlock()
	voters, started := 0, 0
	for _, m := range ms.members {
		if m.IsLearner || cc.Type == raftcore.RemoveNode && m.ID == cc.NodeID {
			continue
		}
		voters++
		if m.Name != "" {
			started++
		}
	}
	cur, exists := ms.members[cc.NodeID]
	switch {
	case cc.Type == raftcore.AddLearner:
		return nil
	case cc.Type == raftcore.RemoveNode && exists && cur.IsLearner:
		return nil
	case cc.Type == raftcore.AddVoter && exists && cur.IsLearner:
		voters, started = voters+1, started+1
	case cc.Type == raftcore.AddVoter:
		voters++
		if started == 1 && voters == 2 {
			return nil
		}
	}
	if started < voters/2+1 {
		return api.ErrMemberNotEnoughStarted
	}
	return nil
}

// CheckUpdate refuses peer URLs for member id that another member has.
func (ms *Members) CheckUpdate(id uint64, peerURLs []string) error {
	ms.mu.RLock()
	defer ms.mu.RUnlock()
	for _, x := range ms.members {
		if x.ID == id {
			continue
		}
		for _, u := range peerURLs {
			if slices.Contains(x.PeerURLs, u) {
				return ErrPeerURLExists
			}
		}
	}
	return nil
}

func (ms *Members) checkNewURLs(m Member, needURLs bool) error {
	if len(m.PeerURLs) == 0 && needURLs {
		return ErrMemberBadURLs
	}
	for _, x := range ms.members {
		for _, u := range m.PeerURLs {
			if slices.Contains(x.PeerURLs, u) {
				return ErrPeerURLExists
			}
		}
	}
	return nil
}

// Apply records a committed conf change. Changes that raft rejected as
// invalid for its configuration are ignored here too, so that the
// registry never disagrees with raft.
func (ms *Members) Apply(cc raftcore.ConfChange, ctx []byte) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	switch cc.Type {
	case raftcore.AddVoter, raftcore.AddLearner:
		if cur, ok := ms.members[cc.NodeID]; ok {
			if cc.Type == raftcore.AddVoter {
				cur.IsLearner = false
				ms.members[cc.NodeID] = cur
			}
			return
		}
		m, err := decodeMember(ctx)
		if err != nil {
			m = Member{} // an unnamed member with no URLs (still tracked)
		}
		m.ID = cc.NodeID
		m.IsLearner = cc.Type == raftcore.AddLearner
		ms.members[cc.NodeID] = m
	case raftcore.RemoveNode:
		delete(ms.members, cc.NodeID)
		ms.removed[cc.NodeID] = true
	}
}

// put replaces a member's record.
func (ms *Members) put(m Member) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.members[m.ID] = m
}

// Update changes a member's peer URLs (MemberUpdate).
func (ms *Members) Update(id uint64, peerURLs []string) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	m, ok := ms.members[id]
	if !ok {
		return ErrMemberNotFound
	}
	m.PeerURLs = slices.Clone(peerURLs)
	ms.members[id] = m
	return nil
}

// SetClientURLs records the client URLs a member publishes when it starts.
func (ms *Members) SetClientURLs(id uint64, name string, urls []string) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if m, ok := ms.members[id]; ok {
		m.Name = name
		m.ClientURLs = slices.Clone(urls)
		ms.members[id] = m
	}
}

// Get returns one member.
func (ms *Members) Get(id uint64) (Member, bool) {
	ms.mu.RLock()
	defer ms.mu.RUnlock()
	m, ok := ms.members[id]
	return m, ok
}

// List returns the members sorted by id.
func (ms *Members) List() []Member {
	ms.mu.RLock()
	defer ms.mu.RUnlock()
	out := make([]Member, 0, len(ms.members))
	for _, m := range ms.members {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// IsRemoved reports whether id was removed from the cluster.
func (ms *Members) IsRemoved(id uint64) bool {
	ms.mu.RLock()
	defer ms.mu.RUnlock()
	return ms.removed[id]
}
