package mvcc

import (
	"bytes"
	"errors"
	"fmt"
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
	bound := l.cur
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
func checkLogRefs(t testing.TB, s *Store) (count, size int64) {
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
	// With the option off, the store is as before.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openLogged(t, disk, log, 0, 100)
	index++
	putLogged(t, s, log, index, "8", 5000)
	if flags, _ := storedFlags(t, s); flags != "ppllppllpv" {
		t.Fatalf("with MinLogValue 0, records stored as %q, want ppllppllpv", flags)
	}
}
