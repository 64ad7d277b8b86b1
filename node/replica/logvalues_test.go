package replica

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/btreekv/mvcc"
	"github.com/cairndb/cairn/internal/fsx"
)

// newLogValueMember is a one-member cluster whose store keeps values of
// 1 KiB and more in the raft log (repairMember, without store repair).
func newLogValueMember(t *testing.T) *repairMember {
	m := &repairMember{t: t, disk: fsx.NewMem(), minLogValue: 1024}
	if err := m.open(nil); err != nil {
		t.Fatal(err)
	}
	return m
}

func (m *repairMember) close() {
	m.t.Helper()
	if err := m.r.Close(); err != nil {
		m.t.Fatal(err)
	}
}

// logValueOf is the value of key in round i: n bytes.
func logValueOf(key string, i, n int) []byte {
	unit := []byte(fmt.Sprintf("%s@%d;", key, i))
	return bytes.Repeat(unit, n/len(unit)+1)[:n]
}

// check requires every key to hold its value of want.
func (m *repairMember) check(want map[string][]byte) {
	m.t.Helper()
	for k, v := range want {
		resp, err := m.r.State.Store().RangeRequest(&api.RangeRequest{Key: []byte(k)}, 0)
		if err != nil || len(resp.Kvs) != 1 || !bytes.Equal(resp.Kvs[0].Value, v) {
			m.t.Fatalf("get %s: %v, %v", k, resp, err)
		}
	}
}

// TestValuesStayInTheRaftLog: through the server's own wiring, large
// puts keep their values in the raft log (small ones do not), the log
// keeps the segments they are in across snapshots and a restart, and
// lets them go once compaction frees the values.
func TestValuesStayInTheRaftLog(t *testing.T) {
	m := newLogValueMember(t)
	want := map[string][]byte{}
	for i := range 60 {
		k := fmt.Sprintf("k%d", i%6)
		want[k] = logValueOf(k, i, 4096)
		m.propose(&api.PutRequest{Key: []byte(k), Value: want[k]})
	}
	m.propose(&api.PutRequest{Key: []byte("small"), Value: []byte("tiny")})
	want["small"] = []byte("tiny")
	if n, size := m.r.State.Store().LogRefStats(); n != 60 || size != 60*4096 {
		t.Fatalf("the store keeps %d values (%d bytes) in the log, want the 60 large ones", n, size)
	}
	m.check(want)
	// The values in the log count in the store's size, as the quota and
	// the status see it.
	total, inUse := StoreSize(m.r.State.Store())
	if st := m.r.State.Store().DB().Stats(); total != st.FileSize+60*4096 || inUse < 60*4096 || inUse > total {
		t.Fatalf("store size %d (%d in use), page file %d: want the page file and the 60 values", total, inUse, st.FileSize)
	}
	kept := m.r.Log.SegmentCount()
	if kept < 4 {
		t.Fatalf("the log holds %d segments after 60 puts of 4 KiB in 64 KiB segments and snapshots every 5 entries: it did not keep the store's", kept)
	}
	m.close()
	if err := m.open(nil); err != nil {
		t.Fatal(err)
	}
	m.check(want)
	// Compaction frees every value but the last six; once that is
	// durable and the log snapshots, the segments of the others go.
	m.propose(&api.CompactionRequest{Revision: m.r.State.Store().Rev()})
	for i := range 10 {
		m.propose(&api.PutRequest{Key: []byte("small"), Value: []byte(fmt.Sprint(i))})
		if err := m.r.State.Store().FinishCompaction(); err != nil {
			t.Fatal(err)
		}
	}
	want["small"] = []byte("9")
	m.check(want)
	if n, _ := m.r.State.Store().LogRefStats(); n != 6 {
		t.Fatalf("%d values in the log after compaction, want 6", n)
	}
	if now := m.r.Log.SegmentCount(); now >= kept {
		t.Fatalf("the log still holds %d segments (%d before the compaction)", now, kept)
	}
	m.close()
}

// TestStoreCopyHoldsItsValues: a copy of a store that keeps values in
// the log, as a leader sends one (to a follower, to a member repairing
// its store, or as a backup), holds the values itself: opened with no
// log at all, it reads and hashes as the store.
func TestStoreCopyHoldsItsValues(t *testing.T) {
	m := newLogValueMember(t)
	defer m.close()
	want := map[string][]byte{}
	for i := range 20 {
		k := fmt.Sprintf("k%d", i%7)
		want[k] = logValueOf(k, i, 2000+i)
		m.propose(&api.PutRequest{Key: []byte(k), Value: want[k]})
	}
	hash, _, err := m.r.State.Store().Hash(0)
	if err != nil {
		t.Fatal(err)
	}
	_, src, err := m.r.Core.OpenStoreCopy()
	if err != nil {
		t.Fatal(err)
	}
	size := sizeOf(t, src)
	var buf bytes.Buffer
	if n, err := src.WriteTo(&buf); err != nil || n != size {
		t.Fatalf("copy: %d bytes of %d, %v", n, size, err)
	}
	copies := func() []string {
		names, _ := m.disk.ReadDir("/m")
		return slices.DeleteFunc(names, func(n string) bool { return !bytes.Contains([]byte(n), []byte(copyExt)) })
	}
	if len(copies()) != 1 {
		t.Fatalf("files of copies being sent: %v, want one", copies())
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if left := copies(); len(left) != 0 {
		t.Fatalf("the copy's file is left after Close: %v", left)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "copy")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := mvcc.Open(path, mvcc.Options{FS: fsx.OS{}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n, _ := c.LogRefStats(); n != 0 {
		t.Fatalf("the copy points at %d values in the sender's log", n)
	}
	if got, _, err := c.Hash(0); err != nil || got != hash {
		t.Fatalf("copy hash %x (%v), store %x", got, err, hash)
	}
	for k, v := range want {
		res, err := c.Range([]byte(k), nil, mvcc.RangeOptions{})
		if err != nil || len(res.KVs) != 1 || !bytes.Equal(res.KVs[0].Value, v) {
			t.Fatalf("copy: get %s: %v %v", k, res, err)
		}
	}
}

// TestStoreThatLostItsLogValuesIsCorrupt: a store whose values' segment
// is gone, or whose log lost the data where its values were, does not
// open as if whole: it is a corrupt store (IsStoreCorrupt), which the
// server repairs from the cluster.
func TestStoreThatLostItsLogValuesIsCorrupt(t *testing.T) {
	for _, c := range []struct {
		name string
		lose func(t *testing.T, disk *fsx.MemFS, segs []string)
	}{
		{"segment removed", func(t *testing.T, disk *fsx.MemFS, segs []string) {
			if err := disk.Remove(segs[0]); err != nil {
				t.Fatal(err)
			}
		}},
		{"bytes of the newest segment flipped", func(t *testing.T, disk *fsx.MemFS, segs []string) {
			// A flip in the last segment's records is damage the log
			// salvages: it cuts the log there, and the values after it
			// are gone.
			if err := disk.FlipBit(segs[len(segs)-1], 200, 3); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newLogValueMember(t)
			for i := range 40 {
				k := fmt.Sprintf("k%d", i)
				m.propose(&api.PutRequest{Key: []byte(k), Value: logValueOf(k, i, 3000)})
			}
			m.close()
			names, err := m.disk.ReadDir("/m/log/wal")
			if err != nil {
				t.Fatal(err)
			}
			var segs []string
			for _, n := range names {
				if filepath.Ext(n) == ".wal" {
					segs = append(segs, "/m/log/wal/"+n)
				}
			}
			slices.Sort(segs)
			if len(segs) < 2 {
				t.Fatalf("segments %v", segs)
			}
			c.lose(t, m.disk, segs)
			err = m.open(nil)
			if err == nil {
				m.close()
				t.Fatal("the member opened with values of its store lost")
			}
			if !IsStoreCorrupt(err) {
				t.Fatalf("open: %v; want a corrupt store", err)
			}
		})
	}
}

// TestLogValuesOutliveTurningItOff: a member restarted with MinLogValue 0
// keeps no new value in the log, but still reads those its store kept
// there, and its log still keeps their segments through its snapshots.
func TestLogValuesOutliveTurningItOff(t *testing.T) {
	m := newLogValueMember(t)
	want := map[string][]byte{}
	for i := range 30 {
		k := fmt.Sprintf("k%d", i)
		want[k] = logValueOf(k, i, 4096)
		m.propose(&api.PutRequest{Key: []byte(k), Value: want[k]})
	}
	m.close()
	m.minLogValue = 0
	if err := m.open(nil); err != nil {
		t.Fatal(err)
	}
	m.check(want)
	// Snapshots every 5 entries: 60 more puts purge what the log would
	// not keep for the store.
	for i := range 60 {
		k := fmt.Sprintf("new%d", i%5)
		want[k] = logValueOf(k, i, 4096)
		m.propose(&api.PutRequest{Key: []byte(k), Value: want[k]})
	}
	if n, _ := m.r.State.Store().LogRefStats(); n != 30 {
		t.Fatalf("%d values in the log, want the 30 put before MinLogValue was 0", n)
	}
	m.check(want)
	m.close()
	if err := m.open(nil); err != nil {
		t.Fatal(err)
	}
	m.check(want)
	m.close()
}
