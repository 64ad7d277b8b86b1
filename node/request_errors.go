package node

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/cairndb/cairn/api"
)

// memberDeadlineKey marks a context whose deadline the member set
// (withDeadline), not the client.
type memberDeadlineKey struct{}

// clientGivesUpFirst reports whether ctx's deadline is the client's own
// and comes before the member's request timeout would: a write that
// times out on it was abandoned by its client (a benchmark's end, a
// client's short timeout), which is no sign of trouble in the cluster.
func (s *Server) clientGivesUpFirst(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	return ok && ctx.Value(memberDeadlineKey{}) == nil && time.Until(dl) < s.requestTimeout()
}

// timeoutWarnEvery is how often at most a member logs that write
// requests timed out; the warning counts those it held back.
const timeoutWarnEvery = 5 * time.Second

// warnLimiter lets a warning through at most once an interval and counts
// the ones it held back, so that a flood of failing requests costs one
// line every few seconds, not one each. Safe for concurrent use.
type warnLimiter struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// allow reports whether to log now, and how many warnings were held back
// since the last one logged.
func (w *warnLimiter) allow(now time.Time, every time.Duration) (ok bool, suppressed int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.last.IsZero() && now.Sub(w.last) < every {
		w.suppressed++
		return false, 0
	}
	w.last, suppressed, w.suppressed = now, w.suppressed, 0
	return true, suppressed
}

// proposalTimedOut names the error of a write whose deadline passed
// before it was applied, as etcd does: if the leader changed (or there is
// none) since the write was proposed, the proposal was most likely lost
// with the old leader's uncommitted entries
// (TimeoutDueToLeaderFail); otherwise the cluster was too slow
// (Timeout). Either way the write may still be applied: its outcome is
// unknown, which is why the client is told so rather than to retry
// elsewhere. The member logs it at warn, at most once every
// timeoutWarnEvery.
func (s *Server) proposalTimedOut(start time.Time, startTerm, startLeader uint64) error {
	term, leader := s.metrics.term.Load(), s.driver.Leader()
	err := api.ErrTimeout
	if leader == 0 || leader != startLeader || term != startTerm {
		err = api.ErrTimeoutDueToLeaderFail
	}
	if ok, held := s.timeoutLog.allow(time.Now(), timeoutWarnEvery); ok {
		s.log.Warn("write request timed out before it was applied; its outcome is unknown to the client",
			"err", err, "waited", time.Since(start).Round(time.Millisecond),
			"leader_at_start", fmt.Sprintf("%016x", startLeader), "term_at_start", startTerm,
			"leader", fmt.Sprintf("%016x", leader), "term", term, "also_timed_out_since_last_log", held)
	}
	return err
}
