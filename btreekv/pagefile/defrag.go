package pagefile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Defragment rewrites the database compactly into a new file and swaps it
// in atomically: the live data is copied, in key order, into a temporary
// file through ordinary transactions (so it is built as crash-safely as
// any other file), and then renamed over the database, and the directory
// synced. A crash at any point leaves either the old file or the new one,
// both holding the same data.
//
// Writers wait while it runs. Readers may run during the copy; the swap
// itself waits for the open ones to finish and holds off new ones for its
// short duration. So the calling goroutine must not hold a transaction
// open across the call, and no goroutine may wait for a write
// transaction while it holds a read transaction open: the swap would
// wait for that reader forever.
func (db *DB) Defragment() error {
	db.writeMu.Lock()
	defer db.writeMu.Unlock()
	db.mu.Lock()
	closed, broken := db.closed, db.broken
	db.mu.Unlock()
	switch {
	case closed:
		return ErrClosed
	case broken != nil:
		return fmt.Errorf("pagefile: defragment: %w: %w", ErrNeedsReopen, broken)
	}
	tmpPath := db.path + ".defrag"
	if err := db.fs.Remove(tmpPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("pagefile: defragment: %w", err)
	}
	dst, err := Open(tmpPath, Options{FS: db.fs, PageSize: db.pageSize, StrictMode: db.strict})
	if err != nil {
		return fmt.Errorf("pagefile: defragment: %w", err)
	}
	if err := db.copyTo(dst); err != nil {
		_ = dst.Close()
		_ = db.fs.Remove(tmpPath)
		return fmt.Errorf("pagefile: defragment: %w", err)
	}
	if err := dst.Close(); err != nil {
		return fmt.Errorf("pagefile: defragment: %w", err)
	}
	// The swap: no reader may be between pages of the old file when the
	// page ids start naming pages of the new one.
	db.mu.Lock()
	defer db.mu.Unlock()
	db.swapping = true
	defer func() {
		db.swapping = false
		db.readersChanged.Broadcast()
	}()
	for len(db.readers) > 0 {
		db.readersChanged.Wait()
	}
	// Open the new file before the rename so that a failure leaves the
	// database as it was; after the rename the path names the new file
	// and the handle opened here reads it.
	f, err := db.fs.OpenFile(tmpPath, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("pagefile: defragment: open copy: %w", err)
	}
	if err := db.fs.Rename(tmpPath, db.path); err != nil {
		_ = f.Close()
		return fmt.Errorf("pagefile: defragment: swap: %w", err)
	}
	old := db.f
	db.f = f
	_ = old.Close()
	db.cache.reset()
	if err := db.load(); err != nil {
		db.closed = true
		return fmt.Errorf("pagefile: defragment: reload: %w", err)
	}
	// Until the directory is synced a crash may bring back the old file,
	// which holds the same data: an error here loses nothing.
	if err := db.fs.SyncDir(filepath.Dir(db.path)); err != nil {
		return fmt.Errorf("pagefile: defragment: sync dir: %w", err)
	}
	return nil
}

// copyTo copies every bucket into dst in key order, in batches.
func (db *DB) copyTo(dst *DB) error {
	src, err := db.Begin(false)
	if err != nil {
		return err
	}
	defer src.Rollback()
	names, err := src.BucketNames()
	if err != nil {
		return err
	}
	for _, name := range names {
		b := src.Bucket(name)
		c := b.Cursor()
		k, v := c.First()
		for k != nil {
			err := dst.Update(func(tx *Tx) error {
				out, err := tx.CreateBucketIfNotExists(name)
				if err != nil {
					return err
				}
				for n := 0; k != nil && n < 10000; n++ {
					if err := out.Put(k, v); err != nil {
						return err
					}
					k, v = c.Next()
				}
				return c.Err()
			})
			if err != nil {
				return err
			}
		}
		if err := c.Err(); err != nil {
			return err
		}
		if err := dst.Update(func(tx *Tx) error { _, err := tx.CreateBucketIfNotExists(name); return err }); err != nil {
			return err
		}
	}
	return nil
}
