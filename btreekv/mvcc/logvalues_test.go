package mvcc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"unsafe"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/btreekv/pagefile"
	"github.com/cairndb/cairn/internal/fsx"
)

// fakeLog is a raft log in memory for the store's LogValues: entries are
// appended to numbered segments of about segSize bytes, and each entry's
// data is also kept as a slice of its own, as a log holds the entries it
// hands to the state machine. Place finds a value inside an entry's data
// by address, as the real log does.
type fakeLog struct {
	mu      sync.Mutex
	segSize int
	segs    map[uint64][]byte
	cur     uint64
	entries map[uint64]fakeEntry
	reads   int
}

type fakeEntry struct {
	data  []byte
	place LogPlace
}

func newFakeLog(segSize int) *fakeLog {
	return &fakeLog{segSize: segSize, segs: map[uint64][]byte{0: nil}, entries: map[uint64]fakeEntry{}}
}

// add appends raft entry index with data and returns the entry's data
// in memory, whose slices the store may be given as values.
func (l *fakeLog) add(index uint64, data []byte) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.segs[l.cur]) >= l.segSize {
		l.cur++
		l.segs[l.cur] = nil
	}
	off := len(l.segs[l.cur])
	l.segs[l.cur] = append(l.segs[l.cur], data...)
	mem := bytes.Clone(data)
	l.entries[index] = fakeEntry{data: mem, place: LogPlace{Segment: l.cur, Offset: int64(off)}}
	return mem
}

func (l *fakeLog) Place(index uint64, value []byte) (LogPlace, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[index]
	if !ok || len(value) == 0 || len(e.data) == 0 {
		return LogPlace{}, false
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(e.data)))
	v := uintptr(unsafe.Pointer(unsafe.SliceData(value)))
	if v < start || v+uintptr(len(value)) > start+uintptr(len(e.data)) {
		return LogPlace{}, false
	}
	return LogPlace{Segment: e.place.Segment, Offset: e.place.Offset + int64(v-start)}, true
}

func (l *fakeLog) ReadValue(place LogPlace, p []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reads++
	seg, ok := l.segs[place.Segment]
	if !ok {
		return fmt.Errorf("fake log: segment %d is gone", place.Segment)
	}
	if place.Offset < 0 || place.Offset+int64(len(p)) > int64(len(seg)) {
		return fmt.Errorf("fake log: %d bytes at %d past the end of segment %d (%d bytes)", len(p), place.Offset, place.Segment, len(seg))
	}
	copy(p, seg[place.Offset:])
	return nil
}

func (l *fakeLog) LogBytes() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for _, s := range l.segs {
		n += int64(len(s))
	}
	return n
}

// purge removes the segments before seq (never the one being written).
func (l *fakeLog) purge(seq uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for s := range l.segs {
		if s < seq && s != l.cur {
			delete(l.segs, s)
		}
	}
}

// segmentOf returns the segment of entry index.
func (l *fakeLog) segmentOf(index uint64) (uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[index]
	return e.place.Segment, ok
}

// first returns the oldest segment the log holds.
func (l *fakeLog) first() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	first := l.cur
	for s := range l.segs {
		first = min(first, s)
	}
	return first
}

// purgeFor removes the segments a member's log could: those before the
// entry after the store's consistent index (raft keeps the entries after
// its snapshot, taken at the consistent index) and before the oldest
// segment the store points into. It reads the consistent index first, as
// OldestLogSegment's contract asks.
func (l *fakeLog) purgeFor(s *Store) {
	ci := s.ConsistentIndex()
	l.mu.Lock()
	bound := l.cur
	l.mu.Unlock()
	if seg, ok := l.segmentOf(ci + 1); ok {
		bound = min(bound, seg)
	}
	if seq, ok := s.OldestLogSegment(); ok {
		bound = min(bound, seq)
	}
	l.purge(bound)
}

// openLogged opens the store at /db on disk with its values of at least
// minValue bytes kept in log.
func openLogged(t testing.TB, disk *fsx.MemFS, log LogValues, minValue int, batch int) *Store {
	t.Helper()
	s, err := Open("/db", Options{FS: disk, BatchLimit: batch, PageSize: 1024, StrictPages: true,
		LogValues: log, MinLogValue: minValue, MinRetainedLog: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// putLogged puts key = a value of n bytes that raft entry index carries
// (a slice of the entry's data in log), and returns the value.
func putLogged(t testing.TB, s *Store, log *fakeLog, index uint64, key string, n int) []byte {
	t.Helper()
	data := log.add(index, entryData(index, n))
	value := data[8 : 8+n]
	if _, err := s.Put(index, 1, &api.PutRequest{Key: []byte(key), Value: value}); err != nil {
		t.Fatal(err)
	}
	return value
}

// entryData is an entry's data carrying a value of n bytes at offset 8.
func entryData(index uint64, n int) []byte {
	b := []byte(fmt.Sprintf("%08d", index%1e8))
	b = append(b, valueOf(index, n)...)
	return append(b, "trailer"...)
}

// valueOf is the value of n bytes entry index carries.
func valueOf(index uint64, n int) []byte {
	pattern := []byte(fmt.Sprintf("<%d>", index))
	return bytes.Repeat(pattern, n/len(pattern)+1)[:n]
}

// checkLogRefs checks the references of s's page file against its
// records: each 'l' record has its reference and each reference its 'l'
// record, and LogRefStats counts them. It commits first.
func checkLogRefs(t fataler, s *Store) (count, size int64) {
	t.Helper()
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	err := s.db.View(func(tx *pagefile.Tx) error {
		c := tx.Bucket(bucketKey).Cursor()
		records := map[LogPlace]Revision{}
		for k, v := c.First(); k != nil; k, v = c.Next() {
			rev, _ := bytesRev(k)
			_, _, ref, err := parseStored(v)
			if err != nil {
				return err
			}
			if ref.form == flagLogValue {
				if other, dup := records[ref.place]; dup {
					return fmt.Errorf("revisions %v and %v point at %v", other, rev, ref.place)
				}
				records[ref.place] = rev
				count++
				size += int64(ref.size)
			}
		}
		rc := tx.Bucket(bucketLogRefs).Cursor()
		n := 0
		for k, v := rc.First(); k != nil; k, v = rc.Next() {
			place, rev, _, err := parseLogRef(k, v)
			if err != nil {
				return err
			}
			if records[place] != rev {
				return fmt.Errorf("reference %v names revision %v, whose record does not point there", place, rev)
			}
			n++
		}
		if n != len(records) {
			return fmt.Errorf("%d references for %d records pointing into the log", n, len(records))
		}
		return errors.Join(c.Err(), rc.Err())
	})
	if err != nil {
		t.Fatal(err)
	}
	if c, b := s.LogRefStats(); c != count || b != size {
		t.Fatalf("LogRefStats says %d values of %d bytes, the page file has %d of %d", c, b, count, size)
	}
	return count, size
}

// fataler is what checkLogRefs needs of a test (testing.TB or *rapid.T).
type fataler interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// TestLogValuesAreNotCopied: a large value given as a slice of its raft
// entry is stored as a pointer into the log ('l'), read back through the
// log at every revision and after a restart, hashed as if inline; a
// value that is not a slice of its entry (or is small) is stored as
// before.
func TestLogValuesAreNotCopied(t *testing.T) {
	log := newFakeLog(1 << 20)
	disk := fsx.NewMem()
	s := openLogged(t, disk, log, 100, 100)
	plain := openMem(t, fsx.NewMem(), 100)
	sizes := []int{10, 99, 100, 5000}
	index := uint64(0)
	for range 2 {
		for i, n := range sizes {
			index++
			v := putLogged(t, s, log, index, fmt.Sprint(i), n)
			if _, err := plain.Put(index, 1, &api.PutRequest{Key: []byte(fmt.Sprint(i)), Value: v}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A value the entry does not carry (a copy) is stored by the store.
	index++
	log.add(index, []byte("unrelated"))
	for _, st := range []*Store{s, plain} {
		if _, err := st.Put(index, 1, &api.PutRequest{Key: []byte("9"), Value: valueOf(index, 300)}); err != nil {
			t.Fatal(err)
		}
	}
	flags, values := storedFlags(t, s)
	if flags != "ppllppllp" || values != 0 {
		t.Fatalf("records stored as %q with %d values out of line, want ppllppllp and 0", flags, values)
	}
	if n, size := checkLogRefs(t, s); n != 4 || size != 2*5100 {
		t.Fatalf("%d references to %d bytes, want 4 to %d", n, size, 2*5100)
	}
	if seq, ok := s.OldestLogSegment(); !ok || seq != 0 {
		t.Fatalf("oldest log segment %d %v, want 0", seq, ok)
	}
	same := func(st *Store) {
		t.Helper()
		for rev := int64(1); rev <= st.Rev(); rev++ {
			a, err := st.Range([]byte("0"), []byte("z"), RangeOptions{Rev: rev})
			if err != nil {
				t.Fatal(err)
			}
			b, err := plain.Range([]byte("0"), []byte("z"), RangeOptions{Rev: rev})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(a.KVs) != fmt.Sprint(b.KVs) {
				t.Fatalf("revision %d: %v, want %v", rev, a.KVs, b.KVs)
			}
		}
		ha, _, err := st.Hash(0)
		if err != nil {
			t.Fatal(err)
		}
		if hb, _, _ := plain.Hash(0); ha != hb {
			t.Fatalf("hash %x with values in the log, %x without", ha, hb)
		}
	}
	same(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openLogged(t, disk, log, 100, 100)
	same(s)
	if n, _ := checkLogRefs(t, s); n != 4 {
		t.Fatalf("%d references after a restart, want 4", n)
	}
	// Two puts of one slice of the entry: only the first points at it
	// (references are one per place), the second stores its value.
	index++
	data := log.add(index, entryData(index, 300))
	v := data[8:308]
	txn := &api.TxnRequest{Success: []api.RequestOp{
		{Put: &api.PutRequest{Key: []byte("x"), Value: v}},
		{Put: &api.PutRequest{Key: []byte("y"), Value: v}},
	}}
	if _, err := s.Txn(index, 1, txn); err != nil {
		t.Fatal(err)
	}
	if flags, _ := storedFlags(t, s); flags != "ppllppllplp" {
		t.Fatalf("a value put twice: records stored as %q, want ppllppllplp", flags)
	}
	if n, _ := checkLogRefs(t, s); n != 5 {
		t.Fatalf("%d references, want 5", n)
	}
	for _, k := range []string{"x", "y"} {
		if res, err := s.Range([]byte(k), nil, RangeOptions{}); err != nil || !bytes.Equal(res.KVs[0].Value, v) {
			t.Fatalf("%s: %v %v", k, res, err)
		}
	}
	// With the option off, the store is as before.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openLogged(t, disk, log, 0, 100)
	index++
	putLogged(t, s, log, index, "8", 5000)
	if flags, _ := storedFlags(t, s); flags != "ppllppllplpv" {
		t.Fatalf("with MinLogValue 0, records stored as %q, want ppllppllplpv", flags)
	}
}

// flip changes a byte of segment seq at off.
func (l *fakeLog) flip(seq uint64, off int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.segs[seq][off] ^= 0x40
}

// drop loses segment seq (the disk lost it).
func (l *fakeLog) drop(seq uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.segs, seq)
}

// TestLogValueDamageIsCorruption: a value whose bytes in the log are lost
// or differ from its record is reported, by every reader, as an error
// wrapping pagefile.ErrCorrupt that names the revision; a store opened
// without LogValues reports ErrNoLogValues. Neither serves an empty or
// wrong value; reads that need no value go on.
func TestLogValueDamageIsCorruption(t *testing.T) {
	for _, damage := range []string{"flipped byte", "lost segment", "no LogValues"} {
		t.Run(damage, func(t *testing.T) {
			log := newFakeLog(1) // a segment per entry
			disk := fsx.NewMem()
			s := openLogged(t, disk, log, 100, 100)
			putLogged(t, s, log, 1, "a", 1000)
			putLogged(t, s, log, 2, "b", 1000)
			if err := s.Commit(); err != nil {
				t.Fatal(err)
			}
			want := pagefile.ErrCorrupt
			switch damage {
			case "flipped byte":
				log.flip(0, log.entries[1].place.Offset+8+500)
			case "lost segment":
				log.drop(0)
			case "no LogValues":
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				s = openLogged(t, disk, nil, 100, 100)
				want = ErrNoLogValues
			}
			w, err := s.Watch([]byte("a"), nil, WatchOptions{StartRev: 2, Buffer: 10})
			if err != nil {
				t.Fatal(err)
			}
			readers := map[string]func() error{
				"range": func() error {
					_, err := s.Range([]byte("a"), nil, RangeOptions{})
					return err
				},
				"range at old revision": func() error {
					_, err := s.Range([]byte("a"), nil, RangeOptions{Rev: 2})
					return err
				},
				"prev_kv": func() error {
					log.add(3, []byte("x"))
					_, err := s.Put(3, 1, &api.PutRequest{Key: []byte("a"), Value: []byte("new"), PrevKv: true})
					return err
				},
				"txn compare": func() error {
					_, err := s.Txn(4, 1, &api.TxnRequest{Compare: []api.Compare{{Key: []byte("a"), Target: api.CompareValue, Result: api.CompareEqual, Value: []byte("x")}}})
					return err
				},
				"ignore_value": func() error {
					_, err := s.Put(5, 1, &api.PutRequest{Key: []byte("a"), IgnoreValue: true})
					return err
				},
				"hash": func() error {
					_, _, err := s.Hash(0)
					return err
				},
				"history": func() error {
					return s.History(func(Revision, api.KeyValue, bool) error { return nil })
				},
				"watch catch-up": func() error {
					_, err := s.SyncWatchers(100)
					return err
				},
			}
			for name, read := range readers {
				err := read()
				if !errors.Is(err, want) || !bytes.Contains([]byte(err.Error()), []byte("revision {2 0}")) {
					t.Errorf("%s: %v, want an error wrapping %v naming revision 2", name, err, want)
				}
			}
			select {
			case r := <-w.C():
				t.Errorf("the watcher got %v", r)
			default:
			}
			res, err := s.Range([]byte("a"), []byte("c"), RangeOptions{KeysOnly: true})
			if err != nil || len(res.KVs) != 2 {
				t.Fatalf("keys-only read: %v, %v", res, err)
			}
			if res, err := s.Range([]byte("b"), nil, RangeOptions{}); damage != "no LogValues" && (err != nil || !bytes.Equal(res.KVs[0].Value, valueOf(2, 1000))) {
				t.Fatalf("read of an undamaged value: %v", err)
			}
		})
	}
}

// TestCompactionDropsLogRefs: compaction deletes the references of the
// records it removes; OldestLogSegment rises only once the batch that
// deletes them is durable (a crash before leaves the old records, and
// their segments must still be there), and the references survive a
// restart.
func TestCompactionDropsLogRefs(t *testing.T) {
	// setup writes a's and b's values three times (entries 1..6 in
	// segments 0..5, revisions 2..7), compacts at revision 7, which drops
	// their first two versions (revisions 2..5, segments 0..3), and
	// freezes that batch without writing it.
	setup := func() (*Store, *fakeLog, *fsx.MemFS) {
		log := newFakeLog(1) // a segment per entry
		disk := fsx.NewMem()
		s := openLogged(t, disk, log, 100, 1000)
		index := uint64(0)
		for range 3 {
			for _, k := range []string{"a", "b"} {
				index++
				putLogged(t, s, log, index, k, 500)
			}
		}
		if n, size := checkLogRefs(t, s); n != 6 || size != 3000 {
			t.Fatalf("%d references to %d bytes, want 6 to 3000", n, size)
		}
		if seq, ok := s.OldestLogSegment(); !ok || seq != 0 {
			t.Fatalf("oldest log segment %d %v, want 0", seq, ok)
		}
		if err := s.StartCompact(7); err != nil {
			t.Fatal(err)
		}
		if err := s.compactSome(); err != nil {
			t.Fatal(err)
		}
		if n, size := s.LogRefStats(); n != 2 || size != 1000 {
			t.Fatalf("after compaction: %d references to %d bytes, want 2 to 1000", n, size)
		}
		s.mu.Lock()
		if err := s.freezeLocked(); err != nil {
			t.Fatal(err)
		}
		s.mu.Unlock()
		// Frozen, not yet written: the durable file still points into
		// segment 0.
		if seq, ok := s.OldestLogSegment(); !ok || seq != 0 {
			t.Fatalf("before the compaction is durable: oldest log segment %d %v, want 0", seq, ok)
		}
		return s, log, disk
	}
	// A crash now: the records are back, and read from segment 0.
	_, log, disk := setup()
	crashed := openLogged(t, disk.Crash(fsx.LoseUnsynced, nil), log, 100, 1000)
	if seq, ok := crashed.OldestLogSegment(); !ok || seq != 0 {
		t.Fatalf("after a crash: oldest log segment %d %v, want 0", seq, ok)
	}
	if n, _ := checkLogRefs(t, crashed); n != 6 {
		t.Fatalf("after a crash: %d references, want 6", n)
	}
	if res, err := crashed.Range([]byte("a"), nil, RangeOptions{Rev: 2}); err != nil || !bytes.Equal(res.KVs[0].Value, valueOf(1, 500)) {
		t.Fatalf("after a crash, a at revision 2: %v", err)
	}

	s, log, disk := setup()
	index := s.AppliedIndex()
	// Written: the bound moves to segment 4.
	if err := s.flush(); err != nil {
		t.Fatal(err)
	}
	if seq, ok := s.OldestLogSegment(); !ok || seq != 4 {
		t.Fatalf("once the compaction is durable: oldest log segment %d %v, want 4", seq, ok)
	}
	log.purgeFor(s)
	if first := log.first(); first != 4 {
		t.Fatalf("the log kept segments from %d, want 4", first)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openLogged(t, disk, log, 100, 1000)
	if seq, ok := s.OldestLogSegment(); !ok || seq != 4 {
		t.Fatalf("after a restart: oldest log segment %d %v, want 4", seq, ok)
	}
	if n, size := checkLogRefs(t, s); n != 2 || size != 1000 {
		t.Fatalf("after a restart: %d references to %d bytes, want 2 to 1000", n, size)
	}
	res, err := s.Range([]byte("a"), []byte("c"), RangeOptions{})
	if err != nil || len(res.KVs) != 2 || !bytes.Equal(res.KVs[0].Value, valueOf(5, 500)) || !bytes.Equal(res.KVs[1].Value, valueOf(6, 500)) {
		t.Fatalf("read after purge and restart: %v %v", res, err)
	}
	// Deleting the keys and compacting past the deletion leaves no
	// reference, durably.
	index++
	if _, err := s.DeleteRange(index, 1, &api.DeleteRangeRequest{Key: []byte("a"), RangeEnd: []byte("c")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(s.Rev()); err != nil {
		t.Fatal(err)
	}
	if seq, ok := s.OldestLogSegment(); ok {
		t.Fatalf("no references left, but oldest log segment %d", seq)
	}
	if n, size := checkLogRefs(t, s); n != 0 || size != 0 {
		t.Fatalf("%d references to %d bytes left", n, size)
	}
}

// TestCollectorMovesOldValues: once the log takes more than
// max(MinRetainedLog, 2 x the live values), each Commit moves a bounded
// number of values out of the oldest segment into the page file (inline
// or out of line, as a put without the log stores them), and the bound
// rises once that is durable; the values and the hash stay the same.
func TestCollectorMovesOldValues(t *testing.T) {
	log := newFakeLog(9000) // a, b, c in segment 0; d, e in segment 1
	s := openLogged(t, fsx.NewMem(), log, 100, 1000)
	s.collectValues = 2
	sizes := map[string]int{"a": 3000, "b": 3000, "c": 3000, "d": 3000, "e": 200}
	index := uint64(0)
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		index++
		putLogged(t, s, log, index, k, sizes[k])
	}
	h, _, err := s.Hash(0)
	if err != nil {
		t.Fatal(err)
	}
	refs := func(want int64, oldest uint64) {
		t.Helper()
		if n, _ := checkLogRefs(t, s); n != want {
			t.Fatalf("%d references, want %d", n, want)
		}
		if seq, ok := s.OldestLogSegment(); ok != (want > 0) || seq != oldest {
			t.Fatalf("oldest log segment %d %v, want %d", seq, ok, oldest)
		}
	}
	refs(5, 0) // MinRetainedLog 1 TiB: nothing moves
	// The log (12,275 bytes) is less than twice the live values: nothing
	// moves either.
	s.opts.MinRetainedLog = 1
	refs(5, 0)
	// Other entries make it larger: two values of segment 0 move per
	// Commit, then the third (segment 0 only), then segment 1's two.
	index++
	log.add(index, make([]byte, 20000))
	refs(3, 0)
	refs(2, 1)
	refs(0, 0)
	if flags, values := storedFlags(t, s); flags != "vvvvp" || values != 4 {
		t.Fatalf("records stored as %q with %d values out of line, want vvvvp and 4", flags, values)
	}
	log.purgeFor(s)
	if first := log.first(); first != log.cur {
		t.Fatalf("the log keeps segments from %d, the current is %d", first, log.cur)
	}
	for k, n := range sizes {
		res, err := s.Range([]byte(k), nil, RangeOptions{})
		if err != nil || len(res.KVs) != 1 || !bytes.Equal(res.KVs[0].Value, valueOf(uint64(k[0]-'a'+1), n)) {
			t.Fatalf("%s after collection: %v %v", k, res, err)
		}
	}
	if h2, _, err := s.Hash(0); err != nil || h2 != h {
		t.Fatalf("hash %x after collection, %x before (%v)", h2, h, err)
	}
}

// TestStoreCopyWithLogValues: a copy of the page file written from a
// read transaction (as a raft snapshot is) carries pointers into the
// sender's log; LogRefsIn lists exactly the values it needs, even after
// the sender compacted them away, and InternLogValues, fed with them,
// moves them into the copy, which then reads and hashes as the sender
// did, with no reference left. A value that differs from its record is
// refused as corruption.
func TestStoreCopyWithLogValues(t *testing.T) {
	log := newFakeLog(2000)
	s := openLogged(t, fsx.NewMem(), log, 100, 1000)
	index := uint64(0)
	for i := range 10 {
		index++
		putLogged(t, s, log, index, fmt.Sprint(i%4), 300+100*i)
	}
	hash, _, err := s.Hash(0)
	if err != nil {
		t.Fatal(err)
	}
	want, err := s.Range([]byte("0"), []byte("9"), RangeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rtx, err := s.DB().Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	defer rtx.Rollback()
	// The sender compacts meanwhile: its references go, the copy's stay.
	if err := s.Compact(s.Rev()); err != nil {
		t.Fatal(err)
	}
	if n, _ := checkLogRefs(t, s); n != 4 {
		t.Fatalf("sender: %d references after compaction, want 4", n)
	}
	sent := map[LogPlace][]byte{}
	err = LogRefsIn(rtx, func(place LogPlace, size int64) error {
		v := make([]byte, size)
		sent[place] = v
		return log.ReadValue(place, v)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sent) != 10 {
		t.Fatalf("LogRefsIn listed %d values, want 10", len(sent))
	}
	if seq, ok, err := OldestLogSegmentIn(rtx); err != nil || !ok || seq != 0 {
		t.Fatalf("OldestLogSegmentIn: %d %v %v, want 0", seq, ok, err)
	}
	disk := fsx.NewMem()
	f, err := disk.OpenFile("/copy", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rtx.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	c, err := Open("/copy", Options{FS: disk, PageSize: 1024, StrictPages: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Range([]byte("0"), []byte("9"), RangeOptions{}); !errors.Is(err, ErrNoLogValues) {
		t.Fatalf("read of the copy before InternLogValues: %v, want ErrNoLogValues", err)
	}
	// A value that is not the record's is refused, and nothing moves.
	err = c.InternLogValues(func(place LogPlace, p []byte) error {
		copy(p, sent[place])
		p[0] ^= 1
		return nil
	})
	if !errors.Is(err, pagefile.ErrCorrupt) {
		t.Fatalf("InternLogValues with damaged values: %v, want ErrCorrupt", err)
	}
	if n, _ := checkLogRefs(t, c); n != 10 {
		t.Fatalf("%d references after a failed InternLogValues, want 10", n)
	}
	err = c.InternLogValues(func(place LogPlace, p []byte) error {
		v, ok := sent[place]
		if !ok || len(v) != len(p) {
			return fmt.Errorf("no value of %d bytes sent for %v", len(p), place)
		}
		copy(p, v)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seq, ok := c.OldestLogSegment(); ok {
		t.Fatalf("the copy points into segment %d after InternLogValues", seq)
	}
	if n, _ := checkLogRefs(t, c); n != 0 {
		t.Fatalf("%d references after InternLogValues", n)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c, err = Open("/copy", Options{FS: disk, PageSize: 1024, StrictPages: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Range([]byte("0"), []byte("9"), RangeOptions{})
	if err != nil || fmt.Sprint(got.KVs) != fmt.Sprint(want.KVs) {
		t.Fatalf("the copy reads %v (%v), want %v", got, err, want)
	}
	if h, _, err := c.Hash(0); err != nil || h != hash {
		t.Fatalf("the copy hashes to %x (%v), the sender did to %x", h, err, hash)
	}
}

// TestDefragmentKeepsLogRefs: a defragmented page file keeps its records'
// pointers and its references as they were.
func TestDefragmentKeepsLogRefs(t *testing.T) {
	log := newFakeLog(2000)
	disk := fsx.NewMem()
	s := openLogged(t, disk, log, 100, 1000)
	index := uint64(0)
	for i := range 30 {
		index++
		putLogged(t, s, log, index, fmt.Sprint(i%5), 200+50*i)
	}
	if err := s.StartCompact(s.Rev() - 7); err != nil {
		t.Fatal(err)
	}
	want, err := s.Range([]byte("0"), []byte("9"), RangeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Defragment(); err != nil {
		t.Fatal(err)
	}
	n, size := checkLogRefs(t, s)
	if n != 12 {
		t.Fatalf("%d references after defragmentation, want 12", n)
	}
	oldest, _ := s.OldestLogSegment()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openLogged(t, disk, log, 100, 1000)
	if n2, size2 := checkLogRefs(t, s); n2 != n || size2 != size {
		t.Fatalf("after a restart: %d references to %d bytes, want %d to %d", n2, size2, n, size)
	}
	if seq, _ := s.OldestLogSegment(); seq != oldest {
		t.Fatalf("oldest log segment %d after a restart, %d before", seq, oldest)
	}
	got, err := s.Range([]byte("0"), []byte("9"), RangeOptions{})
	if err != nil || fmt.Sprint(got.KVs) != fmt.Sprint(want.KVs) {
		t.Fatalf("after defragmentation: %v (%v), want %v", got, err, want)
	}
}

// TestCollectorRacesCompactionAndDefragment runs writes of logged values
// with compactions, Commits (which compact and collect), defragmentations
// and reads at once: every read gets the values written, and the
// references end up matching the records.
func TestCollectorRacesCompactionAndDefragment(t *testing.T) {
	log := newFakeLog(3000)
	s := openLogged(t, fsx.NewMem(), log, 100, 50)
	s.opts.MinRetainedLog = 1
	s.collectValues = 3
	s.compactKeys, s.compactBatch = 3, 5
	const keys, writes = 8, 1000
	var wg sync.WaitGroup
	done := make(chan struct{})
	errs := make(chan error, 10)
	background := func(name string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if err := f(); err != nil {
					errs <- fmt.Errorf("%s: %w", name, err)
					return
				}
			}
		}()
	}
	background("commit", func() error {
		err := s.Commit()
		log.purgeFor(s)
		return err
	})
	background("defragment", s.Defragment)
	background("read", func() error {
		res, err := s.Range([]byte("k"), []byte("l"), RangeOptions{})
		if err != nil {
			return err
		}
		for _, kv := range res.KVs {
			if !bytes.Equal(kv.Value, valueOf(uint64(kv.ModRevision-1), len(kv.Value))) || len(kv.Value) < 100 {
				return fmt.Errorf("%s at revision %d: a value of %d bytes that is not the one written", kv.Key, kv.ModRevision, len(kv.Value))
			}
		}
		return nil
	})
	for i := range writes {
		index := uint64(i + 1)
		putLogged(t, s, log, index, fmt.Sprintf("k%d", i%keys), 100+i%500)
		if i%40 == 39 {
			if err := s.StartCompact(s.Rev() - 5); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := s.FinishCompaction(); err != nil {
		t.Fatal(err)
	}
	checkLogRefs(t, s)
	log.purgeFor(s)
	flags, _ := storedFlags(t, s)
	if log.first() == 0 || !bytes.Contains([]byte(flags), []byte("p")) {
		t.Fatalf("nothing was collected and purged: records %s, log from segment %d", flags, log.first())
	}
	res, err := s.Range([]byte("k"), []byte("l"), RangeOptions{})
	if err != nil || len(res.KVs) != keys {
		t.Fatalf("final read: %v %v", res, err)
	}
	for _, kv := range res.KVs {
		if !bytes.Equal(kv.Value, valueOf(uint64(kv.ModRevision-1), len(kv.Value))) {
			t.Fatalf("%s: not the value written", kv.Key)
		}
	}
}

// TestCollectorReportsDamage: a value the collector cannot read from the
// log (or reads other bytes than its record's) makes Commit fail with
// ErrCorrupt, after the batch is committed; nothing is moved.
func TestCollectorReportsDamage(t *testing.T) {
	log := newFakeLog(1)
	s := openLogged(t, fsx.NewMem(), log, 100, 1000)
	putLogged(t, s, log, 1, "a", 500)
	log.add(2, make([]byte, 5000)) // the log is now large
	putLogged(t, s, log, 3, "b", 500)
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	log.flip(0, 100)
	s.opts.MinRetainedLog = 1
	log.add(4, nil)
	tw := s.Write(4, 1)
	if err := tw.End(); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(); !errors.Is(err, pagefile.ErrCorrupt) {
		t.Fatalf("Commit collecting a damaged value: %v, want ErrCorrupt", err)
	}
	if ci := s.ConsistentIndex(); ci != 4 {
		t.Fatalf("consistent index %d after the failed collection, want 4", ci)
	}
	if n, _ := s.LogRefStats(); n != 2 {
		t.Fatalf("%d references, want 2", n)
	}
}

// TestCheckLogValuesAndInternFile: CheckLogValues reads back the values
// the store keeps in the log from a place on, and finds one whose bytes
// changed only when that place is at or before it; a copy of the page
// file given its values by InternLogValuesFile keeps none in any log and
// reads and hashes as the store, also when either of its meta pages is
// damaged.
func TestCheckLogValuesAndInternFile(t *testing.T) {
	log := newFakeLog(1500)
	disk := fsx.NewMem()
	s := openLogged(t, disk, log, 100, 1000)
	var places []LogPlace
	for i := range 8 {
		index := uint64(i + 1)
		v := putLogged(t, s, log, index, fmt.Sprint(i%3), 200+50*i)
		place, ok := log.Place(index, v)
		if !ok {
			t.Fatalf("entry %d: the fake log does not find its value", index)
		}
		places = append(places, place)
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CheckLogValues(LogPlace{}); n != 8 || err != nil {
		t.Fatalf("CheckLogValues from the start: %d values, %v; want 8", n, err)
	}
	if n, err := s.CheckLogValues(places[5]); n != 3 || err != nil {
		t.Fatalf("CheckLogValues from the 6th value: %d values, %v; want 3", n, err)
	}
	// The 4th value's bytes change in the log.
	bad := places[3]
	log.mu.Lock()
	log.segs[bad.Segment][bad.Offset+7] ^= 1
	log.mu.Unlock()
	if _, err := s.CheckLogValues(places[2]); !errors.Is(err, pagefile.ErrCorrupt) {
		t.Fatalf("CheckLogValues from before a changed value: %v, want ErrCorrupt", err)
	}
	if n, err := s.CheckLogValues(places[4]); n != 4 || err != nil {
		t.Fatalf("CheckLogValues from after a changed value: %d values, %v; want 4", n, err)
	}
	log.mu.Lock()
	log.segs[bad.Segment][bad.Offset+7] ^= 1
	log.mu.Unlock()
	hash, _, err := s.Hash(0)
	if err != nil {
		t.Fatal(err)
	}
	rtx, err := s.DB().Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	f, err := disk.OpenFile("/copy", os.O_CREATE|os.O_RDWR, 0o600)
	if err == nil {
		_, err = rtx.WriteTo(f)
	}
	rtx.Rollback()
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := InternLogValuesFile("/copy", Options{FS: disk, LogValues: log, MinLogValue: 1}, log.ReadValue); err != nil {
		t.Fatal(err)
	}
	whole, err := disk.ReadFile("/copy")
	if err != nil {
		t.Fatal(err)
	}
	// The copy, and the copy with either meta page damaged (the page
	// file falls back to the other), hold every value.
	for _, damaged := range []int{-1, 0, 1} {
		b := bytes.Clone(whole)
		if damaged >= 0 {
			b[damaged*1024+20] ^= 0x40
		}
		name := fmt.Sprintf("/copy%d", damaged)
		f, err := disk.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o600)
		if err == nil {
			_, err = f.Write(b)
		}
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		c, err := Open(name, Options{FS: disk})
		if err != nil {
			t.Fatalf("meta page %d damaged: %v", damaged, err)
		}
		if _, ok := c.OldestLogSegment(); ok {
			t.Errorf("meta page %d damaged: the copy points into the log", damaged)
		}
		if got, _, err := c.Hash(0); err != nil || got != hash {
			t.Errorf("meta page %d damaged: copy hash %x (%v), store %x", damaged, got, err, hash)
		}
		c.Close()
	}
}
