package logstore

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math/bits"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cairndb/cairn/internal/fsx"
)

// Damage is what recovery found that a crash cannot explain: data the log
// had acknowledged is lost or corrupt. A crash only ever cuts the writes
// since the last fsync short — a torn tail, never acknowledged, which
// recovery cuts off and logs — so anything else is reported as Damage:
// a record that fails its checksum with valid records after it, or in a
// segment that newer ones follow, or that one flipped bit explains; a
// segment shorter than it was created; a missing segment; a saved commit
// index past the log's end; records that end before the newest snapshot.
// The owner of the log may report more (a state machine ahead of the log)
// with MarkDamaged.
//
// The log's promises — the entries it acknowledged, the term and vote it
// recorded — may then be broken: its raft member must not vote or count
// toward commit until it has repaired itself from the quorum, and must say
// so until then. Open with Options.Salvage keeps the log's valid prefix,
// cuts the rest, and records the damage in a file beside the log (the
// repair file), so that a restart in the middle of the repair does not
// forget it; MarkRepaired then records the term the repair finished in,
// and ClearRepair forgets it. The repair file also counts the repairs
// started (BeginRepairAttempt), a count that only grows: raft tells a
// repair's messages from an earlier one's by it. Without Salvage, Open
// returns the *Damage as its error.
type Damage struct {
	// Kind says what was found.
	Kind DamageKind
	// File is the damaged or missing file, and Offset the first byte of
	// it the log lost (0 for a missing file).
	File   string
	Offset int64
	// Detail says what is wrong, in words.
	Detail string
	// LastIndex is the last index the log holds after the damage was cut.
	LastIndex uint64
	// Earlier says the damage was found at an earlier start, and its
	// repair has not finished.
	Earlier bool
}

// DamageKind names a kind of Damage.
type DamageKind string

// The kinds of damage.
const (
	// DamageCorruptRecord is a record that fails its checksum or does not
	// decode, where a torn write cannot explain it.
	DamageCorruptRecord DamageKind = "corrupt record"
	// DamageTruncated is a segment shorter than it was created: its tail
	// was cut off after it was written.
	DamageTruncated DamageKind = "truncated segment"
	// DamageMissingSegment is a segment that is gone: the sequence of
	// segments has a gap, or the last one is sealed (another followed it).
	DamageMissingSegment DamageKind = "missing segment"
	// DamageCommitPastEnd is a saved commit index past the last entry:
	// entries the log had made durable are gone.
	DamageCommitPastEnd DamageKind = "commit past end"
	// DamageBehindSnapshot is a log whose records end before its newest
	// snapshot, or whose entries after it are of an older term than the
	// snapshot's: a snapshot is taken only of entries the log holds
	// durably, so records are gone (an old copy of the log, say).
	DamageBehindSnapshot DamageKind = "log behind its snapshot"
	// DamageStateAhead is a state machine that holds entries past the
	// log's end (reported by the owner, MarkDamaged).
	DamageStateAhead DamageKind = "state machine ahead of the log"
)

// Error describes the damage.
func (d *Damage) Error() string {
	var b strings.Builder
	b.WriteString("logstore: ")
	if d.Earlier {
		b.WriteString("repair pending since an earlier start: ")
	}
	if d.File != "" {
		fmt.Fprintf(&b, "%s offset %d: ", d.File, d.Offset)
	}
	fmt.Fprintf(&b, "%s: %s", d.Kind, d.Detail)
	if !d.Earlier {
		fmt.Fprintf(&b, " (the log keeps entries up to index %d)", d.LastIndex)
	}
	return b.String()
}

// Unwrap makes a Damage an ErrCorrupt.
func (d *Damage) Unwrap() error { return ErrCorrupt }

// repairFile is the name, in the log's directory, of the file that records
// damage whose repair has not finished, or the term in which it finished,
// and the count of repairs started. repairCopyFile holds the same record:
// the record is itself state the member must not lose (a repair number
// that went back could let the member take an answer meant for an earlier
// repair), and a file of a few dozen bytes has no redundancy of its own.
// Each copy carries a checksum; a copy that fails it is rewritten from
// the other (see readRepairFile).
const (
	repairFile     = "repair"
	repairCopyFile = "repair.copy"
)

// Damage returns the damage recovery found or MarkDamaged recorded, or
// that an earlier start found and MarkRepaired has not yet marked
// repaired; nil if the log holds everything it acknowledged.
func (l *Log) Damage() *Damage {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.damage == nil {
		return nil
	}
	d := *l.damage
	return &d
}

// RepairedTerm returns the term in which MarkRepaired recorded that the
// damage was repaired, until ClearRepair; 0 if none.
func (l *Log) RepairedTerm() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.repairedTerm
}

// MarkDamaged records damage its owner found (its state machine holds
// entries the log lost), durably, as if recovery had found it: Damage
// reports it until MarkRepaired, across restarts. Damage already recorded
// is kept (it is the first and most precise report).
func (l *Log) MarkDamaged(d Damage) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.damage != nil {
		return nil
	}
	d.Earlier = false
	if err := writeRepairFile(l.opts.FS, l.opts.Dir, repairRecord{damage: &d, attempts: l.repairAttempts}.encode()); err != nil {
		return err
	}
	l.damage, l.repairedTerm = &d, 0
	return nil
}

// BeginRepairAttempt counts one more repair started, durably, and returns
// its number (1 for the first): the owner calls it at every start with
// damage pending, before its raft member sends anything (raftcore's
// Config.RepairAttempt). The count outlives the repair: it never goes
// back, across MarkRepaired, ClearRepair and restarts.
func (l *Log) BeginRepairAttempt() (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rec := repairRecord{damage: l.damage, repairedTerm: l.repairedTerm, attempts: l.repairAttempts + 1}
	if err := writeRepairFile(l.opts.FS, l.opts.Dir, rec.encode()); err != nil {
		return 0, err
	}
	l.repairAttempts = rec.attempts
	return rec.attempts, nil
}

// RepairAttempt returns the number of the last repair started
// (BeginRepairAttempt), 0 if none ever was.
func (l *Log) RepairAttempt() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.repairAttempts
}

// MarkRepaired records that the log's owner repaired the damage in term
// (its raft member holds again everything it may have promised): Damage
// reports nil from then on, and RepairedTerm reports term, across
// restarts, until ClearRepair. (A raft member repaired in a term marks
// its answers in that term; see raftcore's repair.go.)
func (l *Log) MarkRepaired(term uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := writeRepairFile(l.opts.FS, l.opts.Dir, repairRecord{repairedTerm: term, attempts: l.repairAttempts}.encode()); err != nil {
		return err
	}
	l.damage, l.repairedTerm = nil, term
	return nil
}

// ClearRepair forgets a finished repair: the repair file keeps only the
// count of repairs started (or goes, if none was).
func (l *Log) ClearRepair() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.damage == nil && l.repairedTerm == 0 {
		return nil
	}
	if l.repairAttempts != 0 {
		if err := writeRepairFile(l.opts.FS, l.opts.Dir, repairRecord{attempts: l.repairAttempts}.encode()); err != nil {
			return err
		}
		l.damage, l.repairedTerm = nil, 0
		return nil
	}
	// The copy goes first: a crash in between leaves the first file,
	// which is read alone as before there were copies.
	for _, name := range []string{repairCopyFile, repairFile} {
		path := filepath.Join(l.opts.Dir, name)
		if err := l.opts.FS.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("logstore: remove %s: %w", path, err)
		}
	}
	if err := l.opts.FS.SyncDir(l.opts.Dir); err != nil {
		return fmt.Errorf("logstore: sync %s: %w", l.opts.Dir, err)
	}
	l.damage, l.repairedTerm = nil, 0
	return nil
}

// repairRecord is what the repair file records: damage whose repair is
// pending, or the term in which it finished, or neither (only the count);
// and the count of repairs started.
type repairRecord struct {
	damage       *Damage
	repairedTerm uint64
	attempts     uint64
}

// encode returns the content of a repair file that records rec: a line of
// words, then key=value lines, then the checksum of all that.
func (rec repairRecord) encode() []byte {
	var b bytes.Buffer
	switch d := rec.damage; {
	case d != nil:
		b.WriteString("cairn log: damage found, repair pending\n")
		fmt.Fprintf(&b, "kind=%q\nfile=%q\noffset=%d\nlast-index=%d\ndetail=%q\n", string(d.Kind), d.File, d.Offset, d.LastIndex, d.Detail)
	case rec.repairedTerm != 0:
		fmt.Fprintf(&b, "cairn log: repaired in term %d\nrepaired-term=%d\n", rec.repairedTerm, rec.repairedTerm)
	default:
		b.WriteString("cairn log: no repair pending\nstate=whole\n")
	}
	if rec.attempts != 0 {
		fmt.Fprintf(&b, "repair-attempts=%d\n", rec.attempts)
	}
	fmt.Fprintf(&b, "%s%08x\n", repairChecksumKey, crc32.Checksum(b.Bytes(), crcTable))
	return b.Bytes()
}

// repairChecksumKey begins the last line of a repair file: the CRC-32C of
// the lines before it.
const repairChecksumKey = "crc32c="

// writeRepairFile writes the repair record durably, to the repair file and
// then to its copy, each as a temporary file, fsynced, renamed into place,
// the directory fsynced. Damage is recorded before anything damaged is
// cut, so that no crash can leave the log looking whole.
func writeRepairFile(fsys fsx.FS, dir string, content []byte) error {
	for _, name := range []string{repairFile, repairCopyFile} {
		if err := writeFileDurably(fsys, filepath.Join(dir, name), content); err != nil {
			return err
		}
	}
	return nil
}

// writeFileDurably replaces the file at path with content: a temporary
// file, fsynced, renamed into place, the directory fsynced.
func writeFileDurably(fsys fsx.FS, path string, content []byte) error {
	tmp := path + tmpExt
	f, err := fsx.Create(fsys, tmp)
	if err == nil {
		_, err = f.WriteAt(content, 0)
		if err == nil {
			err = f.Sync()
		}
		err = errors.Join(err, f.Close())
	}
	if err == nil {
		err = fsys.Rename(tmp, path)
	}
	if err == nil {
		err = fsys.SyncDir(filepath.Dir(path))
	}
	if err != nil {
		return fmt.Errorf("logstore: write %s: %w", path, err)
	}
	return nil
}

// readRepairFile returns what the repair record in dir says: damage not
// yet repaired, or the term in which it was, or neither (also if there is
// no record).
//
// The record is in two files written one after the other. Both checking
// and equal is the rule. One that fails its checksum (a bit flipped at
// rest) is replaced by the other. Both checking but different means a
// crash came between the two writes: the first file holds the newer
// record, and the copy is brought up to it. Either way the pair is whole
// again before the log opens, so a flip can only ever cost the one copy
// it hits. Both failing is damage to the record itself, reported as an
// error that names the files: the repair count may be lost, and guessing
// it could reuse a number an earlier repair had sent.
//
// A file without a checksum line was written before there were copies;
// it is read as it was then (a line it cannot parse is a repair pending).
func readRepairFile(fsys fsx.FS, dir string) (repairRecord, error) {
	type copyState struct {
		path    string
		content []byte
		exists  bool
		err     error // why the file does not check
		legacy  bool  // it has no checksum line
	}
	read := func(name string) copyState {
		c := copyState{path: filepath.Join(dir, name)}
		_ = fsys.Remove(c.path + tmpExt) // never renamed into place: never recorded
		if _, err := fsys.Stat(c.path); errors.Is(err, fs.ErrNotExist) {
			return c
		}
		c.exists = true
		b, err := readWhole(fsys, c.path)
		if err != nil {
			c.err = err
			return c
		}
		c.content, c.legacy, c.err = b, !bytes.Contains(b, []byte(repairChecksumKey)), checkRepairContent(b)
		return c
	}
	first, second := read(repairFile), read(repairCopyFile)
	checked := func(c copyState) bool { return c.exists && c.err == nil && !c.legacy }
	var good copyState
	switch {
	case !first.exists && !second.exists:
		return repairRecord{}, nil
	case checked(first):
		good = first
	case checked(second):
		// Also when the first has no checksum line but the copy has: a
		// flip in the first's "crc32c=" made it look older than it is.
		good = second
	case first.exists && first.err == nil:
		good = first
	case !second.exists:
		return repairRecord{}, fmt.Errorf("logstore: read %s: %w", first.path, first.err)
	default:
		return repairRecord{}, fmt.Errorf("logstore: both copies of the repair record are damaged (%s: %v; %s: %v): the count of repairs may be lost; see the README's section on a disk that loses data", first.path, first.err, second.path, second.err)
	}
	if !bytes.Equal(first.content, second.content) || !first.exists || !second.exists {
		if err := writeRepairFile(fsys, dir, good.content); err != nil {
			return repairRecord{}, err
		}
	}
	return parseRepairRecord(good.content, good.path), nil
}

// checkRepairContent checks a repair file's checksum line, if it has one.
func checkRepairContent(b []byte) error {
	body, last := b, []byte(nil)
	if i := bytes.LastIndexByte(bytes.TrimSuffix(b, []byte("\n")), '\n'); i >= 0 {
		body, last = b[:i+1], b[i+1:]
	}
	sum, ok := bytes.CutPrefix(bytes.TrimSuffix(last, []byte("\n")), []byte(repairChecksumKey))
	if !ok {
		if bytes.Contains(b, []byte(repairChecksumKey)) {
			// The newline before the checksum line, or the line's
			// end, was hit.
			return fmt.Errorf("%w: the checksum line is damaged", ErrCorrupt)
		}
		return nil // written before checksums (or a flip in the key): read as it is
	}
	// Compared as written (lower-case hex): a flip that turns a digit
	// into its capital is damage too.
	if got := fmt.Sprintf("%08x", crc32.Checksum(body, crcTable)); string(sum) != got {
		return fmt.Errorf("%w: checksum %q, the content's is %s", ErrCorrupt, sum, got)
	}
	return nil
}

// parseRepairRecord reads a repair file's content (path for messages). A
// line it cannot parse means a repair is pending: its content is only the
// description.
func parseRepairRecord(b []byte, path string) repairRecord {
	var rec repairRecord
	whole := false
	d := &Damage{Earlier: true, Kind: "unknown", Detail: "the repair file " + path + " does not say"}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		if unq, err := strconv.Unquote(val); err == nil {
			val = unq
		}
		switch key {
		case "repaired-term":
			if term, err := strconv.ParseUint(val, 10, 64); err == nil && term > 0 {
				rec.repairedTerm = term
			}
		case "repair-attempts":
			rec.attempts, _ = strconv.ParseUint(val, 10, 64)
		case "state":
			whole = val == "whole"
		case "kind":
			d.Kind = DamageKind(val)
		case "file":
			d.File = val
		case "offset":
			d.Offset, _ = strconv.ParseInt(val, 10, 64)
		case "last-index":
			d.LastIndex, _ = strconv.ParseUint(val, 10, 64)
		case "detail":
			d.Detail = val
		}
	}
	switch {
	case rec.repairedTerm != 0:
	case whole && rec.attempts != 0:
	default:
		rec.damage = d
	}
	return rec
}

// explainedByOneBitFlip reports whether the record at the front of b,
// which does not check, would with one bit flipped — in its length, its
// checksum or its body — where a torn write cannot explain the change. A
// crash tears writes short (what follows the tear is the zeros of the
// preallocated segment); it does not flip bits. So a record one bit away
// from valid is damage at rest, unless that bit lies in zeros that run to
// the record's end: a tear there leaves the same bytes.
func explainedByOneBitFlip(b []byte) bool {
	if len(b) < recordHeaderSize {
		return false
	}
	n := binary.LittleEndian.Uint32(b)
	want := binary.LittleEndian.Uint32(b[4:])
	fits := func(n uint32) bool {
		return n != 0 && n <= MaxRecordSize && uint64(n) <= uint64(len(b)-recordHeaderSize)
	}
	// flipped reports whether a bit flipped at byte p of a record ending
	// at end explains the damage: byte p or one after it is not zero.
	flipped := func(p int, end uint32) bool { return !allZero(b[p : recordHeaderSize+int(end)]) }
	for bit := range 32 {
		if m := n ^ 1<<bit; fits(m) && crc32.Checksum(b[recordHeaderSize:recordHeaderSize+m], crcTable) == want && flipped(bit/8, m) {
			return true
		}
	}
	if !fits(n) {
		return false
	}
	syndrome := crc32.Checksum(b[recordHeaderSize:recordHeaderSize+n], crcTable) ^ want
	if bits.OnesCount32(syndrome) == 1 {
		return flipped(4+bits.TrailingZeros32(syndrome)/8, n) // in the checksum
	}
	i, ok := oneBitSyndrome(int(n), syndrome)
	return ok && flipped(recordHeaderSize+i, n)
}

// oneBitSyndrome returns the byte of an n-byte message in which one
// flipped bit changes its CRC-32C by syndrome, if there is one. The CRC is
// linear: flipping bit j of byte i changes it by the CRC register that bit
// alone produces, with no initial value, followed by the n-1-i bytes after
// it as zeros. Walking from the last byte to the first, each step is one
// more zero byte.
func oneBitSyndrome(n int, syndrome uint32) (int, bool) {
	var reg [8]uint32
	for j := range reg {
		reg[j] = crcTable[1<<j]
	}
	for i := n - 1; i >= 0; i-- {
		for j := range reg {
			if reg[j] == syndrome {
				return i, true
			}
			reg[j] = crcTable[byte(reg[j])] ^ reg[j]>>8
		}
	}
	return 0, false
}

// damagePoint is where recovery found damage: in segment seg of l.segments,
// everything from offset off on is lost (off 0: the whole segment).
type damagePoint struct {
	seg    int
	off    int64
	kind   DamageKind
	detail string
}

// salvage keeps the log up to damage point p — the records replayed
// before it, already in memory — and cuts the rest: the repair file is
// written first, then the damaged segment is cleared from p on (or
// removed), and every later segment removed. The log then appends where
// the damage began. The kept segments before the log's (keptSegments)
// stay: they are not the log's, and none is damage.
func (l *Log) salvage(p *damagePoint, st *replayState) error {
	fsys := l.opts.FS
	s := l.segments[p.seg]
	d := &Damage{Kind: p.kind, File: filepath.Join(l.walDir, s.name), Offset: p.off, Detail: p.detail, LastIndex: l.lastIndex()}
	if p.kind == DamageMissingSegment && p.off == 0 {
		d.File = ""
	}
	if err := writeRepairFile(fsys, l.opts.Dir, repairRecord{damage: d, attempts: l.repairAttempts}.encode()); err != nil {
		return err
	}
	l.log.Warn("logstore: the log lost data it had acknowledged; keeping what precedes the damage", "damage", d.Error())
	l.damage = d
	keep := p.seg + 1
	if p.off < segmentHeaderSize {
		keep = p.seg // the whole segment goes
	}
	for _, gone := range l.segments[keep:] {
		path := filepath.Join(l.walDir, gone.name)
		if err := fsys.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("logstore: remove %s: %w", path, err)
		}
	}
	if err := fsys.SyncDir(l.walDir); err != nil {
		return fmt.Errorf("logstore: sync %s: %w", l.walDir, err)
	}
	l.segments = l.segments[:keep]
	if keep == l.replayFrom {
		// No segment of the log is left (a kept one is not appended to).
		seg, err := createSegment(fsys, l.walDir, s.seq, l.lastIndex()+1, l.opts.SegmentSize, l.segmentPrologue())
		if err != nil {
			return err
		}
		l.seg = seg
		l.segments = append(l.segments, segInfo{seq: seg.seq, firstIndex: seg.firstIndex, name: filepath.Base(seg.path), size: seg.size})
		return nil
	}
	off := p.off
	if keep == p.seg {
		off = st.ends[keep-1] // where the records of the segment before end (a seal is cut)
	}
	return l.openLast(keep-1, off, st.written[keep-1])
}

// openLast opens segment i, the last, for appends at offset tail. What
// was written from tail to written (a torn write, or what damage cut off)
// is cleared, and a segment cut short gets back the size it was created
// with, so that the next recovery finds neither.
func (l *Log) openLast(i int, tail, written int64) error {
	s := l.segments[i]
	path := filepath.Join(l.walDir, s.name)
	f, err := l.opts.FS.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("logstore: open %s: %w", path, err)
	}
	size, err := f.Size()
	if err == nil && (tail < written || size < s.size) {
		if tail < written {
			_, err = f.WriteAt(make([]byte, written-tail), tail)
		}
		if err == nil && size < s.size {
			err = f.Truncate(s.size)
			size = s.size
		}
		if err == nil {
			err = f.Sync()
		}
	}
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("logstore: cut %s at offset %d: %w", path, tail, err)
	}
	l.seg = &segment{f: f, path: path, seq: s.seq, firstIndex: s.firstIndex, size: size, tail: tail}
	return nil
}
