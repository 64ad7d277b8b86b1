package node

import (
	"cmp"
	"slices"
)

// memberHash is one member's answer in a corruption check: the hash of
// its key-value history up to revision Rev, and the compacted revision
// that hash starts after.
type memberHash struct {
	ID         uint64
	Hash       uint32
	Rev        int64
	CompactRev int64
}

// disagreeing decides which members' data differ from the cluster's,
// given their hashes at one revision and one compacted revision (so that
// members with the same data have the same hash). The hash that more
// members share than any other is taken as the right one, and the members
// with another hash are named. When no hash is shared by more members
// than every other (two members that differ, say), there is no telling
// who is right and every member is named. It returns the ids sorted;
// none when all agree.
func disagreeing(hs []memberHash) []uint64 {
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
