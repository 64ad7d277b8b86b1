package replica

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/btreekv/mvcc"
	"github.com/cairndb/cairn/internal/fsx"
	"github.com/cairndb/cairn/logstore"
	"github.com/cairndb/cairn/raftcore"
)

// repairMember is a one-member cluster on a simulated disk, opened with
// Open as the server and the simulator open theirs.
type repairMember struct {
	t    *testing.T
	disk *fsx.MemFS
	r    *Replica
	req  uint64
	// opens seeds each incarnation's randomness (its proposals' tag).
	opens uint64
	// minLogValue is the store's mvcc.Options.MinLogValue.
	minLogValue int
}

const (
	repairStorePath = "/m/db"
	repairMarker    = "/m/store-corrupt"
	repairCorrupt   = "/m/corrupt"
)

func (m *repairMember) open(rep *StoreRepair) error {
	m.opens++
	r, err := Open(Config{
		Log:         logstore.Options{FS: m.disk, Dir: "/m/log", Create: true, SegmentSize: 1 << 16, Salvage: true},
		StorePath:   repairStorePath,
		Store:       mvcc.Options{FS: m.disk, MinLogValue: m.minLogValue},
		Core:        CoreConfig{ID: 1, ElectionTick: 10, HeartbeatTick: 1, SnapshotCount: 5, CatchUpEntries: 2, Peers: []raftcore.Peer{{ID: 1}}, Rand: rand.New(rand.NewPCG(1, m.opens))},
		StoreRepair: rep,
	})
	if err != nil {
		return err
	}
	m.r = r
	for range 50 {
		if m.r.Core.Leader() == 1 {
			return nil
		}
		m.r.Core.Step(EvTick{})
		m.r.Core.TakeEffects()
	}
	m.t.Fatal("the member does not lead itself")
	return nil
}

func (m *repairMember) put(key string) {
	m.t.Helper()
	m.propose(&api.PutRequest{Key: []byte(key), Value: []byte("v-" + key)})
}

// propose proposes req, which must be applied at once.
func (m *repairMember) propose(req api.Message) {
	m.t.Helper()
	cmd, err := NewCommand(req)
	if err != nil {
		m.t.Fatal(err)
	}
	m.req++
	m.r.Core.Step(EvPropose{ReqID: m.req, Cmd: cmd})
	for _, rep := range m.r.Core.TakeEffects().Replies {
		if rep.ReqID == m.req && rep.Err == nil {
			return
		}
	}
	m.t.Fatalf("%T was not applied at once: %v", req, m.r.Core.Err())
}

// copyNow takes a copy of the store as the leader gives one.
func (m *repairMember) copyNow() (raftcore.SnapshotMetadata, []byte) {
	m.t.Helper()
	meta, src, err := m.r.Core.OpenStoreCopy()
	if err != nil {
		m.t.Fatal(err)
	}
	defer src.Close()
	var buf bytes.Buffer
	if _, err := src.WriteTo(&buf); err != nil {
		m.t.Fatal(err)
	}
	return meta, buf.Bytes()
}

// missing lists the keys k0..k(n-1) the store does not hold.
func (m *repairMember) missing(n int) []string {
	var out []string
	for i := range n {
		key := fmt.Sprintf("k%03d", i)
		resp, err := m.r.State.Store().RangeRequest(&api.RangeRequest{Key: []byte(key)}, 0)
		if err != nil {
			m.t.Fatal(err)
		}
		if len(resp.Kvs) != 1 {
			out = append(out, key)
		}
	}
	return out
}

type storeCopy struct {
	meta raftcore.SnapshotMetadata
	data []byte
}

// fetchFrom hands the copies to take in turn, as a server that retries
// does, and records what take said of each.
func fetchFrom(copies []storeCopy, refusals *[]error) func(StoreNeed, func(StoreCopy) error) error {
	return func(_ StoreNeed, take func(StoreCopy) error) error {
		for _, c := range copies {
			err := take(StoreCopy{Meta: c.meta, Size: int64(len(c.data)), Data: bytes.NewReader(c.data)})
			if err == nil {
				return nil
			}
			*refusals = append(*refusals, err)
		}
		return errors.New("no copy taken")
	}
}

// TestStoreRepairInstallsACommittedCopy: a member whose page file is
// marked corrupt sets it aside and installs a copy from the cluster; a
// copy older than its log's snapshot is refused. The mutation, the check
// switched off, installs it: the entries between the copy and the log's
// snapshot are nowhere (the log compacted them), and the member either
// cannot start or lacks keys.
func TestStoreRepairInstallsACommittedCopy(t *testing.T) {
	for _, mutation := range []bool{false, true} {
		t.Run(fmt.Sprintf("unsafe=%v", mutation), func(t *testing.T) {
			m := &repairMember{t: t, disk: fsx.NewMem()}
			if err := m.open(nil); err != nil {
				t.Fatal(err)
			}
			const keys = 40
			for i := range 10 {
				m.put(fmt.Sprintf("k%03d", i))
			}
			old := make([]storeCopy, 1)
			old[0].meta, old[0].data = m.copyNow()
			for i := 10; i < keys; i++ {
				m.put(fmt.Sprintf("k%03d", i))
			}
			cur := make([]storeCopy, 1)
			cur[0].meta, cur[0].data = m.copyNow()
			snap, _ := m.r.Log.Snapshot()
			if old[0].meta.Index >= snap.Metadata.Index {
				t.Fatalf("the old copy (index %d) is not older than the log's snapshot (%d)", old[0].meta.Index, snap.Metadata.Index)
			}
			if err := m.r.Close(); err != nil {
				t.Fatal(err)
			}
			if err := MarkStoreCorrupt(m.disk, repairMarker, "pagefile: corrupt page 7: checksum"); err != nil {
				t.Fatal(err)
			}
			var refusals []error
			var quarantined string
			rep := &StoreRepair{Marker: repairMarker, CorruptDir: repairCorrupt, UnsafeAnyIndex: mutation,
				Fetch:       fetchFrom(append(old, cur...), &refusals),
				Quarantined: func(file, reason string) { quarantined = file }}
			err := m.open(rep)
			if mutation {
				// The core finds the store older than the log's snapshot
				// and looks for a received snapshot to install that does
				// not exist: the member can never start again.
				if err == nil {
					defer m.r.Close()
					if len(m.missing(keys)) == 0 {
						t.Fatal("mutation not caught: a copy older than the log's snapshot was installed, and the member started with every key")
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer m.r.Close()
			if quarantined == "" {
				t.Fatal("the page file was not set aside")
			}
			if _, err := m.disk.Stat(quarantined); err != nil {
				t.Fatalf("the page file set aside: %v", err)
			}
			if reason, _ := StoreRepairPending(m.disk, repairMarker); reason != "" {
				t.Fatalf("the marker is still there after the repair: %q", reason)
			}
			lost := m.missing(keys)
			if len(refusals) != 1 || !errors.Is(refusals[0], ErrStoreCopyTooOld) {
				t.Fatalf("refusals of the copies: %v, want the old one refused as too old", refusals)
			}
			if len(lost) != 0 {
				t.Fatalf("the repaired store lacks %v", lost)
			}
			m.put("after")
		})
	}
}

// TestStoreRepairOnCorruptPage: a page that fails its checksum when the
// store opens starts the repair, without a marker.
func TestStoreRepairOnCorruptPage(t *testing.T) {
	m := &repairMember{t: t, disk: fsx.NewMem()}
	if err := m.open(nil); err != nil {
		t.Fatal(err)
	}
	const keys = 20
	for i := range keys {
		m.put(fmt.Sprintf("k%03d", i))
	}
	cp := make([]storeCopy, 1)
	cp[0].meta, cp[0].data = m.copyNow()
	if err := m.r.Close(); err != nil {
		t.Fatal(err)
	}
	// Flip a bit in every page holding a key's record (the live one, and
	// any older copy): the open reads every key.
	b, err := m.disk.ReadFile(repairStorePath)
	if err != nil {
		t.Fatal(err)
	}
	flipped := 0
	for at := 0; ; at++ {
		i := bytes.Index(b[at:], []byte("k005"))
		if i < 0 {
			break
		}
		at += i
		if err := m.disk.FlipBit(repairStorePath, int64(at), 1); err != nil {
			t.Fatal(err)
		}
		flipped++
	}
	if flipped == 0 {
		t.Fatal("no key in the page file")
	}
	if err := m.open(nil); !IsStoreCorrupt(err) {
		t.Fatalf("open without repair: %v, want a corrupt page", err)
	}
	var refusals []error
	if err := m.open(&StoreRepair{Marker: repairMarker, CorruptDir: repairCorrupt, Fetch: fetchFrom(cp, &refusals)}); err != nil {
		t.Fatal(err)
	}
	defer m.r.Close()
	if lost := m.missing(keys); len(lost) != 0 {
		t.Fatalf("the repaired store lacks %v", lost)
	}
	names, err := m.disk.ReadDir(repairCorrupt)
	if err != nil || len(names) != 1 {
		t.Fatalf("corrupt dir holds %v (%v), want the page file set aside", names, err)
	}
}

// TestStoreRepairCopyPastTheLog: a copy past the log's last index (the
// member was down while the cluster went on) is recorded in the log as
// its snapshot, and the member goes on from there.
func TestStoreRepairCopyPastTheLog(t *testing.T) {
	m := &repairMember{t: t, disk: fsx.NewMem()}
	if err := m.open(nil); err != nil {
		t.Fatal(err)
	}
	const keys = 30
	for i := range 8 {
		m.put(fmt.Sprintf("k%03d", i))
	}
	if err := m.r.Close(); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	behind := m.disk.Crash(fsx.LoseUnsynced, rng)
	m.disk = m.disk.Crash(fsx.LoseUnsynced, rng)
	if err := m.open(nil); err != nil {
		t.Fatal(err)
	}
	for i := 8; i < keys; i++ {
		m.put(fmt.Sprintf("k%03d", i))
	}
	cp := make([]storeCopy, 1)
	cp[0].meta, cp[0].data = m.copyNow()
	_ = m.r.Close()

	m.disk = behind
	if err := MarkStoreCorrupt(m.disk, repairMarker, "test"); err != nil {
		t.Fatal(err)
	}
	var refusals []error
	if err := m.open(&StoreRepair{Marker: repairMarker, CorruptDir: repairCorrupt, Fetch: fetchFrom(cp, &refusals)}); err != nil {
		t.Fatal(err)
	}
	defer m.r.Close()
	snap, _ := m.r.Log.Snapshot()
	last, _ := m.r.Log.LastIndex()
	if snap.Metadata.Index < cp[0].meta.Index || last < cp[0].meta.Index {
		t.Fatalf("the log's snapshot is at %d, its last index %d: want the copy's index %d", snap.Metadata.Index, last, cp[0].meta.Index)
	}
	if lost := m.missing(keys); len(lost) != 0 {
		t.Fatalf("the repaired store lacks %v", lost)
	}
	m.put("after")
}

// TestStoreRepairOnMissingPageFile: a page file gone while the log starts
// after a snapshot is repaired too; one gone from a member whose log holds
// every entry is rebuilt from the log.
func TestStoreRepairOnMissingPageFile(t *testing.T) {
	for _, compacted := range []bool{false, true} {
		t.Run(fmt.Sprintf("compacted=%v", compacted), func(t *testing.T) {
			m := &repairMember{t: t, disk: fsx.NewMem()}
			if err := m.open(nil); err != nil {
				t.Fatal(err)
			}
			keys := 1 // with the bootstrap and the no-op, fewer entries than SnapshotCount: no snapshot
			if compacted {
				keys = 20
			}
			for i := range keys {
				m.put(fmt.Sprintf("k%03d", i))
			}
			cp := make([]storeCopy, 1)
			cp[0].meta, cp[0].data = m.copyNow()
			hs, _, err := m.r.Log.InitialState()
			if err != nil {
				t.Fatal(err)
			}
			_ = m.r.Close()
			if err := m.disk.Remove(repairStorePath); err != nil {
				t.Fatal(err)
			}
			fetched := 0
			fetch := fetchFrom(cp, new([]error))
			err = m.open(&StoreRepair{Marker: repairMarker, CorruptDir: repairCorrupt,
				Fetch: func(need StoreNeed, take func(StoreCopy) error) error {
					fetched++
					if !strings.Contains(need.Reason, "missing") {
						t.Errorf("the reason of the repair: %q", need.Reason)
					}
					// The log's raft state, which the member reports
					// meanwhile.
					if need.Raft.Term != hs.Term || need.Raft.Commit < hs.Commit || need.Raft.Commit < need.MinIndex {
						t.Errorf("the raft state of the repair: %+v; the log's before: %+v, its snapshot at %d", need.Raft, hs, need.MinIndex)
					}
					return fetch(need, take)
				}})
			if err != nil {
				t.Fatal(err)
			}
			defer m.r.Close()
			if want := map[bool]int{false: 0, true: 1}[compacted]; fetched != want {
				t.Fatalf("fetched %d copies, want %d", fetched, want)
			}
			for range 5 { // the log replays on the first steps
				m.r.Core.Step(EvTick{})
				m.r.Core.TakeEffects()
			}
			if lost := m.missing(keys); len(lost) != 0 {
				t.Fatalf("the store lacks %v", lost)
			}
		})
	}
}
