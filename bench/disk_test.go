package bench

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

func TestDiskWritesEveryChunkAndRemovesItsFiles(t *testing.T) {
	for _, overwrite := range []bool{false, true} {
		dir := t.TempDir()
		cfg := DiskConfig{Dir: dir, Writers: 2, Chunk: 4096, Bytes: 10*4096 + 100, Overwrite: overwrite}
		res, err := Disk(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		// 10 whole chunks and a partial one per writer, each synced.
		if got, want := len(res.Syncs), 2*11; got != want {
			t.Errorf("overwrite=%v: %d syncs, want %d", overwrite, got, want)
		}
		if res.MBPerSecond() <= 0 || res.SyncPercentile(99) < res.SyncPercentile(50) {
			t.Errorf("overwrite=%v: %.1f MB/s, p50 %v, p99 %v", overwrite, res.MBPerSecond(), res.SyncPercentile(50), res.SyncPercentile(99))
		}
		left, err := os.ReadDir(dir)
		if err != nil || len(left) != 0 {
			t.Errorf("overwrite=%v: left %v in the directory (%v)", overwrite, left, err)
		}
		var out strings.Builder
		if _, err := res.WriteTo(&out); err != nil || !strings.Contains(out.String(), "2 writers") {
			t.Errorf("overwrite=%v: printed %q (%v)", overwrite, out.String(), err)
		}
	}
}

func TestDiskRefusesAnEmptyRun(t *testing.T) {
	for _, cfg := range []DiskConfig{
		{Writers: 0, Chunk: 1, Bytes: 1},
		{Writers: 1, Chunk: 0, Bytes: 1},
		{Writers: 1, Chunk: 10, Bytes: 0},
	} {
		cfg.Dir = t.TempDir()
		if _, err := Disk(context.Background(), cfg); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
}

func TestDiskResultPercentiles(t *testing.T) {
	var r DiskResult
	for i := 100; i >= 1; i-- {
		r.Syncs = append(r.Syncs, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{0, time.Millisecond}, {50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}} {
		if got := r.SyncPercentile(c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	r.Config = DiskConfig{Writers: 2, Bytes: 50e6}
	r.Elapsed = time.Second
	if got := r.MBPerSecond(); got != 100 {
		t.Errorf("MB/s = %v, want 100", got)
	}
}
