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

// --max-request-bytes may be as large as its limit, and etcd's default is
// the default.
func TestMaxRequestBytesUpToTheLimit(t *testing.T) {
	c := DefaultConfig()
	if c.MaxRequestBytes != 1572864 {
		t.Fatalf("default --max-request-bytes %d, want etcd's 1572864", c.MaxRequestBytes)
	}
	c.MaxRequestBytes = MaxRequestBytesLimit
	if err := c.Validate(); err != nil {
		t.Fatalf("--max-request-bytes at its limit %d: %v", MaxRequestBytesLimit, err)
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
		{func(c *Config) { c.MaxRequestBytes = 0 }, "--max-request-bytes"},
		{func(c *Config) { c.MaxRequestBytes = MaxRequestBytesLimit + 1 }, "--max-request-bytes"},
		{func(c *Config) { c.BcryptCost = 3 }, "--bcrypt-cost (3) must be between 4 and 20"},
		{func(c *Config) { c.BcryptCost = 21 }, "--bcrypt-cost (21) must be between 4 and 20"},
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
