// Command node runs a cairn member.
//
// With no flags it starts a single-member cluster listening for clients on
// 127.0.0.1:2379 and for peers on 127.0.0.1:2380, with its data in
// ./default.node. The flags follow etcd's:
//
//	node --name m1 --data-dir m1.node \
//	  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
//	  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
//	  --initial-cluster m1=http://127.0.0.1:2380,m2=http://127.0.0.1:22380,m3=http://127.0.0.1:32380
//
// `node --dev-cluster 3` starts a local three-member cluster in one
// process (clients on 127.0.0.1:2379, 22379 and 32379), for trying cairn
// out with no other tool; the Procfile in the repository does the same
// with three processes.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/cairndb/cairn/auth"
	"github.com/cairndb/cairn/etcdapi"
	"github.com/cairndb/cairn/node"
	"github.com/cairndb/cairn/rpc"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stderr))
}

// options are the flags that are not part of node.Config.
type options struct {
	cfg        node.Config
	devCluster int
	logLevel   string

	certFile, keyFile, trustedCA             string
	clientCertAuth, autoTLS                  bool
	peerCertFile, peerKeyFile, peerTrustedCA string
	peerClientCertAuth, peerAutoTLS          bool
}

// urlsFlag is a flag holding a comma-separated list of URLs.
type urlsFlag struct {
	urls *[]url.URL
	set  bool
}

func (f *urlsFlag) String() string {
	if f.urls == nil {
		return ""
	}
	var parts []string
	for _, u := range *f.urls {
		parts = append(parts, u.String())
	}
	return strings.Join(parts, ",")
}

func (f *urlsFlag) Set(s string) error {
	us, err := node.ParseURLs(s)
	if err != nil {
		return err
	}
	*f.urls, f.set = us, true
	return nil
}

// parseFlags reads the command line into options, applying etcd's
// defaulting rules between flags.
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{cfg: node.DefaultConfig()}
	c := &o.cfg
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Name, "name", c.Name, "human-readable name of this member")
	dataDir := fs.String("data-dir", "", "directory of this member's data (default ${name}.node)")
	listenClient := &urlsFlag{urls: &c.ListenClientURLs}
	fs.Var(listenClient, "listen-client-urls", "URLs to listen on for client traffic")
	advClient := &urlsFlag{urls: &c.AdvertiseClientURLs}
	fs.Var(advClient, "advertise-client-urls", "client URLs to advertise to the cluster (default: --listen-client-urls)")
	listenPeer := &urlsFlag{urls: &c.ListenPeerURLs}
	fs.Var(listenPeer, "listen-peer-urls", "URLs to listen on for peer traffic")
	advPeer := &urlsFlag{urls: &c.InitialAdvertisePeerURLs}
	fs.Var(advPeer, "initial-advertise-peer-urls", "peer URLs to advertise to the cluster (default: --listen-peer-urls)")
	fs.Var(&urlsFlag{urls: &c.ListenMetricsURLs}, "listen-metrics-urls", "URLs to serve /health and /metrics on (plain HTTP)")
	fs.BoolVar(&c.EnablePprof, "enable-pprof", false, "serve Go's runtime profiles under /debug/pprof/ on the metrics and client URLs")
	initialCluster := fs.String("initial-cluster", "", "initial cluster: name=peerURL,... (default: ${name}=${initial-advertise-peer-urls})")
	state := fs.String("initial-cluster-state", string(c.InitialClusterState), "new (bootstrap a cluster) or existing (join one after ctl member add)")
	fs.StringVar(&c.InitialClusterToken, "initial-cluster-token", c.InitialClusterToken, "token that keeps different clusters' ids apart")
	fs.Uint64Var(&c.SnapshotCount, "snapshot-count", c.SnapshotCount, "applied entries between snapshots")
	fs.Int64Var(&c.QuotaBackendBytes, "quota-backend-bytes", c.QuotaBackendBytes, "store size that raises the NOSPACE alarm")
	fs.IntVar(&c.MaxRequestBytes, "max-request-bytes", c.MaxRequestBytes, "largest client request accepted")
	fs.IntVar(&c.MaxTxnOps, "max-txn-ops", c.MaxTxnOps, "most operations in one transaction")
	heartbeat := fs.Int("heartbeat-interval", int(c.HeartbeatInterval/time.Millisecond), "time between leader heartbeats, in milliseconds")
	election := fs.Int("election-timeout", int(c.ElectionTimeout/time.Millisecond), "time without a leader before an election, in milliseconds")
	fs.StringVar(&c.AutoCompactionMode, "auto-compaction-mode", "periodic", "periodic (keep a time window) or revision (keep N revisions)")
	fs.StringVar(&c.AutoCompactionRetention, "auto-compaction-retention", "0", "for periodic: hours or a duration (1h, 30m); for revision: a count; 0 disables")
	fs.DurationVar(&c.CorruptCheckTime, "corrupt-check-time", 0, "how often the leader compares the members' key-value hashes, raising the CORRUPT alarm on a member that differs (e.g. 5m; 0 disables)")
	fs.BoolVar(&c.InitialCorruptCheck, "initial-corrupt-check", false, "compare this member's key-value hash with its peers' at start, and stop if it differs")
	fs.StringVar(&o.certFile, "cert-file", "", "client TLS certificate file")
	fs.StringVar(&o.keyFile, "key-file", "", "client TLS key file")
	fs.StringVar(&o.trustedCA, "trusted-ca-file", "", "CA file for client certificates")
	fs.BoolVar(&o.clientCertAuth, "client-cert-auth", false, "require client certificates signed by --trusted-ca-file")
	fs.BoolVar(&o.autoTLS, "auto-tls", false, "serve client TLS with a generated self-signed certificate")
	fs.StringVar(&o.peerCertFile, "peer-cert-file", "", "peer TLS certificate file")
	fs.StringVar(&o.peerKeyFile, "peer-key-file", "", "peer TLS key file")
	fs.StringVar(&o.peerTrustedCA, "peer-trusted-ca-file", "", "CA file for peer certificates")
	fs.BoolVar(&o.peerClientCertAuth, "peer-client-cert-auth", false, "require peer certificates signed by --peer-trusted-ca-file")
	fs.BoolVar(&o.peerAutoTLS, "peer-auto-tls", false, "serve peer TLS with a generated self-signed certificate")
	allowedCN := fs.String("peer-cert-allowed-cn", "", "comma-separated common names a peer's client certificate must carry one of (default: it must be valid for the host of the member's peer URL)")
	allowedHost := fs.String("peer-cert-allowed-hostname", "", "comma-separated host names a peer's client certificate must be valid for one of (default: the host of the member's peer URL)")
	fs.StringVar(&c.AuthToken, "auth-token", c.AuthToken, "auth token kind: simple (random, kept in the members' memory) or signed (self-contained, HMAC-SHA256 with the cluster's key)")
	authTTL := fs.Int("auth-token-ttl", int(c.AuthTokenTTL/time.Second), "seconds a simple token lives unused (a signed token lives this long at all)")
	fs.IntVar(&c.AuthPasswordCost, "auth-password-cost", c.AuthPasswordCost, "PBKDF2-HMAC-SHA256 iterations of new password hashes (the default takes about 50 ms)")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.IntVar(&o.devCluster, "dev-cluster", 0, "start a local cluster of this many members in one process (for trying cairn)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags start with --)", fs.Arg(0))
	}
	c.PeerCertAllowedCNs = splitList(*allowedCN)
	c.PeerCertAllowedHostnames = splitList(*allowedHost)
	c.DataDir = *dataDir
	if c.DataDir == "" {
		c.DataDir = c.Name + ".node"
	}
	if !advClient.set {
		c.AdvertiseClientURLs = c.ListenClientURLs
	}
	if !advPeer.set {
		c.InitialAdvertisePeerURLs = c.ListenPeerURLs
	}
	c.InitialClusterState = node.ClusterState(*state)
	if *initialCluster == "" {
		c.InitialCluster = map[string][]url.URL{c.Name: c.InitialAdvertisePeerURLs}
	} else {
		ic, err := node.ParseInitialCluster(*initialCluster)
		if err != nil {
			return nil, fmt.Errorf("--initial-cluster: %w", err)
		}
		c.InitialCluster = ic
	}
	if *heartbeat <= 0 || *election <= 0 {
		return nil, errors.New("--heartbeat-interval and --election-timeout must be positive (milliseconds)")
	}
	if *authTTL <= 0 {
		return nil, fmt.Errorf("--auth-token-ttl must be a positive number of seconds, not %d", *authTTL)
	}
	c.AuthTokenTTL = time.Duration(*authTTL) * time.Second
	if c.AuthPasswordCost < 1 || c.AuthPasswordCost > auth.MaxIterations {
		return nil, fmt.Errorf("--auth-password-cost must be between 1 and %d iterations, not %d", auth.MaxIterations, c.AuthPasswordCost)
	}
	if c.AuthToken != auth.TokenSimple && c.AuthToken != auth.TokenSigned {
		return nil, fmt.Errorf("--auth-token must be %s or %s, not %q", auth.TokenSimple, auth.TokenSigned, c.AuthToken)
	}
	c.HeartbeatInterval = time.Duration(*heartbeat) * time.Millisecond
	c.ElectionTimeout = time.Duration(*election) * time.Millisecond
	if c.AutoCompactionRetention == "0" || c.AutoCompactionRetention == "" {
		c.AutoCompactionMode = ""
	}
	if o.devCluster < 0 || o.devCluster > 9 {
		return nil, errors.New("--dev-cluster must be between 1 and 9")
	}
	if o.devCluster == 0 {
		if err := c.Validate(); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// splitList splits a comma-separated flag value (nil for "").
func splitList(v string) []string {
	if v == "" {
		return nil
	}
	parts := strings.Split(v, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

func run(ctx context.Context, args []string, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "node: %v\n", err)
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		fmt.Fprintf(stderr, "node: --log-level %q: use debug, info, warn or error\n", o.logLevel)
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if o.devCluster > 0 {
		return runDevCluster(ctx, o, logger, stderr)
	}
	s, err := startMember(o, logger)
	if err != nil {
		fmt.Fprintf(stderr, "node: %v\n", err)
		return 1
	}
	return waitMember(ctx, s, logger)
}

// startMember builds TLS configurations and starts the server.
func startMember(o *options, logger *slog.Logger) (*node.Server, error) {
	opts := node.ServerOptions{Logger: logger, ClientFace: etcdapi.New}
	var err error
	c := &o.cfg
	if opts.ClientTLS, err = serverTLS(c, "client", c.AdvertiseClientURLs, o.certFile, o.keyFile, o.trustedCA, o.clientCertAuth, o.autoTLS); err != nil {
		return nil, err
	}
	if opts.PeerTLS, err = serverTLS(c, "peer", c.InitialAdvertisePeerURLs, o.peerCertFile, o.peerKeyFile, o.peerTrustedCA, o.peerClientCertAuth, o.peerAutoTLS); err != nil {
		return nil, err
	}
	if opts.PeerTLS != nil {
		// Members present their peer certificate when they dial each
		// other; with auto-TLS the certificates are self-signed, so the
		// peers cannot be verified by a CA.
		cert, key := o.peerCertFile, o.peerKeyFile
		if o.peerAutoTLS && cert == "" {
			cert, key, err = rpc.SelfSignedCert(filepath.Join(c.DataDir, "fixtures", "peer"), hostsOf(c.InitialAdvertisePeerURLs))
			if err != nil {
				return nil, fmt.Errorf("--peer-auto-tls: %w", err)
			}
		}
		opts.PeerClientTLS, err = rpc.ClientTLSConfig(cert, key, o.peerTrustedCA, o.peerAutoTLS && o.peerTrustedCA == "")
		if err != nil {
			return nil, fmt.Errorf("peer TLS: %w", err)
		}
	}
	return node.NewServer(*c, opts)
}

// serverTLS returns the TLS configuration of the client or peer
// listeners, nil for plain http:// URLs.
func serverTLS(c *node.Config, kind string, urls []url.URL, cert, key, ca string, certAuth, auto bool) (*tls.Config, error) {
	https := false
	for _, u := range urls {
		https = https || u.Scheme == "https"
	}
	if !https {
		if cert != "" || auto {
			return nil, fmt.Errorf("%s TLS flags are set but the %s URLs are http://; use https:// URLs", kind, kind)
		}
		return nil, nil
	}
	if cert == "" && auto {
		var err error
		cert, key, err = rpc.SelfSignedCert(filepath.Join(c.DataDir, "fixtures", kind), hostsOf(urls))
		if err != nil {
			return nil, fmt.Errorf("%s auto-TLS: %w", kind, err)
		}
	}
	if cert == "" || key == "" {
		return nil, fmt.Errorf("%s URLs are https:// but no certificate is given: set the %s cert and key file flags, or the auto-TLS flag", kind, kind)
	}
	conf, err := rpc.ServerTLSConfig(cert, key, ca, certAuth)
	if err != nil {
		return nil, fmt.Errorf("%s TLS: %w", kind, err)
	}
	return conf, nil
}

func hostsOf(urls []url.URL) []string {
	var out []string
	for _, u := range urls {
		if h, _, err := net.SplitHostPort(u.Host); err == nil {
			out = append(out, h)
		}
	}
	return out
}

// waitMember serves until a signal or a fatal error.
func waitMember(ctx context.Context, s *node.Server, logger *slog.Logger) int {
	select {
	case <-ctx.Done():
		logger.Info("stopping")
		s.Stop()
		return 0
	case <-s.Done():
		if err := s.Err(); err != nil {
			return 1
		}
		return 0
	}
}

// runDevCluster starts n members in this process on the ports of the
// Procfile: clients on 2379, 22379, 32379..., peers on 2380, 22380, ...
func runDevCluster(ctx context.Context, o *options, logger *slog.Logger, stderr io.Writer) int {
	n := o.devCluster
	port := func(i, base int) int {
		if i == 0 {
			return base
		}
		return i*10000 + 10000 + base
	}
	var parts []string
	for i := range n {
		parts = append(parts, fmt.Sprintf("m%d=http://127.0.0.1:%d", i+1, port(i, 2380)))
	}
	initial, err := node.ParseInitialCluster(strings.Join(parts, ","))
	if err != nil {
		fmt.Fprintf(stderr, "node: %v\n", err)
		return 1
	}
	var servers []*node.Server
	stopAll := func() {
		for _, s := range servers {
			s.Stop()
		}
	}
	var eps []string
	for i := range n {
		cfg := o.cfg
		cfg.Name = fmt.Sprintf("m%d", i+1)
		cfg.DataDir = filepath.Join("dev-cluster", cfg.Name+".node")
		cl, _ := node.ParseURLs(fmt.Sprintf("http://127.0.0.1:%d", port(i, 2379)))
		pl, _ := node.ParseURLs(fmt.Sprintf("http://127.0.0.1:%d", port(i, 2380)))
		cfg.ListenClientURLs, cfg.AdvertiseClientURLs = cl, cl
		cfg.ListenPeerURLs, cfg.InitialAdvertisePeerURLs = pl, pl
		cfg.InitialCluster = initial
		if err := cfg.Validate(); err != nil {
			fmt.Fprintf(stderr, "node: %v\n", err)
			stopAll()
			return 2
		}
		s, err := node.NewServer(cfg, node.ServerOptions{Logger: logger.With("member", cfg.Name), ClientFace: etcdapi.New})
		if err != nil {
			fmt.Fprintf(stderr, "node: member %s: %v\n", cfg.Name, err)
			stopAll()
			return 1
		}
		servers = append(servers, s)
		eps = append(eps, cl[0].Host)
	}
	logger.Info("dev cluster running; try: go run ./cmd/ctl --endpoints=" + strings.Join(eps, ",") + " put hello world")
	<-ctx.Done()
	logger.Info("stopping")
	stopAll()
	return 0
}
