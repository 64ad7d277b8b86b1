//go:build linux || darwin

package pagefile

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/cairndb/cairn/internal/fsx"
	"pgregory.net/rapid"
)

// Reads through the mapping return what reads of the file return, while
// the file grows by writes past the mapping's step and is mapped again: the
// same bytes, and a read past the end fails as the file's own does.
func TestMappedReadsAreTheFilesReads(t *testing.T) {
	dir := t.TempDir()
	runs := 0
	rapid.Check(t, func(rt *rapid.T) {
		runs++
		path := filepath.Join(dir, fmt.Sprintf("f%d", runs))
		f, err := fsx.OS{}.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			rt.Fatal(err)
		}
		step := int64(rapid.SampledFrom([]int{4096, 8192, 65536}).Draw(rt, "step"))
		m, ok := mapReads(f, step).(*mappedFile)
		if !ok {
			rt.Fatal("an os file is not mapped")
		}
		defer m.Close()
		plain, err := os.Open(path)
		if err != nil {
			rt.Fatal(err)
		}
		defer plain.Close()
		size := int64(0)
		for i := range rapid.IntRange(1, 60).Draw(rt, "ops") {
			if rapid.Bool().Draw(rt, "write") {
				off := rapid.Int64Range(0, size+3*step).Draw(rt, "writeAt")
				b := rapid.SliceOfN(rapid.Byte(), 1, 5000).Draw(rt, "bytes")
				if _, err := m.WriteAt(b, off); err != nil {
					rt.Fatal(err)
				}
				size = max(size, off+int64(len(b)))
				continue
			}
			off := rapid.Int64Range(0, size+step).Draw(rt, "readAt")
			want := make([]byte, rapid.IntRange(1, 9000).Draw(rt, "len"))
			got := make([]byte, len(want))
			wn, werr := plain.ReadAt(want, off)
			gn, gerr := m.ReadAt(got, off)
			if wn != gn || (werr == nil) != (gerr == nil) || !bytes.Equal(want[:wn], got[:gn]) {
				rt.Fatalf("op %d: read of %d at %d (size %d): mapped %d, %v; file %d, %v", i, len(want), off, size, gn, gerr, wn, werr)
			}
		}
		if size > 0 {
			if _, err := m.ReadAt(make([]byte, 1), 0); err != nil || m.data == nil {
				rt.Fatalf("a read inside the file: %v, mapped %v", err, m.data != nil)
			}
		}
	})
}

// A file shortened underneath its mapping (nothing in cairn does it) makes
// the read an error, not a crash of the process.
func TestMappedReadOfAFileShortenedUnderneath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	f, err := fsx.OS{}.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	m := mapReads(f, 1<<20).(*mappedFile)
	defer m.Close()
	page := bytes.Repeat([]byte{7}, 4096)
	for i := range 4 {
		if _, err := m.WriteAt(page, int64(i)*4096); err != nil {
			t.Fatal(err)
		}
	}
	b := make([]byte, 4096)
	if _, err := m.ReadAt(b, 3*4096); err != nil || b[0] != 7 || m.data == nil {
		t.Fatalf("read before: %v (mapped %v)", err, m.data != nil)
	}
	if err := os.Truncate(path, 4096); err != nil {
		t.Fatal(err)
	}
	if _, err := m.ReadAt(b, 3*4096); err == nil {
		t.Fatal("a read of pages the file no longer has succeeded")
	}
}

// A scan (a ReadOnce transaction, the index rebuild's and the hash's)
// reads with system calls, so that it leaves no page resident in the
// member; a lookup reads through the mapping.
func TestScansReadWithoutTheMapping(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("b"))
		if err != nil {
			return err
		}
		for i := range 2000 {
			if err := b.Put(fmt.Appendf(nil, "key%06d", i), bytes.Repeat([]byte{1}, 200)); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = db.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	if db, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m, ok := db.f.(*mappedFile)
	if !ok {
		t.Fatalf("the page file is a %T, not mapped", db.f)
	}
	tx, err := db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	tx.ReadOnce()
	keys := 0
	c := tx.Bucket([]byte("b")).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		keys++
	}
	tx.Rollback()
	if keys != 2000 || c.Err() != nil {
		t.Fatalf("scan: %d keys, %v", keys, c.Err())
	}
	if m.data != nil {
		t.Fatal("opening the file and a scan mapped it")
	}
	err = db.View(func(tx *Tx) error {
		v, err := tx.Bucket([]byte("b")).Get([]byte("key001234"))
		if err == nil && len(v) != 200 {
			err = fmt.Errorf("lookup: %d bytes", len(v))
		}
		return err
	})
	if err != nil || m.data == nil {
		t.Fatalf("a lookup: %v, mapped %v", err, m.data != nil)
	}
}
