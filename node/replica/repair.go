package replica

import (
	"fmt"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/logstore"
	"github.com/cairndb/cairn/raftcore"
)

// A member whose disk lost or corrupted data it had acknowledged repairs
// itself from the quorum (protocol-aware recovery; raftcore's repair.go
// has the protocol). The core finds the damage at start — the log
// reports what it had to cut (logstore.Damage), and a state machine that
// holds entries past the log's end shows entries the log lost — records
// it durably, and starts raft in repair: the member votes for no one and
// counts toward no commit until it has caught up from a leader that a
// quorum without it confirmed. Until that leader's commit index shows
// that the state machine holds only what the cluster committed, it serves
// no read; if the state machine is ahead of it, it never does, and says
// why.

// repairAttempt returns the number of the member's repair for raft
// (raftcore's Config.RepairAttempt): a start with damage pending begins a
// new one, counted durably before raft sends anything; a start in the
// term a repair finished goes on with that repair's number.
func repairAttempt(log RaftLog, damage string, repairedTerm uint64) (uint64, error) {
	switch {
	case damage == "" && repairedTerm == 0:
		return 0, nil
	case damage != "":
		n, err := log.BeginRepairAttempt()
		if err != nil {
			return 0, fmt.Errorf("node: count the repair: %w", err)
		}
		return n, nil
	}
	return max(log.RepairAttempt(), 1), nil
}

// ErrRepairing is returned for reads a member under repair refuses. It is
// an api.ErrUnhealthy: clients move the read to another member.
var ErrRepairing = &api.Error{Code: api.CodeUnhealthy, Message: "node: member under repair"}

// RepairState is a member's repair of data its disk lost.
type RepairState struct {
	// Damage says what the member lost; empty when it lost nothing.
	Damage string
	// Raft is raft's progress in the repair.
	Raft raftcore.RepairStatus
	// ReadRefusal is why the member serves no read now, or nil.
	ReadRefusal error
}

// Active reports whether the member is under repair (it lost data and
// has not yet caught up from the quorum).
func (r RepairState) Active() bool { return r.Raft.Active }

// String describes the repair for logs and status.
func (r RepairState) String() string {
	switch {
	case r.Damage == "" && !r.Raft.Active && !r.Raft.Finished:
		return "whole"
	case r.ReadRefusal != nil && r.Raft.Answered:
		return r.ReadRefusal.Error()
	case r.Raft.Active && !r.Raft.Answered:
		return fmt.Sprintf("under repair (%s): waiting for a leader confirmed by a quorum; it votes for no one and serves no reads", r.Damage)
	case r.Raft.Active:
		return fmt.Sprintf("under repair (%s): catching up to index %d from the leader of term %d; it votes for no one", r.Damage, r.Raft.Index, r.Raft.Term)
	}
	return fmt.Sprintf("repaired (%s): caught up to index %d of term %d", r.Damage, r.Raft.Index, r.Raft.Term)
}

// findDamage reports what the member lost, recorded durably: what the
// log found (or an earlier start recorded and no repair finished), or a
// state machine ahead of the log.
func findDamage(log RaftLog, sm StateMachine) (string, error) {
	if d := log.Damage(); d != nil {
		return d.Error(), nil
	}
	last, err := log.LastIndex()
	if err != nil {
		return "", fmt.Errorf("node: read the log's last index: %w", err)
	}
	applied := sm.AppliedIndex()
	if applied <= last {
		return "", nil
	}
	d := logstore.Damage{Kind: logstore.DamageStateAhead, LastIndex: last,
		Detail: fmt.Sprintf("the state machine holds entries up to index %d, the log only up to %d: the log lost entries it had made durable", applied, last)}
	if err := log.MarkDamaged(d); err != nil {
		return "", fmt.Errorf("node: record the damage: %w", err)
	}
	return d.Error(), nil
}

// Repair returns the member's repair state.
func (c *Core) Repair() RepairState {
	return RepairState{Damage: c.damage, Raft: c.raft.RepairStatus(), ReadRefusal: c.readRefusal()}
}

// Damaged reports whether the member lost data or found its store ahead
// of the cluster: only then has it a repair state to follow (Repair).
func (c *Core) Damaged() bool { return c.damage != "" || c.ahead != nil }

// readRefusal says why the member must serve no read now, or nil. A member
// that lost data serves none until a leader whose leadership a quorum
// without it confirmed has given it a commit index: only then is it known
// that its state machine holds nothing the cluster did not commit — or
// that it does, and it never serves a read.
func (c *Core) readRefusal() error {
	switch {
	case c.ahead != nil:
		return c.ahead
	case c.unconfirmed > 0:
		return fmt.Errorf("%w: it lost data (%s) and waits for the cluster to confirm what its store holds", ErrRepairing, c.damage)
	}
	return nil
}

// checkRepair follows raft's repair after each Ready (persisted): once a
// leader has given the read index, the state machine's index at start is
// confirmed committed, or shown ahead of the cluster; once the repair has
// finished, the log records the term it finished in instead of the
// damage; once raft's repair is over (the term moved on), the record goes.
// A state machine ahead of the cluster keeps the damage recorded: no
// catching up repairs it.
func (c *Core) checkRepair(rd raftcore.Ready) error {
	st := c.raft.RepairStatus()
	if c.unconfirmed > 0 && st.Answered {
		if c.unconfirmed > st.Index {
			c.ahead = fmt.Errorf("%w: its store holds index %d, past the cluster's commit index %d (term %d): it applied entries the cluster did not commit, and serves no reads; replace its data dir (member remove, then add it again empty)",
				ErrRepairing, c.unconfirmed, st.Index, st.Term)
		}
		c.unconfirmed = 0
	}
	if c.ahead != nil {
		return nil
	}
	if st.Finished && c.damage != "" {
		c.damage = ""
		if err := c.log.MarkRepaired(st.FinishedTerm); err != nil {
			return fmt.Errorf("record the end of the repair: %w", err)
		}
	}
	if rd.SoftState != nil && !rd.SoftState.Repairing && c.repairing {
		c.repairing = false
		if err := c.log.ClearRepair(); err != nil {
			return fmt.Errorf("forget the repair: %w", err)
		}
	}
	return nil
}
