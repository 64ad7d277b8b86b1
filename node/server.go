package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairndb/cairn/btreekv/mvcc"
	"github.com/cairndb/cairn/node/replica"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/datadir"
	"github.com/cairndb/cairn/internal/fsx"
	"github.com/cairndb/cairn/logstore"
	"github.com/cairndb/cairn/raftcore"
	"github.com/cairndb/cairn/rpc"
)

// Version is the server version members report.
const Version = "0.1.0"

// EtcdAPIVersion is the version of etcd's v3 API that cairn serves: the
// etcd face reports it as the server version (Status, /version), so
// clients that gate features on the server's version enable them.
// EtcdClusterVersion is the cluster version it reports.
const (
	EtcdAPIVersion     = "3.6.0"
	EtcdClusterVersion = "3.6.0"
)

// ServerOptions are the parts of a server that are not flags: injected
// listeners (tests start members on ports the system chose), TLS
// configurations, the logger.
type ServerOptions struct {
	// ClientListeners and PeerListeners, when set, are used instead of
	// listening on the configured URLs.
	ClientListeners []net.Listener
	PeerListeners   []net.Listener
	// ClientTLS and PeerTLS serve https:// URLs; PeerClientTLS is used
	// to dial other members' https:// peer URLs.
	ClientTLS, PeerTLS, PeerClientTLS *tls.Config
	// MetricsListener serves /health and /metrics (none if nil and
	// Config.ListenMetricsURLs is empty).
	MetricsListener net.Listener
	Logger          *slog.Logger
	// ClientFace, if set, makes the second face of the client port (the
	// etcd v3 API, package etcdapi) once the member's services exist; it
	// is served on the client listeners beside the native rpc.
	ClientFace func(*Server) (ClientFace, error)
	// ProgressInterval is how often a long task logs how far it has gone
	// (0: DefaultProgressInterval).
	ProgressInterval time.Duration
}

// Server is one running member: the raft core with its driver, the WAL
// and the store on disk, the peer transport, and the client services.
type Server struct {
	// replay and compaction log the progress of a log replay at a
	// restart and of a compaction; the apply goroutine owns them.
	replay     *replayProgress
	compaction *progress
	// timeoutLog rate-limits the warning of timed-out writes.
	timeoutLog warnLimiter

	cfg       Config
	opts      ServerOptions
	log       *slog.Logger
	id        uint64
	clusterID uint64

	// replica is the member's deterministic part (package replica), the
	// one owner of its log, state, core and lessor; nil until it is open.
	replica   *replica.Replica
	driver    *Driver
	transport *peerTransport
	metrics   *serverMetrics
	// gate runs the peer handshake: who may use the peer port
	// (peer_gate.go).
	gate *peerGate

	clientRPC, peerRPC *rpc.Server
	face               ClientFace // nil without ServerOptions.ClientFace
	clientLns, peerLns []net.Listener
	httpSrv            *http.Server
	httpLn             net.Listener

	// auth holds the simple tokens this member knows (auth.go).
	auth serverAuth

	// watches are the open watch streams, ended when a snapshot install
	// replaces the store under them.
	watchMu sync.Mutex
	watches map[*watchSession]struct{}

	// dbSize is the store's size (replica.StoreSize) as of the last
	// commit (quota).
	dbSize atomic.Int64
	// corrupt counts the corruption checks (corrupt.go).
	corrupt corruptStats
	// storeRepairing says why, while the member repairs its store
	// (store_repair.go), until its services serve; repaired is closed
	// then. repairMembers is the membership a peer gave during the
	// repair.
	storeRepairing atomic.Pointer[string]
	repaired       chan struct{}
	repairMembers  atomic.Pointer[[]Member]
	// setAsideBytes is the size of the corrupt page file a store repair
	// set aside (0 if none).
	setAsideBytes atomic.Int64
	repairServed  bool
	// repairRaft is the log's hard state during a store repair, and
	// repairLeader the leader giving the member a copy of its store (0
	// if none is): what its Status reports of raft meanwhile.
	repairRaft   atomic.Pointer[raftcore.HardState]
	repairLeader atomic.Uint64

	// removed is closed when the member learns that it was removed from
	// the cluster (stopRemoved).
	removed     chan struct{}
	removedOnce sync.Once

	rand   *lockedRand
	stop   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
	fatal  atomic.Pointer[error]
	doneCh chan struct{}
}

// lockedRand is a random source safe for concurrent use (lease and member
// ids).
type lockedRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

func (l *lockedRand) Int64() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Int64()
}

func (l *lockedRand) Uint64() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Uint64()
}

// Data dir layout.
const (
	memberDir = datadir.MemberDir
	walDir    = datadir.WALDir
	dbFile    = datadir.DBFile
)

// ticksPerElection and the heartbeat interval give raft its clock.
func (c *Config) ticks() (election, heartbeat int) {
	return int(c.ElectionTimeout / c.HeartbeatInterval), 1
}

// NewServer opens (or creates) the member's data dir, listens, and starts
// the member. On error nothing is left running; a new data dir it created
// is removed, so a failed first start leaves no trace.
func NewServer(cfg Config, opts ServerOptions) (s *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	s = &Server{cfg: cfg, opts: opts, log: logger, watches: map[*watchSession]struct{}{},
		stop: make(chan struct{}), doneCh: make(chan struct{}), removed: make(chan struct{}), repaired: make(chan struct{}),
		rand: &lockedRand{r: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid())))}}
	// Listen first: a port in use must fail before anything is written.
	if err := s.listen(); err != nil {
		return nil, err
	}
	fresh := false
	srv := s // s is nil by the time a failed return runs the deferred cleanup
	defer func() {
		if err != nil {
			if srv.face != nil {
				_ = srv.face.Close()
			}
			srv.closeEarlyServers()
			srv.closeListeners()
			if srv.replica != nil {
				_ = srv.replica.Close()
			}
			if fresh {
				_ = os.RemoveAll(filepath.Join(cfg.DataDir, memberDir))
			}
		}
	}()
	s.metrics = newServerMetrics(s)
	walFS := timedFS{FS: fsx.OS{}, syncs: s.metrics.WALFsync}
	dbFS := timedFS{FS: fsx.OS{}, syncs: s.metrics.BackendCommit}
	memberPath := filepath.Join(cfg.DataDir, memberDir)
	_, statErr := os.Stat(filepath.Join(memberPath, walDir))
	restart := statErr == nil
	var peers []raftcore.Peer
	var identity *clusterIdentity
	var state identityState
	initialURLs := map[uint64][]string{}
	// A log that lost data it had acknowledged is salvaged: the member
	// repairs itself from the quorum (replica/repair.go). The segments a
	// snapshot leaves behind are removed off the raft loop: with 64 KiB
	// values a snapshot comes every 2,048 entries, and unlinking the
	// 64 MiB segments it frees took 80-300 ms, on every member at once.
	logOpts := logstore.Options{FS: walFS, Dir: filepath.Join(memberPath, walDir), Logger: logger, Salvage: true, PurgeInBackground: true}
	var identify func(*logstore.Log) (uint64, error)
	var storeRepair *replica.StoreRepair
	if restart {
		identify = s.identifyLog
		// A store whose page file is corrupt is repaired from the
		// cluster (store_repair.go).
		storeRepair = s.storeRepair(memberPath)
	} else {
		fresh = true
		if err := os.MkdirAll(memberPath, 0o700); err != nil {
			return nil, fmt.Errorf("--data-dir %s: %w", cfg.DataDir, err)
		}
		peers, initialURLs, identity, state, err = s.bootstrapIDs(memberPath)
		if err != nil {
			return nil, err
		}
		logOpts.Create, logOpts.Salvage = true, false
		logOpts.Metadata = []byte(fmt.Sprintf("cluster=%016x member=%016x", s.clusterID, s.id))
	}
	election, heartbeat := cfg.ticks()
	r, err := replica.Open(replica.Config{
		Log:       logOpts,
		Identify:  identify,
		StorePath: filepath.Join(memberPath, dbFile),
		Store: mvcc.Options{FS: dbFS, CacheBytes: cfg.BackendCacheBytes, BatchLimit: cfg.backendBatchLimit(), OnCompactStep: s.logCompactStep,
			MinLogValue: cfg.LogValueMinBytes},
		MinLeaseTTL: replica.MinLeaseTTLFor(cfg.HeartbeatInterval, cfg.ElectionTimeout),
		Core: replica.CoreConfig{
			ID: s.id, ElectionTick: election, HeartbeatTick: heartbeat,
			SnapshotCount: cfg.SnapshotCount, Peers: peers,
			// Not at the first start of a new cluster: its members first
			// agree on the cluster's identity (peer_identity.go), and a
			// campaign before they have lets one member commit to an
			// identity the others do not take.
			AdvanceElectionTicks: cfg.InitialElectionTickAdvance && !fresh,
			UnsafeSkipRepair:     cfg.UnsafeSkipRepair,
			Rand:                 rand.New(rand.NewPCG(s.id, uint64(time.Now().UnixNano()))),
		},
		Send: func(msgs []raftcore.Message) {
			s.transport.Send(msgs)
			// The core is about to block in an fsync, or has just come
			// out of one and is about to apply entries. Sending readied
			// the transport's sender goroutines on this thread's P, and
			// a goroutine in a system call keeps its P until the
			// runtime's monitor takes it back (tens of microseconds or
			// more): yield so that they write the messages now, not
			// after the fsync.
			runtime.Gosched()
		},
		OnRestore: func() {
			s.endWatches(errors.New("node: the member installed a snapshot; watch again from your last revision"))
		},
		StoreRepair: storeRepair,
	})
	if err != nil {
		if restart {
			return nil, fmt.Errorf("--data-dir %s: %w", cfg.DataDir, err)
		}
		return nil, err
	}
	s.replica = r
	if restart {
		// Opening read the log's segments whole (up to 64 MiB each) and
		// every record of the store: garbage now, which an idle member
		// would keep resident until its heap grew to the next
		// collection's target. Give it back once.
		debug.FreeOSMemory()
		if identity, state, err = s.existingIdentity(memberPath); err != nil {
			return nil, err
		}
	}
	s.warnWideDataDir()
	s.initAuth()
	s.replica.State.OnApply = s.observeApply
	s.replica.State.OnIndex = s.observeReplay
	hs, _, _ := s.replica.Log.InitialState()
	s.startReplay(s.replica.State.AppliedIndex(), hs.Commit)
	s.metrics.SetMemberID(peerLabel(s.id))
	s.gate = &peerGate{id: s.id, joinKey: joinKeyOf(cfg.InitialClusterToken), members: s.replica.State.Members(), initial: initialURLs,
		confirm:    replica.NewPeerConfirmation(restart, s.hasOtherMembers(initialURLs)),
		allowedCNs: cfg.PeerCertAllowedCNs, allowedHostnames: cfg.PeerCertAllowedHostnames,
		lookupIP: func(ctx context.Context, host string) ([]net.IP, error) {
			return net.DefaultResolver.LookupIP(ctx, "ip", host)
		},
		log: logger}
	if identity != nil {
		s.gate.identity.Store(identity)
	}
	s.gate.committed.Store(state == identityCommitted)
	s.gate.campaigned.Store(state == identityCampaigned)
	s.transport = newPeerTransport(s, initialURLs, memberPath)
	s.driver = NewDriver(s.replica.Core, s.transport, cfg.HeartbeatInterval)
	s.driver.OnLeaderChange = s.onLeaderChange
	s.driver.OnRepairChange = s.onRepairChange
	s.driver.OnRefused = func(err error) { s.log.Warn("refused a peer's message", "err", err) }
	s.transport.driver = s.driver
	if s.clientRPC == nil { // not serving already, during a store repair
		if err := s.newClientFace(); err != nil {
			return nil, err
		}
		s.clientRPC = s.newClientRPC()
	}
	s.registerClientServices()
	s.endStoreRepair() // the faces serve the member's services from here on
	s.peerRPC = rpc.NewServer(rpc.ServerOptions{TLS: opts.PeerTLS, Logger: logger, MaxFrameSize: peerMaxFrame,
		Authenticate: s.gate.accept})
	s.transport.register(s.peerRPC)
	s.peerRPC.HandleUnary(methodPeerHashKV, s.gate.provenUnary(s.servePeerHashKV))
	s.peerRPC.HandleUnary(methodPeerLeaseRenew, s.gate.provenUnary(s.servePeerLeaseRenew))
	s.peerRPC.HandleUnary(methodPeerLeaseTimeToLive, s.gate.provenUnary(s.servePeerLeaseTimeToLive))
	s.peerRPC.HandleUnary(methodPeerLearnerReady, s.gate.provenUnary(s.servePeerLearnerReady))
	s.peerRPC.HandleStream(methodPeerStoreCopy, s.gate.provenStream(s.transport.serveStoreCopy))
	s.driver.Start()
	s.serve()
	s.startBackground()
	if state != identityCommitted {
		s.transport.settleIdentity()
	}
	logger.Info("cairn member serving", "name", cfg.Name, "id", fmt.Sprintf("%016x", s.id),
		"cluster", fmt.Sprintf("%016x", s.clusterID), "clients", strings.Join(s.ClientAddrs(), ","),
		"peers", joinURLs(cfg.ListenPeerURLs), "data-dir", cfg.DataDir, "restarted", restart)
	return s, nil
}

// bootstrapIDs computes the member and cluster ids of a new data dir, and
// its cluster identity (peer_identity.go): from --initial-cluster for a
// new cluster (with a provisional identity of this member's making), or
// by asking the running members for the identity of the member that was
// added with this member's peer URLs (committed).
func (s *Server) bootstrapIDs(memberPath string) ([]raftcore.Peer, map[uint64][]string, *clusterIdentity, identityState, error) {
	cfg := &s.cfg
	urls := map[uint64][]string{}
	if cfg.InitialClusterState == ClusterStateExisting {
		identity, err := s.joinExisting(urls)
		if err == nil {
			err = saveClusterIdentity(memberPath, identity, identityCommitted)
		}
		return nil, urls, identity, identityCommitted, err
	}
	var peers []raftcore.Peer
	var ids []uint64
	names := make([]string, 0, len(cfg.InitialCluster))
	for name := range cfg.InitialCluster {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		us := cfg.InitialCluster[name]
		id := MemberID(us, cfg.InitialClusterToken)
		m := Member{ID: id, Name: name, PeerURLs: urlStrings(us)}
		if name == cfg.Name {
			s.id = id
		}
		ids = append(ids, id)
		urls[id] = m.PeerURLs
		peers = append(peers, raftcore.Peer{ID: id, Context: datadir.EncodeMember(m)})
	}
	s.clusterID = ClusterID(ids)
	identity, err := newClusterIdentity(s.clusterID, s.id)
	if err == nil {
		err = saveClusterIdentity(memberPath, identity, identityProvisional)
	}
	if err != nil {
		return nil, nil, nil, 0, err
	}
	return peers, urls, identity, identityProvisional, nil
}

// existingIdentity loads the cluster identity of a data dir that holds a
// member already, and its state. One of another cluster is
// refused. A data dir of a new cluster without one (a cluster restored
// from a snapshot starts so) gets a provisional one; another waits for
// one from another member (nil).
func (s *Server) existingIdentity(memberPath string) (*clusterIdentity, identityState, error) {
	identity, state, err := loadClusterIdentity(memberPath)
	if err != nil {
		return nil, 0, err
	}
	if identity != nil {
		if identity.Cluster != s.clusterID {
			return nil, 0, fmt.Errorf("--data-dir %s: its %s belongs to cluster %016x, its log to cluster %016x: the data dir mixes two clusters' files",
				s.cfg.DataDir, clusterSecretFile, identity.Cluster, s.clusterID)
		}
		return identity, state, nil
	}
	file := filepath.Join(memberPath, clusterSecretFile)
	if s.cfg.InitialClusterState != ClusterStateNew {
		s.log.Warn("the data dir holds no cluster secret: waiting for another member to give it (a member that ran before must be given a copy of another member's)",
			"file", file)
		return nil, identityProvisional, nil
	}
	if identity, err = newClusterIdentity(s.clusterID, s.id); err != nil {
		return nil, 0, err
	}
	if err := saveClusterIdentity(memberPath, identity, identityProvisional); err != nil {
		return nil, 0, err
	}
	s.log.Warn("the data dir held no cluster secret: made a provisional one, as a member of a new cluster does (if this member ran before, the others refuse it until it is given a copy of theirs)",
		"file", file)
	return identity, identityProvisional, nil
}

// joinExisting asks the members named in --initial-cluster for this
// member's identity (a join exchange, peer_gate.go: the member was added
// with MemberAdd and this member's peer URLs), then for the membership.
// The members' peer URLs go into urls: this member must answer the
// leader before it has applied the membership from the log.
func (s *Server) joinExisting(urls map[uint64][]string) (*clusterIdentity, error) {
	mine := urlStrings(s.cfg.InitialAdvertisePeerURLs)
	// A member that has not applied the MemberAdd yet does not list this
	// member: ask every member, for a few election timeouts.
	deadline := time.Now().Add(max(5*s.cfg.ElectionTimeout, 2*time.Second))
	var lastErr error
	for {
		for name, us := range s.cfg.InitialCluster {
			if name == s.cfg.Name {
				continue
			}
			for _, u := range us {
				j, err := s.join(u.String(), mine)
				if err != nil {
					lastErr = err
					continue
				}
				s.id, s.clusterID = j.Member, j.Identity.Cluster
				list, err := s.fetchMembers(u.String(), &j.Identity, j.Answerer)
				if err != nil {
					lastErr = err
					continue
				}
				for _, m := range list {
					urls[m.ID] = m.PeerURLs
				}
				s.log.Info("joined the cluster", "member", fmt.Sprintf("%016x", s.id), "identity", j.Identity.String(), "via", u.String())
				return &j.Identity, nil
			}
		}
		if time.Now().After(deadline) {
			if lastErr == nil {
				lastErr = errors.New("no other member in --initial-cluster")
			}
			return nil, fmt.Errorf("--initial-cluster-state existing: cannot join the cluster as the member with peer URLs %s (add it first: ctl member add %s --peer-urls=%s): %w",
				strings.Join(mine, ","), s.cfg.Name, strings.Join(mine, ","), lastErr)
		}
		time.Sleep(s.cfg.HeartbeatInterval)
	}
}

func sortedCopy(ss []string) []string {
	out := slices.Clone(ss)
	slices.Sort(out)
	return out
}

// identifyLog reads the ids of a data dir that holds a member from its
// log's metadata: the member's id, and the cluster's.
func (s *Server) identifyLog(wal *logstore.Log) (uint64, error) {
	var cluster, member uint64
	if _, err := fmt.Sscanf(string(wal.Metadata()), "cluster=%x member=%x", &cluster, &member); err != nil {
		return 0, fmt.Errorf("the log's metadata %q is not a cairn member's: %w", wal.Metadata(), err)
	}
	s.id, s.clusterID = member, cluster
	if s.cfg.InitialClusterState == ClusterStateNew {
		// A data dir of another cluster (or another member) is refused
		// rather than silently joined.
		if want := MemberID(s.cfg.InitialAdvertisePeerURLs, s.cfg.InitialClusterToken); want != member {
			return 0, fmt.Errorf("it belongs to member %016x of cluster %016x, not to %q (member %016x); use the right --data-dir or --name",
				member, cluster, s.cfg.Name, want)
		}
	}
	return member, nil
}

// warnWideDataDir warns when the data dir, or the member directory in
// it, is open to other users than its owner: the files hold every key,
// the auth records and the cluster secret. (The member creates its
// files 0600 and its directories 0700; a directory an operator made may
// be wider.)
func (s *Server) warnWideDataDir() {
	for _, dir := range []string{s.cfg.DataDir, filepath.Join(s.cfg.DataDir, memberDir)} {
		st, err := os.Stat(dir)
		if err != nil {
			continue
		}
		if perm := st.Mode().Perm(); perm&0o077 != 0 {
			s.log.Warn("the data dir is readable or writable by other users than its owner; chmod 700 it",
				"dir", dir, "mode", fmt.Sprintf("%#o", perm))
		}
	}
}

// listen opens every listener, or none.
func (s *Server) listen() error {
	var err error
	s.clientLns, err = listenAll(s.opts.ClientListeners, s.cfg.ListenClientURLs, "--listen-client-urls")
	if err != nil {
		return err
	}
	s.peerLns, err = listenAll(s.opts.PeerListeners, s.cfg.ListenPeerURLs, "--listen-peer-urls")
	if err != nil {
		s.closeListeners()
		return err
	}
	s.httpLn = s.opts.MetricsListener
	if s.httpLn == nil && len(s.cfg.ListenMetricsURLs) > 0 {
		u := s.cfg.ListenMetricsURLs[0]
		s.httpLn, err = net.Listen("tcp", u.Host)
		if err != nil {
			s.closeListeners()
			return fmt.Errorf("--listen-metrics-urls %s: %w", u.String(), err)
		}
	}
	return nil
}

func listenAll(given []net.Listener, urls []url.URL, flag string) ([]net.Listener, error) {
	if len(given) > 0 {
		return given, nil
	}
	var out []net.Listener
	for _, u := range urls {
		l, err := net.Listen("tcp", u.Host)
		if err != nil {
			for _, o := range out {
				_ = o.Close()
			}
			return nil, fmt.Errorf("%s %s: %w", flag, u.String(), err)
		}
		out = append(out, l)
	}
	return out, nil
}

func (s *Server) closeListeners() {
	for _, l := range append(slices.Clone(s.clientLns), s.peerLns...) {
		_ = l.Close()
	}
	if s.httpLn != nil {
		_ = s.httpLn.Close()
	}
}

// newClientFace makes the client port's second face
// (ServerOptions.ClientFace), if there is one. It is made before the
// client port serves: during a store repair it answers as the member
// can (StoreRepairing), and then serves the member's services.
func (s *Server) newClientFace() error {
	if s.opts.ClientFace == nil {
		return nil
	}
	face, err := s.opts.ClientFace(s)
	if err != nil {
		return fmt.Errorf("client port: %w", err)
	}
	s.face = face
	return nil
}

// newClientRPC makes the client port's rpc server; the face (made first:
// newClientFace) takes the connections of its protocol.
func (s *Server) newClientRPC() *rpc.Server {
	var foreign func(net.Conn, *tls.ConnectionState)
	if s.face != nil {
		foreign = s.face.ServeConn
	}
	return rpc.NewServer(rpc.ServerOptions{TLS: s.opts.ClientTLS, Logger: s.log, Foreign: foreign,
		MaxFrameSize: max(rpc.DefaultMaxFrameSize, s.cfg.MaxRequestBytes+64<<10)})
}

// serve starts the rpc servers and the HTTP endpoint on their listeners
// (the client port's and the HTTP endpoint serve already during a store
// repair: they go on, with the member's services).
func (s *Server) serve() {
	if !s.storeRepairServed() {
		s.serveClients()
	}
	for _, l := range s.peerLns {
		s.goServe(func() error { return s.peerRPC.Serve(l) })
	}
}

// serveClients starts the client port's rpc server and the HTTP endpoint
// on their listeners.
func (s *Server) serveClients() {
	for _, l := range s.clientLns {
		s.goServe(func() error { return s.clientRPC.Serve(l) })
	}
	if s.httpLn != nil {
		s.httpSrv = &http.Server{Handler: s.HTTPHandler(), ReadHeaderTimeout: 5 * time.Second}
		s.goServe(func() error { return s.httpSrv.Serve(s.httpLn) })
	}
}

func (s *Server) goServe(serve func() error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := serve(); err != nil && !errors.Is(err, rpc.ErrServerClosed) && !errors.Is(err, http.ErrServerClosed) {
			select {
			case <-s.stop:
			default:
				s.log.Error("listener failed", "err", err)
			}
		}
	}()
}

// Config is the configuration the member runs with.
func (s *Server) Config() Config { return s.cfg }

// Logger is the member's logger.
func (s *Server) Logger() *slog.Logger { return s.log }

// ID is this member's id.
func (s *Server) ID() uint64 { return s.id }

// ClusterID is the cluster's id.
func (s *Server) ClusterID() uint64 { return s.clusterID }

// ClientAddrs are the addresses the client services listen on.
func (s *Server) ClientAddrs() []string {
	out := make([]string, len(s.clientLns))
	for i, l := range s.clientLns {
		out[i] = l.Addr().String()
	}
	return out
}

// IsLearner reports whether this member is a learner (it receives the log
// but does not vote) as of what it has applied.
func (s *Server) IsLearner() bool {
	m, ok := s.replica.State.Members().Get(s.id)
	return ok && m.IsLearner
}

// Leader is the member this one believes leads, 0 if none.
func (s *Server) Leader() uint64 { return s.driver.Leader() }

// Done is closed when the server has stopped (Stop, or a fatal error).
func (s *Server) Done() <-chan struct{} { return s.doneCh }

// Err is the fatal error that stopped the server, if any.
func (s *Server) Err() error {
	if p := s.fatal.Load(); p != nil {
		return *p
	}
	return nil
}

// Stop shuts the member down: a leader first hands leadership to another
// voter if it can (so the cluster does not wait an election timeout),
// then listeners close, the core stops and the store is committed and
// closed.
func (s *Server) Stop() {
	s.once.Do(func() {
		if s.driver.Leader() == s.id && s.Err() == nil {
			s.transferLeadershipOnStop()
		}
		close(s.stop)
		s.closeListeners()
		s.clientRPC.Close()
		if s.face != nil {
			_ = s.face.Close()
		}
		s.peerRPC.Close()
		if s.httpSrv != nil {
			_ = s.httpSrv.Close()
		}
		s.endWatches(api.ErrStopped)
		s.driver.Stop()
		s.transport.stop()
		s.wg.Wait()
		if err := s.replica.State.Store().Commit(); err != nil && s.Err() == nil {
			s.log.Warn("final store commit failed; the log will be replayed on restart", "err", err)
		}
		_ = s.replica.Close()
		close(s.doneCh)
	})
}

// failed stops the server because it cannot go on safely (storage
// failure, removal from the cluster).
func (s *Server) failed(err error) {
	if s.fatal.CompareAndSwap(nil, &err) {
		s.noteStoreCorrupt(err)
		s.log.Error("member stopping", "err", err)
		go s.Stop()
	}
}

// removedStopDelay is how long a removed member goes on before it stops:
// time for the answer to the request that removed it, which it may be
// serving itself, to go out.
const removedStopDelay = time.Second

// stopRemoved stops the member because the cluster removed it: it learned
// so from its own log, or from a peer refusing its messages.
func (s *Server) stopRemoved(err error) {
	s.removedOnce.Do(func() {
		close(s.removed)
		s.log.Warn("this member was removed from the cluster; stopping", "in", removedStopDelay)
		time.AfterFunc(removedStopDelay, func() { s.failed(err) })
	})
}

func (s *Server) transferLeadershipOnStop() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*s.cfg.ElectionTimeout)
	defer cancel()
	st, err := s.driver.Status(ctx)
	if err != nil {
		return
	}
	var best uint64
	var bestMatch uint64
	for id, pr := range st.Progress {
		if id != s.id && !pr.IsLearner && pr.Match >= bestMatch {
			best, bestMatch = id, pr.Match
		}
	}
	if best == 0 {
		return
	}
	if err := s.driver.TransferLeadership(ctx, best); err == nil {
		s.log.Info("handed leadership over before stopping", "to", fmt.Sprintf("%016x", best))
	}
}

// onLeaderChange runs on the core's goroutine.
func (s *Server) onLeaderChange(leader uint64) {
	if leader != 0 {
		// A leader rests on promises made under this identity.
		s.transport.commitIdentity()
	}
	s.replica.LeaderChanged(leader)
	s.metrics.LeaderChanges.Inc()
	s.metrics.term.Store(s.replica.Core.Status().HardState.Term)
	s.log.Info("leader changed", "leader", fmt.Sprintf("%016x", leader), "term", s.metrics.term.Load())
}

// startBackground runs the member's periodic work: committing the store,
// catching up slow watchers, progress notifications, lease expiry,
// publishing this member's name and client URLs, and watching for a
// fatal error or removal.
func (s *Server) startBackground() {
	size, _ := replica.StoreSize(s.replica.State.Store())
	s.dbSize.Store(size)
	s.every(s.cfg.backendBatchInterval(), func() {
		store := s.replica.State.Store()
		if err := store.Commit(); err != nil {
			s.failed(fmt.Errorf("commit store: %w", err))
		}
		size, _ := replica.StoreSize(store)
		s.dbSize.Store(size)
	})
	s.every(50*time.Millisecond, func() {
		if _, err := s.replica.State.Store().SyncWatchers(1000); err != nil {
			s.log.Warn("catching up watchers failed", "err", err)
		}
	})
	progressEvery := s.cfg.WatchProgressNotifyInterval
	if progressEvery == 0 {
		progressEvery = DefaultWatchProgressNotifyInterval
	}
	s.every(progressEvery, func() { s.replica.State.Store().NotifyProgress() })
	// What auth withdraws is withdrawn from open watches too.
	var authRev uint64
	var authOn bool
	s.every(50*time.Millisecond, func() {
		a := s.replica.State.Auth()
		if rev, on := a.Revision(), a.Enabled(); rev != authRev || on != authOn {
			authRev, authOn = rev, on
			s.recheckWatches()
		}
	})
	s.every(500*time.Millisecond, s.expireLeases)
	s.every(time.Second, func() {
		if err := s.driver.Err(); err != nil {
			s.failed(err)
		} else if s.replica.State.Members().IsRemoved(s.id) {
			s.stopRemoved(errors.New("node: this member was removed from the cluster"))
		}
	})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.publish()
	}()
	if s.cfg.AutoCompactionMode != "" {
		s.startAutoCompaction()
	}
	s.startCorruptChecks()
}

func (s *Server) every(d time.Duration, fn func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				fn()
			}
		}
	}()
}

// publish records this member's name and client URLs in the cluster's
// membership, retrying until it succeeds or the server stops.
func (s *Server) publish() {
	m := &api.Member{ID: s.id, Name: s.cfg.Name, ClientURLs: urlStrings(s.cfg.AdvertiseClientURLs)}
	cmd := replica.Envelope{Kind: replica.KindMemberAttrs, Payload: api.Marshal(m)}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*s.cfg.ElectionTimeout)
		res, err := s.driver.Propose(ctx, cmd)
		cancel()
		if err == nil {
			if r, ok := res.(replica.ApplyResult); ok && r.Err != nil {
				s.log.Warn("publishing member attributes", "err", r.Err)
			}
			s.log.Info("published member", "name", s.cfg.Name, "id", fmt.Sprintf("%016x", s.id), "client-urls", strings.Join(m.ClientURLs, ","))
			return
		}
		select {
		case <-s.stop:
			return
		case <-time.After(s.cfg.HeartbeatInterval):
		}
	}
}

// expireLeases proposes the revocation of expired leases (leader only).
func (s *Server) expireLeases() {
	if s.driver.Leader() != s.id {
		return
	}
	for _, id := range s.replica.ExpiredLeases(64) {
		cmd := replica.ExpiryCommand(id)
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ElectionTimeout)
		_, err := s.driver.Propose(ctx, cmd)
		cancel()
		if err != nil {
			s.log.Debug("revoking expired lease", "lease", id, "err", err)
			return
		}
	}
}

// startAutoCompaction compacts the history periodically: in "periodic"
// mode keeping the revisions of the retention period, in "revision" mode
// keeping the last N revisions.
func (s *Server) startAutoCompaction() {
	mode, retention := s.cfg.AutoCompactionMode, s.cfg.AutoCompactionRetention
	var keepRevs int64
	var period time.Duration
	switch mode {
	case "revision":
		n, err := strconv.ParseInt(retention, 10, 64)
		if err != nil || n <= 0 {
			s.log.Error("auto-compaction disabled: --auto-compaction-retention must be a positive number of revisions", "value", retention)
			return
		}
		keepRevs = n
	case "periodic":
		d, err := parseRetention(retention)
		if err != nil {
			s.log.Error("auto-compaction disabled", "err", err)
			return
		}
		period = d
	}
	// Periodic mode samples the revision every tenth of the period and
	// compacts to the sample taken one period ago.
	type sample struct {
		at  time.Time
		rev int64
	}
	var samples []sample
	step := max(period/10, time.Second)
	if mode == "revision" {
		// Checked often (a few election timeouts): compacting to N
		// revisions behind is cheap when there is little to remove.
		step = 5 * s.cfg.ElectionTimeout
	}
	s.every(step, func() {
		if s.driver.Leader() != s.id {
			return
		}
		st := s.replica.State.Store()
		var target int64
		if mode == "revision" {
			target = st.Rev() - keepRevs
		} else {
			now := time.Now()
			samples = append(samples, sample{now, st.Rev()})
			for len(samples) > 0 && now.Sub(samples[0].at) >= period {
				target = samples[0].rev
				samples = samples[1:]
			}
		}
		if target <= st.CompactRev() {
			return
		}
		cmd := replica.Envelope{Who: replica.WhoMember, Kind: replica.KindCompaction, Payload: api.Marshal(&api.CompactionRequest{Revision: target})}
		ctx, cancel := context.WithTimeout(context.Background(), 5*s.cfg.ElectionTimeout)
		defer cancel()
		if _, err := s.driver.Propose(ctx, cmd); err != nil {
			s.log.Warn("auto-compaction failed", "revision", target, "err", err)
		} else {
			s.log.Info("auto-compacted", "revision", target)
		}
	})
}

// parseRetention reads a periodic retention: a Go duration ("30m") or a
// bare number of hours ("1").
func parseRetention(v string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(v, 64); err == nil && n > 0 {
		return time.Duration(n * float64(time.Hour)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("--auto-compaction-retention %q is not a positive duration or number of hours", v)
	}
	return d, nil
}
