package raftcore

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"pgregory.net/rapid"
)

// The property tests run random schedules of ticks, deliveries, drops,
// duplicates, reorders, partitions, crashes and restarts against 3- and
// 5-member groups, checking Raft's safety properties after every step
// (see cluster.check) and liveness once the faults heal.
//
// By default each property runs 1000 schedules (200 with CAIRN_SHORT=1).
// Run many more with, e.g.:
//
//	go test ./raftcore -run Property -rapid.checks=100000
func TestMain(m *testing.M) {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) {
		if f.Name == "rapid.checks" {
			explicit = true
		}
	})
	if !explicit && os.Getenv("RAPID_CHECKS") == "" {
		checks := "1000"
		if os.Getenv("CAIRN_SHORT") != "" {
			checks = "200"
		}
		if err := flag.Set("rapid.checks", checks); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}

type action int

const (
	actTick action = iota
	actTickAll
	actReady
	actDeliver
	actDeliverDup
	actDrop
	actPropose
	actCrash
	actRestart
	actPartition
	actOneWay
	actHeal
	actTransfer
	actReadIndex
	actCompact
	actConfChange
	actLoseState
	numActions
)

func (a action) String() string {
	return [...]string{"tick", "tickAll", "ready", "deliver", "deliverDup", "drop",
		"propose", "crash", "restart", "partition", "oneWay", "heal", "transfer", "readIndex", "compact", "confChange", "loseState"}[a]
}

// schedule describes one random run. rapid draws the seed and the fault
// rates (so that a failure shrinks toward fewer steps and fewer faults);
// a PRNG seeded from them draws the individual actions, which gives long
// runs with many elections for little generation cost.
type schedule struct {
	voters, total int
	seed          uint64
	steps         int
	weights       [numActions]int
	compactEvery  uint64
	// Protocol options varied across runs.
	preVote, checkQuorum, oneEntryPerMsg bool
}

func drawSchedule(t *rapid.T, voters, total int, faults, confChanges bool) schedule {
	return drawScheduleLosing(t, voters, total, faults, confChanges, false)
}

// drawScheduleLosing is drawSchedule, with nodes whose disks lose state
// they promised (loseState) if lostState, a minority at a time.
func drawScheduleLosing(t *rapid.T, voters, total int, faults, confChanges, lostState bool) schedule {
	s := schedule{voters: voters, total: total}
	s.seed = rapid.Uint64().Draw(t, "seed")
	// rapid favours small numbers; scale its draw up so that a run sees
	// many elections (and shrinking still moves toward shorter runs).
	s.steps = 500 * rapid.IntRange(1, 10).Draw(t, "steps/500")
	w := &s.weights
	w[actTick], w[actTickAll], w[actReady], w[actDeliver], w[actPropose] = 20, 6, 40, 50, 10
	w[actReadIndex], w[actTransfer] = 2, 1
	if faults {
		w[actDrop] = rapid.IntRange(0, 10).Draw(t, "drop")
		w[actDeliverDup] = rapid.IntRange(0, 5).Draw(t, "duplicate")
		w[actCrash] = rapid.IntRange(0, 2).Draw(t, "crash")
		w[actRestart] = 3
		w[actPartition] = rapid.IntRange(0, 2).Draw(t, "partition")
		w[actOneWay] = rapid.IntRange(0, 1).Draw(t, "oneWay")
		w[actHeal] = 2
	}
	if confChanges {
		w[actConfChange] = 2
	}
	if lostState {
		w[actLoseState] = rapid.IntRange(1, 3).Draw(t, "loseState")
	}
	s.preVote = rapid.Bool().Draw(t, "preVote")
	s.checkQuorum = rapid.Bool().Draw(t, "checkQuorum")
	s.oneEntryPerMsg = rapid.Bool().Draw(t, "oneEntryPerMsg")
	if rapid.Bool().Draw(t, "compaction") {
		w[actCompact] = 1
		s.compactEvery = uint64(rapid.IntRange(3, 20).Draw(t, "compactEvery"))
	}
	return s
}

func (s schedule) pick(rng interface{ IntN(int) int }) action {
	total := 0
	for _, w := range s.weights {
		total += w
	}
	x := rng.IntN(total)
	for a, w := range s.weights {
		if x < w {
			return action(a)
		}
		x -= w
	}
	panic("unreachable")
}

func runSchedule(t *rapid.T, s schedule) *cluster { return run(t.Fatalf, s, false) }

// run runs schedule s; noRepair starts nodes that lost state as if they
// had not (a mutation).
func run(fatalf func(string, ...any), s schedule, noRepair bool) *cluster {
	c := newCluster(fatalf, s.seed, s.voters, s.total, func(cfg *Config) {
		cfg.PreVote, cfg.CheckQuorum = s.preVote, s.checkQuorum
		if s.oneEntryPerMsg {
			cfg.MaxSizePerMsg = 1
		}
	})
	c.compactEvery, c.noRepair = s.compactEvery, noRepair
	rng := rand.New(rand.NewPCG(s.seed, 42))
	node := func() uint64 { return uint64(1 + rng.IntN(s.total)) }
	for step := 0; step < s.steps; step++ {
		switch a := s.pick(rng); a {
		case actTick:
			c.tick(node())
		case actTickAll:
			c.tickAll()
		case actReady:
			c.processReady(node())
		case actDeliver:
			c.deliver(rng.IntN(1<<20), false)
		case actDeliverDup:
			c.deliver(rng.IntN(1<<20), true)
		case actDrop:
			c.drop(rng.IntN(1 << 20))
		case actPropose:
			c.propose(node())
		case actCrash:
			c.crash(node())
		case actRestart:
			c.restart(node())
		case actPartition:
			for _, id := range c.ids {
				c.group[id] = rng.IntN(2)
			}
		case actOneWay:
			c.oneWay[[2]uint64{node(), node()}] = true
		case actHeal:
			c.heal()
		case actTransfer:
			if lead := c.leader(); lead != 0 {
				c.nodes[lead].node.TransferLeader(node())
			}
		case actReadIndex:
			if tn := c.nodes[node()]; tn.node != nil {
				_ = tn.node.ReadIndex(fmt.Appendf(nil, "r%d", step))
			}
		case actCompact:
			c.compact(c.nodes[node()])
		case actConfChange:
			if lead := c.leader(); lead != 0 {
				cc := ConfChange{Type: ConfChangeType(rng.IntN(3)), NodeID: node()}
				_ = c.nodes[lead].node.ProposeConfChange(cc)
			}
		case actLoseState:
			// Only a minority of the voters may have lost state at a
			// time: beyond that, what they promised is gone for good.
			damaged := 0
			for _, id := range c.ids {
				if c.nodes[id].damaged {
					damaged++
				}
			}
			if id := node(); !c.nodes[id].damaged && damaged+1 <= (s.voters-1)/2 {
				c.loseState(id)
			}
		}
	}
	c.checkLiveness()
	return c
}

// checkLiveness heals every fault and requires that the cluster elects a
// leader and commits a new proposal within a bounded number of ticks.
func (c *cluster) checkLiveness() {
	c.heal()
	for _, id := range c.ids {
		c.restart(id)
	}
	const budget = 500 // ticks; the election timeout is 10..20
	for i := 0; i < budget; i++ {
		c.tickAll()
		c.stabilize()
		lead := c.leader()
		if lead == 0 {
			continue
		}
		ln := c.nodes[lead]
		if ln.node.r.leadTransferee != None || !ln.node.r.committedInTerm() {
			continue
		}
		before := ln.node.r.log.lastIndex()
		if err := ln.node.Propose([]byte("liveness")); err != nil {
			continue
		}
		c.stabilize()
		// The proposal must be committed and applied on every voter.
		ok := true
		for _, id := range ln.node.r.configs.current().Voters {
			if c.nodes[id].applied <= before {
				ok = false
			}
		}
		if ok {
			return
		}
	}
	c.fatalf("liveness: no leader committed a proposal within %d ticks after healing\n%s", budget, c.describe())
}

func TestPropertyThreeMembers(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { runSchedule(t, drawSchedule(t, 3, 3, true, false)) })
}

func TestPropertyFiveMembers(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { runSchedule(t, drawSchedule(t, 5, 5, true, false)) })
}

// TestPropertyLostState: nodes whose disks lose the tail of their log and
// their term and vote (a minority at a time) repair themselves, and the
// safety properties hold throughout.
func TestPropertyLostState(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		voters := rapid.SampledFrom([]int{3, 5}).Draw(t, "voters")
		runSchedule(t, drawScheduleLosing(t, voters, voters, true, false, true))
	})
}

// TestLostStateWithoutRepairIsCaught: the same schedules with repair
// switched off break a safety property (a node acts on the state it has
// left as if it were whole), so the checks above can fail.
func TestLostStateWithoutRepairIsCaught(t *testing.T) {
	type caught struct{ msg string }
	for seed := uint64(1); seed <= 2000; seed++ {
		s := schedule{voters: 3, total: 3, seed: seed, steps: 3000, preVote: true, checkQuorum: true}
		w := &s.weights
		w[actTick], w[actTickAll], w[actReady], w[actDeliver], w[actPropose] = 20, 6, 40, 50, 10
		w[actDrop], w[actDeliverDup], w[actCrash], w[actRestart], w[actPartition], w[actHeal] = 3, 1, 1, 3, 1, 2
		w[actLoseState] = 3
		var got *caught
		func() {
			defer func() {
				if r := recover(); r != nil {
					c, ok := r.(caught)
					if !ok {
						panic(r)
					}
					got = &c
				}
			}()
			run(func(format string, args ...any) { panic(caught{fmt.Sprintf(format, args...)}) }, s, true)
		}()
		if got != nil {
			t.Logf("caught at seed %d: %.300s", seed, got.msg)
			return
		}
	}
	t.Fatal("nodes that lost state and did not repair broke no safety property in 2000 schedules")
}

func TestPropertyMembershipChanges(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { runSchedule(t, drawSchedule(t, 3, 5, true, true)) })
}
