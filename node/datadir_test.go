package node_test

import (
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairndb/cairn/node"
	"github.com/cairndb/cairn/node/nodetest"
)

// Every file a member writes (log segments, log snapshots, the store) is
// its owner's only, and so is every directory.
func TestDataDirFilesAreOwnerOnly(t *testing.T) {
	c := newTestClusterWith(t, 1, func(cfg *node.Config) { cfg.SnapshotCount = 10 })
	c.Leader()
	ctx := ctxT(t)
	cl := c.Client()
	for i := range 50 {
		if _, err := cl.Put(ctx, fmt.Sprintf("k%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	c.StopMember(0)
	files := 0
	err := filepath.WalkDir(filepath.Join(c.Configs[0].DataDir, "member"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		} else {
			files++
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("%s has mode %#o, want %#o", path, got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 3 {
		t.Fatalf("found %d files in the data dir: the walk missed them", files)
	}
}

// A data dir other users may read is reported at start.
func TestDataDirWiderThanOwnerIsWarned(t *testing.T) {
	for _, mode := range []fs.FileMode{0o700, 0o750} {
		t.Run(fmt.Sprintf("%#o", mode), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			if err := os.Mkdir(dir, mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, mode); err != nil { // past the umask
				t.Fatal(err)
			}
			pl, cl := nodetest.Listen(t), nodetest.Listen(t)
			cfg := node.DefaultConfig()
			cfg.DataDir = dir
			cfg.ListenPeerURLs = []url.URL{nodetest.URL(pl)}
			cfg.InitialAdvertisePeerURLs = cfg.ListenPeerURLs
			cfg.ListenClientURLs = []url.URL{nodetest.URL(cl)}
			cfg.AdvertiseClientURLs = cfg.ListenClientURLs
			cfg.InitialCluster = map[string][]url.URL{cfg.Name: cfg.ListenPeerURLs}
			cfg.HeartbeatInterval, cfg.ElectionTimeout = 10*time.Millisecond, 100*time.Millisecond
			logs := &logBuffer{}
			s, err := node.NewServer(cfg, node.ServerOptions{Logger: slog.New(slog.NewTextHandler(logs, nil)),
				PeerListeners: []net.Listener{pl}, ClientListeners: []net.Listener{cl}})
			if err != nil {
				t.Fatal(err)
			}
			s.Stop()
			warned := strings.Contains(logs.String(), "readable or writable by other users")
			if wide := mode&0o077 != 0; warned != wide {
				t.Fatalf("data dir %#o: warned %v; log:\n%s", mode, warned, logs.String())
			}
		})
	}
}
