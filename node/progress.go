package node

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/cairndb/cairn/btreekv/mvcc"
)

// DefaultProgressInterval is how often a long task (replaying the log
// at a restart, receiving a snapshot, a compaction) logs how far it has
// gone.
const DefaultProgressInterval = 5 * time.Second

// progress logs a long task: a line when it starts, one every interval
// while it runs saying how far along it is, and one when it ends with
// how long it took. It is used from one goroutine at a time.
type progress struct {
	log         *slog.Logger
	msg         string // the running task's message: "replaying the log"
	interval    time.Duration
	start, last time.Time
}

// startProgress logs msg with attrs, and returns the task's progress.
// A quiet task logs its start only at debug level: the tasks run often
// and are short (a compaction), unless they last an interval.
func startProgress(log *slog.Logger, interval time.Duration, quiet bool, msg string, attrs ...any) *progress {
	now := time.Now()
	level := slog.LevelInfo
	if quiet {
		level = slog.LevelDebug
	}
	log.Log(context.Background(), level, msg, attrs...)
	return &progress{log: log, msg: msg, interval: interval, start: now, last: now}
}

// update logs how far the task has gone, done of total units, if an
// interval has passed since the last line.
func (p *progress) update(done, total int64, unit string, attrs ...any) {
	now := time.Now()
	if now.Sub(p.last) < p.interval {
		return
	}
	p.last = now
	p.log.Info(p.msg, append([]any{unit + "-done", done, unit + "-total", total,
		"percent", percent(done, total), "elapsed", now.Sub(p.start).String()}, attrs...)...)
}

// finish logs the task's end, msg, with how long it took.
func (p *progress) finish(msg string, attrs ...any) {
	p.log.Info(msg, append(attrs, "took", time.Since(p.start).String())...)
}

// percent is done as a share of total, "42.0%".
func percent(done, total int64) string {
	if total <= 0 {
		return "100.0%"
	}
	return fmt.Sprintf("%.1f%%", float64(done)*100/float64(total))
}

func (s *Server) progressInterval() time.Duration {
	if s.opts.ProgressInterval > 0 {
		return s.opts.ProgressInterval
	}
	return DefaultProgressInterval
}

// logCompactStep is the store's OnCompactStep: a compaction's progress,
// on the goroutine that commits the store (which does the compaction's
// work: mvcc.Store.StartCompact), one call at a time.
func (s *Server) logCompactStep(st mvcc.CompactStep) {
	switch {
	case st.KeysDone == 0 && !st.Done:
		s.compaction = startProgress(s.log, s.progressInterval(), true, "compacting", "revision", st.Revision, "keys", st.Keys)
	case s.compaction == nil:
	case st.Done:
		s.compaction.finish("finished compaction", "revision", st.Revision, "keys", st.Keys, "records-removed", st.RecordsRemoved)
		s.compaction = nil
	default:
		s.compaction.update(int64(st.KeysDone), int64(st.Keys), "keys", "revision", st.Revision, "records-removed", st.RecordsRemoved)
	}
}

// replayProgress follows the log entries a restarted member applies again
// (those committed after its store's last durable index).
type replayProgress struct {
	*progress
	from, to uint64 // applied index at the start; last committed entry
}

// startReplay logs, at a restart, the entries about to be applied again.
func (s *Server) startReplay(applied, committed uint64) {
	if committed <= applied {
		return
	}
	s.replay = &replayProgress{from: applied, to: committed,
		progress: startProgress(s.log, s.progressInterval(), false, "replaying the log",
			"entries", committed-applied, "from-index", applied+1, "to-index", committed)}
}

// observeReplay is told of each applied index, on the apply goroutine.
func (s *Server) observeReplay(index uint64) {
	r := s.replay
	if r == nil || index <= r.from {
		return
	}
	if index >= r.to {
		r.finish("replayed the log", "entries", r.to-r.from, "to-index", r.to)
		s.replay = nil
		return
	}
	r.update(int64(index-r.from), int64(r.to-r.from), "entries", "index", index)
}
