package mvcc

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/btreekv/pagefile"
	"github.com/cairndb/cairn/internal/fsx"
)

// storedFlags returns the flag byte of every record in the page file's
// "key" bucket, and how many values the "value" bucket holds.
func storedFlags(t *testing.T, s *Store) (flags string, values int) {
	t.Helper()
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	err := s.db.View(func(tx *pagefile.Tx) error {
		c := tx.Bucket(bucketKey).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			flags += string(v[0])
		}
		vc := tx.Bucket(bucketValue).Cursor()
		for k, _ := vc.First(); k != nil; k, _ = vc.Next() {
			values++
		}
		return errors.Join(c.Err(), vc.Err())
	})
	if err != nil {
		t.Fatal(err)
	}
	return flags, values
}

// TestLargeValuesAreStoredOutOfLine: values from separateValueMin bytes
// on are kept in the value bucket, read back whole (also after a restart
// and at old revisions), hashed as if inline, and removed by compaction.
func TestLargeValuesAreStoredOutOfLine(t *testing.T) {
	disk := fsx.NewMem()
	s := openMem(t, disk, 100)
	inline := openMem(t, fsx.NewMem(), 100)
	inline.separateMin = 1 << 30
	sizes := []int{0, 10, separateValueMin - 1, separateValueMin, 70000}
	value := func(i, n int) []byte { return bytes.Repeat([]byte{byte('a' + i)}, n) }
	index := uint64(0)
	for round := range 2 {
		for i, n := range sizes {
			index++
			for _, st := range []*Store{s, inline} {
				if _, err := st.Put(index, 1, &api.PutRequest{Key: []byte(fmt.Sprint(i)), Value: value(i+round, n)}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	flags, values := storedFlags(t, s)
	if flags != "pppvvpppvv" || values != 4 {
		t.Fatalf("records stored as %q with %d values out of line, want pppvvpppvv and 4", flags, values)
	}
	ha, _, err := s.Hash(0)
	if err != nil {
		t.Fatal(err)
	}
	if hb, _, _ := inline.Hash(0); ha != hb {
		t.Fatalf("hash %x with values out of line, %x with all inline", ha, hb)
	}
	check := func(st *Store, rev int64, round int) {
		t.Helper()
		for _, keysOnly := range []bool{false, true} {
			res, err := st.Range([]byte("0"), []byte("9"), RangeOptions{Rev: rev, KeysOnly: keysOnly})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.KVs) != len(sizes) {
				t.Fatalf("%d keys at revision %d", len(res.KVs), rev)
			}
			for i, kv := range res.KVs {
				want := value(i+round, sizes[i])
				if keysOnly || len(want) == 0 {
					want = nil
				}
				if !bytes.Equal(kv.Value, want) {
					t.Fatalf("key %d at revision %d (keys only %v): value of %d bytes, want %d", i, rev, keysOnly, len(kv.Value), len(want))
				}
			}
		}
	}
	check(s, 0, 1)
	check(s, 1+int64(len(sizes)), 0)
	// After a restart, the index is rebuilt from the records alone.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openMem(t, disk, 100)
	check(s, 0, 1)
	check(s, 1+int64(len(sizes)), 0)
	if hc, _, _ := s.Hash(0); hc != ha {
		t.Fatal("hash changed across a restart")
	}
	// A watcher caught up from the page file gets the values.
	w, err := s.Watch([]byte("0"), []byte("9"), WatchOptions{StartRev: 2, Buffer: 100})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SyncWatchers(1000); err != nil {
		t.Fatal(err)
	}
	var evs []api.Event
	for len(evs) < 2*len(sizes) {
		evs = append(evs, (<-w.C()).Events...)
	}
	for j, ev := range evs {
		if want := value(j%len(sizes)+j/len(sizes), sizes[j%len(sizes)]); !bytes.Equal(ev.Kv.Value, want) && len(want) > 0 {
			t.Fatalf("event %d: value of %d bytes, want %d", j, len(ev.Kv.Value), len(want))
		}
	}
	// Compaction removes the old values out of line too.
	if err := s.Compact(s.Rev()); err != nil {
		t.Fatal(err)
	}
	if flags, values := storedFlags(t, s); flags != "pppvv" || values != 2 {
		t.Fatalf("after compaction: records %q, %d values out of line; want pppvv and 2", flags, values)
	}
	// A value missing from its bucket is damage, not an empty value.
	err = s.db.Update(func(tx *pagefile.Tx) error {
		return tx.Bucket(bucketValue).Delete(revBytes(Revision{Main: s.Rev()}))
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Range([]byte("4"), nil, RangeOptions{}); !errors.Is(err, pagefile.ErrCorrupt) {
		t.Fatalf("read of a record whose value is gone: %v, want ErrCorrupt", err)
	}
	if _, err := s.Range([]byte("4"), nil, RangeOptions{KeysOnly: true}); err != nil {
		t.Fatalf("keys-only read needs no value: %v", err)
	}
}
