package linearizability

import (
	"errors"
	"testing"
	"time"
)

func TestCheckTimeout(t *testing.T) {
	history := benchHistory(10_000, 100, 4)
	err := Check(history, KVModel(), time.Nanosecond, t.TempDir())
	if !errors.Is(err, ErrCheckTimeout) {
		t.Fatalf("want ErrCheckTimeout, got %v", err)
	}
}

func TestCheckEmptyHistory(t *testing.T) {
	if err := Check(nil, KVModel(), time.Second, ""); err != nil {
		t.Fatal(err)
	}
	log, err := ChangeLog(nil, Start{Revision: 1}, time.Second, "")
	if err != nil || len(log) != 0 {
		t.Fatalf("ChangeLog(nil) = %v, %v", log, err)
	}
}
