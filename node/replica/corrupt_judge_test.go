package replica

import (
	"slices"
	"testing"

	"pgregory.net/rapid"
)

func TestDisagreeing(t *testing.T) {
	h := func(id uint64, hash uint32) MemberHash { return MemberHash{ID: id, Hash: hash} }
	for _, tc := range []struct {
		name string
		hs   []MemberHash
		want []uint64
	}{
		{"nobody", nil, nil},
		{"one member", []MemberHash{h(1, 7)}, nil},
		{"all agree", []MemberHash{h(1, 7), h(2, 7), h(3, 7)}, nil},
		{"one differs", []MemberHash{h(1, 7), h(2, 7), h(3, 9)}, []uint64{3}},
		{"the first differs", []MemberHash{h(1, 9), h(2, 7), h(3, 7)}, []uint64{1}},
		{"two that differ are both named", []MemberHash{h(1, 9), h(2, 7)}, []uint64{1, 2}},
		{"a tie names everyone", []MemberHash{h(1, 9), h(2, 7), h(3, 9), h(4, 7)}, []uint64{1, 2, 3, 4}},
		{"three hashes", []MemberHash{h(1, 1), h(2, 2), h(3, 2), h(4, 3), h(5, 2)}, []uint64{1, 4}},
		{"the answer is sorted", []MemberHash{h(9, 1), h(2, 2), h(3, 2), h(1, 3)}, []uint64{1, 9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Disagreeing(tc.hs); !slices.Equal(got, tc.want) {
				t.Errorf("Disagreeing(%v) = %v, want %v", tc.hs, got, tc.want)
			}
		})
	}
}

// Nobody is named when all agree; otherwise either everyone is named
// (no hash is shared by more members than every other) or the members not
// named share the one most shared hash; the answer does not depend on the
// order of the hashes.
func TestDisagreeingProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 9).Draw(t, "members")
		var hs []MemberHash
		count := map[uint32]int{}
		for i := range n {
			h := MemberHash{ID: uint64(i + 1), Hash: rapid.Uint32Range(0, 3).Draw(t, "hash")}
			hs = append(hs, h)
			count[h.Hash]++
		}
		bad := Disagreeing(hs)
		if len(count) <= 1 {
			if len(bad) != 0 {
				t.Fatalf("named %v although all agree: %v", bad, hs)
			}
			return
		}
		kept := map[uint32]int{}
		for _, h := range hs {
			if !slices.Contains(bad, h.ID) {
				kept[h.Hash]++
			}
		}
		switch len(kept) {
		case 0: // everyone named: no hash may be the strict favourite
			most := 0
			for _, c := range count {
				most = max(most, c)
			}
			winners := 0
			for _, c := range count {
				if c == most {
					winners++
				}
			}
			if winners == 1 {
				t.Fatalf("everyone named although one hash is the most shared: %v", hs)
			}
		case 1:
			for hash, k := range kept {
				if k != count[hash] {
					t.Fatalf("some members with the kept hash %d were named: %v of %v", hash, bad, hs)
				}
				for other, c := range count {
					if other != hash && c >= k {
						t.Fatalf("hash %d of %d members kept although hash %d has %d: %v", hash, k, other, c, hs)
					}
				}
			}
		default:
			t.Fatalf("the members not named hold %d hashes: %v named from %v", len(kept), bad, hs)
		}
		shuffled := slices.Clone(hs)
		for i := range shuffled {
			j := rapid.IntRange(i, len(shuffled)-1).Draw(t, "swap")
			shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
		}
		if again := Disagreeing(shuffled); !slices.Equal(again, bad) {
			t.Fatalf("order changed the answer: %v then %v", bad, again)
		}
	})
}
