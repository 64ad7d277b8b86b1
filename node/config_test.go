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
