package fsx

import (
	"path/filepath"
	"runtime"
	"testing"
)

func TestFreeBytes(t *testing.T) {
	free, ok := FreeBytes(t.TempDir())
	if !ok {
		if runtime.GOOS == "linux" || runtime.GOOS == "darwin" {
			t.Fatal("FreeBytes cannot tell on a system it supports")
		}
		t.Skipf("FreeBytes cannot tell on %s", runtime.GOOS)
	}
	if free == 0 {
		t.Fatal("no byte free in the test's temporary directory")
	}
	if _, ok := FreeBytes(filepath.Join(t.TempDir(), "missing")); ok {
		t.Fatal("FreeBytes answered for a path that does not exist")
	}
}
