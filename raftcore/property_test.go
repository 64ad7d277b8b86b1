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
	numActions
)

func (a action) String() string {
	return [...]string{"tick", "tickAll", "ready", "deliver", "deliverDup", "drop",
		"propose", "crash", "restart", "partition", "oneWay", "heal", "transfer", "readIndex", "compact", "confChange"}[a]
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

func runSchedule(t *rapid.T, s schedule) *cluster {
	c := newCluster(t.Fatalf, s.seed, s.voters, s.total, func(cfg *Config) {
		cfg.PreVote, cfg.CheckQuorum = s.preVote, s.checkQuorum
		if s.oneEntryPerMsg {
			cfg.MaxSizePerMsg = 1
		}
	})
	c.compactEvery = s.compactEvery
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

func TestPropertyMembershipChanges(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { runSchedule(t, drawSchedule(t, 3, 5, true, true)) })
}
