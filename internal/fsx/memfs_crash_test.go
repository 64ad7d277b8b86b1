package fsx

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// The crash properties run random histories on a MemFS beside a simple
// model of the disk — inodes with their synced contents and the changes
// since, directories with their entries now and at their last SyncDir —
// and check what a crash leaves against the model.

type modelInode struct {
	cur, synced []byte
	pending     []memWrite // changes since the last sync, in order
}

type modelDir struct{ now, durable map[string]*modelInode }

type crashModel struct {
	dirs    map[string]*modelDir // "/" and "/d"
	handles []*modelInode        // the inode each open handle refers to
}

var (
	modelDirs  = []string{"/", "/d"}
	modelNames = []string{"a", "b", "c"}
)

// crashHistory runs random operations on m and the model and returns the
// model; it also checks that m reads back what the model holds now.
func crashHistory(t *rapid.T, m *MemFS) *crashModel {
	_ = m.MkdirAll("/d", 0o755)
	md := &crashModel{dirs: map[string]*modelDir{}}
	for _, d := range modelDirs {
		md.dirs[d] = &modelDir{now: map[string]*modelInode{}, durable: map[string]*modelInode{}}
	}
	var files []File
	for range rapid.IntRange(1, 30).Draw(t, "ops") {
		dir := rapid.SampledFrom(modelDirs).Draw(t, "dir")
		name := rapid.SampledFrom(modelNames).Draw(t, "name")
		path := dir + "/" + name
		if dir == "/" {
			path = "/" + name
		}
		ops := []string{"create", "syncdir", "rename", "remove"}
		if len(files) > 0 {
			ops = append(ops, "write", "write", "write", "truncate", "sync", "sync")
		}
		h := 0
		if len(files) > 0 {
			h = rapid.IntRange(0, len(files)-1).Draw(t, "handle")
		}
		switch op := rapid.SampledFrom(ops).Draw(t, "op"); op {
		case "create":
			trunc := rapid.Bool().Draw(t, "trunc")
			flag := os.O_RDWR | os.O_CREATE
			if trunc {
				flag |= os.O_TRUNC
			}
			f, err := m.OpenFile(path, flag, 0o644)
			if err != nil {
				t.Fatalf("open %s: %v", path, err)
			}
			ino := md.dirs[dir].now[name]
			if ino == nil {
				ino = &modelInode{}
				md.dirs[dir].now[name] = ino
			}
			if trunc && len(ino.cur) > 0 {
				ino.change(memWrite{truncate: true})
			}
			files = append(files, f)
			md.handles = append(md.handles, ino)
		case "write":
			w := memWrite{
				off:  int64(rapid.IntRange(0, 12).Draw(t, "off")),
				data: rapid.SliceOfN(rapid.Byte(), 1, 6).Draw(t, "data"),
			}
			if _, err := files[h].WriteAt(w.data, w.off); err != nil {
				t.Fatal(err)
			}
			md.handles[h].change(w)
		case "truncate":
			size := int64(rapid.IntRange(0, 12).Draw(t, "size"))
			if err := files[h].Truncate(size); err != nil {
				t.Fatal(err)
			}
			md.handles[h].change(memWrite{off: size, truncate: true})
		case "sync":
			if err := files[h].Sync(); err != nil {
				t.Fatal(err)
			}
			ino := md.handles[h]
			ino.synced, ino.pending = slices.Clone(ino.cur), nil
		case "syncdir":
			if err := m.SyncDir(dir); err != nil {
				t.Fatal(err)
			}
			md.dirs[dir].durable = maps(md.dirs[dir].now)
		case "rename":
			toDir := rapid.SampledFrom(modelDirs).Draw(t, "todir")
			to := rapid.SampledFrom(modelNames).Draw(t, "to")
			ino := md.dirs[dir].now[name]
			err := m.Rename(path, toDir+"/"+to)
			if (err == nil) != (ino != nil) {
				t.Fatalf("rename %s: %v", path, err)
			}
			if ino != nil {
				delete(md.dirs[dir].now, name)
				md.dirs[toDir].now[to] = ino
			}
		case "remove":
			err := m.Remove(path)
			if (err == nil) != (md.dirs[dir].now[name] != nil) {
				t.Fatalf("remove %s: %v", path, err)
			}
			delete(md.dirs[dir].now, name)
		}
		for _, d := range modelDirs {
			for n, ino := range md.dirs[d].now {
				if got, err := m.ReadFile(d + "/" + n); err != nil || !bytes.Equal(got, ino.cur) {
					t.Fatalf("%s/%s = %q (%v), model %q", d, n, got, err, ino.cur)
				}
			}
		}
	}
	return md
}

func (ino *modelInode) change(w memWrite) {
	ino.cur = applyWrite(slices.Clone(ino.cur), w)
	ino.pending = append(ino.pending, w)
}

func maps(m map[string]*modelInode) map[string]*modelInode {
	c := make(map[string]*modelInode, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// tornStates lists every contents a crash may leave in ino under
// TearUnsynced: its synced contents with the first i changes since
// applied, then a strict prefix of change i+1 if that is a write.
func (ino *modelInode) tornStates() [][]byte {
	var states [][]byte
	data := slices.Clone(ino.synced)
	for _, w := range ino.pending {
		states = append(states, slices.Clone(data))
		if !w.truncate {
			for k := 1; k < len(w.data); k++ {
				states = append(states, applyWrite(slices.Clone(data), memWrite{off: w.off, data: w.data[:k]}))
			}
		}
		data = applyWrite(data, w)
	}
	return append(states, data)
}

func TestCrashKeepsWhatWasMadeDurable(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := NewMem()
		md := crashHistory(t, m)
		mode := rapid.SampledFrom([]CrashMode{LoseUnsynced, TearUnsynced}).Draw(t, "mode")
		seed := rapid.Uint64().Draw(t, "seed")
		after := m.Crash(mode, rand.New(rand.NewPCG(seed, 0)))

		images := map[*modelInode][]byte{} // one inode, one image, under every name
		for _, d := range modelDirs {
			names, err := after.ReadDir(d)
			if err != nil {
				t.Fatal(err)
			}
			if d == "/" {
				names = slices.DeleteFunc(names, func(n string) bool { return n == "d" })
			}
			want := sortedKeys(anyMap(md.dirs[d].durable))
			if !slices.Equal(names, want) {
				t.Fatalf("after the crash %s holds %v, want the durable entries %v", d, names, want)
			}
			for n, ino := range md.dirs[d].durable {
				got, _ := after.ReadFile(d + "/" + n)
				switch {
				case mode == LoseUnsynced && !bytes.Equal(got, ino.synced):
					t.Fatalf("%s/%s = %q after a crash, want its synced %q", d, n, got, ino.synced)
				case mode == TearUnsynced && !slices.ContainsFunc(ino.tornStates(), func(s []byte) bool { return bytes.Equal(s, got) }):
					t.Fatalf("%s/%s = %q after a torn crash, not one of %q", d, n, got, ino.tornStates())
				}
				if img, seen := images[ino]; seen && !bytes.Equal(img, got) {
					t.Fatalf("one inode has two images: %q and %q", img, got)
				}
				images[ino] = got
			}
		}
		if err := m.SyncDir("/"); !errors.Is(err, ErrCrashed) {
			t.Fatalf("the crashed file system still works: %v", err)
		}
	})
}

func anyMap(m map[string]*modelInode) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// TestCrashIsDeterministic: the same disk and seed give the same disk
// after the crash (map order must not leak in), which the simulator's
// replay of a seed depends on.
func TestCrashIsDeterministic(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := NewMem()
		crashHistory(t, m)
		seed := rapid.Uint64().Draw(t, "seed")
		first := dump(m.Crash(TearUnsynced, rand.New(rand.NewPCG(seed, 0))))
		m.crashed = false // Crash only reads the tree: crash it again
		if again := dump(m.Crash(TearUnsynced, rand.New(rand.NewPCG(seed, 0)))); again != first {
			t.Fatalf("same disk and seed, different crashes:\n%s\n%s", first, again)
		}
	})
}

// TestTearUnsyncedReachesEveryKind checks that torn crashes do produce
// each kind of outcome — all lost, some kept whole, a torn write, all
// kept — so the crash tests built on it exercise recovery of torn tails.
func TestTearUnsyncedReachesEveryKind(t *testing.T) {
	seen := map[string]bool{}
	for seed := range uint64(200) {
		m := NewMem()
		f, _ := Create(m, "/f")
		_ = m.SyncDir("/")
		_, _ = f.Write([]byte("synced"))
		_ = f.Sync()
		_, _ = f.Write([]byte("-one"))
		_, _ = f.Write([]byte("-two"))
		got, _ := m.Crash(TearUnsynced, rand.New(rand.NewPCG(seed, 0))).ReadFile("/f")
		kind := map[string]string{"synced": "lost", "synced-one": "first kept", "synced-one-two": "all kept"}[string(got)]
		if kind == "" {
			kind = "torn"
			if !bytes.HasPrefix([]byte("synced-one-two"), got) {
				t.Fatalf("seed %d: %q is not a prefix of the writes", seed, got)
			}
		}
		seen[kind] = true
	}
	if len(seen) != 4 {
		t.Fatalf("200 torn crashes produced only %v", seen)
	}
}
