package replica

import (
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/fsx"
)

const walPath = "/member/log/wal"

// walSegments lists a member's WAL segments, oldest first.
func walSegments(t *testing.T, disk *fsx.MemFS) []string {
	t.Helper()
	names, err := disk.ReadDir(walPath)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	var out []string
	for _, n := range names {
		out = append(out, path.Join(walPath, n))
	}
	return out
}

// writeKeys writes keys from..to-1 through member id and returns them.
func writeKeys(c *kvCluster, id uint64, from, to int, acked map[string]string) {
	for i := from; i < to; i++ {
		k, v := fmt.Sprintf("k%03d", i), fmt.Sprintf("v%d-%s", i, strings.Repeat("x", 600))
		c.write(id, &api.PutRequest{Key: []byte(k), Value: []byte(v)})
		acked[k] = v
	}
}

// TestMemberRepairsLostLogTail: a follower whose WAL loses its newest
// segment's tail (truncated in the middle of a record, or the whole
// segment deleted) comes back under repair — it refuses reads and votes
// until the cluster has confirmed what it holds — then catches up, and
// holds every acknowledged write; its log's record of the damage goes.
func TestMemberRepairsLostLogTail(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, disk *fsx.MemFS)
	}{
		{"newest segment truncated mid-record", func(t *testing.T, disk *fsx.MemFS) {
			segs := walSegments(t, disk)
			f, err := disk.OpenFile(segs[len(segs)-1], os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := disk.ReadFile(segs[len(segs)-1])
			end := len(b)
			for end > 0 && b[end-1] == 0 {
				end--
			}
			if err := f.Truncate(int64(end - 100)); err != nil {
				t.Fatal(err)
			}
			_ = f.Sync()
			_ = f.Close()
		}},
		{"newest segment deleted", func(t *testing.T, disk *fsx.MemFS) {
			segs := walSegments(t, disk)
			if len(segs) < 2 {
				t.Fatalf("%d segments: the test needs a rollover", len(segs))
			}
			if err := disk.Remove(segs[len(segs)-1]); err != nil {
				t.Fatal(err)
			}
			_ = disk.SyncDir(walPath)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newKVCluster(t, 3, 50) // the store commits at every snapshot
			lead := c.leader()
			acked := map[string]string{}
			writeKeys(c, lead, 0, 400, acked) // several 64 KiB segments
			victim := lead%3 + 1
			c.crash(victim)
			tc.damage(t, c.members[victim].disk)
			c.start(c.members[victim])
			m := c.members[victim]
			st := m.core.Repair()
			if !st.Active() || st.Damage == "" {
				t.Fatalf("restarted member is not under repair: %+v", st)
			}
			if m.log.Damage() == nil {
				t.Fatal("the log keeps no record of the damage")
			}
			c.nextReq++
			c.step(victim, EvRead{ReqID: c.nextReq})
			if r := c.replies[c.nextReq]; !errors.Is(r.Err, ErrRepairing) || !errors.Is(r.Err, api.ErrUnhealthy) {
				t.Fatalf("a read on the member under repair: %v, want ErrRepairing", r.Err)
			}
			// A restart before the repair finished starts another, with a
			// number no earlier repair had (raft tells their messages
			// apart by it).
			if n := m.log.RepairAttempt(); n != 1 {
				t.Fatalf("the first repair is number %d", n)
			}
			c.crash(victim)
			c.start(m)
			if n := m.log.RepairAttempt(); n != 2 || !m.core.Repair().Active() {
				t.Fatalf("restarted under repair: repair number %d, %s", n, m.core.Repair())
			}
			// It comes back by itself, and the cluster goes on meanwhile.
			writeKeys(c, lead, 400, 420, acked)
			c.tick(60)
			if st := m.core.Repair(); st.Active() || st.ReadRefusal != nil {
				t.Fatalf("member not repaired after 60 ticks: %s", st)
			}
			checkHolds(t, c, victim, acked)
			// A restart now is an ordinary one once the term moved on; in
			// the term of the repair it repairs again, and quickly.
			c.crash(victim)
			c.start(c.members[victim])
			c.tick(60)
			if st := c.members[victim].core.Repair(); st.Active() {
				t.Fatalf("member not repaired after a restart: %s", st)
			}
		})
	}
}

// TestStoreAheadOfLogIsDamage: a member whose store holds entries its log
// lost (the WAL replaced by an older copy of itself) is under repair even
// though the log looks whole.
func TestStoreAheadOfLogIsDamage(t *testing.T) {
	c := newKVCluster(t, 3, 1000) // no snapshot: the log cannot tell
	lead := c.leader()
	acked := map[string]string{}
	writeKeys(c, lead, 0, 10, acked)
	victim := lead%3 + 1
	disk := c.members[victim].disk
	old := map[string][]byte{}
	for _, p := range walSegments(t, disk) {
		b, err := disk.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		old[p] = b
	}
	writeKeys(c, lead, 10, 200, acked)
	if err := c.members[victim].kv.Persist(); err != nil { // as the server's background commit does
		t.Fatal(err)
	}
	c.crash(victim)
	disk = c.members[victim].disk
	for _, p := range walSegments(t, disk) {
		_ = disk.Remove(p)
	}
	for p, b := range old {
		f, err := fsx.Create(disk, p)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = f.WriteAt(b, 0)
		_ = f.Sync()
		_ = f.Close()
	}
	_ = disk.SyncDir(walPath)
	c.start(c.members[victim])
	st := c.members[victim].core.Repair()
	if !st.Active() || !strings.Contains(st.Damage, "state machine ahead") {
		t.Fatalf("store ahead of the log not taken for damage: %+v", st)
	}
	c.tick(60)
	if st := c.members[victim].core.Repair(); st.Active() || st.ReadRefusal != nil {
		t.Fatalf("member not repaired: %s", st)
	}
	checkHolds(t, c, victim, acked)
}

// checkHolds requires member id's store to hold every acknowledged write.
func checkHolds(t *testing.T, c *kvCluster, id uint64, acked map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, kv := range c.read(id, "k") {
		got[string(kv.Key)] = string(kv.Value)
	}
	for k, v := range acked {
		if got[k] != v {
			t.Fatalf("member %d lost acknowledged %s", id, k)
		}
	}
}
