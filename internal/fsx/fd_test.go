package fsx

import (
	"os"
	"path/filepath"
	"testing"
)

// wrapped is a File that holds another, as node's timed files do.
type wrapped struct{ File }

func (w wrapped) Unwrap() File { return w.File }

// Fd finds an OS file's descriptor, through wrappers that say what they
// hold, and none for a file in memory.
func TestFd(t *testing.T) {
	f, err := OS{}.OpenFile(filepath.Join(t.TempDir(), "f"), os.O_RDWR|os.O_CREATE, FilePerm)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := f.(osFile).Fd()
	for name, file := range map[string]File{"os": f, "wrapped": wrapped{f}, "wrapped twice": wrapped{wrapped{f}}} {
		if fd, ok := Fd(file); !ok || fd != want {
			t.Errorf("%s: %d, %v; want %d", name, fd, ok, want)
		}
	}
	m, err := NewMem().OpenFile("/f", os.O_RDWR|os.O_CREATE, FilePerm)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := Fd(wrapped{m}); ok {
		t.Error("a file in memory has a descriptor")
	}
}
