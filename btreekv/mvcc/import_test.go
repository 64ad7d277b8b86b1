package mvcc

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/btreekv/pagefile"
	"github.com/cairndb/cairn/internal/fsx"
	"pgregory.net/rapid"
)

// copyByImport imports every record and lease of s into a new store at
// /imported on disk, and opens it.
func copyByImport(t *rapid.T, s *Store, disk *fsx.MemFS, batch int) *Store {
	im, err := NewImporter("/imported", s.CompactRev(), Options{FS: disk, BatchLimit: batch, PageSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	err = s.db.View(func(tx *pagefile.Tx) error {
		c := tx.Bucket(bucketKey).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			rev, err := bytesRev(k)
			if err != nil {
				return err
			}
			kv, tomb, err := decodeRecord(v)
			if err != nil {
				return err
			}
			if tomb {
				err = im.Delete(rev, kv.Key)
			} else {
				err = im.Put(rev, kv)
			}
			if err != nil {
				return err
			}
		}
		return c.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range s.Leases() {
		if err := im.Lease(l.ID, l.TTL); err != nil {
			t.Fatal(err)
		}
	}
	if err := im.Finish(7, 3); err != nil {
		t.Fatal(err)
	}
	c, err := Open("/imported", Options{FS: disk, PageSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestImportReproducesTheStore writes a random history (puts, deletes,
// leases, revokes, a compaction) into a store, imports its records into
// a new one, and checks that the copy answers every read the original
// does: each revision from the compacted one on, the revisions, the
// leases and the hash.
func TestImportReproducesTheStore(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		disk := fsx.NewMem()
		s := openMem(t, disk, 1000)
		keys := []string{"a", "b", "c", "d"}
		index := uint64(0)
		for range rapid.IntRange(1, 60).Draw(rt, "ops") {
			index++
			var err error
			switch rapid.IntRange(0, 9).Draw(rt, "op") {
			case 0, 1, 2, 3:
				k := rapid.SampledFrom(keys).Draw(rt, "key")
				_, err = s.Put(index, 1, &api.PutRequest{Key: []byte(k), Value: []byte(fmt.Sprint(index))})
			case 4:
				k := rapid.SampledFrom(keys).Draw(rt, "key")
				_, err = s.DeleteRange(index, 1, &api.DeleteRangeRequest{Key: []byte(k), RangeEnd: []byte("e")})
			case 5:
				err = s.LeaseGrant(index, 1, int64(rapid.IntRange(1, 3).Draw(rt, "lease")), 30)
				if errors.Is(err, ErrLeaseExists) {
					err = nil
				}
			case 6:
				k := rapid.SampledFrom(keys).Draw(rt, "key")
				_, err = s.Put(index, 1, &api.PutRequest{Key: []byte(k), Value: []byte("leased"), Lease: int64(rapid.IntRange(1, 3).Draw(rt, "lease"))})
				if errors.Is(err, ErrLeaseNotFound) {
					err = nil
				}
			case 7:
				_, err = s.LeaseRevoke(index, 1, int64(rapid.IntRange(1, 3).Draw(rt, "lease")))
				if errors.Is(err, ErrLeaseNotFound) {
					err = nil
				}
			case 8, 9:
				if rev := s.Rev(); rev > s.CompactRev() {
					err = s.Compact(rapid.Int64Range(s.CompactRev()+1, rev).Draw(rt, "compact"))
				}
			}
			if err != nil {
				rt.Fatal(err)
			}
		}
		c := copyByImport(rt, s, disk, rapid.IntRange(1, 20).Draw(rt, "batch"))
		defer c.Close()
		if c.Rev() != s.Rev() || c.CompactRev() != s.CompactRev() {
			rt.Fatalf("copy at revision %d compacted %d, original %d compacted %d", c.Rev(), c.CompactRev(), s.Rev(), s.CompactRev())
		}
		if c.ConsistentIndex() != 7 || c.AppliedTerm() != 3 {
			rt.Fatalf("copy at index %d term %d, want 7 and 3", c.ConsistentIndex(), c.AppliedTerm())
		}
		for rev := max(s.CompactRev(), 1); rev <= s.Rev(); rev++ {
			want, err := s.Range([]byte{0}, []byte{0}, RangeOptions{Rev: rev})
			if err != nil {
				rt.Fatal(err)
			}
			got, err := c.Range([]byte{0}, []byte{0}, RangeOptions{Rev: rev})
			if err != nil || !reflect.DeepEqual(got, want) {
				rt.Fatalf("range at %d: copy %+v %v, original %+v", rev, got, err, want)
			}
		}
		if !reflect.DeepEqual(normalizeLeases(c.Leases()), normalizeLeases(s.Leases())) {
			rt.Fatalf("leases: copy %v, original %v", c.Leases(), s.Leases())
		}
		hs, _, _ := s.Hash(0)
		hc, _, _ := c.Hash(0)
		if hs != hc {
			rt.Fatalf("hash: copy %x, original %x", hc, hs)
		}
	})
}

func TestImportRefusesImpossibleHistories(t *testing.T) {
	put := func(main, sub int64, key string, created, version int64) func(*Importer) error {
		return func(im *Importer) error {
			return im.Put(Revision{Main: main, Sub: sub}, api.KeyValue{Key: []byte(key), Value: []byte("v"),
				CreateRevision: created, ModRevision: main, Version: version})
		}
	}
	del := func(main, sub int64, key string) func(*Importer) error {
		return func(im *Importer) error { return im.Delete(Revision{Main: main, Sub: sub}, []byte(key)) }
	}
	lease := func(id, ttl int64) func(*Importer) error {
		return func(im *Importer) error { return im.Lease(id, ttl) }
	}
	tests := []struct {
		name      string
		compacted int64
		steps     []func(*Importer) error
		wantErr   string // "" for a history that must be accepted
	}{
		{"fine", 0, []func(*Importer) error{put(1, 0, "a", 1, 1), put(2, 0, "a", 1, 2), del(3, 0, "a"), put(4, 0, "a", 4, 1)}, ""},
		{"compacted older versions", 5, []func(*Importer) error{put(3, 0, "a", 1, 3), put(6, 0, "a", 1, 4)}, ""},
		{"orphan tombstone of a compaction", 5, []func(*Importer) error{del(4, 0, "a"), put(6, 0, "a", 6, 1)}, ""},
		{"revision goes back", 0, []func(*Importer) error{put(2, 0, "a", 2, 1), put(1, 0, "b", 1, 1)}, "does not follow"},
		{"same revision twice", 0, []func(*Importer) error{put(1, 0, "a", 1, 1), put(1, 0, "b", 1, 1)}, "does not follow"},
		{"mod revision differs", 0, []func(*Importer) error{func(im *Importer) error {
			return im.Put(Revision{Main: 1}, api.KeyValue{Key: []byte("a"), CreateRevision: 1, ModRevision: 2, Version: 1})
		}}, "mod revision"},
		{"version skips", 0, []func(*Importer) error{put(1, 0, "a", 1, 1), put(2, 0, "a", 1, 3)}, "do not follow"},
		{"create revision changes", 0, []func(*Importer) error{put(1, 0, "a", 1, 1), put(2, 0, "a", 2, 2)}, "do not follow"},
		{"older versions missing after the compaction", 1, []func(*Importer) error{put(3, 0, "a", 2, 2)}, "where a new key starts"},
		{"new generation at version 2", 0, []func(*Importer) error{put(1, 0, "a", 1, 1), del(2, 0, "a"), put(3, 0, "a", 1, 2)}, "where a new key starts"},
		{"create revision in the future", 9, []func(*Importer) error{put(3, 0, "a", 4, 2)}, "create revision 4"},
		{"delete of a missing key", 0, []func(*Importer) error{del(1, 0, "a")}, "does not exist"},
		{"empty key", 0, []func(*Importer) error{put(1, 0, "", 1, 1)}, "empty key"},
		{"lease id zero", 0, []func(*Importer) error{lease(0, 5)}, "reserved"},
		{"lease twice", 0, []func(*Importer) error{lease(1, 5), lease(1, 6)}, "already exists"},
		{"lease without TTL", 0, []func(*Importer) error{lease(1, 0)}, "TTL 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			disk := fsx.NewMem()
			im, err := NewImporter("/db", tt.compacted, Options{FS: disk, PageSize: 1024})
			if err != nil {
				t.Fatal(err)
			}
			for _, step := range tt.steps {
				if err = step(im); err != nil {
					break
				}
			}
			finishErr := im.Finish(1, 1)
			switch {
			case tt.wantErr == "" && (err != nil || finishErr != nil):
				t.Fatalf("refused: %v / %v", err, finishErr)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
			case tt.wantErr != "" && finishErr == nil:
				t.Fatal("Finish succeeded after an error")
			}
		})
	}
}

func TestNewImporterRefusesAnExistingFile(t *testing.T) {
	disk := fsx.NewMem()
	s := openMem(t, disk, 10)
	_ = s.Close()
	if _, err := NewImporter("/db", 0, Options{FS: disk}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("import over an existing store: %v", err)
	}
}
