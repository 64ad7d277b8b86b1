package raftcore

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchGroup is a lean 3-member group for benchmarks: memory storage,
// direct message delivery, none of the test cluster's safety checks.
type benchGroup struct {
	nodes   map[uint64]*Node
	disks   map[uint64]*MemoryStorage
	queue   []Message
	applied uint64 // entries applied by the leader
}

func newBenchGroup(b *testing.B, n int) *benchGroup {
	g := &benchGroup{nodes: map[uint64]*Node{}, disks: map[uint64]*MemoryStorage{}}
	var peers []Peer
	for i := 1; i <= n; i++ {
		peers = append(peers, Peer{ID: uint64(i)})
	}
	for i := 1; i <= n; i++ {
		id := uint64(i)
		g.disks[id] = NewMemoryStorage()
		nd, err := NewNode(Config{
			ID: id, ElectionTick: 10, HeartbeatTick: 1, Storage: g.disks[id],
			MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256, CheckQuorum: true, PreVote: true,
			Rand: rand.New(rand.NewPCG(1, id)),
		}, peers)
		if err != nil {
			b.Fatal(err)
		}
		g.nodes[id] = nd
	}
	g.nodes[1].Campaign()
	g.run()
	if g.nodes[1].Status().SoftState.State != StateLeader {
		b.Fatal("node 1 did not become leader")
	}
	return g
}

func (g *benchGroup) run() {
	for busy := true; busy; {
		busy = false
		for id := uint64(1); id <= uint64(len(g.nodes)); id++ {
			nd := g.nodes[id]
			for nd.HasReady() {
				busy = true
				rd, _ := nd.Ready()
				g.queue = append(g.queue, rd.Messages...)
				disk := g.disks[id]
				if !rd.Snapshot.IsEmpty() {
					_ = disk.ApplySnapshot(rd.Snapshot)
				}
				_ = disk.Append(rd.Entries)
				if !rd.HardState.IsEmpty() {
					disk.SetHardState(rd.HardState)
				}
				g.queue = append(g.queue, rd.MessagesAfterPersist...)
				if id == 1 {
					g.applied += uint64(len(rd.CommittedEntries))
				}
				nd.Advance()
			}
		}
		for len(g.queue) > 0 {
			busy = true
			m := g.queue[0]
			g.queue = g.queue[1:]
			_ = g.nodes[m.To].Step(m)
		}
	}
}

// BenchmarkCommit measures committed entries per second for a 3-member
// group in memory, proposing batches of 1, 16 and 256 entries of 256 B.
// Compaction keeps the log short, as a server's snapshots do.
func BenchmarkCommit(b *testing.B) {
	for _, batch := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			g := newBenchGroup(b, 3)
			data := make([][]byte, batch)
			for i := range data {
				data[i] = make([]byte, 256)
			}
			start := g.applied
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := g.nodes[1].Propose(data...); err != nil {
					b.Fatal(err)
				}
				g.run()
				if i%64 == 63 {
					for id, disk := range g.disks {
						if last := g.nodes[id].Status().Applied; last > 1 {
							_ = disk.Compact(last - 1)
						}
					}
				}
			}
			b.StopTimer()
			committed := g.applied - start
			if committed < uint64(b.N*batch) {
				b.Fatalf("committed %d entries, proposed %d", committed, b.N*batch)
			}
			b.ReportMetric(float64(committed)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}
