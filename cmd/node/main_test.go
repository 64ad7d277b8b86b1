package main

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairndb/cairn/node"
)

func TestParseFlagsDefaults(t *testing.T) {
	o, err := parseFlags(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if c.Name != "default" || c.DataDir != "default.node" || c.ListenClientURLs[0].Host != "127.0.0.1:2379" ||
		c.ListenPeerURLs[0].Host != "127.0.0.1:2380" || c.InitialCluster["default"][0].Host != "127.0.0.1:2380" {
		t.Fatalf("defaults: %+v", c)
	}
	o, err = parseFlags([]string{"--name", "m1", "--listen-peer-urls", "http://127.0.0.1:12380"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.cfg.DataDir != "m1.node" || o.cfg.InitialAdvertisePeerURLs[0].Host != "127.0.0.1:12380" || o.cfg.InitialCluster["m1"][0].Host != "127.0.0.1:12380" {
		t.Fatalf("derived defaults: %+v", o.cfg)
	}
}

func TestParseFlagsPeerCertAllowed(t *testing.T) {
	o, err := parseFlags([]string{"--peer-cert-allowed-cn", "peer, peer2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(o.cfg.PeerCertAllowedCNs, "|"); got != "peer|peer2" || o.cfg.PeerCertAllowedHostnames != nil {
		t.Fatalf("--peer-cert-allowed-cn: %q, hostnames %q", got, o.cfg.PeerCertAllowedHostnames)
	}
}

// The corruption checks are on by default (etcd's are off); etcd 3.6's
// flags and feature gate set them as they set etcd's.
func TestParseFlagsCorruptCheck(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		every    time.Duration
		initial  bool
		warnings int
	}{
		{nil, node.DefaultCorruptCheckTime, true, 0},
		{[]string{"--corrupt-check-time", "1m", "--initial-corrupt-check=false"}, time.Minute, false, 0},
		{[]string{"--corrupt-check-time=0"}, 0, true, 0},
		{[]string{"--experimental-corrupt-check-time", "2m", "--experimental-initial-corrupt-check=false"}, 2 * time.Minute, false, 0},
		{[]string{"--feature-gates", "InitialCorruptCheck=false"}, node.DefaultCorruptCheckTime, false, 0},
		{[]string{"--initial-corrupt-check=false", "--feature-gates", " InitialCorruptCheck = true ,CompactHashCheck=true"}, node.DefaultCorruptCheckTime, true, 1},
	} {
		o, err := parseFlags(tc.args, nil)
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if o.cfg.CorruptCheckTime != tc.every || o.cfg.InitialCorruptCheck != tc.initial || len(o.warnings) != tc.warnings {
			t.Fatalf("%q: every %v, initial %v, warnings %q; want %v, %v, %d", tc.args, o.cfg.CorruptCheckTime, o.cfg.InitialCorruptCheck, o.warnings, tc.every, tc.initial, tc.warnings)
		}
	}
	for args, want := range map[string]string{
		"Nope=true":                 `unknown feature gate "Nope"`,
		"InitialCorruptCheck":       "want Name=true or Name=false",
		"InitialCorruptCheck=maybe": `InitialCorruptCheck: "maybe" is not true or false`,
	} {
		if _, err := parseFlags([]string{"--feature-gates", args}, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("--feature-gates %s: %v, want %q", args, err, want)
		}
	}
}

// Bad flags get one clear line naming the flag.
func TestParseFlagsErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--listen-client-urls", "127.0.0.1:2379"}, "scheme missing"},
		{[]string{"--initial-cluster-state", "maybe"}, "--initial-cluster-state must be new or existing"},
		{[]string{"--name", "x"}, ""}, // fine: the initial cluster defaults to x
		{[]string{"--initial-cluster", "a=http://127.0.0.1:1"}, `--initial-cluster has no member named "default"`},
		{[]string{"--heartbeat-interval", "500"}, "--election-timeout"},
		{[]string{"--snapshot-count", "0"}, "--snapshot-count must be positive"},
		{[]string{"--auto-compaction-mode", "hourly", "--auto-compaction-retention", "1"}, "--auto-compaction-mode must be periodic or revision"},
		{[]string{"stray"}, `unexpected argument "stray"`},
		{[]string{"--dev-cluster", "12"}, "--dev-cluster must be between 1 and 9"},
		{[]string{"--auth-token", "bogus"}, `--auth-token must be simple, signed or etcd's jwt,..., not "bogus"`},
		{[]string{"--auth-token", "signed", "--auth-token-ttl", "60", "--bcrypt-cost", "12"}, ""},
		{[]string{"--auth-token-ttl", "0"}, "--auth-token-ttl must be a positive number of seconds"},
		{[]string{"--bcrypt-cost", "3"}, "--bcrypt-cost must be between 4 and 20, not 3"},
		{[]string{"--corrupt-check-time", "-1s"}, "--corrupt-check-time (-1s) must not be negative"},
		{[]string{"--corrupt-check-time", "5"}, `invalid value "5" for flag --corrupt-check-time`},
		{[]string{"--peer-cert-allowed-cn", "a,b", "--peer-cert-allowed-hostname", "h"}, "cannot both be set"},
		{[]string{"--peer-cert-allowed-cn", "a,,b"}, "take non-empty names"},
		{[]string{"--peer-cert-allowed-hostname", "peer.example.com, 10.0.0.1"}, ""},
	} {
		_, err := parseFlags(tc.args, nil)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%v: %v", tc.args, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.args, err, tc.want)
		}
	}
}

// A port in use fails with one line, exit 1, and writes nothing.
func TestRunPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dir := filepath.Join(t.TempDir(), "data")
	var out strings.Builder
	code := run(context.Background(), []string{"--data-dir", dir, "--listen-client-urls", "http://" + l.Addr().String(),
		"--listen-peer-urls", "http://127.0.0.1:0"}, nil, io.Discard, &out)
	if code != 1 || !strings.Contains(out.String(), "address already in use") || strings.Count(out.String(), "\n") != 1 {
		t.Fatalf("exit %d, output %q", code, out.String())
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("data dir written: %v", err)
	}
}
