package pagefile

import (
	"fmt"
	"slices"
	"testing"
)

// BenchmarkFreelistCommit measures the freelist's share of one commit —
// release at Begin, the transaction's copy, allocating 16 runs of 17
// pages (a batch of 64 KiB values) and one page, freeing as many, and
// encoding the list — with free lists of growing length, as a
// compaction of many large values leaves them. The cost that grows
// with the list should be copying it, not sorting it.
func BenchmarkFreelistCommit(b *testing.B) {
	for _, free := range []int{0, 100_000, 400_000} {
		b.Run(fmt.Sprintf("free=%d", free), func(b *testing.B) {
			const run, ps = 17, 4096
			db := newFreelist()
			// Free runs of 17 pages with a used page between them.
			hwm := pgid(2)
			for n := 0; n < free; n += run {
				db.free = append(db.free, span{hwm, run})
				hwm += run + 1
			}
			hwm += 1 << 20 // room for the encoded list's run
			buf := make([]byte, 0)
			txid := uint64(1)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := db.release(txid - 1); err != nil {
					b.Fatal(err)
				}
				tx := db.copy()
				var freed []pgid
				for j := 0; j < 16 && len(tx.free) > 0; j++ {
					if id := tx.allocate(run); id != 0 {
						freed = append(freed, id) // freed again below
					}
				}
				tx.allocate(1)
				// Free what was allocated (the next commit gets it back):
				// a steady state whatever b.N.
				var ids []pgid
				for _, id := range freed {
					for k := pgid(0); k < run; k++ {
						ids = append(ids, id+k)
					}
				}
				slices.Sort(ids)
				if err := tx.freeLater(txid, ids, hwm); err != nil {
					b.Fatal(err)
				}
				n := tx.encodedSize()
				if cap(buf) < n {
					buf = make([]byte, n+ps)
				}
				tx.encode(buf[:(n+ps-1)/ps*ps], ps)
				db = tx
				txid++
			}
		})
	}
}
