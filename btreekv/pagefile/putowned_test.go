package pagefile

import (
	"bytes"
	"path/filepath"
	"testing"
)

// PutOwned keeps the caller's value itself (no copy) until the commit
// writes it, and what it stored reads back after a reopen, large values
// (overflow runs) and empty ones alike.
func TestPutOwnedKeepsTheValueWithoutACopy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string][]byte{"big": bytes.Repeat([]byte{9}, 70_000), "small": []byte("v"), "empty": nil}
	err = db.Update(func(tx *Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("b"))
		if err != nil {
			return err
		}
		for k, v := range vals {
			if err := b.PutOwned([]byte(k), v); err != nil {
				return err
			}
		}
		got, err := b.Get([]byte("big"))
		if err != nil {
			return err
		}
		if &got[0] != &vals["big"][0] {
			t.Errorf("PutOwned copied the value")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if db, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *Tx) error {
		b := tx.Bucket([]byte("b"))
		for k, v := range vals {
			got, err := b.Get([]byte(k))
			if err != nil {
				return err
			}
			if !bytes.Equal(got, v) {
				t.Errorf("%s: read back %d bytes, want %d", k, len(got), len(v))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
