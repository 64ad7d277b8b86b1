package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/fsx"
	"github.com/cairndb/cairn/node/peerwire"
	"github.com/cairndb/cairn/node/replica"
	"github.com/cairndb/cairn/raftcore"
	"github.com/cairndb/cairn/rpc"
)

// Peer methods: member-to-member traffic on the peer listener.
const (
	// methodRaft is a stream of message batches from one member to
	// another; its first message is a streamHeader.
	methodRaft rpc.Method = 1000
	// methodRaftSnapshot carries one MsgSnap: a streamHeader, the message
	// without its data, then the data in chunks and its checksum (see
	// node/peerwire).
	methodRaftSnapshot rpc.Method = 1001
	// methodPeerMembers answers a joining member with the membership.
	methodPeerMembers rpc.Method = 1002
)

const (
	// peerMaxFrame bounds a peer frame: a batch of raft messages is cut
	// at peerBatchBytes, but one entry may be as large as a request.
	peerMaxFrame = 16 << 20
	// peerBatchBytes is where a batch of messages is cut.
	peerBatchBytes = 1 << 20
	// peerQueue is how many messages wait for one peer before new ones
	// are dropped (raft retransmits what is lost).
	peerQueue = 4096
	// snapshotTimeout bounds the sending of one snapshot.
	snapshotTimeout = 10 * time.Minute
	// snapshotStall is how long a snapshot being received may go without
	// a chunk before the member gives up on it.
	snapshotStall = 30 * time.Second
	// minSnapshotLimit is the least snapshotLimit, whatever the quota.
	minSnapshotLimit = 256 << 20
	// snapshotDiskReserve is the room a received snapshot must leave
	// free on the data dir's disk.
	snapshotDiskReserve = 64 << 20
)

// streamHeader opens a peer stream: the sender's cluster and member ids
// and the receiver's, so a member never takes messages meant for another
// cluster or member.
func streamHeader(cluster, from, to uint64) []byte {
	b := make([]byte, 24)
	binary.BigEndian.PutUint64(b, cluster)
	binary.BigEndian.PutUint64(b[8:], from)
	binary.BigEndian.PutUint64(b[16:], to)
	return b
}

// peerTransport sends raft messages to the other members, one sender
// goroutine and one stream per peer, and receives theirs.
type peerTransport struct {
	s       *Server
	driver  *Driver
	initial map[uint64][]string // peer URLs from --initial-cluster
	// memberPath is the member directory, where the cluster identity
	// is kept; identityMu orders its commit and its replacement.
	memberPath string
	identityMu sync.Mutex

	mu      sync.Mutex
	peers   map[uint64]*peerSender
	stopped bool
	stopCh  chan struct{}
	wg      sync.WaitGroup

	// receiving is set while a snapshot is being received: one at a
	// time. snapshotStall is the constant of that name (shorter in
	// tests).
	receiving     atomic.Bool
	snapshotStall time.Duration
	// freeBytes tells the room left on a disk (fsx.FreeBytes).
	freeBytes func(path string) (uint64, bool)
	// lastDrop is when a message from a non-member was last logged.
	lastDrop atomic.Int64
}

func newPeerTransport(s *Server, initial map[uint64][]string, memberPath string) *peerTransport {
	return &peerTransport{s: s, initial: initial, memberPath: memberPath, peers: map[uint64]*peerSender{}, stopCh: make(chan struct{}),
		snapshotStall: snapshotStall, freeBytes: fsx.FreeBytes}
}

// Send queues msgs for their peers; it does not block (but for the one
// time a message commits the member's cluster identity, written first).
func (t *peerTransport) Send(msgs []raftcore.Message) {
	for _, m := range msgs {
		switch {
		case m.Type == raftcore.MsgVote:
			t.campaignIdentity()
		case promises(m.Type):
			t.commitIdentity()
		}
		p := t.peer(m.To)
		if p == nil {
			continue
		}
		if m.Type == raftcore.MsgSnap {
			t.wg.Add(1)
			go func() {
				defer t.wg.Done()
				p.sendSnapshot(m)
			}()
			continue
		}
		for _, m := range splitProposal(m) {
			select {
			case p.queue <- m:
			default:
				t.heartbeatDropped(m)
				go t.driver.ReportUnreachable(m.To)
			}
		}
	}
}

func (t *peerTransport) peer(id uint64) *peerSender {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return nil
	}
	p, ok := t.peers[id]
	if !ok {
		p = &peerSender{t: t, id: id, queue: make(chan raftcore.Message, peerQueue), stop: make(chan struct{})}
		t.peers[id] = p
		t.s.metrics.AddPeer(peerLabel(id))
		t.wg.Add(2)
		go func() {
			defer t.wg.Done()
			p.run()
		}()
		go func() {
			defer t.wg.Done()
			p.probe()
		}()
	}
	return p
}

func (t *peerTransport) stop() {
	t.mu.Lock()
	if !t.stopped {
		close(t.stopCh)
	}
	t.stopped = true
	for _, p := range t.peers {
		close(p.stop)
	}
	t.mu.Unlock()
	t.wg.Wait()
}

// addrOf returns a peer's address and whether it speaks TLS.
func (t *peerTransport) addrOf(id uint64) (string, bool, error) {
	urls := t.initial[id]
	if m, ok := t.s.replica.State.Members().Get(id); ok && len(m.PeerURLs) > 0 {
		urls = m.PeerURLs
	}
	if len(urls) == 0 {
		return "", false, fmt.Errorf("no peer URL known for member %016x", id)
	}
	u, err := url.Parse(urls[0])
	if err != nil {
		return "", false, fmt.Errorf("member %016x peer URL %q: %w", id, urls[0], err)
	}
	return u.Host, u.Scheme == "https", nil
}

func (t *peerTransport) dial(ctx context.Context, id uint64) (*rpc.Conn, error) {
	addr, useTLS, err := t.addrOf(id)
	if err != nil {
		return nil, err
	}
	opts := rpc.DialOptions{MaxFrameSize: peerMaxFrame, DialTimeout: time.Second, Authenticate: t.s.gate.dialProof(id)}
	if useTLS {
		opts.TLS = t.s.opts.PeerClientTLS
		if opts.TLS == nil {
			return nil, fmt.Errorf("member %016x has an https peer URL but no peer TLS is configured", id)
		}
	}
	c, err := rpc.Dial(ctx, addr, opts)
	var removed *peerRemovedError
	if errors.As(err, &removed) {
		t.s.stopRemoved(fmt.Errorf("node: %w", removed))
	}
	return c, err
}

// peerDialOptions are the options to dial a peer URL that is not (yet) a
// known member's.
func (s *Server) peerDialOptions(u *url.URL, auth rpc.ClientAuthenticate) rpc.DialOptions {
	opts := rpc.DialOptions{DialTimeout: 2 * time.Second, MaxFrameSize: peerMaxFrame, Authenticate: auth}
	if u.Scheme == "https" {
		opts.TLS = s.opts.PeerClientTLS
	}
	return opts
}

// peerSender owns the connection and raft stream to one peer.
type peerSender struct {
	t     *peerTransport
	id    uint64
	queue chan raftcore.Message
	stop  chan struct{}

	mu     sync.Mutex
	conn   *rpc.Conn
	stream *rpc.Stream
	buf    []byte
	// lastWarn is when the last "unreachable" warning was logged: one
	// every unreachableWarnEvery, not one per failed batch.
	lastWarn time.Time
}

const unreachableWarnEvery = 10 * time.Second

func (p *peerSender) logUnreachable(err error) {
	if time.Since(p.lastWarn) < unreachableWarnEvery {
		p.t.s.log.Debug("peer unreachable", "peer", fmt.Sprintf("%016x", p.id), "err", err)
		return
	}
	p.lastWarn = time.Now()
	addr, _, _ := p.t.addrOf(p.id)
	var refused *peerRefusedError
	switch {
	case errors.As(err, &refused):
		p.t.s.log.Warn("peer refused this member's handshake; retrying", "peer", fmt.Sprintf("%016x", p.id), "addr", addr,
			"this", p.t.s.identityString(), "err", err)
	case errors.Is(err, errNoClusterSecret):
		p.t.s.log.Warn("cannot reach peer: this member has not received the cluster secret yet", "peer", fmt.Sprintf("%016x", p.id))
	default:
		p.t.s.log.Warn("cannot reach peer; retrying", "peer", fmt.Sprintf("%016x", p.id), "addr", addr, "err", err)
	}
}

func (p *peerSender) run() {
	defer p.close()
	for {
		var m raftcore.Message
		select {
		case <-p.stop:
			return
		case m = <-p.queue:
		}
		batch := []raftcore.Message{m}
		size := m.EncodedSize()
	more:
		for size < peerBatchBytes {
			select {
			case m := <-p.queue:
				batch = append(batch, m)
				size += m.EncodedSize()
			default:
				break more
			}
		}
		if err := p.send(batch); err != nil {
			p.t.peerSendFailed(p.id, batch)
			p.logUnreachable(err)
			p.t.driver.ReportUnreachable(p.id)
			// Back off a little so a dead peer costs no busy loop.
			select {
			case <-p.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// send writes one batch (peerwire.AppendBatch).
func (p *peerSender) send(batch []raftcore.Message) error {
	st, err := p.raftStream()
	if err != nil {
		return err
	}
	b := peerwire.AppendBatch(p.buf[:0], batch)
	p.buf = b
	if err := st.Send(b); err != nil {
		p.reset()
		return err
	}
	p.t.peerSent(p.id, len(b))
	return nil
}

func (p *peerSender) connection() (*rpc.Conn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn != nil {
		select {
		case <-p.conn.Done():
			p.conn, p.stream = nil, nil
		default:
			return p.conn, nil
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := p.t.dial(ctx, p.id)
	if err != nil {
		return nil, err
	}
	p.conn = c
	return c, nil
}

func (p *peerSender) raftStream() (*rpc.Stream, error) {
	c, err := p.connection()
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stream != nil {
		return p.stream, nil
	}
	st, err := c.NewStream(context.Background(), methodRaft)
	if err != nil {
		return nil, err
	}
	if err := st.Send(streamHeader(p.t.s.clusterID, p.t.s.id, p.id)); err != nil {
		st.Close()
		return nil, err
	}
	p.stream = st
	go p.watchStream(st)
	return st, nil
}

// watchStream waits for the peer to end the raft stream: it only does so
// on error, and one error matters — the peer saying this member was
// removed from the cluster, which it may never learn from its own log.
func (p *peerSender) watchStream(st *rpc.Stream) {
	_, err := st.Recv()
	if err == nil || errors.Is(err, io.EOF) {
		return
	}
	if api.CodeOf(toAPIErrorFromRemote(err)) == api.CodeMemberRemoved {
		p.t.s.stopRemoved(fmt.Errorf("node: member %016x says this member was removed from the cluster", p.id))
	}
}

// toAPIErrorFromRemote turns a remote error carrying an API code into
// the API's typed error.
func toAPIErrorFromRemote(err error) error {
	var re *rpc.Error
	if errors.As(err, &re) && re.Code >= 100 {
		return api.ErrorFromCode(uint16(re.Code), re.Message)
	}
	return err
}

func (p *peerSender) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stream != nil {
		p.stream.Close()
		p.stream = nil
	}
}

// dropConnection closes the connection to the peer, if any; the next
// send dials a new one (after this member adopted another cluster
// identity).
func (p *peerSender) dropConnection() {
	p.mu.Lock()
	c := p.conn
	p.conn, p.stream = nil, nil
	p.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

func (p *peerSender) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stream != nil {
		p.stream.Close()
	}
	if p.conn != nil {
		_ = p.conn.Close()
	}
}

// sendSnapshot streams one MsgSnap and reports the outcome to raft.
func (p *peerSender) sendSnapshot(m raftcore.Message) {
	err := p.streamSnapshot(m)
	p.t.snapshotSent(p.id, err)
	if err != nil {
		p.t.s.log.Warn("sending snapshot failed", "peer", fmt.Sprintf("%016x", p.id), "err", err)
	}
	p.t.driver.ReportSnapshot(p.id, err != nil)
}

// streamSnapshot sends a copy of the store, opened on the core's goroutine
// (replica.Core.OpenSnapshot) at the index applied, with the MsgSnap rewritten to
// that index. The copy is read from the store's page file a chunk at a
// time while the member goes on.
func (p *peerSender) streamSnapshot(m raftcore.Message) error {
	ctx, cancel := context.WithTimeout(context.Background(), snapshotTimeout)
	defer cancel()
	go func() {
		select {
		case <-p.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	c, err := p.connection()
	if err != nil {
		return err
	}
	var src replica.SnapshotSource
	var openErr error
	if err := p.t.driver.Inspect(ctx, func(core *replica.Core) { m, src, openErr = core.OpenSnapshot(m) }); err != nil {
		return err
	}
	if openErr != nil {
		return openErr
	}
	defer src.Close()
	st, err := c.NewStream(ctx, methodRaftSnapshot)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Send(streamHeader(p.t.s.clusterID, p.t.s.id, p.id)); err != nil {
		return err
	}
	if err := peerwire.SendStoreCopy(st.Send, m, src, replica.SnapshotChunk, "snapshot copy"); err != nil {
		return err
	}
	if err := st.CloseSend(); err != nil {
		return err
	}
	if _, err := st.Recv(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("peer did not take the snapshot: %w", err)
	}
	return nil
}

// register installs the peer methods on the peer rpc server; each serves
// only connections whose member the handshake proved (peer_gate.go).
func (t *peerTransport) register(srv *rpc.Server) {
	srv.HandleStream(methodRaft, t.s.gate.provenStream(t.serveRaft))
	srv.HandleStream(methodRaftSnapshot, t.s.gate.provenStream(t.serveSnapshot))
	srv.HandleUnary(methodPeerMembers, t.s.gate.provenUnary(t.serveMembers))
	srv.HandleUnary(methodPeerPing, t.s.gate.provenUnary(t.servePing))
}

// acceptStream reads and checks a peer stream's header, returning the
// sending member: the one the connection's handshake proved.
func (t *peerTransport) acceptStream(st *rpc.Stream) (uint64, error) {
	h, err := st.Recv()
	if err != nil {
		return 0, err
	}
	from, err := t.checkHeader(h)
	if err != nil {
		return 0, err
	}
	if proven, _ := provenPeer(st.Context()); from != proven {
		return 0, api.Errorf(api.CodeMemberIDMismatch, "stream of member %016x on member %016x's connection", from, proven)
	}
	return from, nil
}

// isMember reports whether id is a member this member knows (the
// registry's, or an initial one the registry does not list yet) that was
// not removed.
func (t *peerTransport) isMember(id uint64) bool {
	if _, ok := t.s.replica.State.Members().Get(id); ok {
		return true
	}
	_, initial := t.initial[id]
	return initial && !t.s.replica.State.Members().IsRemoved(id)
}

// logDropped logs a dropped peer message, at most once a second.
func (t *peerTransport) logDropped(msg string, attrs ...any) {
	now := time.Now().UnixNano()
	if last := t.lastDrop.Load(); now-last < int64(time.Second) || !t.lastDrop.CompareAndSwap(last, now) {
		return
	}
	t.s.log.Warn(msg, attrs...)
}

// checkHeader validates a peer stream's header.
func (t *peerTransport) checkHeader(b []byte) (from uint64, err error) {
	if len(b) != 24 {
		return 0, api.Errorf(api.CodeInvalidArgument, "peer stream header of %d bytes, want 24", len(b))
	}
	cluster, from, to := binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:]), binary.BigEndian.Uint64(b[16:])
	if cluster != t.s.clusterID {
		return 0, api.Errorf(api.CodeClusterIDMismatch, "message from cluster %016x, this is cluster %016x", cluster, t.s.clusterID)
	}
	if to != t.s.id {
		return 0, api.Errorf(api.CodeMemberIDMismatch, "message for member %016x, this is member %016x", to, t.s.id)
	}
	if t.s.replica.State.Members().IsRemoved(from) {
		return 0, api.Errorf(api.CodeMemberRemoved, "member %016x was removed from the cluster", from)
	}
	return from, nil
}

func (t *peerTransport) serveRaft(ctx context.Context, st *rpc.Stream) error {
	from, err := t.acceptStream(st)
	if err != nil {
		return err
	}
	for {
		b, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			t.peerReceiveFailed(from)
			return err
		}
		t.peerReceived(from, len(b))
		if t.s.replica.State.Members().IsRemoved(from) {
			// Removed after it opened the stream: it may never apply its
			// own removal (the leader no longer sends it anything), so
			// tell it, or it campaigns in vain for ever.
			return api.Errorf(api.CodeMemberRemoved, "member %016x was removed from the cluster", from)
		}
		if !t.isMember(from) {
			t.logDropped("dropped raft messages from a peer that is not a member", "peer", fmt.Sprintf("%016x", from))
			continue
		}
		proven, _ := ctx.Value(peerKey{}).(provenMember)
		if !t.s.gate.current(ctx) {
			return errUnproven // this member adopted another identity since
		}
		for mb, err := range peerwire.BatchMessages(b) {
			if err != nil {
				return api.Errorf(api.CodeInvalidArgument, "bad raft batch from %016x: %v", from, err)
			}
			m, _, err := raftcore.DecodeMessage(mb)
			if err != nil {
				return api.Errorf(api.CodeInvalidArgument, "raft message from %016x: %v", from, err)
			}
			if m.From != from {
				return api.Errorf(api.CodeInvalidArgument, "raft message claims to be from %016x on %016x's stream", m.From, from)
			}
			if m.To != t.s.id || m.Type == raftcore.MsgSnap {
				// A snapshot comes only on its own stream, with its data.
				t.logDropped("dropped a raft message that cannot come on this stream", "peer", fmt.Sprintf("%016x", from),
					"type", m.Type.String(), "to", fmt.Sprintf("%016x", m.To))
				continue
			}
			if promises(m.Type) && !t.bindIdentity(proven.Incarnation) {
				return errUnproven // this member adopted another identity since
			}
			t.driver.Receive(m)
		}
	}
}

// serveSnapshot receives a MsgSnap and its data, which goes straight to a
// file (replica.KVState.ReceiveSnapshot); the message is delivered to raft only
// once the data is durable, so installing it needs nothing more from the
// leader. A snapshot is taken only from the member this one follows, one
// at a time, if its size fits (checkSnapshot); a stream that stalls for
// snapshotStall is dropped.
func (t *peerTransport) serveSnapshot(ctx context.Context, st *rpc.Stream) error {
	from, err := t.acceptStream(st)
	if err != nil {
		return err
	}
	b, err := st.Recv()
	if err != nil {
		return err
	}
	size, m, err := peerwire.StoreCopyHeader(b)
	if err != nil {
		return api.Errorf(api.CodeInvalidArgument, "bad snapshot header from %016x: %v", from, err)
	}
	if m.From != from || m.To != t.s.id {
		return api.Errorf(api.CodeInvalidArgument, "snapshot message on %016x's stream is from %016x to %016x", from, m.From, m.To)
	}
	if err := t.checkSnapshot(from, size); err != nil {
		t.s.log.Warn("refused a snapshot", "from", fmt.Sprintf("%016x", from), "index", m.Snapshot.Metadata.Index, "size", size, "err", err)
		return err
	}
	if !t.receiving.CompareAndSwap(false, true) {
		return api.Errorf(api.CodeTooManyRequests, "this member is receiving another snapshot")
	}
	defer t.receiving.Store(false)
	index := m.Snapshot.Metadata.Index
	var stalled atomic.Bool
	stall := time.AfterFunc(t.snapshotStall, func() { stalled.Store(true); st.Close() })
	defer stall.Stop()
	sender := fmt.Sprintf("%016x", from)
	prog := startProgress(t.s.log, t.s.progressInterval(), false, "receiving snapshot", "from", sender, "index", index, "size", size)
	var received int64
	recv := func() ([]byte, error) {
		b, err := st.Recv()
		if err != nil && stalled.Load() {
			return nil, fmt.Errorf("the stream stalled: no data for %v", t.snapshotStall)
		}
		stall.Reset(t.snapshotStall)
		received += int64(len(b))
		prog.update(received, int64(size), "bytes", "from", sender, "index", index)
		return b, err
	}
	r := replica.NewChunkReceiver(recv, int64(size))
	err = t.s.replica.State.ReceiveSnapshot(index, int64(size), r)
	t.snapshotReceived(from, err)
	if err != nil {
		t.s.log.Warn("receiving snapshot failed", "from", sender, "index", index, "bytes-received", received, "size", size, "err", err)
		return fmt.Errorf("snapshot at %d from %016x: %w", index, from, err)
	}
	prog.finish("received snapshot", "from", sender, "index", index, "size", size)
	m.Snapshot.Data = nil
	if proven, _ := ctx.Value(peerKey{}).(provenMember); !t.bindIdentity(proven.Incarnation) {
		return errUnproven // this member adopted another identity since
	}
	t.driver.Receive(m)
	return nil
}

// checkSnapshot decides whether to take a snapshot of size bytes that
// member from announces: only from the leader this member follows, and
// only if it fits in snapshotLimit and leaves snapshotDiskReserve free on
// the data dir's disk.
func (t *peerTransport) checkSnapshot(from, size uint64) error {
	if lead := t.driver.Leader(); from != lead {
		return api.Errorf(api.CodeNotLeader, "member %016x is not the leader this member follows (%016x): only the leader sends snapshots", from, lead)
	}
	if limit := t.snapshotLimit(); size > uint64(limit) {
		return api.Errorf(api.CodeRequestTooLarge, "a snapshot of %d bytes is larger than this member takes (%d: twice --quota-backend-bytes, at least %d)",
			size, limit, minSnapshotLimit)
	}
	if free, ok := t.freeBytes(t.s.cfg.DataDir); ok && (free < snapshotDiskReserve || size > free-snapshotDiskReserve) {
		return api.Errorf(api.CodeNoSpace, "a snapshot of %d bytes does not fit on this member's disk (%d bytes free, %d kept free)",
			size, free, snapshotDiskReserve)
	}
	return nil
}

// snapshotLimit is the largest snapshot this member takes: a store
// cannot legitimately grow far past the quota, where writes stop.
func (t *peerTransport) snapshotLimit() int64 {
	return max(2*t.s.cfg.QuotaBackendBytes, minSnapshotLimit)
}

// serveMembers answers a member that joins: the cluster id and the
// members.
func (t *peerTransport) serveMembers(ctx context.Context, req []byte) ([]byte, error) {
	if from, _ := provenPeer(ctx); !t.isMember(from) {
		return nil, api.Errorf(api.CodePermissionDenied, "member %016x is not a member", from)
	}
	resp := &api.MemberListResponse{Header: t.s.header(), Members: t.s.replica.State.Members().List()}
	return api.Marshal(resp), nil
}

// fetchMembers asks member to, at peer URL raw, for the membership, as
// this member of the cluster identity.
func (s *Server) fetchMembers(raw string, identity *clusterIdentity, to uint64) ([]Member, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := rpc.Dial(ctx, u.Host, s.peerDialOptions(u, func(rw io.ReadWriter, info rpc.AuthInfo) error {
		return proveMember(rw, info, identity, s.id, to)
	}))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	b, err := c.Call(ctx, methodPeerMembers, nil)
	if err != nil {
		return nil, err
	}
	var resp api.MemberListResponse
	if err := api.Unmarshal(b, &resp); err != nil {
		return nil, err
	}
	if resp.Header.ClusterID != identity.Cluster {
		return nil, fmt.Errorf("member %016x at %s answered for cluster %016x, not %016x", to, raw, resp.Header.ClusterID, identity.Cluster)
	}
	return resp.Members, nil
}

// join asks the member at peer URL raw for the cluster's identity, as the
// member with peer URLs mine (sorted) that has not started before (a
// join exchange, peer_gate.go).
func (s *Server) join(raw string, mine []string) (joinedIdentity, error) {
	var j joinedIdentity
	u, err := url.Parse(raw)
	if err != nil {
		return j, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := rpc.Dial(ctx, u.Host, s.peerDialOptions(u, joinProof(joinKeyOf(s.cfg.InitialClusterToken), mine, &j)))
	if err != nil {
		return j, err
	}
	_ = c.Close()
	return j, nil
}

// identityString names this member and its cluster identity in logs.
func (s *Server) identityString() string {
	if id := s.gate.identity.Load(); id != nil {
		return fmt.Sprintf("member %016x of %s", s.id, id)
	}
	return fmt.Sprintf("member %016x of cluster %016x (no cluster secret yet)", s.id, s.clusterID)
}

// promises reports whether a raft message of type t makes or carries a
// promise (a vote request, a leader's message, an answer to one): the
// first one a member receives commits its cluster identity, and the first
// vote request it sends makes it campaigned (peer_identity.go). Only
// pre-votes and their answers do not.
func promises(t raftcore.MessageType) bool {
	return t != raftcore.MsgPreVote && t != raftcore.MsgPreVoteResp
}

// commitIdentity makes this member's cluster identity committed, for
// good (peer_identity.go): durably, before the message that does it
// leaves or is taken.
func (t *peerTransport) commitIdentity() {
	t.bindIdentity(0)
}

// bindIdentity commits this member's cluster identity (commitIdentity) if
// it is the one of incarnation (0: whichever it holds), and reports
// whether the member holds that identity, committed, now: a message
// proved under an identity the member has left since must not be taken.
func (t *peerTransport) bindIdentity(incarnation uint64) bool {
	g := t.s.gate
	if g.committed.Load() {
		// The usual case, on every message: a committed identity never
		// changes (and was set before it was committed).
		id := g.identity.Load()
		return id != nil && (incarnation == 0 || id.Incarnation == incarnation)
	}
	t.identityMu.Lock()
	defer t.identityMu.Unlock()
	id := g.identity.Load()
	if id == nil || incarnation != 0 && id.Incarnation != incarnation {
		return false
	}
	if g.committed.Load() {
		return true
	}
	if err := saveClusterIdentity(t.memberPath, id, identityCommitted); err != nil {
		t.s.failed(fmt.Errorf("node: commit the cluster identity: %w", err))
		return false
	}
	g.committed.Store(true)
	g.campaigned.Store(false)
	t.s.log.Info("the cluster identity is committed", "this", t.s.identityString(), "maker", fmt.Sprintf("%016x", id.Maker))
	return true
}

// campaignIdentity makes this member's provisional cluster identity
// campaigned (peer_identity.go), durably, before the vote request that
// does it leaves.
func (t *peerTransport) campaignIdentity() {
	g := t.s.gate
	if g.committed.Load() || g.campaigned.Load() {
		return
	}
	t.identityMu.Lock()
	defer t.identityMu.Unlock()
	id := g.identity.Load()
	if g.committed.Load() || g.campaigned.Load() || id == nil {
		return
	}
	if err := saveClusterIdentity(t.memberPath, id, identityCampaigned); err != nil {
		t.s.failed(fmt.Errorf("node: record the campaign under the cluster identity: %w", err))
		return
	}
	g.campaigned.Store(true)
	t.s.log.Info("asked for votes under the cluster identity: it is campaigned", "this", t.s.identityString(), "maker", fmt.Sprintf("%016x", id.Maker))
}

// adopt makes j's identity this member's, and drops the peer connections
// made under the old one. A member whose identity is committed keeps it;
// one whose identity is campaigned takes only an identity a majority
// committed (majority), and holds it committed.
func (t *peerTransport) adopt(j joinedIdentity, from string, majority bool) error {
	g := t.s.gate
	t.identityMu.Lock()
	defer t.identityMu.Unlock()
	if g.committed.Load() || g.campaigned.Load() && !majority {
		return nil
	}
	state := identityProvisional
	if majority {
		state = identityCommitted
	}
	if err := saveClusterIdentity(t.memberPath, &j.Identity, state); err != nil {
		return err
	}
	// The identity first, then its state: peerGate.held.
	old := g.identity.Swap(&j.Identity)
	if majority {
		g.committed.Store(true)
	}
	g.campaigned.Store(false)
	t.mu.Lock()
	peers := slices.Collect(maps.Values(t.peers))
	t.mu.Unlock()
	for _, p := range peers {
		p.dropConnection()
	}
	attrs := []any{"this", t.s.identityString(), "maker", fmt.Sprintf("%016x", j.Identity.Maker), "from", from, "state", state.String()}
	if old != nil {
		attrs = append(attrs, "instead-of", old.String(), "made-by", fmt.Sprintf("%016x", old.Maker))
	}
	t.s.log.Info("took the cluster identity of another member", attrs...)
	return nil
}

// settleIdentity runs, in the background, while this member's cluster
// identity is not committed: it asks the other members for theirs and
// adopts what peer_identity.go says (identityChoice). The member runs
// meanwhile.
func (t *peerTransport) settleIdentity() {
	mine := urlStrings(t.s.cfg.InitialAdvertisePeerURLs)
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		// Members of a new cluster usually agree within a round: say
		// what goes wrong only when it lasts.
		lastWarn := time.Now()
		committedBy := map[uint64]uint64{}
		for !t.s.gate.committed.Load() {
			err := t.askIdentity(mine, committedBy)
			if err != nil && time.Since(lastWarn) >= unreachableWarnEvery {
				lastWarn = time.Now()
				t.s.log.Warn("the cluster identity is not settled: asking the other members", "this", t.s.identityString(),
					"campaigned", t.s.gate.campaigned.Load(), "err", err)
			}
			select {
			case <-t.stopCh:
				return
			case <-time.After(max(t.s.cfg.HeartbeatInterval, 100*time.Millisecond)):
			}
		}
	}()
}

// askIdentity asks each other member it knows, once, for the cluster's
// identity, and adopts what it should. committedBy remembers, from one
// round to the next, the incarnation each member answered committed (a
// member never leaves a committed identity).
func (t *peerTransport) askIdentity(mine []string, committedBy map[uint64]uint64) error {
	voters := map[uint64]bool{}
	var urls []string
	urlOf := map[string]uint64{}
	for id, us := range t.initial {
		voters[id] = true
		for _, u := range us {
			urlOf[u] = id
		}
		if id != t.s.id {
			urls = append(urls, us...)
		}
	}
	for _, m := range t.s.replica.State.Members().List() {
		voters[m.ID] = voters[m.ID] || !m.IsLearner
		for _, u := range m.PeerURLs {
			urlOf[u] = m.ID
		}
		if m.ID != t.s.id {
			urls = append(urls, m.PeerURLs...)
		}
	}
	quorum := 0
	for _, v := range voters {
		if v {
			quorum++
		}
	}
	quorum = quorum/2 + 1
	slices.Sort(urls)
	var errs []error
	for _, raw := range slices.Compact(urls) {
		if t.s.gate.committed.Load() {
			return nil
		}
		j, err := t.s.join(raw, mine)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if j.Member != t.s.id || j.Identity.Cluster != t.s.clusterID {
			errs = append(errs, fmt.Errorf("the member at %s gave the identity of member %016x of cluster %016x, but this is member %016x of cluster %016x",
				raw, j.Member, j.Identity.Cluster, t.s.id, t.s.clusterID))
			continue
		}
		// Each voter counts once, by the address it was asked at.
		if j.Committed && j.Answerer == urlOf[raw] && voters[j.Answerer] {
			committedBy[j.Answerer] = j.Identity.Incarnation
		}
		held := t.s.gate.held()
		if adopt, majority := identityChoice(held, j, committedBy, quorum); adopt {
			if err := t.adopt(j, raw, majority); err != nil {
				return err
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errors.Join(errs...)
}

// identityChoice decides whether a member holding held (nil Identity if
// none) adopts the identity j it was just given, and whether a majority
// of the voters (quorum of them) committed j's (committedBy: the
// incarnation each member answered committed). See peer_identity.go.
func identityChoice(held *joinedIdentity, j joinedIdentity, committedBy map[uint64]uint64, quorum int) (adopt, majority bool) {
	n := 0
	for _, inc := range committedBy {
		if inc == j.Identity.Incarnation {
			n++
		}
	}
	majority = n >= quorum
	switch {
	case held == nil:
		return true, majority
	case held.Identity.Incarnation == j.Identity.Incarnation || held.Committed:
		return false, false
	case held.Campaigned:
		return majority, majority
	default:
		return j.Committed || j.Campaigned || j.Identity.Maker < held.Identity.Maker, majority
	}
}
