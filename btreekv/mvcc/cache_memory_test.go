package mvcc

import (
	"testing"

	"github.com/cairndb/cairn/internal/fsx"
)

// TestOpenAndHashLeaveTheCacheAlone: rebuilding the index at Open and
// hashing the store read every record once; neither leaves the records'
// leaves in the page file's cache, nor do the puts that wrote them. The
// cache holds the branches (a few of them), whatever its budget.
func TestOpenAndHashLeaveTheCacheAlone(t *testing.T) {
	disk := fsx.NewMem()
	s := openMem(t, disk, 500)
	overwrite(t, s, 500, 10) // 5,000 revisions in 10 commits or more
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	small := func(when string, s *Store) {
		t.Helper()
		st := s.DB().Stats()
		if st.Cache.Bytes > st.FileSize/4 {
			t.Fatalf("%s: the cache holds %d bytes of a file of %d", when, st.Cache.Bytes, st.FileSize)
		}
	}
	small("after the puts", s)
	if _, _, err := s.Hash(0); err != nil {
		t.Fatal(err)
	}
	small("after a hash of the store", s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openMem(t, disk, 500)
	defer s.Close()
	small("after Open", s)
}
