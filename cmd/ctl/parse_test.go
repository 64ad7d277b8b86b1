package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"flag"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cairndb/cairn/internal/testcerts"
)

func TestParseGlobalsBeforeAndAfterCommand(t *testing.T) {
	tests := []struct {
		args      []string
		cmd       string
		pos       []string
		endpoints string
		writeOut  string
		hex       bool
		timeout   time.Duration
	}{
		{[]string{"get", "a"}, "get", []string{"a"}, "127.0.0.1:2379", "simple", false, 5 * time.Second},
		{[]string{"-w", "json", "get", "a"}, "get", []string{"a"}, "127.0.0.1:2379", "json", false, 5 * time.Second},
		{[]string{"get", "a", "--write-out=table"}, "get", []string{"a"}, "127.0.0.1:2379", "table", false, 5 * time.Second},
		{[]string{"--endpoints=h1:1,h2:2", "get", "a", "b", "--prefix=false", "--hex"}, "get", []string{"a", "b"}, "h1:1,h2:2", "simple", true, 5 * time.Second},
		{[]string{"--hex", "lease", "grant", "10", "--command-timeout", "1s"}, "lease grant", []string{"10"}, "127.0.0.1:2379", "simple", true, time.Second},
		{[]string{"put", "k", "--", "-v"}, "put", []string{"k", "-v"}, "127.0.0.1:2379", "simple", false, 5 * time.Second},
		{[]string{"--endpoints", "x:1", "member", "list", "--endpoints", "y:2"}, "member list", nil, "y:2", "simple", false, 5 * time.Second},
	}
	for _, tt := range tests {
		inv, err := parse(tt.args)
		if err != nil {
			t.Errorf("parse(%q): %v", tt.args, err)
			continue
		}
		g := inv.globals
		if inv.cmd.name != tt.cmd || !reflect.DeepEqual(inv.args, tt.pos) || g.endpoints != tt.endpoints ||
			g.writeOut != tt.writeOut || g.hex != tt.hex || g.commandTimeout != tt.timeout {
			t.Errorf("parse(%q) = cmd %q args %q endpoints %q -w %q hex %v timeout %v; want %q %q %q %q %v %v",
				tt.args, inv.cmd.name, inv.args, g.endpoints, g.writeOut, g.hex, g.commandTimeout,
				tt.cmd, tt.pos, tt.endpoints, tt.writeOut, tt.hex, tt.timeout)
		}
	}
}

// runOffline runs a command line that must fail or finish before any
// request reaches a cluster (there is none).
func runOffline(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = runContext(context.Background(), append([]string{"--endpoints=127.0.0.1:1", "--dial-timeout=200ms"}, args...),
		strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args    []string
		code    int
		message string // on the Error: line
		usage   string // on the Usage: line, if any
	}{
		{nil, exitUsage, "no command given", "ctl [global flags] COMMAND"},
		{[]string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`, "ctl [global flags] COMMAND"},
		{[]string{"lease"}, exitUsage, "no lease command given", "ctl lease {grant|revoke|timetolive|list|keep-alive}"},
		{[]string{"member", "kick"}, exitUsage, `unknown member command "kick"`, "ctl member {list|add|remove|update|promote}"},
		{[]string{"get"}, exitUsage, "get takes 1 to 2 arguments, got 0", "ctl get KEY [RANGE_END] [flags]"},
		{[]string{"get", "a", "b", "c"}, exitUsage, "get takes 1 to 2 arguments, got 3", "ctl get KEY [RANGE_END]"},
		{[]string{"put"}, exitUsage, "put takes 1 to 2 arguments", "ctl put KEY [VALUE]"},
		{[]string{"lease", "list", "x"}, exitUsage, "lease list takes no arguments, got 1", "ctl lease list [flags]"},
		{[]string{"compaction"}, exitUsage, "compaction takes 1 argument, got 0", "ctl compaction REV"},
		{[]string{"get", "a", "--bogus"}, exitError, "unknown flag: --bogus", ""},
		{[]string{"--bogus", "get", "a"}, exitError, "unknown flag: --bogus", ""},
		{[]string{"get", "a", "-z"}, exitError, "unknown flag: -z", ""},
		{[]string{"get", "a", "--limit=x"}, exitError, `invalid argument "x" for "--limit" flag: parse error`, ""},
		{[]string{"get", "a", "--prefix=maybe"}, exitError, `invalid argument "maybe" for "--prefix" flag: parse error`, ""},
		{[]string{"get", "a", "--limit"}, exitError, "flag needs an argument: --limit", ""},
		{[]string{"--dial-timeout=soon", "get", "a"}, exitError, `invalid argument "soon" for "--dial-timeout" flag`, ""},
		{[]string{"put", "k"}, exitUsage, "put needs a VALUE, as an argument or on stdin, and stdin was empty", "ctl put KEY [VALUE]"},
		{[]string{"txn"}, exitUsage, "txn: stdin is empty", "ctl txn"},
		{[]string{"-w", "yaml", "get", "a"}, exitUsage, `--write-out "yaml": want simple, json, table, fields or protobuf`, "ctl [global flags]"},
		// What etcdctl cannot print in a format is refused before anything
		// is sent (etcdctl would add the member, then fail).
		{[]string{"-w", "fields", "member", "add", "n", "--peer-urls=http://h:1"}, exitUsage, "member add cannot print in the fields format", "ctl member add [flags]"},
		{[]string{"member", "list", "-w", "fields"}, exitError, "connection refused", ""},
		{[]string{"lease", "revoke", "1", "-w", "protobuf"}, exitUsage, "lease revoke cannot print in the protobuf format", ""},
		{[]string{"lease", "grant", "1", "-w", "protobuf"}, exitError, "connection refused", ""},
		{[]string{"-w", "protobuf", "endpoint", "status"}, exitUsage, "endpoint status cannot print in the protobuf format", ""},
		{[]string{"-w", "fields", "user", "get", "u"}, exitUsage, "user get cannot print in the fields format without --detail", "ctl user get NAME [flags]"},
		{[]string{"-w", "fields", "user", "get", "u", "--detail"}, exitError, "connection refused", ""},
		{[]string{"--endpoints=", "get", "a"}, exitUsage, "--endpoints is empty", ""},
		{[]string{"get", "a", "--prefix", "--from-key"}, exitUsage, "--prefix and --from-key cannot be set at the same time", "ctl get KEY"},
		{[]string{"get", "a", "z", "--prefix"}, exitUsage, "a RANGE_END cannot be given with --prefix", ""},
		{[]string{"del", "a", "z", "--from-key"}, exitUsage, "a RANGE_END cannot be given with --from-key", "ctl del KEY"},
		{[]string{"get", "a", "--sort-by=size"}, exitUsage, `--sort-by "size": want CREATE, KEY, MODIFY, VALUE or VERSION`, ""},
		{[]string{"get", "a", "--order=up"}, exitUsage, `--order "up": want ASCEND or DESCEND`, ""},
		{[]string{"get", "a", "--consistency=x"}, exitUsage, `--consistency "x"`, ""},
		{[]string{"get", "a", "--rev=-1"}, exitUsage, "--rev -1 is negative", ""},
		{[]string{"put", "k", "v", "--ignore-value"}, exitUsage, "a VALUE was given with --ignore-value", ""},
		{[]string{"put", "k", "v", "--lease=xyz"}, exitUsage, `--lease: lease ID "xyz" is not a hexadecimal number`, ""},
		{[]string{"put", "k", "v", "--lease=1", "--ignore-lease"}, exitUsage, "--lease and --ignore-lease cannot be set", ""},
		{[]string{"compaction", "ten"}, exitUsage, `revision "ten" is not a positive integer`, ""},
		{[]string{"lease", "grant", "0"}, exitUsage, `TTL "0" is not a positive number of seconds`, ""},
		{[]string{"lease", "revoke", "zz"}, exitUsage, `lease ID "zz" is not a hexadecimal number`, "ctl lease revoke ID"},
		{[]string{"member", "remove", "12345678901234567"}, exitUsage, "member ID \"12345678901234567\" is not a hexadecimal number", ""},
		{[]string{"member", "add", "n"}, exitUsage, "--peer-urls is required", "ctl member add NAME"},
		{[]string{"member", "add", "n", "--peer-urls=127.0.0.1:2380"}, exitUsage, `"127.0.0.1:2380" is not an http(s)://host:port URL`, ""},
		{[]string{"watch"}, exitUsage, "watch needs a KEY", "ctl watch KEY"},
		{[]string{"watch", "-i", "k"}, exitUsage, "watch -i takes its watches from stdin", ""},
		{[]string{"snapshot", "save", "f", "--endpoints=a:1,b:2"}, exitUsage, "give exactly one endpoint", ""},
		{[]string{"endpoint", "hashkv", "--rev=-2"}, exitUsage, "--rev -2 is negative", ""},
		{[]string{"--password=x", "get", "a"}, exitUsage, "--password given without --user", ""},
		{[]string{"--cert=c.pem", "get", "a"}, exitError, "--cert and --key must be given together", ""},
		{[]string{"snapshot", "status", "/nonexistent/snap.db"}, exitError, "snapshot status: open /nonexistent/snap.db", ""},
		{[]string{"get", "a"}, exitError, "connection refused", ""},
	}
	for _, tt := range tests {
		code, stdout, stderr := runOffline(tt.args...)
		lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
		if code != tt.code || !strings.HasPrefix(lines[0], "Error: ") || !strings.Contains(lines[0], tt.message) {
			t.Errorf("ctl %q: exit %d, stderr %q; want exit %d and an Error line containing %q", tt.args, code, stderr, tt.code, tt.message)
			continue
		}
		if stdout != "" {
			t.Errorf("ctl %q: printed %q on stdout", tt.args, stdout)
		}
		if tt.code == exitUsage && (len(lines) != 2 || !strings.HasPrefix(lines[1], "Usage: ctl")) {
			t.Errorf("ctl %q: stderr %q; want an Error line and a Usage line", tt.args, stderr)
		}
		if tt.code == exitError && len(lines) != 1 {
			t.Errorf("ctl %q: stderr %q; want one Error line", tt.args, stderr)
		}
		if tt.usage != "" && !strings.Contains(stderr, "Usage: "+tt.usage) {
			t.Errorf("ctl %q: stderr %q; want usage %q", tt.args, stderr, tt.usage)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		code, stdout, stderr := runOffline(args...)
		if code != exitOK || stderr != "" || !strings.Contains(stdout, "lease keep-alive ID") || !strings.Contains(stdout, "-endpoints") {
			t.Errorf("ctl %q: exit %d stdout %q stderr %q", args, code, stdout, stderr)
		}
	}
	code, stdout, _ := runOffline("get", "-h")
	if code != exitOK || !strings.Contains(stdout, "Usage: ctl get KEY [RANGE_END] [flags]") ||
		!strings.Contains(stdout, "-sort-by") || strings.Contains(stdout, "-endpoints") {
		t.Errorf("get -h: exit %d, %q", code, stdout)
	}
	code, stdout, _ = runOffline("lease", "-h")
	if code != exitOK || !strings.HasPrefix(stdout, "Usage: ctl lease COMMAND") || !strings.Contains(stdout, "lease keep-alive ID") ||
		strings.Contains(stdout, "member list") {
		t.Errorf("lease -h: exit %d, %q", code, stdout)
	}
	code, stdout, _ = runOffline("version")
	if code != exitOK || stdout != "ctl version: "+version+"\n" {
		t.Errorf("version: exit %d, %q", code, stdout)
	}
}

func TestEveryCommandHasHelpAndDistinctName(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range commands() {
		if seen[c.name] {
			t.Errorf("command %q listed twice", c.name)
		}
		seen[c.name] = true
		if c.summary == "" || !strings.HasPrefix(c.help(), "Usage: ctl "+c.name) {
			t.Errorf("command %q: summary %q, help %q", c.name, c.summary, c.help())
		}
		if c.maxArgs >= 0 && c.maxArgs < c.minArgs {
			t.Errorf("command %q: takes %d to %d arguments", c.name, c.minArgs, c.maxArgs)
		}
	}
}

func TestParseIDs(t *testing.T) {
	lease := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"694d5765fc71500b", 0x694d5765fc71500b, true},
		{"0x1f", 0x1f, true},
		{"A", 10, true},
		{"", 0, false},
		{"xyz", 0, false},
		{"-1", 0, false},
		{"1ffffffffffffffff", 0, false},
	}
	for _, tt := range lease {
		got, err := parseLeaseID(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("parseLeaseID(%q) = %x, %v; want %x ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	if id, err := parseMemberID("8e9e05c52164694d"); err != nil || id != 0x8e9e05c52164694d {
		t.Errorf("parseMemberID = %x, %v", id, err)
	}
	if _, err := parseMemberID("8e9e05c52164694g"); err == nil {
		t.Error("parseMemberID accepted a non-hex digit")
	}
}

func TestParseInterspersed(t *testing.T) {
	tests := []struct {
		args   []string
		pos    []string
		prefix bool
		limit  int64
	}{
		{[]string{"a", "--prefix", "b"}, []string{"a", "b"}, true, 0},
		{[]string{"--limit", "3", "a"}, []string{"a"}, false, 3},
		{[]string{"a", "--limit=4", "--prefix"}, []string{"a"}, true, 4},
		{[]string{"a", "--", "--prefix", "-x"}, []string{"a", "--prefix", "-x"}, false, 0},
		{[]string{"-", "--prefix"}, []string{"-"}, true, 0},
		{nil, nil, false, 0},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		prefix := fs.Bool("prefix", false, "")
		limit := fs.Int64("limit", 0, "")
		pos, err := parseInterspersed(fs, tt.args)
		if err != nil || !reflect.DeepEqual(pos, tt.pos) || *prefix != tt.prefix || *limit != tt.limit {
			t.Errorf("parseInterspersed(%q) = %q, %v with prefix %v limit %d; want %q prefix %v limit %d",
				tt.args, pos, err, *prefix, *limit, tt.pos, tt.prefix, tt.limit)
		}
	}
}

func TestTLSConfig(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t, "test CA")
	caFile := ca.WriteCert(t, dir, "ca.crt")
	certFile, keyFile := ca.IssueFiles(t, dir, "client", x509.ExtKeyUsageClientAuth)
	g := defaultGlobals()
	if c, err := g.tlsConfig(); c != nil || err != nil {
		t.Fatalf("no TLS flags: %v, %v; want nil, nil", c, err)
	}
	g.cacert, g.cert, g.key = caFile, certFile, keyFile
	c, err := g.tlsConfig()
	if err != nil || c.RootCAs == nil || len(c.Certificates) != 1 || c.InsecureSkipVerify {
		t.Fatalf("tlsConfig = %+v, %v", c, err)
	}
	g = defaultGlobals()
	g.insecureSkip = true
	if c, err := g.tlsConfig(); err != nil || !c.InsecureSkipVerify {
		t.Fatalf("--insecure-skip-tls-verify: %+v, %v", c, err)
	}
	g = defaultGlobals()
	g.cacert = keyFile // PEM, but not a certificate
	if _, err := g.tlsConfig(); err == nil || !strings.Contains(err.Error(), "holds no PEM certificate") {
		t.Fatalf("--cacert of a key: %v", err)
	}
}
