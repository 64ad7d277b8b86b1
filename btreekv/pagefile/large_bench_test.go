package pagefile

import (
	"encoding/binary"
	"path/filepath"
	"testing"

	"github.com/cairndb/cairn/internal/fsx"
)

// BenchmarkCommitLargeValues measures commits of 16 new values of 64 KiB
// each (a batch of the store's value bucket at 64 KiB puts) on the real
// disk, two fsyncs each; B/op is what a commit allocates on top of the
// values, which the caller owns (PutOwned, as the store puts them):
//
//	go test -run '^$' -bench CommitLargeValues -benchmem ./btreekv/pagefile
func BenchmarkCommitLargeValues(b *testing.B) {
	const perCommit, size = 16, 64 << 10
	db, err := Open(filepath.Join(b.TempDir(), "db"), Options{FS: fsx.OS{}})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	val := make([]byte, size)
	var next uint64
	b.SetBytes(perCommit * size)
	b.ResetTimer()
	for range b.N {
		err := db.Update(func(tx *Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("value"))
			if err != nil {
				return err
			}
			for range perCommit {
				next++
				if err := bk.PutOwned(binary.BigEndian.AppendUint64(nil, next), val); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
