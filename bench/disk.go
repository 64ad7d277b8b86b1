package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// DiskConfig describes a run of Disk: the write pattern of a member's log
// (and of its page file's commits), reproduced without the member.
type DiskConfig struct {
	// Dir is where the files go (a temporary directory in it, removed
	// at the end); it must be on the disk to measure.
	Dir string
	// Writers write at once, each to a file of its own, as the members
	// of a cluster on one machine do.
	Writers int
	// Chunk is the bytes each writer writes between two fsyncs (a
	// member writes what its turn gathered, then syncs).
	Chunk int
	// Bytes is what each writer writes in all.
	Bytes int64
	// Overwrite writes over files written and synced before the run,
	// as a log that reused its old segments would; otherwise the files
	// grow, as new log segments and a growing page file do.
	Overwrite bool
}

// DiskResult is what Disk measured.
type DiskResult struct {
	Config DiskConfig
	// Elapsed is the time from the first write to the last fsync.
	Elapsed time.Duration
	// Syncs are the durations of every write-and-fsync, all writers'.
	Syncs []time.Duration
}

// MBPerSecond is the bytes all writers made durable per second, in MB.
func (r DiskResult) MBPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Config.Bytes) * float64(r.Config.Writers) / r.Elapsed.Seconds() / 1e6
}

// SyncPercentile is the p-th percentile (0-100) of the write-and-fsync
// durations.
func (r DiskResult) SyncPercentile(p float64) time.Duration {
	if len(r.Syncs) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), r.Syncs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(p / 100 * float64(len(s)-1))
	return s[i]
}

// WriteTo prints the result as one line.
func (r DiskResult) WriteTo(w io.Writer) (int64, error) {
	mode := "growing files"
	if r.Config.Overwrite {
		mode = "overwriting"
	}
	n, err := fmt.Fprintf(w, "%d writers, %s, %d KiB per fsync: %.0f MB/s in all, write+fsync p50 %.1f ms p99 %.1f ms\n",
		r.Config.Writers, mode, r.Config.Chunk>>10, r.MBPerSecond(),
		ms(int64(r.SyncPercentile(50))), ms(int64(r.SyncPercentile(99))))
	return int64(n), err
}

// Disk measures how fast the disk under cfg.Dir makes data durable when
// written as cairn's members write it: several writers at once, each
// appending a chunk and then calling fsync, over and over. A member that
// writes more than this rate allows is bound by its disk, not its code.
func Disk(ctx context.Context, cfg DiskConfig) (DiskResult, error) {
	if cfg.Writers < 1 || cfg.Chunk < 1 || cfg.Bytes < 1 {
		return DiskResult{}, fmt.Errorf("disk: want at least 1 writer, a chunk of at least 1 byte and at least 1 byte to write (got %d writers, a chunk of %d, %d bytes)", cfg.Writers, cfg.Chunk, cfg.Bytes)
	}
	dir, err := os.MkdirTemp(cfg.Dir, "cairn-disk-")
	if err != nil {
		return DiskResult{}, fmt.Errorf("disk: %w", err)
	}
	defer os.RemoveAll(dir)
	chunk := make([]byte, cfg.Chunk)
	for i := range chunk {
		chunk[i] = byte(i*131 + i>>8) // not zeros: some disks shortcut those
	}
	files := make([]*os.File, cfg.Writers)
	defer func() {
		for _, f := range files {
			if f != nil {
				f.Close()
			}
		}
	}()
	for i := range files {
		if files[i], err = os.Create(filepath.Join(dir, fmt.Sprintf("writer%d", i))); err != nil {
			return DiskResult{}, fmt.Errorf("disk: %w", err)
		}
		if cfg.Overwrite {
			if err := fill(files[i], chunk, cfg.Bytes); err != nil {
				return DiskResult{}, fmt.Errorf("disk: writing %s before the run: %w", files[i].Name(), err)
			}
		}
	}
	res := DiskResult{Config: cfg}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs = make([]error, cfg.Writers)
	)
	start := time.Now()
	for i, f := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			syncs := make([]time.Duration, 0, cfg.Bytes/int64(cfg.Chunk)+1)
			for off := int64(0); off < cfg.Bytes && ctx.Err() == nil; off += int64(cfg.Chunk) {
				t := time.Now()
				if _, err := f.WriteAt(chunk[:min(int64(cfg.Chunk), cfg.Bytes-off)], off); err != nil {
					errs[i] = fmt.Errorf("disk: %w", err)
					return
				}
				if err := f.Sync(); err != nil {
					errs[i] = fmt.Errorf("disk: %w", err)
					return
				}
				syncs = append(syncs, time.Since(t))
			}
			mu.Lock()
			res.Syncs = append(res.Syncs, syncs...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	if err := errors.Join(append(errs, ctx.Err())...); err != nil {
		return DiskResult{}, err
	}
	return res, nil
}

// fill writes size bytes of chunk over and over to f from its start,
// and syncs it.
func fill(f *os.File, chunk []byte, size int64) error {
	for off := int64(0); off < size; off += int64(len(chunk)) {
		if _, err := f.WriteAt(chunk[:min(int64(len(chunk)), size-off)], off); err != nil {
			return err
		}
	}
	return f.Sync()
}
