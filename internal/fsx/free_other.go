//go:build !(linux || darwin || freebsd)

package fsx

// FreeBytes returns the bytes free on the file system that holds path,
// and whether it could tell: on this system it cannot.
func FreeBytes(path string) (uint64, bool) { return 0, false }
