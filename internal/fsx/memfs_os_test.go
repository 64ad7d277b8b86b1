package fsx

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"pgregory.net/rapid"
)

// step is one operation of a script run on both MemFS and the real disk.
// Handles are numbered in the order the script opened them.
type step struct {
	op       string
	name, to string
	flag     int
	h        int
	data     string
	off      int64
}

// outcome renders what an operation returned, with errors reduced to the
// classes both file systems must agree on.
func outcome(err error, format string, args ...any) string {
	switch {
	case err == nil || err == io.EOF && format != "":
		s := fmt.Sprintf(format, args...)
		if err == io.EOF {
			s += " EOF"
		}
		return s
	case errors.Is(err, fs.ErrNotExist):
		return "ErrNotExist"
	case errors.Is(err, fs.ErrExist):
		return "ErrExist"
	case errors.Is(err, syscall.ENOTEMPTY):
		return "ENOTEMPTY"
	case errors.Is(err, fs.ErrClosed):
		return "ErrClosed"
	case err == io.EOF:
		return "EOF"
	}
	return "error" // the kind differs between the two (EBADF vs ErrPermission)
}

// runScript runs steps on fsys with every name under root and returns one
// outcome per step.
func runScript(fsys FS, root string, steps []step) []string {
	p := func(n string) string { return filepath.Join(root, n) }
	var handles []File
	out := []string{outcome(fsys.MkdirAll(root, 0o755), "root ok")}
	for _, s := range steps {
		var h File
		if s.h < len(handles) {
			h = handles[s.h]
		}
		var res string
		switch s.op {
		case "write", "writeat", "read", "readat", "seek", "truncate", "size", "sync", "close":
			if h == nil {
				out = append(out, s.op+": no handle")
				continue
			}
		}
		switch s.op {
		case "mkdir":
			res = outcome(fsys.MkdirAll(p(s.name), 0o755), "ok")
		case "open":
			f, err := fsys.OpenFile(p(s.name), s.flag, 0o644)
			handles = append(handles, f)
			res = outcome(err, "ok")
		case "write":
			n, err := h.Write([]byte(s.data))
			res = outcome(err, "%d", n)
		case "writeat":
			n, err := h.WriteAt([]byte(s.data), s.off)
			res = outcome(err, "%d", n)
		case "read":
			buf := make([]byte, s.off)
			n, err := h.Read(buf)
			res = outcome(err, "%q", buf[:n])
		case "readat":
			buf := make([]byte, len(s.data))
			n, err := h.ReadAt(buf, s.off)
			res = outcome(err, "%q", buf[:n])
		case "seek":
			n, err := h.Seek(s.off, s.flag)
			res = outcome(err, "%d", n)
		case "truncate":
			res = outcome(h.Truncate(s.off), "ok")
		case "size":
			n, err := h.Size()
			res = outcome(err, "%d", n)
		case "sync":
			res = outcome(h.Sync(), "ok")
		case "close":
			res = outcome(h.Close(), "ok")
		case "rename":
			res = outcome(fsys.Rename(p(s.name), p(s.to)), "ok")
		case "remove":
			res = outcome(fsys.Remove(p(s.name)), "ok")
		case "readdir":
			names, err := fsys.ReadDir(p(s.name))
			res = outcome(err, "%v", names)
		case "stat":
			st, err := fsys.Stat(p(s.name))
			if err == nil {
				res = fmt.Sprintf("%s dir=%v mode=%v", st.Name(), st.IsDir(), st.Mode().Type())
				if !st.IsDir() { // directory sizes differ between file systems
					res += fmt.Sprintf(" size=%d", st.Size())
				}
			} else {
				res = outcome(err, "")
			}
		case "syncdir":
			res = outcome(fsys.SyncDir(p(s.name)), "ok")
		default:
			panic("unknown step " + s.op)
		}
		out = append(out, fmt.Sprintf("%s %s h%d: %s", s.op, s.name, s.h, res))
	}
	for _, h := range handles {
		if h != nil {
			_ = h.Close()
		}
	}
	return out
}

// compareWithOS runs steps on the real disk under osRoot (an empty
// directory) and on a MemFS, and fails t if any result differs.
func compareWithOS(t interface{ Fatalf(string, ...any) }, osRoot string, steps []step) {
	want := runScript(OS{}, osRoot, steps)
	got := runScript(NewMem(), "/root", steps)
	if !slices.Equal(got, want) {
		t.Fatalf("MemFS and the real disk disagree:\nos:  %s\nmem: %s", strings.Join(want, "\n     "), strings.Join(got, "\n     "))
	}
}

const rw = os.O_RDWR | os.O_CREATE

// TestMemFSAgreesWithOS runs scripts on MemFS and on the real disk and
// compares every result.
func TestMemFSAgreesWithOS(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{
		{"open flags", []step{
			{op: "open", name: "a", flag: os.O_RDONLY},
			{op: "open", name: "a", flag: os.O_WRONLY},
			{op: "open", name: "a", flag: rw | os.O_EXCL},
			{op: "open", name: "a", flag: rw | os.O_EXCL},
			{op: "write", h: 2, data: "hello"},
			{op: "open", name: "a", flag: os.O_RDWR | os.O_TRUNC},
			{op: "size", h: 2},
			{op: "stat", name: "a"},
			{op: "open", name: "missing/a", flag: rw},
		}},
		{"read and write", []step{
			{op: "open", name: "a", flag: rw},
			{op: "write", data: "hello "},
			{op: "write", data: "world"},
			{op: "writeat", data: "W", off: 6},
			{op: "writeat", data: "!", off: 14}, // leaves a hole of zeros
			{op: "readat", data: "0123456789abcdefghij", off: 0},
			{op: "readat", data: "xy", off: 13},
			{op: "readat", data: "xy", off: 20},
			{op: "readat", data: "", off: 20},
			{op: "seek", off: 0, flag: io.SeekStart},
			{op: "read", off: 4},
			{op: "read", off: 100},
			{op: "read", off: 100},
			{op: "seek", off: -3, flag: io.SeekEnd},
			{op: "read", off: 2},
			{op: "seek", off: -100, flag: io.SeekCurrent},
			{op: "writeat", data: "x", off: -1},
			{op: "size"},
		}},
		{"append and truncate", []step{
			{op: "open", name: "a", flag: rw | os.O_APPEND},
			{op: "write", data: "abc"},
			{op: "seek", off: 0, flag: io.SeekStart},
			{op: "write", data: "def"},
			{op: "writeat", data: "x", off: 0},
			{op: "truncate", off: 2},
			{op: "write", data: "g"},
			{op: "truncate", off: 6},
			{op: "truncate", off: -1},
			{op: "open", name: "a", flag: os.O_RDONLY},
			{op: "readat", h: 1, data: "12345678", off: 0},
			{op: "sync", h: 1},
		}},
		{"handle permissions and close", []step{
			{op: "open", name: "a", flag: rw},
			{op: "write", data: "abc"},
			{op: "close"},
			{op: "write", data: "abc"},
			{op: "close"},
			{op: "open", name: "a", flag: os.O_RDONLY},
			{op: "write", h: 1, data: "x"},
			{op: "truncate", h: 1, off: 0},
			{op: "read", h: 1, off: 10},
			{op: "open", name: "a", flag: os.O_WRONLY},
			{op: "write", h: 2, data: "x"},
			{op: "read", h: 2, off: 10},
			{op: "sync", h: 2},
		}},
		{"directories", []step{
			{op: "mkdir", name: "d/e/f"},
			{op: "mkdir", name: "d/e"},
			{op: "open", name: "d/x", flag: rw},
			{op: "open", name: "d/e/y", flag: rw},
			{op: "readdir", name: "d"},
			{op: "readdir", name: "nope"},
			{op: "stat", name: "d/e"},
			{op: "stat", name: "d/nope"},
			{op: "remove", name: "d/e"},
			{op: "remove", name: "d/e/f"},
			{op: "remove", name: "d/e/f"},
			{op: "open", name: "d/e", flag: rw},
			{op: "syncdir", name: "d"},
			{op: "syncdir", name: "nope"},
			{op: "mkdir", name: "d/x/z"},
			{op: "readdir", name: "d/./e/../e"},
		}},
		{"rename", []step{
			{op: "mkdir", name: "d"},
			{op: "mkdir", name: "e/f"},
			{op: "open", name: "a", flag: rw},
			{op: "write", data: "aaa"},
			{op: "open", name: "b", flag: rw},
			{op: "write", h: 1, data: "b"},
			{op: "rename", name: "a", to: "b"},
			{op: "stat", name: "b"},
			{op: "stat", name: "a"},
			{op: "write", data: "!"}, // the handle follows the file
			{op: "stat", name: "b"},
			{op: "rename", name: "b", to: "b"},
			{op: "rename", name: "b", to: "d/c"},
			{op: "rename", name: "missing", to: "x"},
			{op: "rename", name: "d/c", to: "nodir/c"},
			{op: "rename", name: "d/c", to: "e"},
			{op: "rename", name: "e", to: "d"},
			{op: "rename", name: "d", to: "e/f"},
			{op: "rename", name: "e", to: "e/f/g"}, // into itself
			{op: "rename", name: "e/f", to: "g"},
			{op: "readdir", name: ""},
			{op: "readdir", name: "d"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { compareWithOS(t, t.TempDir(), tt.steps) })
	}
}

// TestMemFSAgreesWithOSRandom compares random scripts over a few files in
// two directories.
func TestMemFSAgreesWithOSRandom(t *testing.T) {
	names := []string{"a", "b", "d/a", "d/c"}
	flags := []int{os.O_RDONLY, os.O_WRONLY, os.O_RDWR, rw, rw | os.O_EXCL, rw | os.O_TRUNC, rw | os.O_APPEND, os.O_WRONLY | os.O_APPEND}
	tmp := t.TempDir()
	rapid.Check(t, func(rt *rapid.T) {
		steps := []step{{op: "mkdir", name: "d"}}
		opened := 0
		for range rapid.IntRange(1, 25).Draw(rt, "steps") {
			s := step{
				name: rapid.SampledFrom(names).Draw(rt, "name"),
				data: strings.Repeat("x", rapid.IntRange(0, 5).Draw(rt, "len")),
				off:  int64(rapid.IntRange(0, 12).Draw(rt, "off")),
			}
			kinds := []string{"open", "rename", "remove", "readdir", "stat", "syncdir"}
			if opened > 0 {
				s.h = rapid.IntRange(0, opened-1).Draw(rt, "h")
				kinds = append(kinds, "write", "writeat", "read", "readat", "seek", "truncate", "size", "sync", "close")
			}
			s.op = rapid.SampledFrom(kinds).Draw(rt, "op")
			switch s.op {
			case "open":
				s.flag = rapid.SampledFrom(flags).Draw(rt, "flag")
				opened++
			case "rename":
				s.to = rapid.SampledFrom(names).Draw(rt, "to")
			case "readdir", "syncdir":
				s.name = rapid.SampledFrom([]string{"", "d", "e"}).Draw(rt, "dir")
			case "seek":
				s.flag = rapid.IntRange(0, 2).Draw(rt, "whence")
				s.off -= 4
			case "readat", "writeat":
				// os.File reads and writes of nothing succeed even where
				// any other would fail (a closed or write-only handle);
				// MemFS reports the error.
				s.data += "x"
			case "read":
				s.off++ // the buffer's length
			}
			steps = append(steps, s)
		}
		root, err := os.MkdirTemp(tmp, "")
		if err != nil {
			rt.Fatal(err)
		}
		compareWithOS(rt, root, steps)
	})
}
