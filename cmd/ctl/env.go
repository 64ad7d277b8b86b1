package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cairndb/cairn/client"
)

// globals are the flags every command accepts.
type globals struct {
	endpoints      string
	dialTimeout    time.Duration
	commandTimeout time.Duration
	writeOut       string
	hex            bool
	cacert         string
	cert           string
	key            string
	insecureSkip   bool
	user           string
	password       string
}

// defaultGlobals returns the globals' default values.
func defaultGlobals() *globals {
	return &globals{
		endpoints:      "127.0.0.1:2379",
		dialTimeout:    2 * time.Second,
		commandTimeout: 5 * time.Second,
		writeOut:       "simple",
	}
}

// register adds the global flags to fs, with g's current values as the
// defaults (so that flags parsed before the command are kept).
func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.endpoints, "endpoints", g.endpoints, "comma-separated members' client `addresses` (host:port or http(s):// URLs)")
	fs.DurationVar(&g.dialTimeout, "dial-timeout", g.dialTimeout, "timeout for connecting to a member")
	fs.DurationVar(&g.commandTimeout, "command-timeout", g.commandTimeout, "timeout for one request")
	fs.StringVar(&g.writeOut, "write-out", g.writeOut, "output `format`: simple, table, or etcdctl's json, fields or protobuf")
	fs.StringVar(&g.writeOut, "w", g.writeOut, "short for --write-out")
	fs.BoolVar(&g.hex, "hex", g.hex, "print keys and values as hex-escaped bytes")
	fs.StringVar(&g.cacert, "cacert", g.cacert, "`file` of CA certificates to verify members with")
	fs.StringVar(&g.cert, "cert", g.cert, "client certificate `file` (PEM)")
	fs.StringVar(&g.key, "key", g.key, "client key `file` (PEM)")
	fs.BoolVar(&g.insecureSkip, "insecure-skip-tls-verify", g.insecureSkip, "accept any member certificate (testing only)")
	fs.StringVar(&g.user, "user", g.user, "`name[:password]` to authenticate as (the password is asked for when not given)")
	fs.StringVar(&g.password, "password", g.password, "the `password` of --user (then --user is the name alone, and may hold ':')")
}

// endpointList splits --endpoints.
func (g *globals) endpointList() []string {
	var l stringList
	_ = l.Set(g.endpoints)
	return l
}

// tlsConfig builds the TLS configuration the TLS flags ask for, or nil
// when none is given (https:// endpoints then use the system's roots).
func (g *globals) tlsConfig() (*tls.Config, error) {
	return tlsFiles{cacert: g.cacert, cert: g.cert, key: g.key, insecureSkip: g.insecureSkip}.config("--")
}

// tlsFiles are the TLS flags of one side of a connection: the members
// ctl talks to (--cacert, ...), or the source of a mirror (--from-cacert,
// ...).
type tlsFiles struct {
	cacert, cert, key string
	insecureSkip      bool
}

// config builds the TLS configuration the flags ask for, or nil when
// none is given; errors name the flags with prefix ("--", "--from-").
func (f tlsFiles) config(prefix string) (*tls.Config, error) {
	if f.cacert == "" && f.cert == "" && f.key == "" && !f.insecureSkip {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: f.insecureSkip}
	if f.cacert != "" {
		pem, err := os.ReadFile(f.cacert)
		if err != nil {
			return nil, fmt.Errorf("%scacert: %w", prefix, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%scacert: %s holds no PEM certificate", prefix, f.cacert)
		}
		cfg.RootCAs = pool
	}
	if (f.cert == "") != (f.key == "") {
		return nil, fmt.Errorf("%scert and %skey must be given together", prefix, prefix)
	}
	if f.cert != "" {
		pair, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			return nil, fmt.Errorf("%scert/%skey: %w", prefix, prefix, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// env is what a command runs with: the parsed globals, the standard
// streams, the printer, and a client made on first use.
type env struct {
	ctx    context.Context
	g      *globals
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	p      *printer
	tls    *tls.Config
	cli    *client.Client
	// lines reads stdin line by line for passwords (see auth_password.go).
	lines *bufio.Reader
	// user and password are --user's, once credentials has read them.
	user, password string
	credsRead      bool
}

// newEnv checks the global flags and prepares the environment of a
// command.
func newEnv(ctx context.Context, g *globals, stdin io.Reader, stdout, stderr io.Writer) (*env, error) {
	usage := mainUsageLine
	switch g.writeOut {
	case formatSimple, formatJSON, formatTable, formatFields, formatProtobuf:
	default:
		return nil, usageErrorf(usage, "--write-out %q: want simple, json, table, fields or protobuf", g.writeOut)
	}
	if len(g.endpointList()) == 0 {
		return nil, usageErrorf(usage, "--endpoints is empty")
	}
	if g.dialTimeout <= 0 || g.commandTimeout <= 0 {
		return nil, usageErrorf(usage, "--dial-timeout and --command-timeout must be positive")
	}
	if g.password != "" && g.user == "" {
		return nil, usageErrorf(usage, "--password given without --user")
	}
	if g.user != "" {
		name := g.user
		if g.password == "" {
			name, _, _ = strings.Cut(g.user, ":")
		}
		if name == "" {
			return nil, usageErrorf(usage, "--user %q: the user name is empty", g.user)
		}
	}
	tc, err := g.tlsConfig()
	if err != nil {
		return nil, err
	}
	return &env{ctx: ctx, g: g, stdin: stdin, stdout: stdout, stderr: stderr, tls: tc,
		p: &printer{out: stdout, format: g.writeOut, hex: g.hex}}, nil
}

// client returns the client for --endpoints, connecting on first use.
func (e *env) client() (*client.Client, error) {
	if e.cli == nil {
		c, err := e.newClient(e.g.endpointList())
		if err != nil {
			return nil, err
		}
		e.cli = c
	}
	return e.cli, nil
}

// newClient returns a client for the given endpoints with the global
// dial and TLS settings; the caller closes it.
func (e *env) newClient(endpoints []string) (*client.Client, error) {
	user, password, err := e.credentials()
	if err != nil {
		return nil, err
	}
	return client.New(client.Config{Endpoints: endpoints, DialTimeout: e.g.dialTimeout, TLS: e.tls,
		Username: user, Password: password})
}

// request returns a context for one request, bounded by --command-timeout.
func (e *env) request() (context.Context, context.CancelFunc) {
	return context.WithTimeout(e.ctx, e.g.commandTimeout)
}

// close closes the client, if one was made.
func (e *env) close() {
	if e.cli != nil {
		_ = e.cli.Close()
	}
}

// endpointsOrCluster returns the endpoints a per-member command visits:
// --endpoints, or with cluster every member's client URLs.
func (e *env) endpointsOrCluster(cluster bool) ([]string, error) {
	if !cluster {
		return e.g.endpointList(), nil
	}
	c, err := e.client()
	if err != nil {
		return nil, err
	}
	ctx, cancel := e.request()
	defer cancel()
	resp, err := c.MemberList(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing members for --cluster: %w", err)
	}
	var eps []string
	seen := map[string]bool{}
	for _, m := range resp.Members {
		for _, u := range m.ClientURLs {
			if !seen[u] {
				seen[u] = true
				eps = append(eps, u)
			}
		}
	}
	if len(eps) == 0 {
		return nil, errors.New("--cluster: no member has published client URLs")
	}
	return eps, nil
}

// parseLeaseID parses a lease id written in hex, as ctl prints it.
func parseLeaseID(s string) (int64, error) {
	id, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
	if err != nil {
		return 0, fmt.Errorf("lease ID %q is not a hexadecimal number of at most 16 digits", s)
	}
	return int64(id), nil
}

// parseMemberID parses a member id written in hex, as ctl prints it.
func parseMemberID(s string) (uint64, error) {
	id, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
	if err != nil {
		return 0, fmt.Errorf("member ID %q is not a hexadecimal number of at most 16 digits", s)
	}
	return id, nil
}
