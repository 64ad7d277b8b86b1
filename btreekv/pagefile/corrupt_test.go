package pagefile

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/cairndb/cairn/internal/fsx"
)

func TestCorruptionIsReported(t *testing.T) {
	disk := fsx.NewMem()
	db, _ := Open("/db", Options{FS: disk, PageSize: 512, StrictMode: true})
	_ = db.Update(func(tx *Tx) error {
		b, _ := tx.CreateBucketIfNotExists([]byte("b"))
		for i := range 300 {
			_ = b.Put([]byte(fmt.Sprintf("k%04d", i)), []byte("v"))
		}
		return nil
	})
	_ = db.Close()
	// Flip a bit in a data page (page 5): reading through it must fail
	// with ErrCorrupt naming the page.
	if err := disk.FlipBit("/db", 5*512+100, 3); err != nil {
		t.Fatal(err)
	}
	db, err := Open("/db", Options{FS: disk, StrictMode: true})
	if err != nil {
		t.Fatal(err)
	}
	var readErr error
	_ = db.View(func(tx *Tx) error {
		b := tx.Bucket([]byte("b"))
		if b == nil {
			readErr = errors.New("bucket missing")
			return nil
		}
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
		}
		readErr = c.Err()
		return nil
	})
	if !errors.Is(readErr, ErrCorrupt) {
		t.Fatalf("walk over a flipped bit: %v, want ErrCorrupt", readErr)
	}
	// Both meta pages damaged: the file cannot be opened.
	_ = db.Close()
	_ = disk.FlipBit("/db", 30, 1)
	_ = disk.FlipBit("/db", 512+30, 1)
	if _, err := Open("/db", Options{FS: disk, StrictMode: true}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open with both metas damaged: %v", err)
	}
}

func TestNotAPageFile(t *testing.T) {
	disk := fsx.NewMem()
	f, _ := fsx.Create(disk, "/x")
	_, _ = f.Write(bytes.Repeat([]byte("not a database "), 100))
	_ = f.Close()
	if _, err := Open("/x", Options{FS: disk, StrictMode: true}); err == nil {
		t.Fatal("opened a file of another format")
	}
}

func FuzzDecodePage(f *testing.F) {
	n := &node{leaf: true, keys: [][]byte{[]byte("a"), []byte("b")}, vals: [][]byte{[]byte("1"), []byte("2")}}
	buf := make([]byte, 512)
	n.encode(buf, 512)
	f.Add(buf)
	br := &node{level: 1, keys: [][]byte{[]byte("a"), []byte("m")}, children: []child{{id: 3}, {id: 4}}}
	buf2 := make([]byte, 512)
	br.encode(buf2, 512)
	f.Add(buf2)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := checkPage(b, 7, pageBranch)
		if err != nil {
			// Also decode unchecked bytes: the decoder alone must not
			// panic on anything.
			h = pageHeader{typ: pageLeaf, count: uint32(len(b))}
		}
		_, _ = decodeNode(b, 7, h, 100)
		_, _ = decodeFreelist(b, 7, h, 100)
		_, _ = decodeMeta(b, 0)
	})
}

// TestDamagedDirectoryIsNotAMissingBucket: when the bucket directory
// cannot be read, Bucket does not answer "no such bucket"; the bucket it
// returns reports the damage.
func TestDamagedDirectoryIsNotAMissingBucket(t *testing.T) {
	disk := fsx.NewMem()
	db, _ := Open("/db", Options{FS: disk, PageSize: 512, StrictMode: true})
	_ = db.Update(func(tx *Tx) error {
		b, _ := tx.CreateBucketIfNotExists([]byte("b"))
		return b.Put([]byte("k"), []byte("v"))
	})
	dir := db.meta.root
	_ = db.Close()
	if err := disk.FlipBit("/db", int64(dir)*512+20, 0); err != nil {
		t.Fatal(err)
	}
	db, err := Open("/db", Options{FS: disk, StrictMode: true})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.View(func(tx *Tx) error {
		b := tx.Bucket([]byte("b"))
		if b == nil {
			t.Fatal("damaged directory read as a missing bucket")
		}
		if _, err := b.Get([]byte("k")); !errors.Is(err, ErrCorrupt) {
			t.Errorf("get: %v, want ErrCorrupt", err)
		}
		c := b.Cursor()
		if k, _ := c.First(); k != nil || !errors.Is(c.Err(), ErrCorrupt) {
			t.Errorf("cursor: %q, %v", k, c.Err())
		}
		return nil
	})
}

// TestCorruptionKinds: each kind of damage the reader checks for is an
// ErrCorrupt naming what is wrong.
func TestCorruptionKinds(t *testing.T) {
	const ps = 512
	leaf := make([]byte, ps)
	(&node{leaf: true, keys: [][]byte{[]byte("a")}, vals: [][]byte{[]byte("1")}}).encode(leaf, ps)
	branchTo := func(second pgid) []byte {
		b := make([]byte, ps)
		(&node{level: 1, keys: [][]byte{[]byte("a"), []byte("m")}, children: []child{{id: 3}, {id: second}}}).encode(b, ps)
		return b
	}
	flipped := slices.Clone(leaf)
	flipped[40] ^= 1
	tests := []struct {
		name   string
		decode func() error
		want   string
	}{
		{"bad checksum", func() error { _, err := checkPage(flipped, 9, pageLeaf); return err }, "checksum"},
		{"leaf where a freelist is expected", func() error { _, err := checkPage(leaf, 9, pageFreelist); return err }, "leaf page where a freelist page was expected"},
		{"child page id past the end", func() error {
			b := branchTo(500)
			h, err := checkPage(b, 9, pageBranch)
			if err != nil {
				return err
			}
			_, err = decodeNode(b, 9, h, 100)
			return err
		}, "out of range"},
		{"child pointing at a meta page", func() error {
			b := branchTo(1)
			h, _ := checkPage(b, 9, pageBranch)
			_, err := decodeNode(b, 9, h, 100)
			return err
		}, "out of range"},
		{"short page", func() error { _, err := checkPage(leaf[:10], 9, pageLeaf); return err }, "short"},
		{"leaf above level 0", func() error {
			b := make([]byte, ps)
			(&node{leaf: true, level: 1, keys: [][]byte{[]byte("a")}, vals: [][]byte{nil}}).encode(b, ps)
			h, _ := checkPage(b, 9, pageBranch)
			_, err := decodeNode(b, 9, h, 100)
			return err
		}, "leaf page at level 1"},
	}
	for _, tt := range tests {
		err := tt.decode()
		if !errors.Is(err, ErrCorrupt) || !bytes.Contains([]byte(err.Error()), []byte(tt.want)) {
			t.Errorf("%s: %v, want ErrCorrupt saying %q", tt.name, err, tt.want)
		}
	}
	// A page id outside the file, through the reader.
	db, _ := Open("/db", Options{FS: fsx.NewMem(), PageSize: ps, StrictMode: true})
	if _, err := db.readNode(1000, db.meta.hwm); !errors.Is(err, ErrCorrupt) {
		t.Errorf("read of page 1000 in a %d-page file: %v", db.meta.hwm, err)
	}
}

// TestCheckFindsLeaksAndSharedPages damages the freelist's bookkeeping
// and expects Check to notice (without StrictMode, which would refuse the
// damaging commit: see TestStrictModeRefusesLeaksAndSharedPages).
func TestCheckFindsLeaksAndSharedPages(t *testing.T) {
	setup := func() *DB {
		db, _ := Open("/db", Options{FS: fsx.NewMem(), PageSize: 512})
		for round := range 3 {
			_ = db.Update(func(tx *Tx) error {
				b, _ := tx.CreateBucketIfNotExists([]byte("b"))
				for i := range 100 {
					_ = b.Put([]byte(fmt.Sprintf("k%03d", i)), []byte(fmt.Sprint(round)))
				}
				return nil
			})
		}
		if err := db.Check(); err != nil {
			t.Fatalf("healthy file: %v", err)
		}
		return db
	}
	// Touch one key so the commit writes the freelist, after tampering.
	commitWith := func(db *DB, tamper func(f *freelist)) {
		tx, _ := db.Begin(true)
		_ = tx.Bucket([]byte("b")).Put([]byte("k000"), []byte("x"))
		tamper(tx.freelist)
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	db := setup()
	commitWith(db, func(f *freelist) { f.free = f.free[1:] })
	if err := db.Check(); !errors.Is(err, ErrCorrupt) || !bytes.Contains([]byte(err.Error()), []byte("leaked")) {
		t.Errorf("page dropped from the freelist: %v", err)
	}
	db = setup()
	// The last leaf of "b", which the commit neither frees nor rewrites.
	var leaf pgid
	_ = db.View(func(tx *Tx) error {
		r, err := tx.Bucket([]byte("b")).t.getRoot()
		if err != nil || r.leaf {
			t.Fatalf("bucket root %v: %v", r, err)
		}
		leaf = r.children[len(r.children)-1].id
		return nil
	})
	commitWith(db, func(f *freelist) {
		merged, err := mergeSpans(f.free, []span{{leaf, 1}})
		if err != nil {
			t.Fatal(err)
		}
		f.free = merged
	})
	// The commit wrote a node over the leaf: Check finds the leaf's
	// page used twice, or the node that replaced it out of place.
	if err := db.Check(); !errors.Is(err, ErrCorrupt) {
		t.Errorf("page in use listed as free: %v", err)
	}
}
