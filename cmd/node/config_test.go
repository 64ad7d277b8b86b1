package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairndb/cairn/node"
)

// The environment sets what the command line does not, as ETCD_NAME or
// CAIRN_NAME (which wins); the command line wins over both.
func TestEnvironment(t *testing.T) {
	env := []string{"ETCD_NAME=from-etcd", "ETCD_SNAPSHOT_COUNT=7", "CAIRN_SNAPSHOT_COUNT=8",
		"ETCD_HEARTBEAT_INTERVAL=50", "ETCD_ELECTION_TIMEOUT=500", "ETCD_QUOTA_BACKEND_BYTES=4096",
		"ETCD_LISTEN_CLIENT_URLS=http://127.0.0.1:12379", "ETCD_LOGGER=zap", "ETCDCTL_API=3", "ETCD_ENABLE_V2=false",
		"ETCD_UNSUPPORTED_ARCH=arm", "CAIRN_TEST_LOG=1"}
	o, err := parseFlags([]string{"--snapshot-count", "9"}, env)
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if c.Name != "from-etcd" || c.DataDir != "from-etcd.node" || c.SnapshotCount != 9 || c.HeartbeatInterval != 50*time.Millisecond ||
		c.ElectionTimeout != 500*time.Millisecond || c.QuotaBackendBytes != 4096 || c.ListenClientURLs[0].Host != "127.0.0.1:12379" ||
		o.log.logger != "zap" {
		t.Fatalf("config from the environment: %+v, log %+v", c, o.log)
	}
	if o, err := parseFlags(nil, env); err != nil || o.cfg.SnapshotCount != 8 {
		t.Fatalf("CAIRN_ over ETCD_: %v, %v", o.cfg.SnapshotCount, err)
	}
	// ETCD_ENABLE_V2 names no flag of etcd 3.6 either: one warning.
	if len(o.warnings) != 1 || !strings.Contains(o.warnings[0], "unrecognized environment variable ETCD_ENABLE_V2") {
		t.Fatalf("warnings: %q", o.warnings)
	}
	if _, err := parseFlags(nil, []string{"ETCD_SNAPSHOT_COUNT=many"}); err == nil ||
		!strings.Contains(err.Error(), `environment ETCD_SNAPSHOT_COUNT="many"`) {
		t.Fatalf("a bad variable: %v", err)
	}
}

// Each etcd flag cairn has no setting for is accepted with one warning
// line saying what cairn does instead, bool flags without a value too;
// those that would change what the member is or trusts are refused.
func TestEtcdOnlyFlags(t *testing.T) {
	for name, f := range etcdOnlyFlags {
		arg := "--" + name + "=x"
		if f.bool {
			arg = "--" + name
		}
		o, err := parseFlags([]string{arg}, nil)
		if f.refuse {
			if err == nil || !strings.Contains(err.Error(), "--"+name+": "+f.instead) {
				t.Errorf("%s: %v, want the refusal %q", arg, err, f.instead)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", arg, err)
			continue
		}
		if len(o.warnings) != 1 || o.warnings[0] != "--"+name+" is etcd's and has no effect: "+f.instead {
			t.Errorf("%s: warnings %q", arg, o.warnings)
		}
		if strings.Contains(f.instead, "\n") {
			t.Errorf("%s: warning of more than one line", name)
		}
	}
	// Set to nothing, a refused flag is accepted (etcd's sample config
	// file has discovery: with no value).
	if _, err := parseFlags([]string{"--discovery=", "--force-new-cluster=false"}, nil); err != nil {
		t.Fatal(err)
	}
	// etcd's experimental- names set cairn's flags.
	o, err := parseFlags([]string{"--experimental-corrupt-check-time=1m", "--experimental-initial-corrupt-check", "--experimental-warning-apply-duration=1s",
		"--experimental-warning-unary-request-duration=2s", "--experimental-watch-progress-notify-interval=3s"}, nil)
	if err != nil || o.cfg.CorruptCheckTime != time.Minute || !o.cfg.InitialCorruptCheck || o.cfg.WarningApplyDuration != time.Second ||
		o.cfg.WarningUnaryRequestDuration != 2*time.Second || o.cfg.WatchProgressNotifyInterval != 3*time.Second {
		t.Fatalf("aliases: %v %+v", err, o.cfg)
	}
}

// writeFile writes a file in a test's temp dir and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// A config file with etcd's keys sets the member, TLS blocks, lists and
// etcd's nanosecond durations included; the command line and the
// environment are then ignored, with a warning, as etcd does.
func TestConfigFile(t *testing.T) {
	path := writeFile(t, "etcd.conf.yml", `
name: 'infra1'
data-dir:
wal-dir:
snapshot-count: 5000
heartbeat-interval: 50
election-timeout: 500
quota-backend-bytes: 0
listen-peer-urls: http://127.0.0.1:12380
listen-client-urls: http://127.0.0.1:12379,http://127.0.0.1:12479
initial-advertise-peer-urls: http://127.0.0.1:12380
advertise-client-urls: http://127.0.0.1:12379
initial-cluster: infra1=http://127.0.0.1:12380,infra2=http://127.0.0.1:22380
initial-cluster-token: 'etcd-cluster-1'
initial-cluster-state: 'new'
max-snapshots: 5
discovery:
proxy: 'off'
client-transport-security:
  cert-file:
  client-cert-auth: false
  auto-tls: false
peer-transport-security:
  trusted-ca-file: /etc/ssl/ca.pem
  client-cert-auth: true
logger: zap
log-level: warn
log-outputs: [stderr, stdout]
auto-compaction-mode: revision
auto-compaction-retention: "1000"
experimental-corrupt-check-time: 300000000000
warning-apply-duration: 200ms
`)
	o, err := parseFlags([]string{"--config-file", path, "--name", "ignored"}, []string{"ETCD_SNAPSHOT_COUNT=1"})
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if c.Name != "infra1" || c.DataDir != "infra1.node" || c.SnapshotCount != 5000 || c.HeartbeatInterval != 50*time.Millisecond ||
		c.QuotaBackendBytes != 2<<30 || len(c.ListenClientURLs) != 2 || len(c.InitialCluster) != 2 ||
		c.InitialClusterToken != "etcd-cluster-1" || !o.peerClientCertAuth || o.peerTrustedCA != "/etc/ssl/ca.pem" ||
		o.log != (logOptions{logger: "zap", level: "warn", outputs: "stderr,stdout"}) ||
		c.AutoCompactionMode != "revision" || c.AutoCompactionRetention != "1000" ||
		c.CorruptCheckTime != 5*time.Minute || c.WarningApplyDuration != 200*time.Millisecond {
		t.Fatalf("config: %+v\nlog: %+v", c, o.log)
	}
	warnings := strings.Join(o.warnings, "\n")
	for _, want := range []string{
		"line 18: proxy is not a setting of etcd 3.6 nor of cairn: ignored",
		"--max-snapshots is etcd's and has no effect",
		"ignoring --name, ETCD_SNAPSHOT_COUNT, as etcd does",
	} {
		if !strings.Contains(warnings, want) {
			t.Errorf("no warning %q in:\n%s", want, warnings)
		}
	}
	// ETCD_CONFIG_FILE names the file too.
	if o, err := parseFlags(nil, []string{"ETCD_CONFIG_FILE=" + path}); err != nil || o.cfg.Name != "infra1" {
		t.Fatalf("ETCD_CONFIG_FILE: %v", err)
	}
}

// What a config file says wrong is one line naming the file, the line
// and the key.
func TestConfigFileErrors(t *testing.T) {
	for _, tc := range []struct{ content, want string }{
		{"name: a\nnmae: b\n", `line 2: unknown key "nmae"`},
		{"name: a\nname: b\n", "line 2: name is set twice (first on line 1)"},
		{"snapshot-count: lots\n", `line 1: snapshot-count: "lots": parse error`},
		{"listen-client-urls: [a, b]\n", "line 1: listen-client-urls:"},
		{"client-transport-security: yes\n", "line 1: client-transport-security: want a mapping, not a value"},
		{"client-transport-security:\n  cert: x\n", `line 2: unknown key "cert"`},
		{"name: {a: b}\n", "line 1: name: want a value, not a mapping"},
		{"- name\n", "line 1: want a mapping of etcd's keys"},
		{"name: [unclosed\n", "yaml:"},
		{"discovery: https://discovery.etcd.io/abc\n", "line 1: discovery:"},
		{"initial-cluster-state: maybe\n", "--initial-cluster-state must be new or existing"},
	} {
		path := writeFile(t, "bad.yml", tc.content)
		_, err := parseFlags([]string{"--config-file", path}, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: got %v, want one line with %q", tc.content, err, tc.want)
		}
	}
	if _, err := parseFlags([]string{"--config-file", filepath.Join(t.TempDir(), "none.yml")}, nil); err == nil ||
		!strings.Contains(err.Error(), "--config-file:") {
		t.Errorf("missing file: %v", err)
	}
}

// --help lists the flags with two dashes, and etcd's accepted ones apart;
// --version prints the versions; a bad flag is one line, no usage.
func TestHelpVersionAndErrors(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	help := out.String()
	for _, want := range []string{"\n  --listen-client-urls\n", "\n  --config-file\n", "\n  --log-format\n", "etcd's flags accepted with a warning", "--max-snapshots"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q:\n%s", want, help)
		}
	}
	if strings.Contains(help, "\n  -l") || strings.Contains(help, "\n  --max-snapshots\n") {
		t.Errorf("help has a one-dash flag or lists etcd's flags as cairn's:\n%s", help)
	}
	out.Reset()
	if code := run(context.Background(), []string{"--version"}, nil, &out, &errOut); code != 0 ||
		!strings.HasPrefix(out.String(), "cairn Version: ") || !strings.Contains(out.String(), "\netcd Version: 3.6.0\n") {
		t.Fatalf("--version: exit %d, %q", code, out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"--no-such-flag"}, nil, &out, &errOut); code != 2 ||
		errOut.String() != "node: flag provided but not defined: --no-such-flag\n" || out.Len() != 0 {
		t.Fatalf("unknown flag: exit %d, %q %q", code, errOut.String(), out.String())
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"--log-format", "xml"}, nil, &out, &errOut); code != 2 ||
		errOut.String() != "node: --log-format must be json, console or text, not \"xml\"\n" {
		t.Fatalf("bad log format: exit %d, %q", code, errOut.String())
	}
}

// --max-request-bytes is set as etcd's: flag, environment, config-file
// key; past the most a member takes it is refused, naming the flag.
func TestMaxRequestBytesSettings(t *testing.T) {
	if o, err := parseFlags([]string{"--max-request-bytes", "2097152"}, nil); err != nil || o.cfg.MaxRequestBytes != 2097152 {
		t.Fatalf("flag: %v, %v", o, err)
	}
	if o, err := parseFlags(nil, []string{"ETCD_MAX_REQUEST_BYTES=3145728"}); err != nil || o.cfg.MaxRequestBytes != 3145728 {
		t.Fatalf("environment: %v", err)
	}
	path := writeFile(t, "etcd.conf.yml", "max-request-bytes: 4194304\n")
	if o, err := parseFlags([]string{"--config-file", path}, nil); err != nil || o.cfg.MaxRequestBytes != 4194304 {
		t.Fatalf("config file: %v", err)
	}
	if _, err := parseFlags([]string{"--max-request-bytes", "1073741824"}, nil); err == nil || !strings.Contains(err.Error(), "--max-request-bytes") {
		t.Fatalf("1 GiB: %v, want a refusal naming --max-request-bytes", err)
	}
}

// --backend-cache-bytes comes from the command line, the environment or
// the config file, defaults to node.DefaultBackendCacheBytes, and refuses
// a budget that is not positive, naming the flag.
func TestBackendCacheBytes(t *testing.T) {
	if o, err := parseFlags(nil, nil); err != nil || o.cfg.BackendCacheBytes != node.DefaultBackendCacheBytes {
		t.Fatalf("default: %d, %v; want %d", o.cfg.BackendCacheBytes, err, node.DefaultBackendCacheBytes)
	}
	if o, err := parseFlags([]string{"--backend-cache-bytes", "1048576"}, nil); err != nil || o.cfg.BackendCacheBytes != 1<<20 {
		t.Fatalf("flag: %d, %v", o.cfg.BackendCacheBytes, err)
	}
	if o, err := parseFlags(nil, []string{"CAIRN_BACKEND_CACHE_BYTES=2097152"}); err != nil || o.cfg.BackendCacheBytes != 2<<20 {
		t.Fatalf("environment: %d, %v", o.cfg.BackendCacheBytes, err)
	}
	path := writeFile(t, "cache.yml", "backend-cache-bytes: 3145728\n")
	if o, err := parseFlags([]string{"--config-file", path}, nil); err != nil || o.cfg.BackendCacheBytes != 3<<20 {
		t.Fatalf("config file: %d, %v", o.cfg.BackendCacheBytes, err)
	}
	for _, bad := range []string{"0", "-1"} {
		if _, err := parseFlags([]string{"--backend-cache-bytes", bad}, nil); err == nil || !strings.Contains(err.Error(), "--backend-cache-bytes") {
			t.Fatalf("--backend-cache-bytes %s: %v, want an error naming the flag", bad, err)
		}
	}
}

// etcd's --backend-batch-interval and --backend-batch-limit set how often
// and after how many changes the store commits: from the command line,
// etcd's environment variables or its config file (a duration there in
// nanoseconds, as etcd reads it); negative values are refused, naming
// the flag; 0 keeps the defaults.
func TestBackendBatchFlags(t *testing.T) {
	path := writeFile(t, "batch.yml", "backend-batch-interval: 250000000\nbackend-batch-limit: 500\n")
	tests := []struct {
		name      string
		args, env []string
		interval  time.Duration
		limit     int
		wantErr   string
	}{
		{"defaults", nil, nil, 0, 0, ""},
		{"empty, as etcd prints its default", []string{"--backend-batch-interval="}, nil, 0, 0, ""},
		{"not a duration", []string{"--backend-batch-interval", "soon"}, nil, 0, 0, "--backend-batch-interval"},
		{"flags", []string{"--backend-batch-interval", "20ms", "--backend-batch-limit", "64"}, nil, 20 * time.Millisecond, 64, ""},
		{"environment", nil, []string{"ETCD_BACKEND_BATCH_INTERVAL=1s", "ETCD_BACKEND_BATCH_LIMIT=7"}, time.Second, 7, ""},
		{"config file", []string{"--config-file", path}, nil, 250 * time.Millisecond, 500, ""},
		{"negative interval", []string{"--backend-batch-interval", "-1s"}, nil, 0, 0, "--backend-batch-interval"},
		{"negative limit", []string{"--backend-batch-limit", "-5"}, nil, 0, 0, "--backend-batch-limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseFlags(tt.args, tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("%v, want an error naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || o.cfg.BackendBatchInterval != tt.interval || o.cfg.BackendBatchLimit != tt.limit {
				t.Fatalf("interval %v, limit %d, %v; want %v, %d", o.cfg.BackendBatchInterval, o.cfg.BackendBatchLimit, err, tt.interval, tt.limit)
			}
		})
	}
}
