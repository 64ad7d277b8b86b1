package replica

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/fsx"
	"pgregory.net/rapid"
)

func TestDedupWindow(t *testing.T) {
	tests := []struct {
		name string
		seqs []uint64
		want []bool
	}{
		{"in order", []uint64{1, 2, 3}, []bool{true, true, true}},
		{"duplicate", []uint64{1, 2, 2, 1}, []bool{true, true, false, false}},
		{"reordered", []uint64{2, 1, 3, 1}, []bool{true, true, true, false}},
		{"gap then the missing one", []uint64{1, 5, 3, 4, 2, 5}, []bool{true, true, true, true, true, false}},
		{"window edge", []uint64{64, 1, 1}, []bool{true, true, false}},
		{"below the window", []uint64{65, 1}, []bool{true, false}},
		{"jump past the window forgets", []uint64{1, 200, 150, 137, 136}, []bool{true, true, true, true, false}},
		{"first seen is not 1", []uint64{40, 39, 40}, []bool{true, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r dedupRecord
			for i, seq := range tt.seqs {
				if got := r.window(seq); got != tt.want[i] {
					t.Fatalf("proposal %d (seq %d): admitted %v, want %v", i, seq, got, tt.want[i])
				}
			}
		})
	}
}

func TestDedupRecordEncoding(t *testing.T) {
	r := &dedupRecord{high: 9, seen: 0b1011, first: 100, last: 130, refused: []uint64{101, 129}}
	got, err := decodeDedupRecord(r.encode())
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(*got) != fmt.Sprint(*r) {
		t.Fatalf("decoded %+v, want %+v", *got, *r)
	}
	for _, b := range [][]byte{nil, make([]byte, 31), make([]byte, 36)} {
		if _, err := decodeDedupRecord(b); err == nil {
			t.Errorf("a record of %d bytes decoded", len(b))
		}
	}
	bad := (&dedupRecord{first: 5, last: 4}).encode()
	if _, err := decodeDedupRecord(bad); err == nil {
		t.Error("a record whose range runs backwards decoded")
	}
}

// logEntry is one committed entry of a generated log: a proposal, or
// (tag 0) anything else.
type logEntry struct{ tag, seq uint64 }

// drawLog draws a log of n entries in which up to three proposers propose
// new numbers, repeat numbers (duplicates), and propose numbers late
// (reordering, some beyond the window).
func drawLog(t *rapid.T) []logEntry {
	n := rapid.IntRange(1, 400).Draw(t, "entries")
	next := map[uint64]uint64{}
	log := make([]logEntry, n)
	for i := range log {
		tag := rapid.Uint64Range(0, 3).Draw(t, "tag")
		if tag == 0 {
			continue
		}
		seq := next[tag] + 1
		if next[tag] > 0 && rapid.IntRange(0, 2).Draw(t, "old") == 0 {
			lo := uint64(1)
			if next[tag] > 99 {
				lo = next[tag] - 99
			}
			seq = rapid.Uint64Range(lo, next[tag]).Draw(t, "oldSeq")
		} else {
			seq += rapid.Uint64Range(0, 2).Draw(t, "skip")
			next[tag] = seq
		}
		log[i] = logEntry{tag, seq}
	}
	return log
}

// drawChunks cuts indexes from..to into chunks of at most max entries.
func drawChunks(t *rapid.T, from, to uint64, most int, label string) [][2]uint64 {
	var out [][2]uint64
	for from <= to {
		end := min(to, from+uint64(rapid.IntRange(1, most).Draw(t, label))-1)
		out = append(out, [2]uint64{from, end})
		from = end + 1
	}
	return out
}

// decideChunk runs the table on the entries of one chunk (index i is
// log[i-1]) and records the decisions.
func decideChunk(tab *dedupTable, log []logEntry, c [2]uint64, decided map[uint64]bool) {
	var props []Proposal
	for i := c[0]; i <= c[1]; i++ {
		if e := log[i-1]; e.tag != 0 {
			props = append(props, Proposal{Index: i, Tag: e.tag, Seq: e.seq})
		}
	}
	admitted, _ := tab.admit(c[0], c[1], props)
	for i, p := range props {
		decided[p.Index] = admitted[i]
	}
}

// durableCopy is the table as stored and loaded again.
func durableCopy(t *rapid.T, tab *dedupTable) dedupTable {
	out := dedupTable{recs: map[uint64]*dedupRecord{}, pruneEvery: tab.pruneEvery, pruneAfter: tab.pruneAfter}
	for tag, r := range tab.recs {
		d, err := decodeDedupRecord(r.encode())
		if err != nil {
			t.Fatalf("record of %d: %v", tag, err)
		}
		out.recs[tag] = d
	}
	return out
}

// TestDedupMatchesModel: without pruning, the filter applies exactly the
// proposals a plain model does: a number not applied yet and above its
// proposer's highest applied minus the window.
func TestDedupMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		log := drawLog(t)
		tab := newDedupTable()
		decided := map[uint64]bool{}
		for _, c := range drawChunks(t, 1, uint64(len(log)), 50, "chunk") {
			decideChunk(&tab, log, c, decided)
		}
		applied := map[logEntry]bool{}
		high := map[uint64]uint64{}
		for i, e := range log {
			if e.tag == 0 {
				continue
			}
			want := !applied[e] && e.seq+dedupWindow > high[e.tag]
			if got := decided[uint64(i+1)]; got != want {
				t.Fatalf("index %d (proposer %d, seq %d, highest %d): admitted %v, want %v", i+1, e.tag, e.seq, high[e.tag], got, want)
			}
			if want {
				applied[e] = true
				high[e.tag] = max(high[e.tag], e.seq)
			}
		}
	})
}

// TestDedupSameDecisionsAfterCrash: members that cut the log into other
// chunks decide alike, pruning included; so does a member that crashed
// with the records of some chunk durable and its store at any index from
// just before that chunk to its end, and replays the rest of the log
// from there, in chunks of its own.
func TestDedupSameDecisionsAfterCrash(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		log := drawLog(t)
		n := uint64(len(log))
		newTab := func() dedupTable {
			return dedupTable{recs: map[uint64]*dedupRecord{}, pruneEvery: 16, pruneAfter: 40}
		}
		first, tab := map[uint64]bool{}, newTab()
		chunks := drawChunks(t, 1, n, 30, "chunk")
		crashAt := rapid.IntRange(0, len(chunks)-1).Draw(t, "crashChunk")
		var durable dedupTable
		var ci uint64
		for k, c := range chunks {
			decideChunk(&tab, log, c, first)
			if k == crashAt {
				durable = durableCopy(t, &tab)
				ci = rapid.Uint64Range(c[0]-1, c[1]).Draw(t, "consistentIndex")
			}
		}

		other, tab2 := map[uint64]bool{}, newTab()
		for _, c := range drawChunks(t, 1, n, 30, "otherChunk") {
			decideChunk(&tab2, log, c, other)
		}
		if !maps.Equal(first, other) {
			t.Fatalf("two chunkings decide differently:\n%v\n%v", sortedDecisions(first), sortedDecisions(other))
		}
		if !slices.Equal(slices.Sorted(maps.Keys(tab.recs)), slices.Sorted(maps.Keys(tab2.recs))) {
			t.Fatalf("two chunkings keep records of different proposers: %v, %v", sortedRecords(tab.recs), sortedRecords(tab2.recs))
		}

		replayed := map[uint64]bool{}
		if ci < n {
			for _, c := range drawChunks(t, ci+1, n, 30, "replayChunk") {
				decideChunk(&durable, log, c, replayed)
			}
		}
		for i, ok := range replayed {
			if first[i] != ok {
				t.Fatalf("crash with records of chunk %v and store at %d: index %d admitted %v on replay, %v the first time",
					chunks[crashAt], ci, i, ok, first[i])
			}
		}
	})
}

func sortedDecisions(m map[uint64]bool) []string {
	var out []string
	for _, i := range slices.Sorted(maps.Keys(m)) {
		out = append(out, fmt.Sprintf("%d:%v", i, m[i]))
	}
	return out
}

func sortedRecords(m map[uint64]*dedupRecord) []string {
	var out []string
	for _, tag := range slices.Sorted(maps.Keys(m)) {
		out = append(out, fmt.Sprintf("%d:%+v", tag, *m[tag]))
	}
	return out
}

// TestDedupPrunesSilentProposers: a record is deleted at the first
// multiple of pruneEvery at least pruneAfter past its proposer's last
// entry, and a proposer still proposing keeps its record.
func TestDedupPrunesSilentProposers(t *testing.T) {
	tab := dedupTable{recs: map[uint64]*dedupRecord{}, pruneEvery: 10, pruneAfter: 20}
	tab.admit(1, 5, []Proposal{{Index: 3, Tag: 7, Seq: 1}, {Index: 5, Tag: 8, Seq: 1}})
	// Nothing is pruned up to index pruneAfter; at 30, proposer 7 (last
	// entry at 3, before 30-20) is, and 8 (at 29) is not.
	_, changed := tab.admit(6, 29, []Proposal{{Index: 29, Tag: 8, Seq: 2}})
	if !slices.Equal(changed, []uint64{8}) || len(tab.recs) != 2 {
		t.Fatalf("before 30: changed %v, records %v", changed, sortedRecords(tab.recs))
	}
	_, changed = tab.admit(30, 30, nil)
	if !slices.Equal(changed, []uint64{7}) || tab.recs[7] != nil || tab.recs[8] == nil {
		t.Fatalf("at 30: changed %v, records %v; want 7 pruned", changed, sortedRecords(tab.recs))
	}
	// A pruned proposer starts afresh.
	admitted, _ := tab.admit(31, 31, []Proposal{{Index: 31, Tag: 7, Seq: 1}})
	if !admitted[0] {
		t.Fatal("the first proposal of a pruned proposer was refused")
	}
}

// BenchmarkApplyPuts applies puts to a KVState in chunks of 64 entries
// from 3 proposers, with the duplicate filter deciding each chunk first
// (dedup) or not (none): the filter's cost per entry.
func BenchmarkApplyPuts(b *testing.B) {
	for _, filter := range []bool{false, true} {
		name := map[bool]string{false: "none", true: "dedup"}[filter]
		b.Run(name, func(b *testing.B) {
			k, err := OpenKVState(fsx.NewMem(), "/db")
			if err != nil {
				b.Fatal(err)
			}
			defer k.Close()
			cmd, err := NewCommand(&api.PutRequest{Key: []byte("key"), Value: []byte("value")})
			if err != nil {
				b.Fatal(err)
			}
			put := body(cmd)
			const chunk = 64
			props := make([]Proposal, chunk)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += chunk {
				from := uint64(i + 1)
				if filter {
					for j := range props {
						props[j] = Proposal{Index: from + uint64(j), Tag: uint64(j%3 + 1), Seq: from + uint64(j)}
					}
					if _, err := k.AdmitProposals(from, from+chunk-1, props); err != nil {
						b.Fatal(err)
					}
				}
				for j := range uint64(chunk) {
					if _, err := k.Apply(from+j, 1, put); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
		})
	}
}
