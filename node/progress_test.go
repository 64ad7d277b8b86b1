package node

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cairndb/cairn/btreekv/mvcc"
)

// progressServer is a Server with only what progress logging uses: a
// logger writing to the returned buffer, and an interval so short that
// every update is logged.
func progressServer() (*Server, *bytes.Buffer) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return &Server{log: log, opts: ServerOptions{ProgressInterval: time.Nanosecond}}, &logs
}

// lines returns the log lines whose msg is msg.
func lines(logs *bytes.Buffer, msg string) []string {
	var out []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "msg=\""+msg+"\"") || strings.Contains(l+" ", "msg="+msg+" ") {
			out = append(out, l)
		}
	}
	return out
}

func TestReplayProgress(t *testing.T) {
	s, logs := progressServer()
	s.startReplay(10, 14)
	for index := uint64(9); index <= 15; index++ {
		s.observeReplay(index)
	}
	if l := lines(logs, "replaying the log"); len(l) != 4 || !strings.Contains(l[0], "entries=4 from-index=11 to-index=14") ||
		!strings.Contains(l[1], "entries-done=1 entries-total=4 percent=25.0%") || !strings.Contains(l[3], "entries-done=3 entries-total=4 percent=75.0%") {
		t.Errorf("replay lines:\n%s", strings.Join(l, "\n"))
	}
	if l := lines(logs, "replayed the log"); len(l) != 1 || !strings.Contains(l[0], "entries=4 to-index=14 took=") {
		t.Errorf("replayed lines: %q", l)
	}
	if s.replay != nil {
		t.Error("replay still followed after its last entry")
	}

	// Nothing to replay: nothing logged, nothing followed.
	s, logs = progressServer()
	s.startReplay(7, 7)
	s.observeReplay(8)
	if s.replay != nil || logs.Len() != 0 {
		t.Errorf("replay of nothing: %v, %q", s.replay, logs.String())
	}
}

func TestCompactionProgress(t *testing.T) {
	s, logs := progressServer()
	for _, st := range []mvcc.CompactStep{
		{Revision: 9, Keys: 4},
		{Revision: 9, Keys: 4, KeysDone: 2, RecordsRemoved: 3},
		{Revision: 9, Keys: 4, KeysDone: 4, RecordsRemoved: 5, Done: true},
	} {
		s.logCompactStep(st)
	}
	l := lines(logs, "compacting")
	if len(l) != 2 || !strings.Contains(l[0], "level=DEBUG") || !strings.Contains(l[0], "revision=9 keys=4") ||
		!strings.Contains(l[1], "keys-done=2 keys-total=4 percent=50.0%") || !strings.Contains(l[1], "records-removed=3") {
		t.Errorf("compacting lines:\n%s", strings.Join(l, "\n"))
	}
	if l := lines(logs, "finished compaction"); len(l) != 1 || !strings.Contains(l[0], "revision=9 keys=4 records-removed=5 took=") {
		t.Errorf("finished lines: %q", l)
	}
	if s.compaction != nil {
		t.Error("compaction still followed after its end")
	}
}

// A progress line is logged once an interval has passed, not before.
func TestProgressEveryInterval(t *testing.T) {
	var logs bytes.Buffer
	p := startProgress(slog.New(slog.NewTextHandler(&logs, nil)), time.Hour, false, "working")
	p.update(1, 2, "units")
	if n := len(lines(&logs, "working")); n != 1 {
		t.Fatalf("%d lines within the interval; want the start line alone:\n%s", n, logs.String())
	}
	p.last = p.last.Add(-2 * time.Hour)
	p.update(1, 2, "units")
	if l := lines(&logs, "working"); len(l) != 2 || !strings.Contains(l[1], "units-done=1 units-total=2 percent=50.0%") {
		t.Fatalf("lines after the interval:\n%s", logs.String())
	}
	if got := percent(0, 0); got != "100.0%" {
		t.Errorf("percent of nothing: %q", got)
	}
}
