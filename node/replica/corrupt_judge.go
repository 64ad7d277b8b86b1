package replica

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/cairndb/cairn/api"
)

// The deterministic half of the corruption check (node/corrupt.go):
// members that applied the same log hold the same key-value history, so
// their hashes of it (mvcc.Store.Hash) at one revision, starting after one
// compacted revision, are equal. The leader asks each member for its hash
// at its own current revision (HashFor), compares the answers with its own
// hashes at the same revisions (JudgeHashes), and raises the CORRUPT alarm
// on each member named (CorruptAlarm). The server carries the questions
// over the peer connections on its clock; the simulator carries them over
// its network on virtual time.

// MemberHash is one member's answer in a corruption check: the hash of
// its key-value history up to revision Rev, and the compacted revision
// that hash starts after.
type MemberHash struct {
	ID         uint64
	Hash       uint32
	Rev        int64
	CompactRev int64
}

// HashFor is this member's answer to a check that asks for its hash at
// revision asked: at asked, or at its own revision if it has not applied
// asked yet (the asker then compares at that one). A revision below 1 is
// refused: the store reads 0 as "the current one", which differs from
// member to member.
func (r *Replica) HashFor(asked int64) (MemberHash, error) {
	if asked < 1 {
		return MemberHash{}, api.Errorf(api.CodeInvalidArgument, "peer hash request for revision %d: want a revision of at least 1", asked)
	}
	rev := min(asked, r.State.Store().Rev())
	if rev < 1 {
		return MemberHash{}, api.Errorf(api.CodeFutureRev, "this member has applied no revision yet")
	}
	return r.HashAt(rev)
}

// HashAt is this member's hash at revision rev (at least 1).
func (r *Replica) HashAt(rev int64) (MemberHash, error) {
	h, compacted, err := r.State.Store().Hash(rev)
	if err != nil {
		return MemberHash{}, fmt.Errorf("hash of this member at revision %d: %w", rev, err)
	}
	return MemberHash{ID: r.ID, Hash: h, Rev: rev, CompactRev: compacted}, nil
}

// JudgeHashes compares other members' answers with this member's own
// hashes at the same revisions (taken now), keeping apart the hashes that
// start after different compacted revisions. It returns the members
// Disagreeing names in any group, sorted, and the groups of at least two
// hashes it compared (by revision, so that logs list them in one order).
// A revision this member cannot hash (it compacted past it since, or its
// store failed) is left out: a check never guesses; hashErr says why, so
// that the caller may stop a member whose store is corrupt.
func (r *Replica) JudgeHashes(answers []MemberHash) (bad []uint64, groups [][]MemberHash, hashErr error) {
	byRev := map[int64][]MemberHash{}
	for _, h := range answers {
		byRev[h.Rev] = append(byRev[h.Rev], h)
	}
	for _, rev := range slices.Sorted(maps.Keys(byRev)) {
		self, err := r.HashAt(rev)
		if err != nil {
			hashErr = errors.Join(hashErr, err)
			continue // nothing to compare it with
		}
		group := []MemberHash{self}
		for _, h := range byRev[rev] {
			if h.CompactRev == self.CompactRev {
				group = append(group, h)
			}
		}
		if len(group) < 2 {
			continue
		}
		groups = append(groups, group)
		for _, id := range Disagreeing(group) {
			if !slices.Contains(bad, id) {
				bad = append(bad, id)
			}
		}
	}
	slices.Sort(bad)
	return bad, groups, hashErr
}

// CorruptAlarm is the member's own command raising the CORRUPT alarm on
// member id.
func CorruptAlarm(id uint64) (Envelope, error) {
	return Internal(&api.AlarmRequest{Action: api.AlarmActivate, MemberID: id, Alarm: api.AlarmCorrupt})
}

// DescribeHashes formats compared hashes for a log line or an error:
// "at 12 (compacted 3): id=hash id=hash; at ...".
func DescribeHashes(groups [][]MemberHash) string {
	var b []byte
	for i, g := range groups {
		if i > 0 {
			b = append(b, "; "...)
		}
		b = fmt.Appendf(b, "at %d (compacted %d):", g[0].Rev, g[0].CompactRev)
		for _, h := range g {
			b = fmt.Appendf(b, " %016x=%08x", h.ID, h.Hash)
		}
	}
	return string(b)
}

// Disagreeing decides which members' data differ from the cluster's,
// given their hashes at one revision and one compacted revision (so that
// members with the same data have the same hash). The hash that more
// members share than any other is taken as the right one, and the members
// with another hash are named. When no hash is shared by more members
// than every other (two members that differ, say), there is no telling
// who is right and every member is named. It returns the ids sorted;
// none when all agree.
func Disagreeing(hs []MemberHash) []uint64 {
	count := map[uint32]int{}
	for _, h := range hs {
		count[h.Hash]++
	}
	if len(count) <= 1 {
		return nil
	}
	best, bestN, tied := uint32(0), 0, false
	for hash, n := range count {
		switch {
		case n > bestN:
			best, bestN, tied = hash, n, false
		case n == bestN:
			tied = true
		}
	}
	var out []uint64
	for _, h := range hs {
		if tied || h.Hash != best {
			out = append(out, h.ID)
		}
	}
	slices.SortFunc(out, cmp.Compare)
	return out
}
