package node

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/node/replica"
)

// The corruption check. replica.Members that applied the same log hold the same
// key-value history, so their hashes of it (mvcc.Store.Hash) at one
// revision, starting after one compacted revision, are equal. Every
// --corrupt-check-time the leader asks each member for its hash at the
// leader's current revision (a follower first waits to apply it, and
// answers at its own revision if it is still behind), hashes its own
// history at each revision answered, compares the hashes taken at the same
// revision after the same compacted revision, and raises the CORRUPT
// alarm, through raft, on each member whose hash differs from the one most
// members share (on all of them when no hash is the most shared). While
// the alarm is raised every member refuses reads and writes of keys and
// leases (api.ErrCorrupt): the cluster's data can no longer be trusted,
// and serving it would spread the damage. `ctl alarm list` names the
// member; after it is replaced (ctl member remove, then member add with a
// fresh data dir), `ctl alarm disarm` lets the cluster serve again.
//
// A member that compacted past the revision, has not applied it in time,
// or cannot be reached is left out of that round: a check never guesses.

// corruptStats counts the periodic checks.
type corruptStats struct {
	// compared counts the checks in which at least two members' hashes
	// were compared.
	compared atomic.Int64
	// initialPassed is set when the initial check found no difference.
	initialPassed atomic.Bool
}

// corruptCheckTimeout bounds one round of the check, including the
// followers' wait for the revision.
func (s *Server) corruptCheckTimeout() time.Duration {
	return max(2*s.cfg.ElectionTimeout, 500*time.Millisecond)
}

// startCorruptChecks runs the initial check (once, in the background: the
// member stops if its data differs from its peers') and the leader's
// periodic check, as configured.
func (s *Server) startCorruptChecks() {
	if s.cfg.InitialCorruptCheck {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.initialCorruptCheck(); err != nil {
				s.failed(err)
			}
		}()
	}
	if d := s.cfg.CorruptCheckTime; d > 0 {
		s.every(d, func() {
			if s.driver.Leader() != s.id {
				return
			}
			ctx, cancel := s.stopContext(s.corruptCheckTimeout())
			defer cancel()
			if err := s.checkCorruption(ctx); err != nil {
				s.log.Warn("corruption check failed", "err", err)
			}
		})
	}
}

// stopContext is a context that ends after d or when the server stops.
func (s *Server) stopContext(d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// checkCorruption is one round of the leader's check: it compares the
// members' hashes at its current revision and raises the CORRUPT alarm on
// those that differ.
func (s *Server) checkCorruption(ctx context.Context) error {
	rev := s.replica.State.Store().Rev()
	if rev < 1 {
		return nil // an empty store: nothing to compare
	}
	var peers []uint64
	for _, m := range s.memberList() {
		if m.ID != s.id {
			peers = append(peers, m.ID)
		}
	}
	bad, groups, hashErr := s.replica.JudgeHashes(s.gatherHashes(ctx, peers, rev))
	s.checkStoreCorrupt(hashErr)
	if len(groups) == 0 {
		return nil // nobody to compare with this time
	}
	s.corrupt.compared.Add(1)
	for _, id := range bad {
		if slices.Contains(s.replica.State.Alarms(), api.AlarmMember{MemberID: id, Alarm: api.AlarmCorrupt}) {
			continue
		}
		s.log.Error("members' data differ: raising the CORRUPT alarm; reads and writes are refused until it is disarmed",
			"member-id", fmt.Sprintf("%016x", id), "hashes", replica.DescribeHashes(groups))
		if err := s.raiseCorrupt(ctx, id); err != nil {
			return fmt.Errorf("raising the CORRUPT alarm on member %016x: %w", id, err)
		}
	}
	return nil
}

// gatherHashes asks the given members, all at once, for their hashes at
// rev; the members that cannot answer are left out.
func (s *Server) gatherHashes(ctx context.Context, ids []uint64, rev int64) []replica.MemberHash {
	var mu sync.Mutex
	var out []replica.MemberHash
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := s.peerHashKV(ctx, id, rev)
			if err != nil {
				s.log.Debug("corruption check: member not compared this time", "member", fmt.Sprintf("%016x", id), "err", err)
				return
			}
			mu.Lock()
			out = append(out, h)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// raiseCorrupt proposes the CORRUPT alarm on member id.
func (s *Server) raiseCorrupt(ctx context.Context, id uint64) error {
	cmd, err := replica.CorruptAlarm(id)
	if err != nil {
		return err
	}
	res, err := s.driver.Propose(ctx, cmd)
	if err != nil {
		return err
	}
	if r, ok := res.(replica.ApplyResult); ok && r.Err != nil {
		return r.Err
	}
	return nil
}

// initialCorruptCheck compares this member's hash at its current revision
// with its peers' before it has served for long, retrying unreachable
// peers for a few election timeouts. It returns an error, which stops the
// member, when the comparison names this member: its hash is not the one
// most of the compared members share, or no hash is.
func (s *Server) initialCorruptCheck() error {
	rev := s.replica.State.Store().Rev()
	if rev < 1 {
		return nil // an empty store: nothing to compare
	}
	pending := map[uint64]bool{}
	for _, m := range s.memberList() {
		if m.ID != s.id {
			pending[m.ID] = true
		}
	}
	var answers []replica.MemberHash
	deadline := time.Now().Add(max(5*s.cfg.ElectionTimeout, 2*time.Second))
	for len(pending) > 0 && time.Now().Before(deadline) {
		ids := make([]uint64, 0, len(pending))
		for id := range pending {
			ids = append(ids, id)
		}
		ctx, cancel := s.stopContext(s.corruptCheckTimeout())
		for _, h := range s.gatherHashes(ctx, ids, rev) {
			delete(pending, h.ID)
			answers = append(answers, h)
		}
		cancel()
		select {
		case <-s.stop:
			return nil
		case <-time.After(s.cfg.HeartbeatInterval):
		}
	}
	bad, groups, hashErr := s.replica.JudgeHashes(answers)
	s.checkStoreCorrupt(hashErr)
	switch {
	case slices.Contains(bad, s.id):
		return fmt.Errorf("initial corruption check: this member's data differ from its peers' (hashes %s); it does not serve them: replace the member (ctl member remove, then member add and start it with an empty --data-dir)",
			replica.DescribeHashes(groups))
	case len(bad) > 0:
		s.log.Warn("initial corruption check: some peers' data differ from this member's and most others'",
			"member-ids", fmt.Sprintf("%016x", bad), "hashes", replica.DescribeHashes(groups))
	case len(groups) == 0:
		s.log.Warn("initial corruption check: no peer could be compared with", "revision", rev)
	default:
		s.log.Info("initial corruption check passed", "hashes", replica.DescribeHashes(groups))
		s.corrupt.initialPassed.Store(true)
	}
	return nil
}

// readRefusal says why the member serves no read of keys (a Range, a
// read-only Txn) now, as its driver and peers last told it: it lost data
// and has not been repaired (repair.go), or no peer confirmed its
// identity (peer_confirm.go). replica.Plan refuses the read with it,
// and refuses reads itself while the CORRUPT alarm is raised.
func (s *Server) readRefusal() error {
	if err := s.driver.ReadRefusal(); err != nil {
		return err
	}
	return s.identityRefusal()
}
