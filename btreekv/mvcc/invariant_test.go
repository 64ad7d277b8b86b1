package mvcc

import (
	"errors"
	"strings"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/btreekv/pagefile"
	"github.com/cairndb/cairn/internal/fsx"
	"github.com/cairndb/cairn/internal/invariant"
)

// wantViolation fails unless err violates the named invariant and its
// message contains detail.
func wantViolation(t *testing.T, err error, name, detail string) {
	t.Helper()
	if got, ok := invariant.Name(err); !ok || got != name || !strings.Contains(err.Error(), detail) {
		t.Fatalf("got %v, want a violation of %q mentioning %q", err, name, detail)
	}
}

func TestKeyIndexAssertsItsHistory(t *testing.T) {
	r := func(main, sub int64) Revision { return Revision{Main: main, Sub: sub} }
	cases := []struct {
		name, inv, detail string
		run               func(ki *keyIndex) error
	}{
		{"a put at an older revision", invRevisionsIncreasing, "revision {3 0} after {5 0}",
			func(ki *keyIndex) error { return ki.put(r(3, 0)) }},
		{"a put at the same revision", invRevisionsIncreasing, "revision {5 0} after {5 0}",
			func(ki *keyIndex) error { return ki.put(r(5, 0)) }},
		{"a tombstone before the last write", invRevisionsIncreasing, "revision {4 9} after {5 0}",
			func(ki *keyIndex) error { return ki.tombstone(r(4, 9)) }},
		{"a second tombstone", invTombstoneEndsGeneration, "without a live generation",
			func(ki *keyIndex) error {
				if err := ki.tombstone(r(6, 0)); err != nil {
					return err
				}
				return ki.tombstone(r(7, 0))
			}},
		{"a restored write older than its creation", invCreatedBeforeModified, "created at 9",
			func(ki *keyIndex) error { return ki.restore(r(8, 0), 9, 1) }},
		{"a restored version skipping one", invVersionsCountUp, "version 4 at revision {8 0} after version 2",
			func(ki *keyIndex) error { return ki.restore(r(8, 0), 2, 4) }},
		{"a new generation not at version 1", invVersionsCountUp, "version 2 at revision {8 0}",
			func(ki *keyIndex) error { return ki.restore(r(8, 0), 8, 2) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ki := &keyIndex{key: []byte("k")}
			if err := ki.put(r(2, 0)); err != nil {
				t.Fatal(err)
			}
			if err := ki.put(r(5, 0)); err != nil {
				t.Fatal(err)
			}
			wantViolation(t, c.run(ki), c.inv, c.detail)
		})
	}
	// The same calls in order are accepted.
	ki := &keyIndex{key: []byte("k")}
	for _, err := range []error{ki.put(r(2, 0)), ki.put(r(5, 0)), ki.tombstone(r(6, 0)), ki.put(r(6, 1)),
		ki.restore(r(8, 0), 6, 2), ki.restore(r(9, 0), 9, 1)} {
		if err != nil {
			t.Fatalf("a well-formed history: %v", err)
		}
	}
}

// TestBrokenIndexStopsTheStore damages a key's history in the index (its
// last write in the future) and expects the next write of the key to fail
// the store with the invariant's name.
func TestBrokenIndexStopsTheStore(t *testing.T) {
	s := openMem(t, fsx.NewMem(), 100)
	defer s.Close()
	if _, err := s.Put(1, 1, &api.PutRequest{Key: []byte("k"), Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	var ki keyIndex
	at := s.idx.load([]byte("k"), &ki)
	ki.h = appendHistory(nil, []generation{{created: 100, revs: []Revision{{Main: 100}}}})
	s.idx.write(at, &ki)
	_, err := s.Put(2, 1, &api.PutRequest{Key: []byte("k"), Value: []byte("w")})
	wantViolation(t, err, invRevisionsIncreasing, `key "k": revision {3 0} after {100 0}`)
	if serr := s.Err(); !errors.Is(serr, invariant.ErrViolated) {
		t.Fatalf("the store goes on after a violation: Err() = %v", serr)
	}
	if _, err := s.Put(3, 1, &api.PutRequest{Key: []byte("x"), Value: []byte("v")}); !errors.Is(err, ErrStoreFailed) {
		t.Fatalf("a write after the violation: %v", err)
	}
}

// TestOpenRefusesAMalformedHistory rewrites a record with a version that
// does not follow its predecessor's and expects Open to refuse the file.
func TestOpenRefusesAMalformedHistory(t *testing.T) {
	disk := fsx.NewMem()
	s := openMem(t, disk, 100)
	for i := range 3 {
		if _, err := s.Put(uint64(i+1), 1, &api.PutRequest{Key: []byte("k"), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := pagefile.Open("/db", pagefile.Options{FS: disk, StrictMode: true})
	if err != nil {
		t.Fatal(err)
	}
	// The third put (revision 4) claims version 5 instead of 3.
	kv := api.KeyValue{Key: []byte("k"), Value: []byte("v"), CreateRevision: 2, ModRevision: 4, Version: 5}
	err = db.Update(func(tx *pagefile.Tx) error {
		return tx.Bucket(bucketKey).Put(revBytes(Revision{Main: 4}), encodeRecord(kv, false))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = Open("/db", Options{FS: disk})
	wantViolation(t, err, invVersionsCountUp, "version 5 at revision {4 0} after version 2")
}
