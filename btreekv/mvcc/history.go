package mvcc

import (
	"fmt"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/btreekv/pagefile"
)

// History calls fn for every record of the store's history the page file
// holds, in revision order: each put with its key-value, each deletion
// (tombstone true) with its key. It reads one page-file transaction, so
// it sees one committed state of the store: the changes applied since
// the last Commit are not in it, and neither are, once a compaction's
// work is done (FinishCompaction), the records it dropped. Records a
// compaction has yet to remove are (call FinishCompaction first to leave
// them out). kv's key and value alias the page file and are valid only
// during the call: fn copies what it keeps. An error of fn stops the walk
// and is returned as is.
//
// It is how the store's whole history leaves it in another format (an
// etcd snapshot, package etcdsnap), one record at a time.
func (s *Store) History(fn func(rev Revision, kv api.KeyValue, tombstone bool) error) error {
	return s.db.View(func(tx *pagefile.Tx) error {
		tx.ReadOnce() // every record once: leave the cache to what is read again
		c := tx.Bucket(bucketKey).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			rev, err := bytesRev(k)
			if err != nil {
				return err
			}
			kv, tomb, err := readStored(tx, s.opts.LogValues, rev, v, false)
			if err != nil {
				return fmt.Errorf("mvcc: history: revision %v: %w", rev, err)
			}
			if err := fn(rev, kv, tomb); err != nil {
				return err
			}
		}
		return c.Err()
	})
}
