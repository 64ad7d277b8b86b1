package sim

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/node/replica"
	"github.com/cairndb/cairn/raftcore"
)

// The timeline of a run: everything a reader needs to see the run as a
// picture, recorded as it happens (trace.go's hooks) and written as one
// self-contained HTML page (timeline.html, with the data inlined as JSON)
// that draws it: a lane per member with its role and term over virtual
// time, the messages between them, the faults, the client operations,
// and each log entry's life on each member.
//
// Records are small arrays of numbers, not objects, to keep the page of a
// 30-second run with five members to a few megabytes.

//go:embed timeline.html
var timelinePage string

// timeline records a run for the page.
type timeline struct {
	data timelineData
	// last is what was last recorded of each member (by id-1).
	last []memberSample
	net  netRecord
	conf confRecord
	// ops maps a client request id to its record in data.Ops.
	ops map[uint64]int
}

// memberSample is a member's state as last recorded.
type memberSample struct {
	state, role, term, lead int64
	cond                    int64
	last, commit, applied   int64
}

// Condition bits of a member's disk and armed faults (timelineData.Conds).
const (
	condDiskFull    = 1 << iota // the disk is full
	condSlowDisk                // fsyncs are slow
	condCrashArmed              // a crash inside an fsync or a snapshot install is armed
	condFlipPending             // a bit flipped at rest, not yet noticed
	condLost                    // the disk lost acknowledged data, not yet noticed
)

// timelineData is the page's data, as JSON.
type timelineData struct {
	Seed    uint64 `json:"seed"`
	Members int    `json:"members"`
	Lanes   int    `json:"lanes"`
	End     int64  `json:"end"`
	HealAt  int64  `json:"healAt"`
	Trace   string `json:"trace"`
	Nemesis string `json:"nemesis"`
	Verdict string `json:"verdict"`
	FailAt  int64  `json:"failAt"`
	Viz     string `json:"viz"`
	Events  uint64 `json:"events"`
	// Replayable says the run is the one `-seed N` makes (the default
	// configuration, no mutation), so the page can show that command.
	Replayable bool     `json:"replayable"`
	Coverage   Coverage `json:"coverage"`

	MsgTypes []string `json:"msgTypes"`
	Roles    []string `json:"roles"`
	States   []string `json:"states"`

	// Lane records: [t, member, state, role, term, lead] (role -1 when
	// the member is not up).
	LaneStates [][6]int64 `json:"laneStates"`
	// Conds: [t, member, bits].
	Conds [][3]int64 `json:"conds"`
	// Progress: [t, member, last index, commit, applied, persisted at].
	Progress [][6]int64 `json:"progress"`
	// Msgs: [sent, from, to, type, arrives, term, index, entries,
	// commit, flags] with flags = fate | reject<<2.
	Msgs    [][10]int64   `json:"msgs"`
	Net     []netRecord   `json:"net"`
	Conf    []confRecord  `json:"conf"`
	Faults  []faultRecord `json:"faults"`
	Ops     []opRecord    `json:"ops"`
	Entries []entryRecord `json:"entries"`
}

// netRecord is the network's state from T on.
type netRecord struct {
	T    int64       `json:"t"`
	Cut  [][2]uint64 `json:"cut"`
	Slow [][3]int64  `json:"slow"`
	Drop float64     `json:"drop"`
	Dup  float64     `json:"dup"`
}

// confRecord is the committed membership from T on.
type confRecord struct {
	T        int64    `json:"t"`
	Voters   []uint64 `json:"voters"`
	Learners []uint64 `json:"learners"`
}

// faultRecord is one line of the fault log.
type faultRecord struct {
	T    int64  `json:"t"`
	Text string `json:"text"`
}

// opRecord is one client operation (End -1 while it runs).
type opRecord struct {
	Client  int    `json:"c"`
	Member  uint64 `json:"m"`
	Start   int64  `json:"s"`
	End     int64  `json:"e"`
	Req     string `json:"req"`
	Result  string `json:"res"`
	Outcome string `json:"out"`
}

// entryRecord describes the entry the cluster committed at an index.
type entryRecord struct {
	Index uint64 `json:"i"`
	Term  uint64 `json:"t"`
	Desc  string `json:"d"`
}

func newTimeline(w *World) *timeline {
	tl := &timeline{ops: map[uint64]int{}}
	tl.data.Seed = w.cfg.Seed
	tl.data.Members = w.cfg.Members
	for t := raftcore.MessageType(0); t <= raftcore.MsgTransferLeader; t++ {
		tl.data.MsgTypes = append(tl.data.MsgTypes, strings.TrimPrefix(t.String(), "Msg"))
	}
	for r := raftcore.StateFollower; r <= raftcore.StateLeader; r++ {
		tl.data.Roles = append(tl.data.Roles, r.String())
	}
	for s := memberState(0); s <= stateRemoved; s++ {
		tl.data.States = append(tl.data.States, s.String())
	}
	return tl
}

// grow makes room for the members added since the last event.
func (tl *timeline) grow(w *World) {
	for len(tl.last) < len(w.members) {
		tl.last = append(tl.last, memberSample{role: -2, term: -1, lead: -1, last: -1, commit: -1, applied: -1})
	}
}

// sampleMember records m's role, term and log progress if they changed.
func (tl *timeline) sampleMember(w *World, m *member) {
	tl.grow(w)
	s := &tl.last[m.id-1]
	role, term, lead := int64(-1), s.term, s.lead
	last, commit, applied := s.last, s.commit, s.applied
	if m.state == stateUp {
		st := m.core.Status()
		role, term, lead = int64(st.SoftState.State), int64(st.HardState.Term), int64(st.SoftState.Lead)
		commit, applied = int64(st.HardState.Commit), int64(st.Applied)
		if li, err := m.log.LastIndex(); err == nil {
			last = int64(li)
		}
	}
	if state := int64(m.state); state != s.state || role != s.role || term != s.term || lead != s.lead {
		s.state, s.role, s.term, s.lead = state, role, term, lead
		tl.data.LaneStates = append(tl.data.LaneStates, [6]int64{w.now, int64(m.id), state, role, term, lead})
	}
	if last != s.last || commit != s.commit || applied != s.applied {
		s.last, s.commit, s.applied = last, commit, applied
		tl.data.Progress = append(tl.data.Progress, [6]int64{w.now, int64(m.id), last, commit, applied, max(w.now, m.busyUntil)})
	}
}

// condOf is a member's condition bits.
func condOf(m *member) int64 {
	var c int64
	if m.diskFull {
		c |= condDiskFull
	}
	if m.syncLatency[1] > 0 {
		c |= condSlowDisk
	}
	if m.crashAtSync > 0 || m.crashInSnapshot {
		c |= condCrashArmed
	}
	if m.flipPending {
		c |= condFlipPending
	}
	if m.lostUnnoticed {
		c |= condLost
	}
	return c
}

// afterEvent records what an event changed outside a member's step: the
// members' lives and disks, the network, the membership.
func (tl *timeline) afterEvent(w *World) {
	tl.grow(w)
	for _, m := range w.members {
		s := &tl.last[m.id-1]
		if int64(m.state) != s.state {
			tl.sampleMember(w, m)
		}
		if c := condOf(m); c != s.cond {
			s.cond = c
			tl.data.Conds = append(tl.data.Conds, [3]int64{w.now, int64(m.id), c})
		}
	}
	tl.sampleNet(w)
	tl.sampleConf(w)
}

// sampleNet records the network's state if it changed.
func (tl *timeline) sampleNet(w *World) {
	n := &w.net
	same := n.dropRate == tl.net.Drop && n.dupRate == tl.net.Dup && len(n.cut) == len(tl.net.Cut) && len(n.slow) == len(tl.net.Slow)
	for _, c := range tl.net.Cut {
		same = same && n.cut[link{c[0], c[1]}]
	}
	for _, s := range tl.net.Slow {
		same = same && n.slow[link{uint64(s[0]), uint64(s[1])}] == s[2]
	}
	if same {
		return
	}
	r := netRecord{T: w.now, Drop: n.dropRate, Dup: n.dupRate, Cut: [][2]uint64{}, Slow: [][3]int64{}}
	for l, cut := range n.cut {
		if cut {
			r.Cut = append(r.Cut, [2]uint64{l.from, l.to})
		}
	}
	for l, d := range n.slow {
		r.Slow = append(r.Slow, [3]int64{int64(l.from), int64(l.to), d})
	}
	slices.SortFunc(r.Cut, func(a, b [2]uint64) int { return int(a[0]*1000+a[1]) - int(b[0]*1000+b[1]) })
	slices.SortFunc(r.Slow, func(a, b [3]int64) int { return int(a[0]*1000+a[1]) - int(b[0]*1000+b[1]) })
	tl.net = r
	tl.data.Net = append(tl.data.Net, r)
}

// sampleConf records the committed membership if it changed.
func (tl *timeline) sampleConf(w *World) {
	if slices.Equal(w.conf.voters, tl.conf.Voters) && slices.Equal(w.conf.learners, tl.conf.Learners) {
		return
	}
	tl.conf = confRecord{T: w.now, Voters: append([]uint64{}, w.conf.voters...), Learners: append([]uint64{}, w.conf.learners...)}
	tl.data.Conf = append(tl.data.Conf, tl.conf)
}

// message records a raft message put on the wire.
func (tl *timeline) message(now int64, from uint64, msg *raftcore.Message, arrive int64, fate msgFate) {
	index := msg.Index
	if msg.Type == raftcore.MsgSnap && msg.Snapshot != nil {
		index = msg.Snapshot.Metadata.Index
	}
	flags := int64(fate)
	if msg.Reject {
		flags |= 1 << 2
	}
	tl.data.Msgs = append(tl.data.Msgs, [10]int64{now, int64(from), int64(msg.To), int64(msg.Type), arrive,
		int64(msg.Term), int64(index), int64(len(msg.Entries)), int64(msg.Commit), flags})
}

// fault records a line of the fault log.
func (tl *timeline) fault(now int64, text string) {
	tl.data.Faults = append(tl.data.Faults, faultRecord{T: now, Text: text})
}

// callStart records a client operation sent to member.
func (tl *timeline) callStart(now int64, client int, member, reqID uint64, req api.RequestOp) {
	tl.ops[reqID] = len(tl.data.Ops)
	tl.data.Ops = append(tl.data.Ops, opRecord{Client: client, Member: member, Start: now, End: -1, Req: describeRequest(req)})
}

// callEnd records how a client operation ended.
func (tl *timeline) callEnd(now int64, p *pendingOp, how outcome) {
	i, ok := tl.ops[p.reqID]
	if !ok {
		return
	}
	delete(tl.ops, p.reqID)
	op := &tl.data.Ops[i]
	op.End = now
	switch how {
	case returned:
		op.Outcome, op.Result = "ok", describeResponse(p.resp)
	case unknown:
		op.Outcome = "unknown"
		if !p.answered {
			op.Result = "timed out: it may or may not have happened"
		} else {
			op.Result = "failed while in flight: it may or may not have happened"
		}
	case discarded:
		op.Outcome = "failed"
		op.Result = "refused or timed out: it did not happen"
	}
}

// describeRequest summarizes a client request in a few words.
func describeRequest(req api.RequestOp) string {
	switch {
	case req.Range != nil:
		if len(req.Range.RangeEnd) > 0 {
			return fmt.Sprintf("range [%s, %s)", printable(req.Range.Key), printable(req.Range.RangeEnd))
		}
		return fmt.Sprintf("get %s", printable(req.Range.Key))
	case req.Put != nil:
		return fmt.Sprintf("put %s=%s", printable(req.Put.Key), printable(req.Put.Value))
	case req.DeleteRange != nil:
		if len(req.DeleteRange.RangeEnd) > 0 {
			return fmt.Sprintf("delete [%s, %s)", printable(req.DeleteRange.Key), printable(req.DeleteRange.RangeEnd))
		}
		return fmt.Sprintf("delete %s", printable(req.DeleteRange.Key))
	case req.Txn != nil:
		var parts []string
		for _, c := range req.Txn.Compare {
			parts = append(parts, fmt.Sprintf("%s==%s", printable(c.Key), printable(c.Value)))
		}
		then := make([]string, 0, len(req.Txn.Success))
		for _, s := range req.Txn.Success {
			then = append(then, describeRequest(s))
		}
		els := make([]string, 0, len(req.Txn.Failure))
		for _, s := range req.Txn.Failure {
			els = append(els, describeRequest(s))
		}
		s := fmt.Sprintf("txn if %s then %s", strings.Join(parts, " && "), strings.Join(then, "; "))
		if len(els) > 0 {
			s += " else " + strings.Join(els, "; ")
		}
		return s
	}
	return "?"
}

// describeResponse summarizes a response a client got.
func describeResponse(resp api.ResponseOp) string {
	switch {
	case resp.Range != nil:
		if len(resp.Range.Kvs) == 0 {
			return fmt.Sprintf("nothing, at rev %d", resp.Range.Header.Revision)
		}
		var kvs []string
		for _, kv := range resp.Range.Kvs {
			kvs = append(kvs, fmt.Sprintf("%s=%s", printable(kv.Key), printable(kv.Value)))
		}
		return fmt.Sprintf("%s, at rev %d", strings.Join(kvs, " "), resp.Range.Header.Revision)
	case resp.Put != nil:
		return fmt.Sprintf("done at rev %d", resp.Put.Header.Revision)
	case resp.DeleteRange != nil:
		return fmt.Sprintf("%d deleted at rev %d", resp.DeleteRange.Deleted, resp.DeleteRange.Header.Revision)
	case resp.Txn != nil:
		if resp.Txn.Succeeded {
			return fmt.Sprintf("succeeded at rev %d", resp.Txn.Header.Revision)
		}
		return fmt.Sprintf("compare failed at rev %d", resp.Txn.Header.Revision)
	}
	return "?"
}

// printable shows bytes as text, with what is not printable escaped.
func printable(b []byte) string {
	s := string(b)
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return fmt.Sprintf("%q", s)
		}
	}
	return s
}

// describeCommitted summarizes a committed entry: its request, and who
// made it when a user or the member itself did (a leader's lease-expiry
// revoke, a member's alarm), read by replica.OpenCommand as Apply got it,
// or by replica.OpenEnvelope for an entry skipped as a duplicate, which is
// read back whole from the log.
func describeCommitted(e appliedEntry) string {
	switch e.typ {
	case raftcore.EntryConfChange:
		var cc raftcore.ConfChange
		if err := cc.UnmarshalBinary(e.data); err == nil {
			return fmt.Sprintf("conf change: %s %d", cc.Type, cc.NodeID)
		}
		return "conf change"
	case raftcore.EntryNormal:
	default:
		return e.typ.String()
	}
	if len(e.data) == 0 {
		return "no-op (a new leader's first entry)"
	}
	open, note := replica.OpenCommand, ""
	if e.whole {
		open, note = replica.OpenEnvelope, " (a duplicate proposal, skipped)"
	}
	cmd, err := open(e.data)
	if err != nil {
		return fmt.Sprintf("%d bytes: %v", len(e.data), err)
	}
	return describeCommand(&cmd) + note
}

// describeCommand describes a command: its request, and who made it.
func describeCommand(cmd *replica.Envelope) string {
	what := cmd.Kind.String()
	if req, err := cmd.Request(); err == nil {
		what = describeMessage(req)
	}
	switch cmd.Who {
	case replica.WhoUser:
		what += " by user " + printable([]byte(cmd.User.User))
	case replica.WhoMember:
		what += fmt.Sprintf(" by member %d in term %d", cmd.Member, cmd.Term)
	}
	return what
}

// describeMessage summarizes a request a command carries.
func describeMessage(req api.Message) string {
	switch req := req.(type) {
	case *api.PutRequest:
		return describeRequest(api.RequestOp{Put: req})
	case *api.DeleteRangeRequest:
		return describeRequest(api.RequestOp{DeleteRange: req})
	case *api.TxnRequest:
		return describeRequest(api.RequestOp{Txn: req})
	case *api.CompactionRequest:
		return fmt.Sprintf("compact to rev %d", req.Revision)
	case *api.LeaseGrantRequest:
		return fmt.Sprintf("lease-grant %x ttl %ds", req.ID, req.TTL)
	case *api.LeaseRevokeRequest:
		return fmt.Sprintf("lease-revoke %x", req.ID)
	case *api.AlarmRequest:
		action := map[api.AlarmAction]string{api.AlarmGet: "list", api.AlarmActivate: "raise", api.AlarmDeactivate: "clear"}[req.Action]
		return fmt.Sprintf("alarm: %s %v of member %d", action, req.Alarm, req.MemberID)
	case *api.Member:
		return fmt.Sprintf("member-attrs %d %s", req.ID, printable([]byte(req.Name)))
	}
	return fmt.Sprintf("%T", req)
}

// vizPath finds the file of porcupine's visualization an error names.
var vizPath = regexp.MustCompile(`\S*cairn-linearizability-\S*\.html`)

// WriteTimeline writes the run's timeline to path as one HTML page; runErr
// is what Run returned. The run must have been made with
// Config.Timeline. If the linearizability check failed, the page links
// to porcupine's visualization, which is written beside it (set
// Config.VizDir to the same directory).
func (w *World) WriteTimeline(path string, runErr error) error {
	tl := w.obs.tl
	if tl == nil {
		return fmt.Errorf("timeline: %s: the run was made without Config.Timeline", path)
	}
	tl.afterEvent(w)
	d := &tl.data
	d.Members = w.cfg.Members
	d.Lanes = len(w.members)
	d.End = w.now
	if w.healed {
		d.HealAt = w.cfg.Duration
	}
	d.Trace = fmt.Sprintf("%016x", w.trace)
	d.Events = w.events
	d.Nemesis = w.describeFaults()
	std := DefaultConfig(w.cfg.Seed)
	d.Replayable = w.cfg.Mutation == NoMutation && w.cfg.Duration == std.Duration && w.cfg.Clients == std.Clients &&
		w.cfg.Keys == std.Keys && w.cfg.Faults == std.Faults
	d.Coverage = w.Coverage()
	d.FailAt = -1
	if runErr != nil {
		d.Verdict = runErr.Error()
		d.FailAt = w.now
		if w.obs.failedAt >= 0 && w.fatal != nil {
			d.FailAt = w.obs.failedAt
		}
		if viz := vizPath.FindString(d.Verdict); viz != "" {
			rel, err := filepath.Rel(filepath.Dir(path), viz)
			if err != nil || strings.HasPrefix(rel, "..") {
				rel = "file://" + viz
			}
			d.Viz = rel
		}
	}
	d.Entries = d.Entries[:0]
	for _, i := range slices.Sorted(maps.Keys(w.applied.entries)) {
		e := w.applied.entries[i]
		d.Entries = append(d.Entries, entryRecord{Index: i, Term: e.term, Desc: describeCommitted(e)})
	}
	// A list with nothing in it is [] to the page, never null (a run may
	// have, say, no disk condition at all).
	d.MsgTypes, d.Roles, d.States = orEmpty(d.MsgTypes), orEmpty(d.Roles), orEmpty(d.States)
	d.LaneStates, d.Conds, d.Progress, d.Msgs = orEmpty(d.LaneStates), orEmpty(d.Conds), orEmpty(d.Progress), orEmpty(d.Msgs)
	d.Net, d.Conf, d.Faults, d.Ops, d.Entries = orEmpty(d.Net), orEmpty(d.Conf), orEmpty(d.Faults), orEmpty(d.Ops), orEmpty(d.Entries)
	data, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("timeline: %s: %w", path, err)
	}
	// Inside a <script> element, "</" must not appear as is.
	js := strings.ReplaceAll(string(data), "</", `<\/`)
	page := strings.Replace(timelinePage, "/*DATA*/null", js, 1)
	page = strings.Replace(page, "<!--TITLE-->", fmt.Sprintf("cairn sim seed %d", w.cfg.Seed), 1)
	if err := os.WriteFile(path, []byte(page), 0o644); err != nil {
		return fmt.Errorf("timeline: %w", err)
	}
	return nil
}

// orEmpty is s, or an empty list instead of nil (JSON [] instead of null).
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
