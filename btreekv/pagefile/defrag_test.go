package pagefile

import (
	"fmt"
	"testing"

	"github.com/cairndb/cairn/internal/fsx"
)

func TestDefragmentShrinksTheFile(t *testing.T) {
	db, _ := Open("/db", Options{FS: fsx.NewMem(), PageSize: 512, StrictMode: true})
	for round := range 5 {
		_ = db.Update(func(tx *Tx) error {
			b, _ := tx.CreateBucketIfNotExists([]byte("b"))
			for i := range 500 {
				_ = b.Put([]byte(fmt.Sprintf("k%04d", i)), []byte(fmt.Sprintf("v%d", round)))
			}
			return nil
		})
	}
	_ = db.Update(func(tx *Tx) error {
		b := tx.Bucket([]byte("b"))
		for i := range 480 {
			_ = b.Delete([]byte(fmt.Sprintf("k%04d", i)))
		}
		return nil
	})
	before := dump(t, db)
	sizeBefore := db.Stats().FileSize
	if err := db.Defragment(); err != nil {
		t.Fatal(err)
	}
	if got := dump(t, db); !equalModel(got, before) {
		t.Fatal("defragment changed the data")
	}
	if after := db.Stats().FileSize; after >= sizeBefore/2 {
		t.Fatalf("file %d bytes after defragment, %d before", after, sizeBefore)
	}
	// A reader open in another goroutine delays the swap until it ends;
	// it keeps reading its snapshot of the old file meanwhile.
	r, _ := db.Begin(false)
	done := make(chan error)
	go func() { done <- db.Defragment() }()
	c := r.Bucket([]byte("b")).Cursor()
	n := 0
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	if c.Err() != nil || n != 20 {
		t.Fatalf("reader during defragment: %d keys, %v", n, c.Err())
	}
	r.Rollback()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := dump(t, db); !equalModel(got, before) {
		t.Fatal("second defragment changed the data")
	}
}

// TestDefragmentWhileReading runs readers during repeated defragments:
// every reader sees a whole snapshot, before or after a swap.
func TestDefragmentWhileReading(t *testing.T) {
	db, _ := Open("/db", Options{FS: fsx.NewMem(), PageSize: 512, StrictMode: true})
	_ = db.Update(func(tx *Tx) error {
		b, _ := tx.CreateBucketIfNotExists([]byte("b"))
		for i := range 300 {
			_ = b.Put([]byte(fmt.Sprintf("k%04d", i)), []byte("v"))
		}
		return nil
	})
	done := make(chan struct{})
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				err := db.View(func(tx *Tx) error {
					n := 0
					c := tx.Bucket([]byte("b")).Cursor()
					for k, _ := c.First(); k != nil; k, _ = c.Next() {
						n++
					}
					if c.Err() == nil && n != 300 {
						return fmt.Errorf("reader saw %d keys", n)
					}
					return c.Err()
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for range 5 {
		if err := db.Defragment(); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
