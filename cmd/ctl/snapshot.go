package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/cairndb/cairn/internal/restore"
)

func snapshotSaveCommand() command {
	return command{name: "snapshot save", args: "FILE", minArgs: 1, maxArgs: 1,
		summary: "Copy one member's store into FILE (written to FILE.part, synced, then renamed)",
		run: func(e *env, args []string) error {
			eps := e.g.endpointList()
			if len(eps) != 1 {
				return badUsage("snapshot save copies one member's store: give exactly one endpoint in --endpoints, not %d", len(eps))
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			path := args[0]
			// No --command-timeout: a large store takes as long as it
			// takes; interrupt to give up.
			if err := saveSnapshot(path, func(w io.Writer) error {
				_, err := c.Snapshot(e.ctx, eps[0], w)
				return err
			}); err != nil {
				return err
			}
			e.p.snapshotSaved(path)
			return nil
		}}
}

// saveSnapshot writes a snapshot to path safely: into path.part, synced,
// renamed over path, and the directory synced, so path is either absent,
// its old self, or a complete snapshot. It removes path.part on failure.
func saveSnapshot(path string, write func(io.Writer) error) (err error) {
	part := path + ".part"
	f, err := os.OpenFile(part, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("snapshot save: %w", err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(part)
		}
	}()
	if err := write(f); err != nil {
		return fmt.Errorf("snapshot save: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("snapshot save: syncing %s: %w", part, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("snapshot save: closing %s: %w", part, err)
	}
	if err := os.Rename(part, path); err != nil {
		return fmt.Errorf("snapshot save: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync() // make the rename durable; not all systems can sync a directory
		_ = d.Close()
	}
	return nil
}

// snapshotStatus is what snapshot status reports about a file.
type snapshotStatus struct {
	SHA256    string `json:"sha256"`
	Revision  int64  `json:"revision"`
	TotalKey  int64  `json:"totalKey"`
	TotalSize int64  `json:"totalSize"`
	// Format is whose snapshot the file is: cairn's or etcd's.
	Format restore.Format `json:"format"`
}

// readSnapshotStatus hashes a snapshot file and reads its revision and
// key count, refusing a file that is not a snapshot (an etcd snapshot's
// SHA-256 is checked, unless opts skip it).
func readSnapshotStatus(path string, opts restore.Options) (snapshotStatus, error) {
	f, err := os.Open(path)
	if err != nil {
		return snapshotStatus{}, fmt.Errorf("snapshot status: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return snapshotStatus{}, fmt.Errorf("snapshot status: reading %s: %w", path, err)
	}
	rep, err := restore.Inspect(path, opts)
	if err != nil {
		return snapshotStatus{}, fmt.Errorf("snapshot status: %s is not a usable snapshot: %w", path, err)
	}
	return snapshotStatus{SHA256: hex.EncodeToString(h.Sum(nil)), Revision: rep.Revision, TotalKey: rep.Keys,
		TotalSize: n, Format: rep.Format}, nil
}

func snapshotStatusCommand() command {
	return command{name: "snapshot status", args: "FILE", minArgs: 1, maxArgs: 1,
		summary: "Show a snapshot file's SHA-256, revision, number of keys, size and format (cairn's or etcd's)",
		setup: func(fs *flag.FlagSet) action {
			skipHash := fs.Bool("skip-hash-check", false, "read an etcd snapshot without checking the SHA-256 etcdctl appends (needed for a db file copied out of an etcd data dir)")
			return func(e *env, args []string) error {
				st, err := readSnapshotStatus(args[0], restore.Options{SkipHashCheck: *skipHash})
				if err != nil {
					return err
				}
				e.p.snapshotStatus(st)
				return nil
			}
		}}
}
