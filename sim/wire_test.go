package sim

import (
	"container/heap"
	"errors"
	"testing"

	"github.com/cairndb/cairn/internal/fsx"
	"github.com/cairndb/cairn/node/replica"
)

// quietWorld is a world without faults, whose tests make their own.
func quietWorld(t *testing.T, seed uint64, members int) *World {
	t.Helper()
	cfg := DefaultConfig(seed)
	cfg.Faults, cfg.LossFaults, cfg.Members = false, false, members
	cfg.Auth, cfg.CorruptCheck = AuthNever, CheckNever
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// isolate cuts every link to and from member id, or mends them.
func (w *World) isolate(id uint64, cut bool) {
	for _, o := range w.members {
		if o.id != id {
			w.net.cut[link{id, o.id}], w.net.cut[link{o.id, id}] = cut, cut
		}
	}
}

// A member restarted on its disk while it hears no peer refuses the reads
// sent to it and resumes none of its watches; the first batch from a peer
// confirms it. A member of a cluster of one needs no peer.
func TestRestartedMemberWaitsForAPeer(t *testing.T) {
	w := quietWorld(t, 3, 3)
	w.runUntil(1500)
	m := w.member(1)
	w.crashBetweenSteps(m, "for the test", fsx.LoseUnsynced)
	w.isolate(1, true)
	w.restart(m)
	if m.state != stateUp || m.confirm.Confirmed() {
		t.Fatalf("member 1 restarted isolated: %s, confirmed %v", m.state, m.confirm.Confirmed())
	}
	if err := m.confirm.Refusal(func() string { return "member 1" }); !errors.Is(err, replica.ErrUnconfirmed) {
		t.Fatalf("member 1's refusal while no peer confirmed it: %v", err)
	}
	w.runUntil(w.now + 2000)
	if m.confirm.Confirmed() || w.Coverage().UnconfirmedReads == 0 {
		t.Fatalf("after 2 s isolated: confirmed %v, %d reads refused", m.confirm.Confirmed(), w.Coverage().UnconfirmedReads)
	}
	for _, s := range m.watchers {
		if s.w != nil {
			t.Fatalf("a watch of member 1 resumed before a peer confirmed it: %+v", s.spec)
		}
	}
	w.isolate(1, false)
	refused := w.Coverage().UnconfirmedReads
	w.runUntil(w.now + 500)
	if !m.confirm.Confirmed() {
		t.Fatal("member 1 is not confirmed 500 ms after its links mended")
	}
	for _, s := range m.watchers {
		if s.ended == "" && s.w == nil {
			t.Fatalf("a watch of member 1 did not resume once confirmed: %+v", s.spec)
		}
	}
	w.runUntil(w.now + 1000)
	if w.Coverage().UnconfirmedReads != refused {
		t.Fatalf("%d reads refused after member 1 was confirmed", w.Coverage().UnconfirmedReads-refused)
	}

	lone := quietWorld(t, 3, 1)
	lone.runUntil(1000)
	m = lone.member(1)
	lone.crashBetweenSteps(m, "for the test", fsx.LoseUnsynced)
	lone.restart(m)
	if !m.confirm.Confirmed() {
		t.Fatal("the member of a cluster of one waits for a peer after a restart")
	}
}

// A snapshot travels on a stream of several frames; a link cut in the
// middle of it breaks it, the receiver refuses what came, the leader hears
// that the snapshot failed and sends it again once the link is back, and
// the member catches up.
func TestSnapshotStreamCutAndResent(t *testing.T) {
	w := quietWorld(t, 5, 3)
	w.runUntil(1000)
	lead := w.leader()
	if lead == nil {
		t.Fatal("no leader after 1 s")
	}
	var victim *member
	for _, m := range w.members {
		if m != lead {
			victim = m
			break
		}
	}
	w.isolate(victim.id, true)
	// The clients write on: the leader's log moves past what it keeps
	// for slow followers (SnapshotCount, CatchUpEntries).
	w.runUntil(w.now + 4000)
	w.isolate(victim.id, false)
	var s *snapStream
	for deadline := w.now + 3000; s == nil; {
		if len(w.queue) == 0 || w.queue[0].at > deadline || w.fatal != nil {
			t.Fatalf("no snapshot stream to member %d within 3 s of its links mending (%v)", victim.id, w.fatal)
		}
		if e := w.queue[0]; e.kind == evStream && e.who == victim.id && e.arg == 1 {
			s = e.stream
			break
		}
		e := heap.Pop(&w.queue).(*event)
		w.now = e.at
		w.record(e)
		w.handle(e)
	}
	if len(s.frames) < 3 || s.from != lead.id {
		t.Fatalf("a stream from %d of %d frames, want one from leader %d of at least 3 (header, chunks, checksum)", s.from, len(s.frames), lead.id)
	}
	w.net.cut[link{s.from, s.to}] = true // the connection breaks after the header
	w.runUntil(w.now + 50)
	if !s.ended || w.obs.cov.StreamsBroken != 1 || victim.receiving != nil {
		t.Fatalf("after the cut: stream ended %v, %d streams broken, receiving %v", s.ended, w.obs.cov.StreamsBroken, victim.receiving)
	}
	sent := w.obs.cov.SnapshotsSent
	w.net.cut[link{s.from, s.to}] = false
	w.runUntil(w.now + 3000)
	if w.fatal != nil {
		t.Fatal(w.fatal)
	}
	if w.obs.cov.SnapshotsSent == sent {
		t.Fatal("the leader sent no snapshot again after the broken one")
	}
	if got, want := victim.core.Status().Applied, lead.core.Status().Applied; got+20 < want {
		t.Fatalf("member %d applied %d, the leader %d: it did not catch up", victim.id, got, want)
	}
}
