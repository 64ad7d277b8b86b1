package sim

import (
	"io"
	"slices"

	"github.com/cairndb/cairn/node/peerwire"
	"github.com/cairndb/cairn/node/replica"
	"github.com/cairndb/cairn/raftcore"
)

// Snapshots between simulated members travel as the server's transport
// sends them (node/transport.go: streamSnapshot, serveSnapshot). The
// leader opens a copy of its store on its core, between steps, and sends
// it on a stream of its own, encoded by the server's code
// (peerwire.SendStoreCopy): a header frame (the copy's size and the
// MsgSnap without data), the data in chunks (replica.ChunkSender) and its
// checksum. The frames arrive in order, one every frameMillis, as on a
// connection. At the header the receiver refuses the copy as the transport
// does: one not from the leader it follows, larger than snapshotLimit, or
// arriving while it receives another. At the last frame it stores the data
// through a replica.ChunkReceiver (KVState.ReceiveSnapshot, which checks
// the checksum) and only then hands the MsgSnap to its core, and the
// sender hears that the snapshot got through. A link cut, either end
// going down, or a lossy network resetting the connection before the last
// frame breaks the stream: the receiver reads what came, then the
// stream's end, which it must refuse, and the sender hears that the
// snapshot failed.

const (
	// snapshotChunk is the size of a simulated stream's chunks: small,
	// so that the simulation's small stores travel in several.
	snapshotChunk = 4 << 10
	// frameMillis is the time between two frames of a stream.
	frameMillis = 1
)

// snapStream is a store copy on its way from one member to another.
type snapStream struct {
	from, to uint64
	// fromInc and toInc are the incarnations of its ends when it was
	// sent: a crash of either breaks the stream.
	fromInc, toInc uint64
	// forged says the forger made the stream (forgery.go): no member
	// sent it, or hears how it went.
	forged bool
	// sent is the MsgSnap as the sender sent it (for the timeline);
	// frames are the header, the chunks and the checksum.
	sent   raftcore.Message
	frames [][]byte
	// size and msg are what the header said, as the receiver read it.
	size uint64
	msg  raftcore.Message
	// ended says the stream is over (the sender heard how it went).
	ended bool
}

// snapshotArrival is the input of a member at the end of a snapshot's
// stream: upto of its frames came (all of them, or fewer if the stream
// broke). The member stores the data before its core sees the MsgSnap
// (receiveSnapshot), as the transport does.
type snapshotArrival struct {
	replica.EvMessage
	stream *snapStream
	upto   int
}

// takeEffects takes the effects of member m's step, each MsgSnap taken out
// and opened as a stream with the copy of m's store it announces. It
// reports whether m crashed opening a copy (which commits the store: an
// fsync).
func (w *World) takeEffects(m *member) (replica.Effects, []*snapStream, bool) {
	eff := m.core.TakeEffects()
	isSnap := func(msg raftcore.Message) bool { return msg.Type == raftcore.MsgSnap }
	if !slices.ContainsFunc(eff.Messages, isSnap) {
		return eff, nil, false
	}
	var streams []*snapStream
	crashed := w.protect(m, "snapshot send", func() {
		for _, msg := range eff.Messages {
			if isSnap(msg) {
				if s := w.openStream(m, msg); s != nil {
					streams = append(streams, s)
				}
			}
		}
		eff.Messages = slices.DeleteFunc(slices.Clone(eff.Messages), isSnap)
	})
	return eff, streams, crashed
}

// openStream opens the copy of m's store a MsgSnap announces and encodes
// its stream. If the copy cannot be opened (the store failed), the
// snapshot is reported failed, as the transport would.
func (w *World) openStream(m *member, msg raftcore.Message) *snapStream {
	if w.corrupt.isRotten(m.id) {
		// A rotten store copied to every member (a rotten leader's
		// snapshots do that, as real corruption spreads) can be found by
		// no comparison of hashes, and leaves the simulator no clean store
		// to hold the others to: the rot fault is kept to the stores it
		// reached, and a rotten member sends no snapshot (the transport
		// reports it failed). A clean leader sends one instead: the
		// rotten leader hands its leadership to a clean voter that is up,
		// not the one that needs the snapshot (it could take the
		// leadership only once caught up: by a snapshot).
		w.schedule(1, event{kind: evInput, who: m.id, input: replica.EvSnapshotStatus{To: msg.To, Failed: true}})
		for _, id := range w.conf.voters {
			if x := w.member(id); id != m.id && id != msg.To && x.state == stateUp && !w.corrupt.isRotten(id) {
				w.logFault("rotten leader %d hands leadership to %d, to send %d a clean snapshot", m.id, id, msg.To)
				w.schedule(1, event{kind: evInput, who: m.id, input: replica.EvTransferLeader{To: id}})
				break
			}
		}
		return nil
	}
	out, src, err := m.core.OpenSnapshot(msg)
	if err == nil {
		defer src.Close()
		var s *snapStream
		if s, err = encodeStream(out, src); err == nil {
			s.fromInc = m.incarnation
			return s
		}
	}
	w.logFault("member %d cannot send a snapshot to %d: %v", m.id, msg.To, err)
	w.schedule(1, event{kind: evInput, who: m.id, input: replica.EvSnapshotStatus{To: msg.To, Failed: true}})
	return nil
}

// encodeStream encodes the stream of a store copy, src, that msg
// announces, as the transport sends it.
func encodeStream(msg raftcore.Message, src replica.SnapshotSource) (*snapStream, error) {
	s := &snapStream{from: msg.From, to: msg.To, sent: msg}
	// The frames share one buffer (the sender reuses the slices it
	// hands over); a frame appended past its capacity moves the later
	// ones to a new array, and leaves the earlier ones where they are.
	size, err := src.Size()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 0, size+1024)
	err = peerwire.SendStoreCopy(func(b []byte) error {
		buf = append(buf, b...)
		s.frames = append(s.frames, buf[len(buf)-len(b):len(buf):len(buf)])
		return nil
	}, msg, src, snapshotChunk, "snapshot copy")
	return s, err
}

// sendStream puts a snapshot's stream from member m on the wire, after
// delay: its first frame, the header.
func (w *World) sendStream(m *member, s *snapStream, delay int64) {
	l := link{s.from, s.to}
	n := &w.net
	msg := s.sent
	if n.cut[l] || w.rng.Float64() < n.dropRate {
		fate := fateLost
		if n.cut[l] {
			fate = fateCut
		}
		w.observeSend(m.id, &msg, w.now+delay, fate)
		w.schedule(delay+1, event{kind: evInput, who: m.id, input: replica.EvSnapshotStatus{To: s.to, Failed: true}})
		return
	}
	latency := delay + n.baseLatency(l) + n.slow[l] + int64(w.rng.IntN(4))
	s.toInc = w.member(s.to).incarnation
	w.schedule(latency, event{kind: evStream, who: s.to, via: s.from, stream: s})
	w.observeSend(m.id, &msg, w.now+latency+int64(len(s.frames)-1)*frameMillis, fateSent)
}

// streamArrives handles frame i of stream s reaching its member.
func (w *World) streamArrives(s *snapStream, i int) {
	if s.ended {
		return
	}
	to, from := w.member(s.to), w.member(s.from)
	broken := w.net.cut[link{s.from, s.to}] || from.state != stateUp || from.incarnation != s.fromInc
	switch {
	case i == 0 && broken:
		w.endStream(s, true) // the connection broke before the header came
		return
	case i == 0:
		if !w.acceptStream(to, s) {
			return
		}
	case to.state != stateUp || to.incarnation != s.toInc:
		w.endStream(s, true) // the receiver went down: the sender's stream fails
		return
	case broken || w.net.dropRate > 0 && w.rng.Float64() < w.net.dropRate/2:
		// The connection broke (a lossy network resets some): the
		// receiver reads what came, then the stream's end.
		w.step(to, snapshotArrival{EvMessage: replica.EvMessage{Msg: s.msg}, stream: s, upto: i})
		return
	case i == len(s.frames)-1:
		w.step(to, snapshotArrival{EvMessage: replica.EvMessage{Msg: s.msg}, stream: s, upto: len(s.frames)})
		return
	}
	w.schedule(frameMillis, event{kind: evStream, who: s.to, via: s.from, arg: uint64(i + 1), stream: s})
}

// acceptStream reads the header of stream s at member m, and decides, as
// the transport does (checkSnapshot), whether m takes the snapshot: only
// from the leader it follows, up to snapshotLimit bytes, one at a time.
func (w *World) acceptStream(m *member, s *snapStream) bool {
	if m.state != stateUp || m.incarnation != s.toInc {
		w.endStream(s, true) // no connection: it is down, or was when the stream left
		return false
	}
	size, msg, err := peerwire.StoreCopyHeader(s.frames[0])
	switch {
	case err != nil:
		w.fail("member %d cannot read the header of a snapshot from %d: %v", m.id, s.from, err)
		return false
	case msg.From != s.from || msg.To != m.id:
		w.fail("a snapshot stream from %d to %d carries a snapshot from %d to %d", s.from, m.id, msg.From, msg.To)
		return false
	}
	if !s.forged {
		w.peerHandshake(m, s.from, s.fromInc)
	}
	s.size, s.msg = size, msg
	if lead := m.core.Leader(); msg.From != lead || size > snapshotLimit || m.receiving != nil {
		w.endStream(s, true)
		return false
	}
	m.receiving = s
	return true
}

// endStream ends stream s, and tells its sender, if it still runs, how it
// went.
func (w *World) endStream(s *snapStream, failed bool) {
	if s.ended {
		return
	}
	s.ended = true
	if to := w.member(s.to); to.receiving == s {
		to.receiving = nil
	}
	if s.forged {
		return
	}
	if from := w.member(s.from); from.state == stateUp && from.incarnation == s.fromInc {
		back := w.net.baseLatency(link{s.to, s.from})
		w.schedule(back, event{kind: evInput, who: s.from, input: replica.EvSnapshotStatus{To: s.to, Failed: failed}})
	}
}

// receiveSnapshot stores the data of a snapshot whose stream ended at m,
// and returns the MsgSnap for m's core. If the stream broke, or m cannot
// store the data (its disk is full), the message is dropped: ok is false.
// Any other input is returned as it is.
func (w *World) receiveSnapshot(m *member, ev replica.Event) (_ replica.Event, ok bool) {
	in, isSnap := ev.(snapshotArrival)
	if !isSnap {
		return ev, true
	}
	s := in.stream
	if s.ended || m.incarnation != s.toInc {
		w.endStream(s, true) // it restarted since the stream ended
		return ev, false
	}
	defer func() { w.endStream(s, !ok) }()
	index := s.msg.Snapshot.Metadata.Index
	err := m.sm.kv.ReceiveSnapshot(index, int64(s.size), replica.NewChunkReceiver(recvFrames(s.frames[1:in.upto]), int64(s.size)))
	switch broken := in.upto < len(s.frames); {
	case broken && err == nil:
		w.fail("member %d took the snapshot at %d from %d whose stream broke after %d of its %d frames", m.id, index, s.from, in.upto, len(s.frames))
		return ev, false
	case broken:
		w.obs.cov.StreamsBroken++
		return ev, false
	case err != nil:
		w.logFault("member %d cannot store the snapshot at %d: %v", m.id, index, err)
		return ev, false
	}
	return in.EvMessage, true
}

// recvFrames is a stream's receive: the frames, then io.EOF.
func recvFrames(frames [][]byte) func() ([]byte, error) {
	return func() ([]byte, error) {
		if len(frames) == 0 {
			return nil, io.EOF
		}
		b := frames[0]
		frames = frames[1:]
		return b, nil
	}
}

// endInput ends what an input that member m will never step leaves open:
// the stream of a snapshot that arrived.
func (w *World) endInput(ev replica.Event) {
	if in, ok := ev.(snapshotArrival); ok {
		w.endStream(in.stream, true)
	}
}
