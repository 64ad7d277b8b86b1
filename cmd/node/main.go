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
//
// The settings can also come from the environment (ETCD_NAME=m1 or
// CAIRN_NAME=m1) or from etcd's YAML config file (--config-file), and
// every flag of etcd 3.6 is accepted, so that a unit file or manifest
// written for etcd starts cairn (flags.go, etcdflags.go, configfile.go).
// --logger zap writes etcd's JSON log lines (logging.go).
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/cairndb/cairn/etcdapi"
	"github.com/cairndb/cairn/internal/gctune"
	"github.com/cairndb/cairn/node"
	"github.com/cairndb/cairn/rpc"
)

// gcHeapFloor is the least the heap may grow between two collections
// (gctune): 64 MiB, a tenth of a CPU under writes for at most that much
// more memory when the live heap is small.
const gcHeapFloor = 64 << 20

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// run runs the command with its arguments and environment and returns
// its exit code: 0, 1 when the member failed, 2 for bad settings.
func run(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, env)
	if errors.Is(err, errHelp) {
		printHelp(stdout)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "node: %v\n", err)
		return 2
	}
	if o.version {
		printVersion(stdout)
		return 0
	}
	logger, closeLog, err := newLogger(o.log, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "node: %v\n", err)
		return 2
	}
	defer closeLog()
	for _, w := range o.warnings {
		logger.Warn(w)
	}
	// A member with a small store keeps little live: without a floor the
	// collector ran several times a second under writes (gctune).
	defer gctune.Start(gcHeapFloor, env).Stop()
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

// printVersion prints the versions as etcd --version does, cairn's first.
func printVersion(w io.Writer) {
	fmt.Fprintf(w, "cairn Version: %s\netcd Version: %s\nGo Version: %s\nGo OS/Arch: %s/%s\n",
		node.Version, node.EtcdAPIVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH)
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
