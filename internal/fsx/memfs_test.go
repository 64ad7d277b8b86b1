package fsx

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"pgregory.net/rapid"
)

// TestMemFSAgreesWithOS runs the same operations on MemFS and on the real
// disk and compares what they return.
func TestMemFSAgreesWithOS(t *testing.T) {
	for _, fsys := range []struct {
		name string
		fs   FS
		root string
	}{{"os", OS{}, t.TempDir()}, {"mem", NewMem(), "/r"}} {
		t.Run(fsys.name, func(t *testing.T) {
			p := func(n string) string { return filepath.Join(fsys.root, n) }
			f := fsys.fs
			if err := f.MkdirAll(p("d/e"), 0o755); err != nil {
				t.Fatal(err)
			}
			if _, err := f.OpenFile(p("d/missing"), os.O_RDONLY, 0); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("open missing: %v", err)
			}
			h, err := Create(f, p("d/a"))
			if err != nil {
				t.Fatal(err)
			}
			_, _ = h.Write([]byte("hello "))
			_, _ = h.Write([]byte("world"))
			_, _ = h.WriteAt([]byte("W"), 6)
			if _, err := f.OpenFile(p("d/a"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644); !errors.Is(err, fs.ErrExist) {
				t.Fatalf("O_EXCL on existing: %v", err)
			}
			_ = h.Truncate(8)
			if sz, _ := h.Size(); sz != 8 {
				t.Fatalf("size %d", sz)
			}
			buf := make([]byte, 20)
			n, err := h.ReadAt(buf, 0)
			if n != 8 || err != io.EOF || string(buf[:n]) != "hello Wo" {
				t.Fatalf("read %q %v", buf[:n], err)
			}
			_ = h.Sync()
			_ = h.Close()
			if err := f.Rename(p("d/a"), p("d/e/b")); err != nil {
				t.Fatal(err)
			}
			names, _ := f.ReadDir(p("d"))
			if len(names) != 1 || names[0] != "e" {
				t.Fatalf("readdir %v", names)
			}
			if err := f.Remove(p("d/e")); err == nil {
				t.Fatal("removed a non-empty directory")
			}
			st, err := f.Stat(p("d/e/b"))
			if err != nil || st.Size() != 8 || st.IsDir() {
				t.Fatalf("stat %v %v", st, err)
			}
			r, _ := Open(f, p("d/e/b"))
			if _, err := r.Write([]byte("x")); err == nil {
				t.Fatal("wrote through a read-only handle")
			}
			_ = r.Close()
			if err := f.SyncDir(p("d/e")); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCrashLosesUnsyncedAndUnsyncedEntries(t *testing.T) {
	m := NewMem()
	_ = m.MkdirAll("/d", 0o755)
	a, _ := Create(m, "/d/a")
	_, _ = a.Write([]byte("durable"))
	_ = a.Sync()
	_ = m.SyncDir("/d")
	_, _ = a.Write([]byte(" lost"))
	b, _ := Create(m, "/d/b") // synced, but its directory entry is not
	_, _ = b.Write([]byte("b"))
	_ = b.Sync()
	after := m.Crash(LoseUnsynced, rand.New(rand.NewPCG(1, 1)))
	if _, err := a.Write([]byte("x")); !errors.Is(err, ErrCrashed) {
		t.Fatalf("handle from before the crash still works: %v", err)
	}
	if got, _ := after.ReadFile("/d/a"); string(got) != "durable" {
		t.Fatalf("a = %q", got)
	}
	if _, err := after.Stat("/d/b"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("b survived without a directory sync: %v", err)
	}
}

// TestTearUnsyncedKeepsAPrefix: after a crash each file is its synced
// contents with a prefix of the later writes applied, the last possibly
// torn.
func TestTearUnsyncedKeepsAPrefix(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := NewMem()
		f, _ := Create(m, "/f")
		_ = m.SyncDir("/")
		var states [][]byte // file contents after each write since the sync
		cur := []byte{}
		for range rapid.IntRange(0, 6).Draw(t, "writes") {
			off := int64(rapid.IntRange(0, 20).Draw(t, "off"))
			data := rapid.SliceOfN(rapid.Byte(), 1, 8).Draw(t, "data")
			_, _ = f.WriteAt(data, off)
			if rapid.Bool().Draw(t, "sync") {
				_ = f.Sync()
				states = nil
				cur, _ = m.ReadFile("/f")
				continue
			}
			states = append(states, nil)
			states[len(states)-1], _ = m.ReadFile("/f")
		}
		synced := cur
		after := m.Crash(TearUnsynced, rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "seed"), 0)))
		got, err := after.ReadFile("/f")
		if err != nil {
			t.Fatal(err)
		}
		// got must lie between two consecutive states: equal to one, or
		// a torn version of the next (same length or shorter growth).
		candidates := append([][]byte{synced}, states...)
		for i, c := range candidates {
			if bytes.Equal(got, c) {
				return
			}
			if i+1 < len(candidates) && len(got) >= len(c) && len(got) <= max(len(c), len(candidates[i+1])) {
				return // a torn write between state i and i+1
			}
		}
		t.Fatalf("crash left %q, not a prefix of the writes %q", got, candidates)
	})
}

func TestQuotaAndBitFlipAndInjectedFailure(t *testing.T) {
	m := NewMem()
	m.SetQuota(10)
	f, _ := Create(m, "/f")
	if _, err := f.Write(make([]byte, 11)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write over quota: %v", err)
	}
	if sz, _ := f.Size(); sz != 0 {
		t.Fatalf("failed write changed the file: %d bytes", sz)
	}
	_, _ = f.Write([]byte("abc"))
	_ = f.Sync()
	if err := m.FlipBit("/f", 1, 0); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.ReadFile("/f"); string(got) != "acc" {
		t.Fatalf("after flip %q", got)
	}
	boom := errors.New("boom")
	m.FailNext("sync", boom)
	if err := f.Sync(); !errors.Is(err, boom) {
		t.Fatalf("injected sync failure: %v", err)
	}
	if err := f.Sync(); err != nil {
		t.Fatalf("second sync: %v", err)
	}
	if n, _ := m.Syncs(); n != 2 {
		t.Fatalf("%d syncs counted", n)
	}
}
