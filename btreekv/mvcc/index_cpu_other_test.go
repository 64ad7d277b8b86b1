//go:build !unix

package mvcc

import (
	"testing"
	"time"
)

// reportCPU reports nothing where the process's CPU time is not known.
func reportCPU(*testing.B, time.Duration) {}

func cpuNow() time.Duration { return 0 }
