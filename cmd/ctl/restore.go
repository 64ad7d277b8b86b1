package main

import (
	"flag"
	"fmt"
	"net/url"

	"github.com/cairndb/cairn/internal/datadir"
	"github.com/cairndb/cairn/internal/restore"
)

// snapshotRestoreCommand builds a member's data dir of a new cluster from
// a snapshot file, cairn's or etcd's (run it once per member, with the
// same flags but --name, --data-dir and --initial-advertise-peer-urls).
func snapshotRestoreCommand() command {
	return command{name: "snapshot restore", args: "FILE", minArgs: 1, maxArgs: 1,
		summary: "Create a new cluster member's data dir from a snapshot file, cairn's or etcd's (once per member)",
		setup: func(fs *flag.FlagSet) action {
			name := fs.String("name", datadir.DefaultName, "the member's name in the new cluster")
			dataDir := fs.String("data-dir", "", "the data dir to create (default ${name}.node)")
			initialCluster := fs.String("initial-cluster", "", "the new cluster's members: name=peerURL,... (default ${name}=${initial-advertise-peer-urls})")
			token := fs.String("initial-cluster-token", datadir.DefaultInitialClusterToken, "the new cluster's token")
			peerURLs := fs.String("initial-advertise-peer-urls", datadir.DefaultPeerURL, "the member's peer URLs")
			skipHash := fs.Bool("skip-hash-check", false, "restore an etcd snapshot without checking the SHA-256 etcdctl appends (needed for a db file copied out of an etcd data dir)")
			return func(e *env, args []string) error {
				m := restore.Member{Name: *name, DataDir: *dataDir, InitialClusterToken: *token}
				if m.DataDir == "" {
					m.DataDir = m.Name + ".node"
				}
				urls, err := datadir.ParseURLs(*peerURLs)
				if err != nil {
					return fmt.Errorf("--initial-advertise-peer-urls: %w", err)
				}
				m.PeerURLs = urls
				if *initialCluster == "" {
					m.InitialCluster = map[string][]url.URL{m.Name: urls}
				} else if m.InitialCluster, err = datadir.ParseInitialCluster(*initialCluster); err != nil {
					return fmt.Errorf("--initial-cluster: %w", err)
				}
				rep, err := restore.Snapshot(args[0], m, restore.Options{SkipHashCheck: *skipHash})
				if err != nil {
					return err
				}
				e.p.snapshotRestored(args[0], m, rep)
				return nil
			}
		}}
}
