package pagefile

import (
	"errors"
	"fmt"
	"io"
)

// copyChunkPages is how many pages WriteTo reads and writes at a time: its
// memory, whatever the size of the file (1 MiB with 4 KiB pages).
const copyChunkPages = 256

// ErrTxWritable is returned by WriteTo on a write transaction, whose tree
// is not committed yet.
var ErrTxWritable = errors.New("pagefile: copying needs a read transaction")

// Size is the size in bytes of the copy WriteTo writes: the pages below
// the transaction's high-water mark.
func (tx *Tx) Size() int64 { return int64(tx.meta.hwm) * int64(tx.db.pageSize) }

// WriteTo writes to w a copy of the database as the read transaction tx
// sees it: a page file that opens to exactly tx's tree, Size bytes long.
// Writers go on meanwhile, and the copy is still consistent:
//
//   - the pages tx's tree uses, its freelist page included, are never
//     overwritten while tx is open: a commit puts the pages it frees on
//     the pending list, and they become reusable only once every reader
//     that began before that commit has finished (see freelist.release);
//   - the other pages below the high-water mark are free in tx's
//     freelist, so whatever they hold, torn by a writer reusing them in
//     the middle of the copy or not, the copy never reads them;
//   - the two meta pages are exactly what writers rewrite, so they are not
//     copied: both slots of the copy get tx's own meta page. Open finds two
//     valid meta pages with the same transaction id and the same tree, and
//     the copy's first commit overwrites one of them as usual.
//
// Pages past the high-water mark, appended by later commits, are left
// out. WriteTo holds one buffer of copyChunkPages pages, so copying a
// database of any size takes O(1) memory; it does not close tx. The
// database may not be defragmented while tx is open (Defragment waits
// for open readers), so a long copy delays a defragmentation, and it
// keeps the pages later commits free from being reused until tx ends:
// the file may grow meanwhile.
func (tx *Tx) WriteTo(w io.Writer) (int64, error) {
	if tx.done {
		return 0, ErrTxDone
	}
	if tx.writable {
		return 0, ErrTxWritable
	}
	db := tx.db
	// The copy is read from the file: a frozen tree must be in it first.
	if err := db.flushTo(tx.meta.txid); err != nil {
		return 0, fmt.Errorf("pagefile: copy: %w", err)
	}
	ps := int64(db.pageSize)
	var written int64
	write := func(b []byte) error {
		n, err := w.Write(b)
		written += int64(n)
		if err == nil && n != len(b) {
			err = io.ErrShortWrite
		}
		return err
	}
	meta := tx.meta.encode(db.pageSize)
	for range 2 {
		if err := write(meta); err != nil {
			return written, fmt.Errorf("pagefile: copy: write meta page: %w", err)
		}
	}
	hwm := tx.meta.hwm
	buf := make([]byte, min(hwm-2, copyChunkPages)*pgid(ps))
	for id := pgid(2); id < hwm; {
		n := min(hwm-id, copyChunkPages)
		b := buf[:n*pgid(ps)]
		if k, err := db.readUnmapped(b, int64(id)*ps); err != nil && !(errors.Is(err, io.EOF) && k == len(b)) {
			return written, fmt.Errorf("pagefile: copy: read pages %d-%d of %d: %w", id, id+n-1, hwm, err)
		}
		if err := write(b); err != nil {
			return written, fmt.Errorf("pagefile: copy: write pages %d-%d: %w", id, id+n-1, err)
		}
		id += n
	}
	return written, nil
}
