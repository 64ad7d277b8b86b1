package node

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

func mustURLs(t *testing.T, s string) []url.URL {
	t.Helper()
	u, err := ParseURLs(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestDefaultConfigIsValid(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestParseURLs(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		{"http://127.0.0.1:2379", ""},
		{"https://a:1,http://b:2", ""},
		{"", "empty"},
		{"127.0.0.1:2379", "scheme"},
		{"ftp://a:1", "scheme"},
		{"http://a", "host:port"},
		{"http://a:1/path", "path"},
		{"http://user@a:1", "user"},
	}
	for _, tt := range tests {
		_, err := ParseURLs(tt.in)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%q: %v", tt.in, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%q: error %v, want one mentioning %q", tt.in, err, tt.wantErr)
		}
	}
}

func TestParseInitialCluster(t *testing.T) {
	got, err := ParseInitialCluster("a=http://127.0.0.1:2380,b=http://127.0.0.1:12380,a=http://10.0.0.1:2380")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || len(got["a"]) != 2 || len(got["b"]) != 1 {
		t.Fatalf("parsed %v", got)
	}
	for _, bad := range []string{"a", "=http://x:1", "a=", "a=x:1"} {
		if _, err := ParseInitialCluster(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestValidateNamesTheSetting(t *testing.T) {
	tests := []struct {
		mutate func(*Config)
		want   string
	}{
		{func(c *Config) { c.Name = "" }, "--name"},
		{func(c *Config) { c.InitialClusterState = "maybe" }, "--initial-cluster-state"},
		{func(c *Config) { c.SnapshotCount = 0 }, "--snapshot-count"},
		{func(c *Config) { c.ElectionTimeout = 2 * c.HeartbeatInterval }, "--election-timeout"},
		{func(c *Config) { c.Name = "other" }, `no member named "other"`},
		{func(c *Config) { c.InitialAdvertisePeerURLs = mustURLs(t, "http://127.0.0.1:9999") }, "--initial-advertise-peer-urls"},
		{func(c *Config) {
			c.InitialCluster["b"] = c.InitialCluster["default"]
		}, "both"},
		{func(c *Config) { c.AutoCompactionMode = "hourly" }, "--auto-compaction-mode"},
		{func(c *Config) { c.HeartbeatInterval = 0 }, "--heartbeat-interval"},
		{func(c *Config) { c.MaxTxnOps = -1; c.ElectionTimeout = time.Second }, "--max-txn-ops"},
	}
	for _, tt := range tests {
		c := DefaultConfig()
		tt.mutate(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("error %v, want one mentioning %q", err, tt.want)
		}
	}
}

func TestMemberIDs(t *testing.T) {
	a := MemberID(mustURLs(t, "http://127.0.0.1:2380"), "tok")
	if a != MemberID(mustURLs(t, "http://127.0.0.1:2380"), "tok") {
		t.Fatal("member id not deterministic")
	}
	if a == MemberID(mustURLs(t, "http://127.0.0.1:2380"), "other") {
		t.Fatal("cluster token does not change the member id")
	}
	if MemberID(mustURLs(t, "http://a:1,http://b:2"), "t") != MemberID(mustURLs(t, "http://b:2,http://a:1"), "t") {
		t.Fatal("member id depends on URL order")
	}
	if ClusterID([]uint64{1, 2, 3}) != ClusterID([]uint64{3, 1, 2}) {
		t.Fatal("cluster id depends on member order")
	}
}
