package pagefile

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/cairndb/cairn/internal/fsx"
)

// FuzzDamagedFile damages a valid file and then re-seals the damaged
// pages' checksums, so that the damage gets past the checksum layer and
// reaches the structural checks (page types, ids, lengths, key order,
// tree shape). Whatever the damage, opening, checking, reading and
// writing the file return errors or work; they never panic or hang.
//
// The input is a list of (offset, xor) pairs: 2 bytes of offset into the
// file's node pages, 1 byte to XOR there.
func FuzzDamagedFile(f *testing.F) {
	f.Add([]byte{0, 20, 1})
	f.Add([]byte{0, 30, 0xff, 1, 40, 7})
	f.Add([]byte{2, 16, 0x80, 0, 12, 3})
	f.Fuzz(func(t *testing.T, damage []byte) {
		const ps = 512
		disk := fsx.NewMem()
		db, err := Open("/db", Options{FS: disk, PageSize: ps, StrictMode: true})
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(tx *Tx) error {
			for _, name := range []string{"a", "b"} {
				b, err := tx.CreateBucketIfNotExists([]byte(name))
				if err != nil {
					return err
				}
				for i := range 60 {
					if err := b.Put([]byte(fmt.Sprintf("%s%03d", name, i)), []byte(fmt.Sprint(i))); err != nil {
						return err
					}
				}
			}
			return tx.Bucket([]byte("a")).Put([]byte("big"), make([]byte, 3*ps))
		})
		if err != nil {
			t.Fatal(err)
		}
		_ = db.Close()
		file, _ := disk.ReadFile("/db")
		pages := len(file) / ps
		touched := map[int]bool{}
		for ; len(damage) >= 3; damage = damage[3:] {
			off := 2*ps + int(binary.BigEndian.Uint16(damage))%((pages-2)*ps)
			file[off] ^= damage[2]
			touched[off/ps] = true
		}
		for p := range touched {
			// Re-seal the run starting at p, as long as its (maybe
			// damaged) header says, within the file.
			run := 1 + int(binary.LittleEndian.Uint32(file[p*ps+12:]))
			run = min(run, pages-p)
			sealPage(file[p*ps : (p+run)*ps])
		}
		disk2 := fsx.NewMem()
		w, _ := fsx.Create(disk2, "/db")
		_, _ = w.Write(file)
		_ = w.Sync()
		_ = w.Close()
		db, err = Open("/db", Options{FS: disk2, StrictMode: true})
		if err != nil {
			return
		}
		defer db.Close()
		_ = db.Check()
		_ = db.View(func(tx *Tx) error {
			_, _ = dumpTx(tx)
			for _, name := range []string{"a", "b"} {
				if b := tx.Bucket([]byte(name)); b != nil {
					_, _ = b.Get([]byte(name + "030"))
					c := b.Cursor()
					c.Seek([]byte(name + "020"))
					c.Next()
					c.Prev()
				}
			}
			return nil
		})
		_ = db.Update(func(tx *Tx) error {
			for _, name := range []string{"a", "b"} {
				b, err := tx.CreateBucketIfNotExists([]byte(name))
				if err != nil {
					return err
				}
				for i := range 60 {
					k := []byte(fmt.Sprintf("%s%03d", name, i))
					if i%2 == 0 {
						err = b.Delete(k)
					} else {
						err = b.Put(k, make([]byte, 40))
					}
					if err != nil {
						return err
					}
				}
			}
			return tx.DeleteBucket([]byte("b"))
		})
		_ = db.Check()
	})
}
