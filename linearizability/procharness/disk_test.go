package procharness

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"pgregory.net/rapid"

	"github.com/cairndb/cairn/logstore"
	"github.com/cairndb/cairn/raftcore"
)

// templateLog writes a log of several small segments, with entries and
// hard states over several terms and votes, and returns its directory
// (the Dir of logstore.Options).
func templateLog(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "log")
	l, err := logstore.Open(logstore.Options{Dir: dir, Create: true, SegmentSize: 2048, Metadata: []byte("cluster=1 member=1")})
	if err != nil {
		t.Fatal(err)
	}
	index := uint64(0)
	for term := uint64(1); term <= 6; term++ {
		hs := raftcore.HardState{Term: term, Vote: term%3 + 1, Commit: index}
		for range 8 {
			index++
			ent := raftcore.Entry{Term: term, Index: index, Data: make([]byte, 100)}
			if err := l.Save(hs, []raftcore.Entry{ent}); err != nil {
				t.Fatal(err)
			}
			hs.Commit = index
			if err := l.SaveCommit(hs); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if segs, err := walSegments(filepath.Join(dir, "wal")); err != nil || len(segs) < 3 {
		t.Fatalf("the template log has segments %v (%v), want at least 3", segs, err)
	}
	return dir
}

// copyDir copies the files of a log directory tree.
func copyDir(t interface{ Fatal(...any) }, from, to string) {
	err := filepath.WalkDir(from, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o700)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDamageWALIsNoticed applies each disk fault to a copy of a log and
// requires the log to report damage when it opens again, and to hold no
// newer term or vote than before. An undamaged copy must open clean, so
// the check is not vacuous.
func TestDamageWALIsNoticed(t *testing.T) {
	template := templateLog(t)
	open := func(t interface{ Fatalf(string, ...any) }, dir string) (*logstore.Damage, raftcore.HardState) {
		l, err := logstore.Open(logstore.Options{Dir: dir, Salvage: true})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		defer l.Close()
		hs, _, err := l.InitialState()
		if err != nil {
			t.Fatalf("initial state: %v", err)
		}
		return l.Damage(), hs
	}
	clean := filepath.Join(t.TempDir(), "clean")
	copyDir(t, template, clean)
	d, before := open(t, clean)
	if d != nil {
		t.Fatalf("the undamaged log reports damage: %v", d)
	}

	rapid.Check(t, func(rt *rapid.T) {
		kind := rapid.SampledFrom(DiskFaultKinds()).Draw(rt, "kind")
		seed := rapid.Uint64().Draw(rt, "seed")
		dir, err := os.MkdirTemp("", "procharness-damage-")
		if err != nil {
			rt.Fatal(err)
		}
		defer os.RemoveAll(dir)
		copyDir(rt, template, dir)
		what, err := damageWAL(kind, filepath.Join(dir, "wal"), rand.New(rand.NewPCG(seed, 1)))
		if err != nil {
			rt.Fatalf("%s: %v", kind, err)
		}
		d, after := open(rt, dir)
		if d == nil {
			rt.Fatalf("%s (%s): the log opens without reporting damage", kind, what)
		}
		if after.Term > before.Term || after.Term == before.Term && after.Vote != before.Vote {
			rt.Fatalf("%s (%s): hard state %+v after, %+v before", kind, what, after, before)
		}
	})
}

// TestDamageWALNotApplicable: a fault that would leave the member no log
// at all, or has nothing to damage, is refused rather than applied.
func TestDamageWALNotApplicable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	l, err := logstore.Open(logstore.Options{Dir: dir, Create: true, Metadata: []byte("cluster=1 member=1")})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for _, kind := range []FaultKind{FaultLoseSegment, FaultFlipBit} {
		if what, err := damageWAL(kind, filepath.Join(dir, "wal"), rng); !errors.Is(err, errNotApplicable) {
			t.Errorf("%s on a log of one segment with no entries: %q, %v; want errNotApplicable", kind, what, err)
		}
	}
	if _, err := damageWAL(FaultKill, filepath.Join(dir, "wal"), rng); err == nil || errors.Is(err, errNotApplicable) {
		t.Errorf("damageWAL(%s) = %v, want an error naming a fault that is not a disk fault", FaultKill, err)
	}
}
