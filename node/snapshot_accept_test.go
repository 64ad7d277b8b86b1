package node

import (
	"log/slog"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/cairndb/cairn/api"
)

// startOneMember starts a single member, for tests inside the package.
func startOneMember(t *testing.T, quota int64) *Server {
	t.Helper()
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.ListenPeerURLs = []url.URL{{Scheme: "http", Host: pl.Addr().String()}}
	cfg.InitialAdvertisePeerURLs = cfg.ListenPeerURLs
	cfg.ListenClientURLs = []url.URL{{Scheme: "http", Host: cl.Addr().String()}}
	cfg.AdvertiseClientURLs = cfg.ListenClientURLs
	cfg.InitialCluster = map[string][]url.URL{cfg.Name: cfg.ListenPeerURLs}
	cfg.HeartbeatInterval, cfg.ElectionTimeout = 10*time.Millisecond, 100*time.Millisecond
	cfg.QuotaBackendBytes = quota
	s, err := NewServer(cfg, ServerOptions{PeerListeners: []net.Listener{pl}, ClientListeners: []net.Listener{cl},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	for deadline := time.Now().Add(10 * time.Second); s.Leader() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no leader")
		}
	}
	return s
}

// A snapshot is taken only from the leader this member follows, and only
// if it fits under twice the quota and on the disk.
func TestCheckSnapshot(t *testing.T) {
	const quota = 512 << 20
	s := startOneMember(t, quota)
	lead := s.Leader()
	free := uint64(10 << 30)
	s.transport.freeBytes = func(string) (uint64, bool) { return free, true }
	for _, tc := range []struct {
		name string
		from uint64
		size uint64
		free uint64
		want api.Code // 0: taken
	}{
		{"from the leader", lead, 1 << 20, 10 << 30, 0},
		{"from another member", lead + 1, 1 << 20, 10 << 30, api.CodeNotLeader},
		{"twice the quota", lead, 2 * quota, 10 << 30, 0},
		{"past twice the quota", lead, 2*quota + 1, 10 << 30, api.CodeRequestTooLarge},
		{"1 TiB", lead, 1 << 40, 10 << 40, api.CodeRequestTooLarge},
		{"more than the disk has", lead, 100 << 20, 120 << 20, api.CodeNoSpace},
		{"a disk nearly full", lead, 1, snapshotDiskReserve - 1, api.CodeNoSpace},
	} {
		free = tc.free
		err := s.transport.checkSnapshot(tc.from, tc.size)
		if got := api.CodeOf(err); (err == nil) != (tc.want == 0) || (err != nil && got != tc.want) {
			t.Errorf("%s: %v (code %d, want %d)", tc.name, err, got, tc.want)
		}
	}
	// The limit has a floor, for small quotas.
	s.cfg.QuotaBackendBytes = 1 << 20
	free = 10 << 30
	if err := s.transport.checkSnapshot(lead, minSnapshotLimit); err != nil {
		t.Fatalf("a snapshot at the floor of the limit: %v", err)
	}
	if err := s.transport.checkSnapshot(lead, minSnapshotLimit+1); api.CodeOf(err) != api.CodeRequestTooLarge {
		t.Fatalf("a snapshot past the floor of the limit: %v", err)
	}
}
