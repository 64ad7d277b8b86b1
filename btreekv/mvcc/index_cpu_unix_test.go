//go:build unix

package mvcc

import (
	"syscall"
	"testing"
	"time"
)

// reportCPU reports the process's CPU time per operation (cpu-ns/op)
// from start, a value of cpuNow: on a shared machine it moves far less
// than the wall-clock ns/op.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuNow()-start)/float64(b.N), "cpu-ns/op")
}

// cpuNow is the CPU time (user and system) the process has used.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
