//go:build linux || darwin || freebsd

package fsx

import "syscall"

// FreeBytes returns the bytes free to an unprivileged user on the file
// system that holds path, and whether it could tell.
func FreeBytes(path string) (uint64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, false
	}
	return uint64(st.Bavail) * uint64(st.Bsize), true
}
