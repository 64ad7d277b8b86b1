package pagefile

import "time"

// A defragmentation shares the disk with the writers it lets go on. At
// full speed its copy takes most of the disk's bandwidth and its large
// commits stall the writers' own syncs: measured on a 16 GiB store of
// 64 KiB values, puts fell from 1,992/s to 331/s while it ran, and their
// p99 rose from 45 to 175 ms. So the copy yields while writers are
// active: a round of it that saw the database commit is followed by a
// pause as long as the round took (the copy then has at most half of the
// time), and the next round is smaller (defragBusyBatchBytes), so that
// each of its commits holds the disk for less. With no writers it copies
// in full batches without pausing. The final phase, with the writers held,
// never pauses: it is the pause they see.

// The pacing of a defragmentation's copy.
const (
	// defragYield is the pause after a round that saw the database
	// commit, as a multiple of the round's duration.
	defragYield = 1.0
	// defragBusyBatchBytes bounds a round of the copy after one that saw
	// the database commit (defragBatchBytes otherwise).
	defragBusyBatchBytes = 2 << 20
	// defragMaxPause bounds one pause, whatever a round took (a round
	// slowed by a stalled disk must not stall the copy for as long again).
	defragMaxPause = time.Second
)

// defragPacer decides, round by round, how much of the copy to do before
// it commits, and how long to pause after.
type defragPacer struct {
	// txID is the id of the database's current transaction: it moves
	// when a writer commits.
	txID  func() uint64
	now   func() time.Time
	sleep func(time.Duration)
	// off turns pacing off (the final phase, with the writers held).
	off bool

	start     time.Time
	startTxID uint64
	busy      bool // the last round saw the database commit
}

// newDefragPacer paces the copy of db.
func newDefragPacer(db *DB) *defragPacer {
	p := &defragPacer{txID: db.currentTxID, now: time.Now, sleep: time.Sleep}
	p.begin()
	return p
}

// begin starts a round.
func (p *defragPacer) begin() {
	p.start, p.startTxID = p.now(), p.txID()
}

// batchBytes bounds the bytes of the round under way.
func (p *defragPacer) batchBytes() int {
	if p.busy && !p.off {
		return defragBusyBatchBytes
	}
	return defragBatchBytes
}

// roundDone is called when a round's commit is done: it pauses if writers
// committed meanwhile, and starts the next round.
func (p *defragPacer) roundDone() {
	p.busy = p.txID() != p.startTxID
	if p.busy && !p.off {
		pause := time.Duration(float64(p.now().Sub(p.start)) * defragYield)
		p.sleep(min(pause, defragMaxPause))
	}
	p.begin()
}

// currentTxID is the id of the transaction new transactions begin on.
func (db *DB) currentTxID() uint64 {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.meta.txid
}
