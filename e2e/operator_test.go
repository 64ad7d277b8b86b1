package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// An etcd operator's kit: cmd/node started as etcd 3.6 is, from a config
// file with etcd's keys, from an etcd systemd unit's environment, and
// with every flag etcd 3.6's --help lists.

// httpGet returns the status and body of a GET.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitReady waits until base/readyz answers ok.
func waitReady(t *testing.T, m *member, base string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && string(b) == "ok\n" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/readyz never ok (%v):\n%s", base, err, m.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkZapLines checks that every line of logs is one of etcd's zap JSON
// lines: level, ts, caller and msg first, in that order.
func checkZapLines(t *testing.T, logs string) {
	t.Helper()
	lines := 0
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		line := sc.Text()
		lines++
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("log line is not JSON: %q", line)
			continue
		}
		if !strings.HasPrefix(line, `{"level":"`) || !regexp.MustCompile(`^\{"level":"[a-z]+","ts":"[0-9T:.+Z-]+","caller":"[a-z0-9/_.]+:[0-9]+","msg":`).MatchString(line) {
			t.Errorf("log line is not etcd's: %q", line)
		}
	}
	if lines == 0 {
		t.Error("no log lines")
	}
}

// TestNodeFromEtcdConfigFile: an etcd 3.6 style config file (etcd's keys,
// TLS blocks, lists, keys cairn only accepts, one etcd 3.6 ignores too)
// starts a member that logs etcd's JSON lines to the file it names and
// serves the health endpoints and the metrics on its metrics URL.
func TestNodeFromEtcdConfigFile(t *testing.T) {
	dir := t.TempDir()
	client := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	metrics := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	logFile := filepath.Join(dir, "etcd.log")
	config := filepath.Join(dir, "etcd.conf.yml")
	err := os.WriteFile(config, []byte(fmt.Sprintf(`# An etcd 3.6 member's configuration.
name: 'infra0'
data-dir: %s
wal-dir:
snapshot-count: 10000
heartbeat-interval: 100
election-timeout: 1000
quota-backend-bytes: 0
listen-peer-urls: %s
listen-client-urls: %s
listen-metrics-urls: %s
max-snapshots: 5
max-wals: 5
cors:
initial-advertise-peer-urls: %s
advertise-client-urls: %s
discovery:
discovery-fallback: 'proxy'
initial-cluster: infra0=%s
initial-cluster-token: 'etcd-cluster'
initial-cluster-state: 'new'
strict-reconfig-check: false
enable-pprof: true
proxy: 'off'
client-transport-security:
  cert-file:
  key-file:
  client-cert-auth: false
  trusted-ca-file:
  auto-tls: false
peer-transport-security:
  cert-file:
  key-file:
  client-cert-auth: false
  trusted-ca-file:
  auto-tls: false
self-signed-cert-validity: 1
log-level: info
logger: zap
log-outputs: [%s]
force-new-cluster: false
auto-compaction-mode: periodic
auto-compaction-retention: "1"
tls-min-version: 'TLS1.2'
`, filepath.Join(dir, "infra0.etcd"), peer, client, metrics, peer, client, peer, logFile)), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	m := spawnNodeEnv(t, dir, []string{"PATH=" + os.Getenv("PATH")}, "--config-file", config)
	waitReady(t, m, metrics)
	waitReady(t, m, client)
	if code, body := httpGet(t, metrics+"/metrics"); code != 200 || !strings.Contains(body, "\netcd_server_has_leader 1\n") ||
		!strings.Contains(body, "\netcd_server_quota_backend_bytes 2.147483648e+09\n") {
		t.Errorf("/metrics: %d\n%.2000s", code, body)
	}
	if code, body := httpGet(t, client+"/version"); code != 200 || !strings.Contains(body, `"etcdserver":"3.6.0"`) {
		t.Errorf("/version: %d %s", code, body)
	}
	if code, _ := httpGet(t, metrics+"/debug/pprof/"); code != 200 {
		t.Errorf("enable-pprof: /debug/pprof/ answered %d", code)
	}
	m.stop()
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	logs := string(b)
	checkZapLines(t, logs)
	for _, want := range []string{`"msg":"cairn member serving"`, `--max-snapshots is etcd's and has no effect`,
		`proxy is not a setting of etcd 3.6 nor of cairn: ignored`, `"msg":"stopping"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if m.stderr.String() != "" {
		t.Errorf("wrote to stderr with log-outputs a file: %q", m.stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "infra0.etcd", "member")); err != nil {
		t.Errorf("data-dir of the config file not used: %v", err)
	}
}

// TestNodeFromEtcdUnitEnvironment: the environment of an etcd systemd
// unit (Environment=ETCD_... lines, an older etcd's included) starts a
// member that logs etcd's JSON lines on stderr and is ready on its client
// port.
func TestNodeFromEtcdUnitEnvironment(t *testing.T) {
	dir := t.TempDir()
	client := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"ETCD_NAME=etcd-0",
		"ETCD_DATA_DIR=" + filepath.Join(dir, "etcd-0"),
		"ETCD_LISTEN_PEER_URLS=" + peer,
		"ETCD_LISTEN_CLIENT_URLS=" + client,
		"ETCD_INITIAL_ADVERTISE_PEER_URLS=" + peer,
		"ETCD_ADVERTISE_CLIENT_URLS=" + client,
		"ETCD_INITIAL_CLUSTER=etcd-0=" + peer,
		"ETCD_INITIAL_CLUSTER_STATE=new",
		"ETCD_INITIAL_CLUSTER_TOKEN=etcd-cluster-prod",
		"ETCD_HEARTBEAT_INTERVAL=100",
		"ETCD_ELECTION_TIMEOUT=1000",
		"ETCD_SNAPSHOT_COUNT=10000",
		"ETCD_QUOTA_BACKEND_BYTES=8589934592",
		"ETCD_AUTO_COMPACTION_MODE=periodic",
		"ETCD_AUTO_COMPACTION_RETENTION=8",
		"ETCD_MAX_REQUEST_BYTES=10485760",
		"ETCD_LOGGER=zap",
		"ETCD_LOG_LEVEL=info",
		"ETCD_LOG_OUTPUTS=stderr",
		"ETCD_METRICS=basic",
		"ETCD_EXPERIMENTAL_INITIAL_CORRUPT_CHECK=true",
		"ETCD_EXPERIMENTAL_WATCH_PROGRESS_NOTIFY_INTERVAL=5s",
		"ETCD_ENABLE_V2=false",
		"ETCD_UNSUPPORTED_ARCH=amd64",
	}
	m := spawnNodeEnv(t, dir, env)
	m.waitServing()
	waitReady(t, m, client)
	if code, body := httpGet(t, client+"/metrics"); code != 200 || !strings.Contains(body, "\netcd_server_quota_backend_bytes 8.589934592e+09\n") {
		t.Errorf("/metrics: %d\n%.2000s", code, body)
	}
	m.stop()
	logs := m.stderr.String()
	checkZapLines(t, logs)
	for _, want := range []string{`"msg":"cairn member serving","name":"etcd-0"`, `--metrics is etcd's and has no effect`,
		`unrecognized environment variable ETCD_ENABLE_V2`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

// etcdFlagPattern reads a flag and its default from etcd's --help.
var etcdFlagPattern = regexp.MustCompile(`^\s+--([a-z0-9-]+)(?: '([^']*)'| (\S+))?\s*$`)

// TestNodeAcceptsEveryEtcdFlag: every flag etcd 3.6's --help lists, given
// at etcd's default, starts cmd/node: cairn's own flags take it, the
// others are accepted with one warning line each, and nothing prints a
// usage.
func TestNodeAcceptsEveryEtcdFlag(t *testing.T) {
	etcdBin, _ := etcdBinaries(t)
	out, err := exec.Command(etcdBin, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("etcd --help: %v\n%s", err, out)
	}
	var args []string
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		m := etcdFlagPattern.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		name, def := m[1], m[2]+m[3]
		names = append(names, name)
		switch {
		case m[2] == "" && m[3] == "" && !strings.Contains(line, "'"):
			// No default shown: a bool flag, or a number whose default is
			// not printed.
			args = append(args, "--"+name)
			if name != "memory-mlock" && name != "enable-grpc-gateway" {
				args[len(args)-1] += "=0"
			}
		default:
			args = append(args, "--"+name+"="+def)
		}
	}
	if len(names) < 130 {
		t.Fatalf("read %d flags from etcd --help, want its 136:\n%s", len(names), out)
	}
	dir := t.TempDir()
	client := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	args = append(args, "--name", "e0", "--data-dir", filepath.Join(dir, "e0"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", "e0="+peer)
	m := spawnNodeEnv(t, dir, []string{"PATH=" + os.Getenv("PATH")}, args...)
	m.waitServing()
	waitReady(t, m, client)
	m.stop()
	logs := m.stderr.String()
	checkZapLines(t, logs) // etcd's default --logger zap, --log-format json
	if strings.Contains(logs, "Usage") || strings.Contains(logs, "flag provided but not defined") {
		t.Errorf("a usage or an unknown flag:\n%s", logs)
	}
	if n := strings.Count(logs, " is etcd's and has no effect: "); n < 60 {
		t.Errorf("%d warnings for etcd's flags, want one per flag cairn only accepts:\n%s", n, logs)
	}
}
