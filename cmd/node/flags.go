package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cairndb/cairn/auth"
	"github.com/cairndb/cairn/node"
)

// The settings come, as etcd's do, from the command line (--name), from
// the environment (ETCD_NAME, or CAIRN_NAME, for a flag not on the
// command line; CAIRN_ wins over ETCD_), or from a YAML config file with
// etcd's keys (--config-file, which makes the member ignore the other
// two, as etcd does). All three set the same flags, so a value is checked
// the same way wherever it came from.

// options are everything the command line sets: node.Config and the
// settings that are not part of it.
type options struct {
	cfg        node.Config
	devCluster int
	configFile string
	version    bool
	log        logOptions

	certFile, keyFile, trustedCA             string
	clientCertAuth, autoTLS                  bool
	peerCertFile, peerKeyFile, peerTrustedCA string
	peerClientCertAuth, peerAutoTLS          bool

	// Raw values the settings are derived from once every source is read
	// (finish).
	dataDir, initialCluster, clusterState string
	peerAllowedCN, peerAllowedHost        string
	heartbeatMs, electionMs, authTTL      int
	advClient, advPeer                    *urlsFlag

	// warnings are logged once the logger exists: etcd flags cairn only
	// accepts, ignored sources.
	warnings []string
}

// logOptions are the logging flags.
type logOptions struct {
	logger, format, level, outputs string
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
	if s == "" { // etcd's --listen-metrics-urls '': none
		*f.urls, f.set = nil, true
		return nil
	}
	us, err := node.ParseURLs(s)
	if err != nil {
		return err
	}
	*f.urls, f.set = us, true
	return nil
}

// etcdOnlyValue is the value of a flag of etcd's that cairn accepts
// without a setting of its own (etcdflags.go).
type etcdOnlyValue struct {
	name  string
	flag  etcdFlag
	value string
}

func (v *etcdOnlyValue) String() string   { return v.value }
func (v *etcdOnlyValue) IsBoolFlag() bool { return v.flag.bool }

func (v *etcdOnlyValue) Set(s string) error {
	v.value = s
	if v.flag.refuse && s != "" && s != "false" {
		return fmt.Errorf("%s", v.flag.instead)
	}
	return nil
}

// aliasValue is an etcd name for one of cairn's flags.
// optionalDuration is a duration flag that also takes an empty value, as
// 0 (the default): etcd prints --backend-batch-interval's default so.
type optionalDuration time.Duration

func (d *optionalDuration) String() string {
	if d == nil || *d == 0 {
		return ""
	}
	return time.Duration(*d).String()
}

func (d *optionalDuration) Set(s string) error {
	if s == "" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("parse error")
	}
	*d = optionalDuration(v)
	return nil
}

// Get makes the config file read the flag as a duration (nanoseconds).
func (d *optionalDuration) Get() any { return time.Duration(*d) }

type aliasValue struct{ target *flag.Flag }

func (a aliasValue) String() string { return "" }
func (a aliasValue) Set(s string) error {
	return a.target.Value.Set(s)
}
func (a aliasValue) IsBoolFlag() bool {
	b, ok := a.target.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// newFlagSet makes the flag set that fills o. Flags of etcd's that cairn
// only accepts are in it too, after cairn's own (help lists them apart).
func newFlagSet(o *options) *flag.FlagSet {
	o.cfg = node.DefaultConfig()
	c := &o.cfg
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported once, by the caller
	fs.Usage = func() {}
	mutationFlags(fs, c)
	fs.StringVar(&o.configFile, "config-file", "", "YAML file of settings with etcd's keys (the command line and the environment are then ignored, as by etcd)")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.StringVar(&c.Name, "name", c.Name, "human-readable name of this member")
	fs.StringVar(&o.dataDir, "data-dir", "", "directory of this member's data (default ${name}.node)")
	fs.Var(&urlsFlag{urls: &c.ListenClientURLs}, "listen-client-urls", "URLs to listen on for client traffic")
	o.advClient = &urlsFlag{urls: &c.AdvertiseClientURLs}
	fs.Var(o.advClient, "advertise-client-urls", "client URLs to advertise to the cluster (default: --listen-client-urls)")
	fs.Var(&urlsFlag{urls: &c.ListenPeerURLs}, "listen-peer-urls", "URLs to listen on for peer traffic")
	o.advPeer = &urlsFlag{urls: &c.InitialAdvertisePeerURLs}
	fs.Var(o.advPeer, "initial-advertise-peer-urls", "peer URLs to advertise to the cluster (default: --listen-peer-urls)")
	fs.Var(&urlsFlag{urls: &c.ListenMetricsURLs}, "listen-metrics-urls", "URLs to serve /metrics, /health, /livez, /readyz and /version on (plain HTTP)")
	fs.BoolVar(&c.EnablePprof, "enable-pprof", false, "serve Go's runtime profiles under /debug/pprof/ on the metrics and client URLs")
	fs.StringVar(&o.initialCluster, "initial-cluster", "", "initial cluster: name=peerURL,... (default: ${name}=${initial-advertise-peer-urls})")
	fs.StringVar(&o.clusterState, "initial-cluster-state", string(c.InitialClusterState), "new (bootstrap a cluster) or existing (join one after ctl member add)")
	fs.StringVar(&c.InitialClusterToken, "initial-cluster-token", c.InitialClusterToken, "token that keeps different clusters' ids apart")
	fs.Uint64Var(&c.SnapshotCount, "snapshot-count", c.SnapshotCount, "applied entries between snapshots")
	fs.Int64Var(&c.QuotaBackendBytes, "quota-backend-bytes", c.QuotaBackendBytes, "store size that raises the NOSPACE alarm")
	fs.Int64Var(&c.BackendCacheBytes, "backend-cache-bytes", c.BackendCacheBytes, "memory bound of the store's cache of decoded pages (clean pages only), in bytes")
	fs.IntVar(&c.LogValueMinBytes, "log-value-min-bytes", c.LogValueMinBytes, "values of this size or more stay in the raft log, not copied into the store's page file (0: copy every value)")
	fs.Var((*optionalDuration)(&c.BackendBatchInterval), "backend-batch-interval", "how often the store commits what was applied to its page file (0 or empty: 100ms)")
	fs.IntVar(&c.BackendBatchLimit, "backend-batch-limit", c.BackendBatchLimit, "applied changes that make the store commit before the interval ends (0: 10000)")
	fs.IntVar(&c.MaxRequestBytes, "max-request-bytes", c.MaxRequestBytes, "largest client request accepted")
	fs.IntVar(&c.MaxTxnOps, "max-txn-ops", c.MaxTxnOps, "most operations in one transaction")
	fs.IntVar(&o.heartbeatMs, "heartbeat-interval", int(c.HeartbeatInterval/time.Millisecond), "time between leader heartbeats, in milliseconds")
	fs.IntVar(&o.electionMs, "election-timeout", int(c.ElectionTimeout/time.Millisecond), "time without a leader before an election, in milliseconds")
	fs.BoolVar(&c.InitialElectionTickAdvance, "initial-election-tick-advance", c.InitialElectionTickAdvance, "start the election clock nearly run out, so that a member that hears no leader campaigns within one election timeout of starting")
	fs.StringVar(&c.AutoCompactionMode, "auto-compaction-mode", "periodic", "periodic (keep a time window) or revision (keep N revisions)")
	fs.StringVar(&c.AutoCompactionRetention, "auto-compaction-retention", "0", "for periodic: hours or a duration (1h, 30m); for revision: a count; 0 disables")
	fs.DurationVar(&c.WatchProgressNotifyInterval, "watch-progress-notify-interval", c.WatchProgressNotifyInterval, "how often a watch that asked for progress notifications gets one while it sees no event")
	fs.DurationVar(&c.CorruptCheckTime, "corrupt-check-time", c.CorruptCheckTime, "how often the leader compares the members' key-value hashes, raising the CORRUPT alarm on a member that differs (0 disables; etcd's default is 0)")
	fs.BoolVar(&c.InitialCorruptCheck, "initial-corrupt-check", c.InitialCorruptCheck, "compare this member's key-value hash with its peers' at start, and stop if it differs (etcd 3.6: --feature-gates=InitialCorruptCheck=true, off by default)")
	fs.Var(&featureGates{o: o}, "feature-gates", "etcd 3.6's feature gates, Name=true|false,...: InitialCorruptCheck sets --initial-corrupt-check; etcd's others are accepted with a warning")
	fs.DurationVar(&c.WarningApplyDuration, "warning-apply-duration", c.WarningApplyDuration, "log an apply that takes longer, and count it in etcd_server_slow_apply_total")
	fs.DurationVar(&c.WarningUnaryRequestDuration, "warning-unary-request-duration", c.WarningUnaryRequestDuration, "log a request that takes longer to serve (its \"request stats\" line, at warn level)")
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
	fs.StringVar(&o.peerAllowedCN, "peer-cert-allowed-cn", "", "comma-separated common names a peer's client certificate must carry one of (default: it must be valid for the host of the member's peer URL)")
	fs.StringVar(&o.peerAllowedHost, "peer-cert-allowed-hostname", "", "comma-separated host names a peer's client certificate must be valid for one of (default: the host of the member's peer URL)")
	fs.StringVar(&c.AuthToken, "auth-token", c.AuthToken, "auth token kind: simple (random, kept in the members' memory) or signed (self-contained, HMAC-SHA256 with the cluster's key); etcd's jwt,... means signed")
	fs.IntVar(&o.authTTL, "auth-token-ttl", int(c.AuthTokenTTL/time.Second), "seconds a simple token lives unused (a signed token lives this long at all)")
	fs.IntVar(&c.BcryptCost, "bcrypt-cost", c.BcryptCost, fmt.Sprintf("bcrypt cost of new password hashes, as etcd's: %d to %d, each step doubling the time (the default takes about 95 ms)", auth.MinBcryptCost, auth.MaxBcryptCost))
	for name, instead := range deprecatedFlags {
		fs.Var(&deprecatedValue{name: name}, name, "deprecated, no effect: "+instead)
	}
	fs.StringVar(&o.log.logger, "logger", "", "zap: log JSON lines as etcd does (the default format of --logger zap is json)")
	fs.StringVar(&o.log.format, "log-format", "", "json (etcd's JSON lines), console (etcd's tab-separated lines) or text (cairn's key=value lines, the default without --logger)")
	fs.StringVar(&o.log.level, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&o.log.outputs, "log-outputs", "default", "where logs go: stderr (default), stdout or a file path; comma-separated for several")
	fs.IntVar(&o.devCluster, "dev-cluster", 0, "start a local cluster of this many members in one process (for trying cairn)")
	for name, target := range etcdAliases {
		fs.Var(aliasValue{fs.Lookup(target)}, name, "etcd's name for --"+target)
	}
	names := make([]string, 0, len(etcdOnlyFlags))
	for name := range etcdOnlyFlags {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fs.Var(&etcdOnlyValue{name: name, flag: etcdOnlyFlags[name]}, name, "etcd's; accepted: "+etcdOnlyFlags[name].instead)
	}
	return fs
}

// isEtcdOnly reports whether a flag is one of etcd's that cairn only
// accepts (or an alias), for help and warnings.
func isEtcdOnly(name string) bool {
	_, only := etcdOnlyFlags[name]
	_, alias := etcdAliases[name]
	return only || alias
}

// errHelp is returned when the user asked for help; the help was written.
var errHelp = flag.ErrHelp

// parseFlags reads the command line and the environment (env, as
// os.Environ) into options, applying etcd's defaulting rules between
// flags. A config file named by --config-file (or ETCD_CONFIG_FILE,
// CAIRN_CONFIG_FILE) replaces both, as in etcd.
func parseFlags(args []string, env []string) (*options, error) {
	o := &options{}
	fs := newFlagSet(o)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, errHelp
		}
		return nil, flagError(err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags start with --)", fs.Arg(0))
	}
	if o.version {
		return o, nil
	}
	onCommandLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })
	vars := environment(env)
	if o.configFile == "" {
		o.configFile = vars.value("config-file")
	}
	if o.configFile != "" {
		// As etcd: the file alone configures the member.
		var ignored []string
		fs.Visit(func(f *flag.Flag) {
			if f.Name != "config-file" {
				ignored = append(ignored, "--"+f.Name)
			}
		})
		ignored = append(ignored, vars.setNames()...)
		file := o.configFile
		o = &options{configFile: file}
		fs = newFlagSet(o)
		warnings, err := applyConfigFile(fs, file)
		if err != nil {
			return nil, err
		}
		o.warnings = append(o.warnings, warnings...)
		if len(ignored) > 0 {
			o.warnings = append(o.warnings, fmt.Sprintf("--config-file %s is given: ignoring %s, as etcd does", file, strings.Join(ignored, ", ")))
		}
	} else {
		warnings, err := vars.apply(fs, onCommandLine)
		if err != nil {
			return nil, err
		}
		o.warnings = append(o.warnings, warnings...)
	}
	fs.Visit(func(f *flag.Flag) {
		switch v := f.Value.(type) {
		case *etcdOnlyValue:
			o.warnings = append(o.warnings, fmt.Sprintf("--%s is etcd's and has no effect: %s", v.name, v.flag.instead))
		case *deprecatedValue:
			o.warnings = append(o.warnings, fmt.Sprintf("--%s is deprecated and has no effect: %s", v.name, deprecatedFlags[v.name]))
		}
	})
	if err := o.finish(); err != nil {
		return nil, err
	}
	return o, nil
}

// finish derives the configuration from the flags, with etcd's defaults
// between them, and checks it.
func (o *options) finish() error {
	c := &o.cfg
	if c.QuotaBackendBytes == 0 {
		c.QuotaBackendBytes = node.DefaultQuotaBackendBytes // 0 means the default, as in etcd
	}
	c.DataDir = o.dataDir
	if c.DataDir == "" {
		c.DataDir = c.Name + ".node"
	}
	if !o.advClient.set {
		c.AdvertiseClientURLs = c.ListenClientURLs
	}
	if !o.advPeer.set {
		c.InitialAdvertisePeerURLs = c.ListenPeerURLs
	}
	c.InitialClusterState = node.ClusterState(o.clusterState)
	c.PeerCertAllowedCNs = splitList(o.peerAllowedCN)
	c.PeerCertAllowedHostnames = splitList(o.peerAllowedHost)
	if o.initialCluster == "" {
		c.InitialCluster = map[string][]url.URL{c.Name: c.InitialAdvertisePeerURLs}
	} else {
		ic, err := node.ParseInitialCluster(o.initialCluster)
		if err != nil {
			return fmt.Errorf("--initial-cluster: %w", err)
		}
		c.InitialCluster = ic
	}
	if o.heartbeatMs <= 0 || o.electionMs <= 0 {
		return errors.New("--heartbeat-interval and --election-timeout must be positive (milliseconds)")
	}
	if o.authTTL <= 0 {
		return fmt.Errorf("--auth-token-ttl must be a positive number of seconds, not %d", o.authTTL)
	}
	c.AuthTokenTTL = time.Duration(o.authTTL) * time.Second
	if c.BcryptCost < auth.MinBcryptCost || c.BcryptCost > auth.MaxBcryptCost {
		return fmt.Errorf("--bcrypt-cost must be between %d and %d, not %d (etcd takes up to 31, but a hash past %d takes over a minute to check, and cairn checks none)",
			auth.MinBcryptCost, auth.MaxBcryptCost, c.BcryptCost, auth.MaxBcryptCost)
	}
	if kind, _, _ := strings.Cut(c.AuthToken, ","); kind == "jwt" {
		o.warnings = append(o.warnings, "--auth-token jwt: cairn signs its tokens itself (HMAC-SHA256 with the cluster's key): using signed; the JWT key files are not read")
		c.AuthToken = auth.TokenSigned
	}
	if c.AuthToken != auth.TokenSimple && c.AuthToken != auth.TokenSigned {
		return fmt.Errorf("--auth-token must be %s, %s or etcd's jwt,..., not %q", auth.TokenSimple, auth.TokenSigned, c.AuthToken)
	}
	c.HeartbeatInterval = time.Duration(o.heartbeatMs) * time.Millisecond
	c.ElectionTimeout = time.Duration(o.electionMs) * time.Millisecond
	if c.AutoCompactionRetention == "0" || c.AutoCompactionRetention == "" {
		c.AutoCompactionMode = ""
	}
	if err := o.log.check(); err != nil {
		return err
	}
	if o.devCluster < 0 || o.devCluster > 9 {
		return errors.New("--dev-cluster must be between 1 and 9")
	}
	if o.devCluster == 0 {
		return c.Validate()
	}
	return nil
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

// flagMention matches the flag package's "-name" in its error messages.
var flagMention = regexp.MustCompile(`(^|[ :])-([a-z][a-z0-9-]*)`)

// flagError rewrites the flag package's errors to name flags with two
// dashes, as cairn's help and etcd's do.
func flagError(err error) error {
	msg := flagMention.ReplaceAllString(err.Error(), "$1--$2")
	return errors.New(boolFlagMention.ReplaceAllString(msg, "${1}--$2"))
}

// boolFlagMention matches the name in "invalid boolean flag name: ...".
var boolFlagMention = regexp.MustCompile(`^(invalid boolean flag )([a-z][a-z0-9-]*)`)

// printHelp writes the usage: cairn's flags with two dashes, then the
// names of etcd's flags that are accepted with a warning.
func printHelp(w io.Writer) {
	o := &options{}
	fs := newFlagSet(o)
	fmt.Fprintf(w, "Usage: node [flags]\n\nRuns a cairn member. Every flag can also be set in the environment as\nETCD_NAME or CAIRN_NAME (--listen-client-urls: CAIRN_LISTEN_CLIENT_URLS), or\nin a YAML file with etcd's keys (--config-file).\n\nFlags:\n")
	var etcdOnly []string
	fs.VisitAll(func(f *flag.Flag) {
		if isEtcdOnly(f.Name) {
			etcdOnly = append(etcdOnly, "--"+f.Name)
			return
		}
		def := ""
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && !strings.Contains(f.Usage, "(default") {
			def = fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "  --%s\n    \t%s%s\n", f.Name, f.Usage, def)
	})
	slices.Sort(etcdOnly)
	fmt.Fprintf(w, "\netcd's flags accepted with a warning (cairn has no such setting):\n")
	line := " "
	for _, name := range etcdOnly {
		if len(line)+len(name) > 78 {
			fmt.Fprintln(w, line)
			line = " "
		}
		line += " " + name
	}
	fmt.Fprintln(w, line)
}
