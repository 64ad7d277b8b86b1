package sim

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/auth"
	"github.com/cairndb/cairn/node/replica"
	"github.com/cairndb/cairn/raftcore"
)

// readTimeline reads back the data a timeline page embeds.
func readTimeline(t *testing.T, path string) (timelineData, string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	const start = "const D = "
	i := strings.Index(page, start)
	j := strings.Index(page[i+1:], ";\n")
	if i < 0 || j < 0 {
		t.Fatalf("%s: no data in the page", path)
	}
	raw := page[i+len(start) : i+1+j]
	if strings.Contains(raw, "</") {
		t.Fatalf("%s: the data holds \"</\", which ends its script early", path)
	}
	for _, list := range []string{"laneStates", "conds", "progress", "msgs", "net", "conf", "faults", "ops", "entries", "msgTypes", "roles", "states"} {
		if strings.Contains(raw, `"`+list+`":null`) {
			t.Fatalf("%s: the page's list %s is null, which its script cannot walk (an empty list is [])", path, list)
		}
	}
	var d timelineData
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		t.Fatalf("%s: data: %v", path, err)
	}
	return d, page
}

// checkTimeline writes w's timeline and checks that it shows the run: a
// lane per member, each member's life from the start, a leader, the
// messages, the client operations, the faults and the committed entries,
// and the verdict of runErr.
func checkTimeline(t *testing.T, w *World, runErr error) timelineData {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run.html")
	if err := w.WriteTimeline(path, runErr); err != nil {
		t.Fatal(err)
	}
	d, page := readTimeline(t, path)
	if !strings.Contains(page, fmt.Sprintf("<title>cairn sim seed %d</title>", w.cfg.Seed)) {
		t.Errorf("seed %d: the page's title does not name the seed", w.cfg.Seed)
	}
	if d.Seed != w.cfg.Seed || d.Lanes != len(w.members) || d.Trace != fmt.Sprintf("%016x", w.TraceHash()) || d.End != w.Now() {
		t.Errorf("seed %d: timeline says seed %d, %d lanes, trace %s, end %d; the run had %d members, trace %016x, end %d",
			w.cfg.Seed, d.Seed, d.Lanes, d.Trace, d.End, len(w.members), w.TraceHash(), w.Now())
	}
	seen, leaders := map[int64]bool{}, 0
	for _, s := range d.LaneStates {
		if !seen[s[1]] && s[0] > 1000 && s[1] <= int64(w.cfg.Members) {
			t.Errorf("seed %d: member %d first appears at %dms, not at the start", w.cfg.Seed, s[1], s[0])
		}
		seen[s[1]] = true
		if s[3] == int64(raftcore.StateLeader) {
			leaders++
		}
	}
	if len(seen) != len(w.members) || leaders == 0 {
		t.Errorf("seed %d: the lanes show %d of %d members and %d leader terms", w.cfg.Seed, len(seen), len(w.members), leaders)
	}
	if len(d.Msgs) == 0 || len(d.Ops) == 0 || len(d.Progress) == 0 || len(d.Entries) != len(w.applied.entries) {
		t.Errorf("seed %d: %d messages, %d client operations, %d progress records, %d of %d entries",
			w.cfg.Seed, len(d.Msgs), len(d.Ops), len(d.Progress), len(d.Entries), len(w.applied.entries))
	}
	if w.cfg.Faults && len(d.Faults) != len(w.faultLog) {
		t.Errorf("seed %d: %d faults on the timeline, %d in the fault log", w.cfg.Seed, len(d.Faults), len(w.faultLog))
	}
	// The coverage counters and the timeline see the same run through
	// different hooks: they must agree.
	snaps, campaigns, elected := 0, 0, 0
	asked := map[int64]int64{}
	for _, m := range d.Msgs {
		if msgFate(m[9]&3) == fateDuplicate {
			continue
		}
		switch raftcore.MessageType(m[3]) {
		case raftcore.MsgSnap:
			snaps++
		case raftcore.MsgVote:
			if m[5] > asked[m[1]] {
				asked[m[1]] = m[5]
				campaigns++
			}
		}
	}
	role := map[int64]int64{}
	for _, s := range d.LaneStates {
		if s[3] == int64(raftcore.StateLeader) && role[s[1]] != s[3] {
			elected++
		}
		role[s[1]] = s[3]
	}
	if c := w.Coverage(); c.SnapshotsSent != snaps || c.Elections != campaigns || c.LeadersElected != elected {
		t.Errorf("seed %d: coverage counts %d snapshots sent, %d campaigns, %d leaders elected; the timeline shows %d, %d, %d",
			w.cfg.Seed, c.SnapshotsSent, c.Elections, c.LeadersElected, snaps, campaigns, elected)
	}
	if (runErr != nil) != (d.Verdict != "") {
		t.Errorf("seed %d: run error %v, timeline verdict %q", w.cfg.Seed, runErr, d.Verdict)
	}
	return d
}

// TestTimelineOfAFailure draws failing runs: the verdict and the failure's
// time on the page, and a link to porcupine's visualization that resolves
// to the file beside the page.
func TestTimelineOfAFailure(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		mutation Mutation
		viz      bool
	}{
		{LyingDisk, false}, // a check that fails while running, at a time of its own
		{StaleReads, true}, // linearizability, at the end
	} {
		cfg := DefaultConfig(1)
		cfg.Mutation, cfg.Timeline, cfg.VizDir = tc.mutation, true, dir
		w, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		runErr := w.Run()
		if runErr == nil {
			t.Fatalf("mutation %d, seed 1: passed every check", tc.mutation)
		}
		d := checkTimeline(t, w, runErr)
		if d.FailAt < 0 || d.FailAt > d.End || w.fatal != nil && d.FailAt != w.obs.failedAt {
			t.Errorf("mutation %d: fails at %dms on the timeline; the run ended at %dms, its violation at %dms", tc.mutation, d.FailAt, d.End, w.obs.failedAt)
		}
		if !tc.viz {
			continue
		}
		path := filepath.Join(dir, "run.html")
		if err := w.WriteTimeline(path, runErr); err != nil {
			t.Fatal(err)
		}
		d, _ = readTimeline(t, path)
		if d.Viz == "" || filepath.IsAbs(d.Viz) {
			t.Fatalf("mutation %d: timeline links to %q, want porcupine's file beside it; error: %.300s", tc.mutation, d.Viz, runErr)
		}
		if _, err := os.Stat(filepath.Join(dir, d.Viz)); err != nil {
			t.Errorf("the link to porcupine's visualization does not resolve: %v", err)
		}
	}
}

// TestWriteTimelineNeedsTheRecording refuses to write a run that was not
// recorded.
func TestWriteTimelineNeedsTheRecording(t *testing.T) {
	w, err := New(Config{Seed: 1, Members: 3, Clients: 1, Duration: 100, Keys: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteTimeline(filepath.Join(t.TempDir(), "x.html"), nil); err == nil || !strings.Contains(err.Error(), "Config.Timeline") {
		t.Errorf("WriteTimeline without a recording: %v, want an error naming Config.Timeline", err)
	}
}

// TestEntryKindsMatchNode checks that the timeline describes every kind of
// command as node makes it (replica.NewCommand, Internal, By), applied or
// read back whole from the log as a skipped duplicate: by its request and
// who made it, never as bytes.
func TestEntryKindsMatchNode(t *testing.T) {
	internal := func(req api.Message) replica.Envelope {
		cmd, err := replica.Internal(req)
		if err != nil {
			t.Fatal(err)
		}
		cmd.Member, cmd.Term = 2, 5 // as the core stamps it
		return cmd
	}
	client := func(req api.Message) replica.Envelope {
		cmd, err := replica.NewCommand(req)
		if err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	expiry := replica.ExpiryCommand(0x7)
	expiry.Member, expiry.Term = 3, 9
	for _, tc := range []struct {
		cmd  replica.Envelope
		want string
	}{
		{client(&api.PutRequest{Key: []byte("k1"), Value: []byte("v1")}), "put k1=v1"},
		{client(&api.DeleteRangeRequest{Key: []byte("k2")}), "delete k2"},
		{client(&api.TxnRequest{Compare: []api.Compare{{Key: []byte("k"), Value: []byte("a")}},
			Success: []api.RequestOp{{Put: &api.PutRequest{Key: []byte("k"), Value: []byte("b")}}}}), "txn if k==a then put k=b"},
		{client(&api.CompactionRequest{Revision: 3}), "compact to rev 3"},
		{client(&api.LeaseGrantRequest{TTL: 5, ID: 7}), "lease-grant 7 ttl 5s"},
		{client(&api.LeaseRevokeRequest{ID: 7}).By(auth.Identity{User: "alice"}), "lease-revoke 7 by user alice"},
		{expiry, "lease-revoke 7 by member 3 in term 9"},
		{internal(&api.AlarmRequest{Action: api.AlarmActivate, MemberID: 2, Alarm: api.AlarmNoSpace}), "alarm: raise NOSPACE of member 2 by member 2 in term 5"},
	} {
		data := tc.cmd.Marshal()
		if got := describeCommitted(appliedEntry{typ: raftcore.EntryNormal, data: data[16:]}); got != tc.want { // as Apply gets it
			t.Errorf("described as %q, want %q", got, tc.want)
		}
		got := describeCommitted(appliedEntry{typ: raftcore.EntryNormal, data: data, whole: true})
		if !strings.HasPrefix(got, tc.want) || !strings.Contains(got, "duplicate") {
			t.Errorf("read back from the log: described as %q, want %q and a duplicate", got, tc.want)
		}
	}
	if got := describeCommitted(appliedEntry{typ: raftcore.EntryNormal}); !strings.Contains(got, "no-op") {
		t.Errorf("an empty entry is described as %q", got)
	}
	if got := describeCommitted(appliedEntry{typ: raftcore.EntryNormal, data: []byte{66, 1}}); !strings.Contains(got, "2 bytes") {
		t.Errorf("a malformed command is described as %q", got)
	}
}

// A run too short for a disk condition still gives the page every list,
// an empty one as [] rather than null: the page's script walks them all.
func TestTimelineOfAnUneventfulRun(t *testing.T) {
	w, err := New(Config{Seed: 1, Members: 3, Clients: 1, Duration: 100, Keys: 1, Timeline: true})
	if err != nil {
		t.Fatal(err)
	}
	runErr := w.Run()
	path := filepath.Join(t.TempDir(), "quiet.html")
	if err := w.WriteTimeline(path, runErr); err != nil {
		t.Fatal(err)
	}
	d, _ := readTimeline(t, path)
	if len(d.Conds) != 0 {
		t.Fatalf("a 100 ms run had %d disk conditions: pick a quieter run for this test", len(d.Conds))
	}
}
