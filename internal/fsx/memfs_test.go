package fsx

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"sync"
	"syscall"
	"testing"
)

func mustCreate(t *testing.T, m *MemFS, name, data string) File {
	t.Helper()
	f, err := Create(m, name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestQuota(t *testing.T) {
	tests := []struct {
		name    string
		quota   int64
		prepare func(m *MemFS, f File) // f is /a holding "abcd", synced and durable
		op      func(m *MemFS, f File) error
		wantErr bool
		want    string // /a afterwards
	}{
		{"write within quota", 8, nil, func(_ *MemFS, f File) error { _, err := f.Write([]byte("efgh")); return err }, false, "abcdefgh"},
		{"write over quota", 8, nil, func(_ *MemFS, f File) error { _, err := f.Write([]byte("efghi")); return err }, true, "abcd"},
		{"overwrite needs no space", 4, nil, func(_ *MemFS, f File) error { _, err := f.WriteAt([]byte("XY"), 1); return err }, false, "aXYd"},
		{"partly overwriting write counts only the growth", 6, nil, func(_ *MemFS, f File) error { _, err := f.WriteAt([]byte("XYZ"), 3); return err }, false, "abcXYZ"},
		{"growing truncate over quota", 8, nil, func(_ *MemFS, f File) error { return f.Truncate(9) }, true, "abcd"},
		{"shrinking frees space", 8,
			func(_ *MemFS, f File) { _ = f.Truncate(1) },
			func(_ *MemFS, f File) error { _, err := f.WriteAt([]byte("1234567"), 1); return err }, false, "a1234567"},
		{"other files count", 8,
			func(m *MemFS, _ File) { _, _ = m.OpenFile("/b", rw, 0); _ = mustWrite(m, "/b", "xyz") },
			func(_ *MemFS, f File) error { _, err := f.Write([]byte("ef")); return err }, true, "abcd"},
		{"removing a file frees its space", 8,
			func(m *MemFS, _ File) { _ = mustWrite(m, "/b", "xyz"); _ = m.Remove("/b") },
			func(_ *MemFS, f File) error { _, err := f.Write([]byte("efgh")); return err }, false, "abcdefgh"},
		{"O_TRUNC frees space", 8,
			func(m *MemFS, _ File) {
				_ = mustWrite(m, "/b", "xyz")
				_, _ = m.OpenFile("/b", os.O_RDWR|os.O_TRUNC, 0)
			},
			func(_ *MemFS, f File) error { _, err := f.Write([]byte("efgh")); return err }, false, "abcdefgh"},
		{"a replaced rename target frees its space", 8,
			func(m *MemFS, _ File) {
				_ = mustWrite(m, "/b", "xyz")
				_ = mustWrite(m, "/c", "x")
				_ = m.Rename("/c", "/b")
			},
			func(_ *MemFS, f File) error { _, err := f.Write([]byte("efg")); return err }, false, "abcdefg"},
		{"renaming a file onto itself keeps its space", 8,
			func(m *MemFS, _ File) { _ = m.Rename("/a", "/a") },
			func(_ *MemFS, f File) error { _, err := f.Write([]byte("efghi")); return err }, true, "abcd"},
		{"a crash gives back lost bytes", 8,
			func(m *MemFS, _ File) { _ = mustWrite(m, "/b", "xyz") }, // /b never made durable
			nil, false, "abcd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMem()
			f := mustCreate(t, m, "/a", "abcd")
			_ = f.Sync()
			_ = m.SyncDir("/")
			m.SetQuota(tt.quota)
			if tt.prepare != nil {
				tt.prepare(m, f)
			}
			op := tt.op
			if op == nil { // crash, then write on the disk that is left
				m = m.Crash(LoseUnsynced, rand.New(rand.NewPCG(1, 1)))
				var err error
				if f, err = m.OpenFile("/a", os.O_RDWR, 0); err != nil {
					t.Fatal(err)
				}
				op = func(_ *MemFS, f File) error { _, err := f.WriteAt([]byte("efgh"), 4); return err }
				tt.want += "efgh"
			}
			err := op(m, f)
			if tt.wantErr != (err != nil) || err != nil && !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("err = %v, want ENOSPC: %v", err, tt.wantErr)
			}
			if got, _ := m.ReadFile("/a"); string(got) != tt.want {
				t.Fatalf("/a = %q, want %q", got, tt.want)
			}
		})
	}
}

// mustWrite creates name holding data.
func mustWrite(m *MemFS, name, data string) error {
	f, err := Create(m, name)
	if err == nil {
		_, err = f.Write([]byte(data))
	}
	return err
}

func TestFlipBit(t *testing.T) {
	m := NewMem()
	f := mustCreate(t, m, "/a", "abc")
	_ = f.Sync()
	_ = m.SyncDir("/")
	_, _ = f.Write([]byte("def")) // not synced: offsets 3-5 are only in memory
	for _, tt := range []struct {
		name   string
		off    int64
		bit    uint
		ok     bool
		want   string // current contents
		synced string // after a crash
	}{
		{"synced byte", 1, 0, true, "accdef", "acc"},
		{"same bit again restores it", 1, 0, true, "abcdef", "abc"},
		{"high bit", 0, 7, true, "\xe1bcdef", "\xe1bc"},
		{"unsynced byte", 4, 1, true, "\xe1bcdgf", "\xe1bc"},
		{"past the end", 6, 0, false, "\xe1bcdgf", "\xe1bc"},
		{"negative offset", -1, 0, false, "\xe1bcdgf", "\xe1bc"},
		{"bit out of range", 0, 8, false, "\xe1bcdgf", "\xe1bc"},
	} {
		err := m.FlipBit("/a", tt.off, tt.bit)
		if tt.ok != (err == nil) {
			t.Fatalf("%s: err = %v", tt.name, err)
		}
		if got, _ := m.ReadFile("/a"); string(got) != tt.want {
			t.Fatalf("%s: contents %q, want %q", tt.name, got, tt.want)
		}
		after := m.Crash(LoseUnsynced, rand.New(rand.NewPCG(1, 1)))
		if got, _ := after.ReadFile("/a"); string(got) != tt.synced {
			t.Fatalf("%s: after a crash %q, want %q", tt.name, got, tt.synced)
		}
		m.crashed = false // keep using the same disk for the next row
	}
	if err := m.FlipBit("/missing", 0, 0); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("flip in a missing file: %v", err)
	}
}

func TestFailNext(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		op  string
		run func(m *MemFS, f File) error
	}{
		{"open", func(m *MemFS, _ File) error { _, err := m.OpenFile("/b", rw, 0); return err }},
		{"write", func(_ *MemFS, f File) error { _, err := f.Write([]byte("x")); return err }},
		{"write", func(_ *MemFS, f File) error { _, err := f.WriteAt([]byte("x"), 9); return err }},
		{"truncate", func(_ *MemFS, f File) error { return f.Truncate(1) }},
		{"sync", func(_ *MemFS, f File) error { return f.Sync() }},
		{"syncdir", func(m *MemFS, _ File) error { return m.SyncDir("/") }},
		{"rename", func(m *MemFS, _ File) error { return m.Rename("/a", "/c") }},
		{"remove", func(m *MemFS, _ File) error { return m.Remove("/a") }},
		{"mkdir", func(m *MemFS, _ File) error { return m.MkdirAll("/d", 0o755) }},
		{"readdir", func(m *MemFS, _ File) error { _, err := m.ReadDir("/"); return err }},
		{"stat", func(m *MemFS, _ File) error { _, err := m.Stat("/a"); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			m := NewMem()
			f := mustCreate(t, m, "/a", "abc")
			m.FailNext(tt.op, boom)
			if err := tt.run(m, f); !errors.Is(err, boom) {
				t.Fatalf("injected failure: %v", err)
			}
			if got := dump(m); got != "/a=abc|" {
				t.Fatalf("the failed %s changed the disk: %s", tt.op, got)
			}
			if err := tt.run(m, f); err != nil {
				t.Fatalf("second %s: %v", tt.op, err)
			}
			m.FailNext(tt.op, boom)
			m.FailNext(tt.op, nil) // cancelled
			if err := tt.run(m, f); errors.Is(err, boom) {
				t.Fatalf("cancelled injection fired: %v", err)
			}
		})
	}
}

// dump renders every file and directory of m, and whether it is synced.
func dump(m *MemFS) string {
	var b bytes.Buffer
	var walk func(dir string, d *memDir)
	walk = func(dir string, d *memDir) {
		for _, n := range sortedKeys(d.entries) {
			switch x := d.entries[n].(type) {
			case *memDir:
				fmt.Fprintf(&b, "%s%s/|", dir, n)
				walk(dir+n+"/", x)
			case *memFile:
				fmt.Fprintf(&b, "%s%s=%s|", dir, n, x.data)
			}
		}
	}
	walk("/", m.root)
	return b.String()
}

// TestRenameSyncedInOneDirectory: a file moved between directories with
// only the target directory synced is, after a crash, under both names —
// one inode, so both names hold the same torn image.
func TestRenameSyncedInOneDirectory(t *testing.T) {
	for seed := range uint64(50) {
		m := NewMem()
		_ = m.MkdirAll("/x", 0o755)
		_ = m.MkdirAll("/y", 0o755)
		f := mustCreate(t, m, "/x/f", "synced")
		_ = f.Sync()
		_ = m.SyncDir("/x")
		_, _ = f.Write([]byte("-pending-write"))
		_ = m.Rename("/x/f", "/y/f")
		_ = m.SyncDir("/y")
		after := m.Crash(TearUnsynced, rand.New(rand.NewPCG(seed, 0)))
		old, err1 := after.ReadFile("/x/f")
		moved, err2 := after.ReadFile("/y/f")
		if err1 != nil || err2 != nil || !bytes.Equal(old, moved) {
			t.Fatalf("seed %d: /x/f = %q (%v), /y/f = %q (%v)", seed, old, err1, moved, err2)
		}
		g, _ := after.OpenFile("/y/f", os.O_RDWR, 0)
		_, _ = g.WriteAt([]byte("S"), 0)
		if got, _ := after.ReadFile("/x/f"); got[0] != 'S' {
			t.Fatalf("seed %d: the two names are not one file after the crash", seed)
		}
	}
}

func TestCountersAndOnSync(t *testing.T) {
	m := NewMem()
	var synced []string
	m.OnSync = func(name string) { synced = append(synced, name) }
	a := mustCreate(t, m, "/a", "x")
	b := mustCreate(t, m, "b", "y")
	_ = a.Sync()
	_ = b.Sync()
	m.FailNext("sync", errors.New("boom"))
	_ = a.Sync() // fails: not counted, but the hook saw it
	_ = m.SyncDir("/")
	_ = m.SyncDir("/missing")
	files, dirs := m.Syncs()
	if files != 2 || dirs != 1 {
		t.Fatalf("Syncs() = %d, %d; want 2, 1", files, dirs)
	}
	if fmt.Sprint(synced) != "[/a b /a]" {
		t.Fatalf("OnSync saw %v", synced)
	}
}

func TestHandlesFailAfterCrash(t *testing.T) {
	m := NewMem()
	f := mustCreate(t, m, "/a", "abc")
	after := m.Crash(LoseUnsynced, rand.New(rand.NewPCG(1, 1)))
	for name, err := range map[string]error{
		"write":   func() error { _, err := f.Write([]byte("x")); return err }(),
		"readat":  func() error { _, err := f.ReadAt(make([]byte, 1), 0); return err }(),
		"sync":    f.Sync(),
		"size":    func() error { _, err := f.Size(); return err }(),
		"open":    func() error { _, err := Open(m, "/a"); return err }(),
		"syncdir": m.SyncDir("/"),
	} {
		if !errors.Is(err, ErrCrashed) {
			t.Errorf("%s after the crash: %v, want ErrCrashed", name, err)
		}
	}
	if _, err := Create(after, "/b"); err != nil {
		t.Fatalf("the disk left by the crash: %v", err)
	}
}

// TestConcurrentUse writes and syncs from several goroutines (run it with
// -race); every write must land.
func TestConcurrentUse(t *testing.T) {
	m := NewMem()
	_ = m.MkdirAll("/d", 0o755)
	shared := mustCreate(t, m, "/d/shared", "")
	var wg sync.WaitGroup
	const workers, writes = 4, 50
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			own, err := Create(m, fmt.Sprintf("/d/f%d", w))
			if err != nil {
				t.Error(err)
				return
			}
			for i := range writes {
				_, _ = own.Write([]byte{byte(i)})
				_, _ = shared.WriteAt([]byte{byte(w)}, int64(i*workers+w))
				_ = own.Sync()
				_, _ = m.ReadDir("/d")
			}
			_ = shared.Sync()
		}()
	}
	wg.Wait()
	_ = m.SyncDir("/d")
	after := m.Crash(LoseUnsynced, rand.New(rand.NewPCG(1, 1)))
	got, _ := after.ReadFile("/d/shared")
	for i, b := range got {
		if int(b) != i%workers {
			t.Fatalf("shared[%d] = %d", i, b)
		}
	}
	if len(got) != workers*writes {
		t.Fatalf("shared has %d bytes", len(got))
	}
	if files, _ := m.Syncs(); files != workers*writes+workers {
		t.Fatalf("%d syncs counted", files)
	}
}

// BenchmarkMemFSAppendSync measures a 4 KiB append and its Sync, the WAL's
// pattern on the simulated disk.
func BenchmarkMemFSAppendSync(b *testing.B) {
	m := NewMem()
	f, _ := Create(m, "/wal")
	page := make([]byte, 4096)
	b.SetBytes(int64(len(page)))
	for i := 0; b.Loop(); i++ {
		if i%4096 == 0 { // keep the file at most 16 MiB
			_ = f.Truncate(0)
			_, _ = f.Seek(0, 0)
		}
		_, _ = f.Write(page)
		_ = f.Sync()
	}
}
