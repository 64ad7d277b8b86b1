package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/wire"
	"github.com/cairndb/cairn/node/peerwire"
	"github.com/cairndb/cairn/node/replica"
	"github.com/cairndb/cairn/raftcore"
	"github.com/cairndb/cairn/rpc"
)

// The server's side of the repair of a corrupt page file (the member's
// side, the steps and why they are safe, are in replica/storerepair.go):
//
//   - A start whose store fails to open with a corrupt page, or that finds
//     the marker member/store-corrupt, sets the page file aside in
//     member/corrupt and asks the leader for a copy of its store
//     (methodPeerStoreCopy), before raft starts. It retries until a leader
//     gives one at or past its log's snapshot; meanwhile the client port,
//     both its faces, answers only Status (whose errors say the member is
//     under repair) and a serializable MemberList (as a peer gave it), and
//     refuses the rest as unhealthy, and /health, /livez and /readyz fail
//     with the reason (StoreRepairing). The peer port serves nothing yet.
//   - A corrupt page found while running (a request, an apply or a
//     commit fails with pagefile.ErrCorrupt) writes the marker and stops
//     the member: its next start repairs the store.

const (
	// storeCorruptMarker, in the member directory, says that the store
	// must be repaired at the next start, and why.
	storeCorruptMarker = "store-corrupt"
	// corruptDir, in the member directory, keeps corrupt page files.
	corruptDir = "corrupt"
	// methodPeerStoreCopy asks the leader for a copy of its store: the
	// minimum index as a uvarint; the answer is a snapshot's header (the
	// size, then a MsgSnap carrying the copy's metadata) and its data in
	// chunks with its checksum, as on methodRaftSnapshot.
	methodPeerStoreCopy rpc.Method = 1007
)

// storeRepair is how this member repairs a corrupt store (replica.Open).
func (s *Server) storeRepair(memberPath string) *replica.StoreRepair {
	return &replica.StoreRepair{
		Marker:     filepath.Join(memberPath, storeCorruptMarker),
		CorruptDir: filepath.Join(memberPath, corruptDir),
		Fetch: func(need replica.StoreNeed, take func(replica.StoreCopy) error) error {
			return s.fetchStoreCopy(memberPath, need, take)
		},
		Quarantined: func(file, reason string) {
			if st, err := os.Stat(file); err == nil {
				s.setAsideBytes.Store(st.Size())
			}
			s.log.Error("the store's page file is corrupt: set it aside; the member repairs its store from the cluster",
				"store", filepath.Join(memberPath, dbFile), "kept-as", file, "err", reason)
		},
		Installed: func(meta raftcore.SnapshotMetadata) {
			s.log.Warn("the store is repaired: installed a copy of the leader's store", "index", meta.Index, "term", meta.Term)
		},
	}
}

// fetchStoreCopy asks the members, until the leader answers, for a copy
// of its store at an index at least need.MinIndex, and hands it to take.
// Meanwhile the member serves the little it can (serveDuringStoreRepair).
func (s *Server) fetchStoreCopy(memberPath string, need replica.StoreNeed, take func(replica.StoreCopy) error) error {
	identity, _, err := loadClusterIdentity(memberPath)
	if err != nil {
		return err
	}
	if identity == nil {
		return fmt.Errorf("the data dir holds no cluster secret (%s): the member cannot prove to the others who it is, to ask for a copy of the store",
			filepath.Join(memberPath, clusterSecretFile))
	}
	why := fmt.Sprintf("store under repair (%s): fetching a copy of a committed store from the leader; it serves nothing until then", need.Reason)
	s.repairRaft.Store(&need.Raft)
	s.storeRepairing.Store(&why)
	if err := s.serveDuringStoreRepair(); err != nil {
		return err
	}
	var lastWarn time.Time
	for {
		err := s.fetchStoreCopyOnce(identity, need, take)
		if err == nil {
			return nil
		}
		if time.Since(lastWarn) >= unreachableWarnEvery {
			lastWarn = time.Now()
			s.log.Warn("no copy of the store yet; retrying", "min-index", need.MinIndex, "err", err)
		}
		time.Sleep(max(s.cfg.HeartbeatInterval, 100*time.Millisecond))
	}
}

// fetchStoreCopyOnce asks each member it knows, once, for a copy of the
// store: only the leader gives one.
func (s *Server) fetchStoreCopyOnce(identity *clusterIdentity, need replica.StoreNeed, take func(replica.StoreCopy) error) error {
	peers := s.repairPeers(identity, need.Members)
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(peers)) {
		for _, raw := range peers[id] {
			err := s.storeCopyFrom(raw, id, identity, need.MinIndex, take)
			if err == nil {
				return nil
			}
			errs = append(errs, fmt.Errorf("member %016x at %s: %w", id, raw, err))
			if api.CodeOf(toAPIErrorFromRemote(err)) == api.CodeNotLeader {
				break // it answered: its other URLs would say the same
			}
		}
	}
	if len(errs) == 0 {
		return errors.New("no other member is known (--initial-cluster names none)")
	}
	return errors.Join(errs...)
}

// repairPeers are the other members' peer URLs: the membership as the
// first member of --initial-cluster that answers knows it (the member's
// own store, which knew it, is gone), or else --initial-cluster's. A
// member is called by its id: the one its URLs and the token make, or, for
// a member added since under the same URLs, one of those the log's
// snapshot lists (members).
func (s *Server) repairPeers(identity *clusterIdentity, members []uint64) map[uint64][]string {
	peers := map[uint64][]string{}
	for _, us := range s.cfg.InitialCluster {
		if id := MemberID(us, s.cfg.InitialClusterToken); id != s.id {
			peers[id] = urlStrings(us)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(peers)) {
		for _, raw := range peers[id] {
			for _, to := range append([]uint64{id}, members...) {
				if to == s.id {
					continue
				}
				list, err := s.fetchMembers(raw, identity, to)
				if err != nil {
					continue
				}
				s.repairMembers.Store(&list)
				out := map[uint64][]string{}
				for _, m := range list {
					if m.ID != s.id && len(m.PeerURLs) > 0 {
						out[m.ID] = m.PeerURLs
					}
				}
				return out
			}
		}
	}
	return peers
}

// storeCopyFrom asks member to, at peer URL raw, for a copy of its store
// at an index at least minIndex, and hands it to take as it arrives.
func (s *Server) storeCopyFrom(raw string, to uint64, identity *clusterIdentity, minIndex uint64, take func(replica.StoreCopy) error) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), snapshotTimeout)
	defer cancel()
	c, err := rpc.Dial(ctx, u.Host, s.peerDialOptions(u, func(rw io.ReadWriter, info rpc.AuthInfo) error {
		return proveMember(rw, info, identity, s.id, to)
	}))
	if err != nil {
		return err
	}
	defer c.Close()
	st, err := c.NewStream(ctx, methodPeerStoreCopy)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Send(wire.AppendUvarint(nil, minIndex)); err != nil {
		return err
	}
	b, err := st.Recv()
	if err != nil {
		return err
	}
	size, m, err := peerwire.StoreCopyHeader(b)
	if err != nil {
		return fmt.Errorf("bad store copy header: %w", err)
	}
	if m.From != to || m.To != s.id {
		return fmt.Errorf("store copy from %016x to %016x on a stream from %016x to this member, %016x", m.From, m.To, to, s.id)
	}
	if limit := max(2*s.cfg.QuotaBackendBytes, minSnapshotLimit); size > uint64(limit) {
		return fmt.Errorf("a store copy of %d bytes is larger than this member takes (%d: twice --quota-backend-bytes, at least %d)", size, limit, minSnapshotLimit)
	}
	meta := m.Snapshot.Metadata
	// The member streaming its store leads (only the leader gives one):
	// Status names it until the copy is in, or fails.
	s.repairLeader.Store(to)
	defer s.repairLeader.Store(0)
	var stalled atomic.Bool
	stall := time.AfterFunc(snapshotStall, func() { stalled.Store(true); st.Close() })
	defer stall.Stop()
	sender := fmt.Sprintf("%016x", to)
	prog := startProgress(s.log, s.progressInterval(), false, "receiving a copy of the leader's store", "from", sender, "index", meta.Index, "size", size)
	var received int64
	recv := func() ([]byte, error) {
		b, err := st.Recv()
		if err != nil && stalled.Load() {
			return nil, fmt.Errorf("the stream stalled: no data for %v", snapshotStall)
		}
		stall.Reset(snapshotStall)
		received += int64(len(b))
		prog.update(received, int64(size), "bytes", "from", sender, "index", meta.Index)
		return b, err
	}
	err = take(replica.StoreCopy{Meta: meta, Size: int64(size), Data: replica.NewChunkReceiver(recv, int64(size))})
	if err != nil {
		return err
	}
	prog.finish("received a copy of the leader's store", "from", sender, "index", meta.Index, "size", size)
	return nil
}

// serveStoreCopy gives a member that repairs its store a copy of this
// member's, if it leads (replica.Core.OpenStoreCopy): opened on the core's
// goroutine at the index applied, streamed a chunk at a time while the
// member goes on.
func (t *peerTransport) serveStoreCopy(ctx context.Context, st *rpc.Stream) error {
	from, _ := provenPeer(ctx)
	if !t.isMember(from) {
		return api.Errorf(api.CodePermissionDenied, "member %016x is not a member", from)
	}
	b, err := st.Recv()
	if err != nil {
		return err
	}
	minIndex, _, err := wire.Uvarint(b)
	if err != nil {
		return api.Errorf(api.CodeInvalidArgument, "bad store copy request from %016x: %v", from, err)
	}
	var meta raftcore.SnapshotMetadata
	var src replica.SnapshotSource
	var openErr error
	if err := t.driver.Inspect(ctx, func(core *replica.Core) { meta, src, openErr = core.OpenStoreCopy() }); err != nil {
		return err
	}
	switch {
	case errors.Is(openErr, replica.ErrNotLeader):
		return api.Errorf(api.CodeNotLeader, "member %016x is not the leader (it knows %016x as leader): only the leader gives a copy of its store", t.s.id, t.driver.Leader())
	case openErr != nil:
		return api.Errorf(api.CodeUnhealthy, "member %016x: %v", t.s.id, openErr)
	}
	defer src.Close()
	if meta.Index < minIndex {
		return api.Errorf(api.CodeUnhealthy, "the leader's store is at index %d, before the %d asked for: ask again once it has applied more", meta.Index, minIndex)
	}
	m := raftcore.Message{Type: raftcore.MsgSnap, From: t.s.id, To: from, Term: meta.Term, Snapshot: &raftcore.Snapshot{Metadata: meta}}
	if err := peerwire.SendStoreCopy(st.Send, m, src, replica.SnapshotChunk, "store copy"); err != nil {
		return err
	}
	size, _ := src.Size() // made by SendStoreCopy
	t.s.log.Info("sent a copy of the store to a member that repairs its own", "to", fmt.Sprintf("%016x", from), "index", meta.Index, "size", size)
	return nil
}

// noteStoreCorrupt records, when err reports a corrupt page of the store,
// that the next start must repair it (the marker), and says so. It runs
// as the member stops on err.
func (s *Server) noteStoreCorrupt(err error) {
	if !replica.IsStoreCorrupt(err) {
		return
	}
	marker := filepath.Join(s.cfg.DataDir, memberDir, storeCorruptMarker)
	if merr := replica.MarkStoreCorrupt(nil, marker, err.Error()); merr != nil {
		s.log.Error("the store's page file is corrupt, and recording it failed: the next start repairs it only if it finds the page", "err", err, "mark-err", merr)
		return
	}
	s.log.Error("the store's page file is corrupt: the member stops; its next start repairs the store from the cluster",
		"store", filepath.Join(s.cfg.DataDir, memberDir, dbFile), "marker", marker, "err", err)
}

// checkStoreCorrupt stops the member if err, a request's error, reports a
// corrupt page of the store: the next start repairs it.
func (s *Server) checkStoreCorrupt(err error) {
	if err != nil && replica.IsStoreCorrupt(err) {
		s.failed(fmt.Errorf("node: the store's page file is corrupt: %w", err))
	}
}

// serveDuringStoreRepair serves, while the store is repaired, the client
// port's Status (which says why) and MemberList (as a peer gave it), and
// refuses the other requests as unhealthy; /health, /livez and /readyz
// fail with the reason. The etcd face, if there is one, is made now and
// answers the same (StoreRepairing). NewServer then installs the
// services on the same rpc server and HTTP server.
func (s *Server) serveDuringStoreRepair() error {
	if s.repairServed {
		return nil
	}
	if err := s.newClientFace(); err != nil {
		return err
	}
	s.repairServed = true
	s.clientRPC = s.newClientRPC()
	m := func(id uint16) rpc.Method { return rpc.Method(id) }
	s.clientRPC.HandleUnary(m(api.MethodStatus), unary(s, s.serveRepairStatus))
	s.clientRPC.HandleUnary(m(api.MethodMemberList), unary(s, s.serveRepairMemberList))
	refuse := func(context.Context, []byte) ([]byte, error) { return nil, s.storeRepairError() }
	for _, id := range []uint16{api.MethodRange, api.MethodPut, api.MethodDeleteRange, api.MethodTxn, api.MethodCompact,
		api.MethodLeaseGrant, api.MethodLeaseRevoke, api.MethodLeaseTimeToLive, api.MethodLeaseLeases,
		api.MethodAlarm, api.MethodHash, api.MethodHashKV} {
		s.clientRPC.HandleUnary(m(id), refuse)
	}
	for _, id := range []uint16{api.MethodWatch, api.MethodLeaseKeepAlive, api.MethodSnapshot} {
		s.clientRPC.HandleStream(m(id), func(context.Context, *rpc.Stream) error { return s.storeRepairError() })
	}
	s.serveClients()
	return nil
}

// endStoreRepair says that the member's services serve: a store repair,
// if there was one, is over. NewServer calls it once they are installed.
func (s *Server) endStoreRepair() {
	s.storeRepairing.Store(nil)
	close(s.repaired)
}

// StoreRepairing returns, while the member repairs its store (and until
// its services serve), the error of the requests it cannot serve, which
// says why: an *api.Error of code api.CodeUnhealthy (replica.ErrRepairing).
// It returns nil once the member serves. A face of the client port asks
// it before it calls any other method but StoreRepairStatus,
// StoreRepairMembers and StoreRepaired: until it returns nil, the member
// has no store, log or core to serve them from.
func (s *Server) StoreRepairing() error {
	if s.storeRepairing.Load() == nil {
		return nil
	}
	return s.storeRepairError()
}

// StoreRepaired is closed once StoreRepairing returns nil: the member's
// services serve (after a store repair, or at once without one).
func (s *Server) StoreRepaired() <-chan struct{} { return s.repaired }

// StoreRepairStatus is the member's status while it repairs its store:
// its ids, versions and quota, its store's size (the corrupt page file it
// set aside, which it keeps on disk, none of it in use), and its errors,
// which say why it serves nothing else (etcd lists a member's alarms
// there). Its raft state, which etcd's Status always reports, is its
// log's, as the raft core will start from it (the core starts once the
// store is back): the term (in the header too) and the commit index; the
// applied index is 0, the store being gone; the leader is the member
// that streams it a copy of the store, while one does, else 0 (it takes
// no part in raft until then).
func (s *Server) StoreRepairStatus() *api.StatusResponse {
	var hs raftcore.HardState
	if p := s.repairRaft.Load(); p != nil {
		hs = *p
	}
	return &api.StatusResponse{
		Header:         api.ResponseHeader{ClusterID: s.clusterID, MemberID: s.id, RaftTerm: hs.Term}, // no store: no revision
		Version:        Version,
		StorageVersion: EtcdAPIVersion,
		DbSize:         s.setAsideBytes.Load(),
		DbSizeQuota:    s.cfg.QuotaBackendBytes,
		Leader:         s.repairLeader.Load(),
		RaftTerm:       hs.Term,
		RaftIndex:      hs.Commit,
		Errors:         []string{fmt.Sprintf("memberID:%016x %s", s.id, s.storeRepairWhy())},
	}
}

// StoreRepairMembers answers MemberList while the member repairs its
// store. The membership's records were in the store, now set aside, and
// the log holds only the members' ids since its last snapshot, without
// their URLs; so the member answers with the membership the first peer
// that answered it gave (repairPeers asks for it to find the leader), as
// a serializable read of another member. A list it made up from its log
// and --initial-cluster would lack the client URLs of the members added
// since: a client that syncs its endpoints from it would drop them. It
// refuses a linearizable read (it cannot confirm what it knows with a
// leader) and, if no peer answered yet, every read.
func (s *Server) StoreRepairMembers(req *api.MemberListRequest) (*api.MemberListResponse, error) {
	if req.Linearizable {
		return nil, fmt.Errorf("%w; a linearizable member list needs the member's store", s.storeRepairError())
	}
	list := s.repairMembers.Load()
	if list == nil {
		return nil, fmt.Errorf("%w; no other member has told it the membership yet", s.storeRepairError())
	}
	return &api.MemberListResponse{Header: api.ResponseHeader{ClusterID: s.clusterID, MemberID: s.id}, Members: slices.Clone(*list)}, nil
}

// storeRepairServed reports whether the client port and the HTTP
// endpoint serve already, since a store repair.
func (s *Server) storeRepairServed() bool { return s.repairServed }

// closeEarlyServers stops what a store repair started serving, when the
// start fails after it.
func (s *Server) closeEarlyServers() {
	if !s.repairServed {
		return
	}
	s.clientRPC.Close()
	if s.httpSrv != nil {
		_ = s.httpSrv.Close()
	}
	s.wg.Wait()
}

// storeRepairError is the error of a request the member cannot serve
// while it repairs its store.
func (s *Server) storeRepairError() error {
	return fmt.Errorf("%w: %s", replica.ErrRepairing, s.storeRepairWhy())
}

// storeRepairWhy says why the member repairs its store.
func (s *Server) storeRepairWhy() string {
	if p := s.storeRepairing.Load(); p != nil {
		return *p
	}
	return "store under repair"
}

// serveRepairStatus answers Status while the store is repaired.
func (s *Server) serveRepairStatus(ctx context.Context, req *api.StatusRequest) (api.Message, error) {
	return s.StoreRepairStatus(), nil
}

// serveRepairMemberList answers MemberList while the store is repaired.
func (s *Server) serveRepairMemberList(ctx context.Context, req *api.MemberListRequest) (api.Message, error) {
	return s.StoreRepairMembers(req)
}

// serveRepairHealth fails every health check while the store is repaired.
func (s *Server) serveRepairHealth(w http.ResponseWriter, r *http.Request) {
	if !onlyGet(w, r) {
		return
	}
	why := s.storeRepairError().Error()
	switch r.URL.Path {
	case "/health":
		b, _ := json.Marshal(healthAnswer{"false", "STORE REPAIR: " + why})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write(b)
	default:
		http.Error(w, "[-]store failed: "+why+"\n", http.StatusServiceUnavailable)
	}
}

// repairHealthFirst serves member's answers, and, while the store is
// repaired, serveRepairHealth's instead for the health checks (/metrics,
// /version and the profiles are served as ever: the gauges of a store not
// open yet read zero, newServerMetrics).
func (s *Server) repairHealthFirst(member http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.storeRepairing.Load() != nil && !servedDuringRepair(r.URL.Path) {
			s.serveRepairHealth(w, r)
			return
		}
		member.ServeHTTP(w, r)
	})
}

// servedDuringRepair says whether the operator's endpoint at path is
// served while the member repairs its store: all but the health checks.
func servedDuringRepair(path string) bool {
	return path == "/metrics" || path == "/version" || strings.HasPrefix(path, "/debug/pprof/")
}
