package pagefile

import (
	"testing"
	"time"
)

// The copy pauses after a round that saw the database commit, as long as
// the round took (bounded), and makes its next round smaller; a round with
// no commit, or the final phase, goes on at once in full batches.
func TestDefragPacerYieldsToWriters(t *testing.T) {
	tests := []struct {
		name      string
		round     time.Duration
		commits   uint64 // commits of writers during the round
		off       bool
		wantPause time.Duration
		wantBatch int
	}{
		{"no writers", 80 * time.Millisecond, 0, false, 0, defragBatchBytes},
		{"writers", 80 * time.Millisecond, 3, false, 80 * time.Millisecond, defragBusyBatchBytes},
		{"writers, a slow round", 5 * time.Second, 1, false, defragMaxPause, defragBusyBatchBytes},
		{"writers held (final phase)", 80 * time.Millisecond, 3, true, 0, defragBatchBytes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := time.Unix(1000, 0)
			var txid uint64 = 7
			var paused []time.Duration
			p := &defragPacer{
				txID:  func() uint64 { return txid },
				now:   func() time.Time { return clock },
				sleep: func(d time.Duration) { paused = append(paused, d) },
				off:   tt.off,
			}
			p.begin()
			clock = clock.Add(tt.round)
			txid += tt.commits
			p.roundDone()
			var got time.Duration
			for _, d := range paused {
				got += d
			}
			if got != tt.wantPause {
				t.Errorf("paused %v, want %v", got, tt.wantPause)
			}
			if b := p.batchBytes(); b != tt.wantBatch {
				t.Errorf("next batch %d bytes, want %d", b, tt.wantBatch)
			}
		})
	}
}
