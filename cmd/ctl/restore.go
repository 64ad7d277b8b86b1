package main

import (
	"flag"
	"fmt"
	"net/url"

	"github.com/cairndb/cairn/node"
)

// snapshotRestoreCommand builds a member's data dir of a new cluster from
// a snapshot file (run it once per member, with the same flags but
// --name, --data-dir and --initial-advertise-peer-urls).
func snapshotRestoreCommand() command {
	return command{name: "snapshot restore", args: "FILE", minArgs: 1, maxArgs: 1,
		summary: "Create a new cluster member's data dir from a snapshot file (once per member)",
		setup: func(fs *flag.FlagSet) action {
			name := fs.String("name", node.DefaultName, "the member's name in the new cluster")
			dataDir := fs.String("data-dir", "", "the data dir to create (default ${name}.node)")
			initialCluster := fs.String("initial-cluster", "", "the new cluster's members: name=peerURL,... (default ${name}=${initial-advertise-peer-urls})")
			token := fs.String("initial-cluster-token", node.DefaultInitialClusterToken, "the new cluster's token")
			peerURLs := fs.String("initial-advertise-peer-urls", node.DefaultPeerURL, "the member's peer URLs")
			return func(e *env, args []string) error {
				cfg := node.DefaultConfig()
				cfg.Name = *name
				cfg.DataDir = *dataDir
				if cfg.DataDir == "" {
					cfg.DataDir = cfg.Name + ".node"
				}
				urls, err := node.ParseURLs(*peerURLs)
				if err != nil {
					return fmt.Errorf("--initial-advertise-peer-urls: %w", err)
				}
				cfg.InitialAdvertisePeerURLs, cfg.ListenPeerURLs = urls, urls
				cfg.InitialClusterToken = *token
				if *initialCluster == "" {
					cfg.InitialCluster = map[string][]url.URL{cfg.Name: urls}
				} else if cfg.InitialCluster, err = node.ParseInitialCluster(*initialCluster); err != nil {
					return fmt.Errorf("--initial-cluster: %w", err)
				}
				if err := node.RestoreSnapshot(args[0], cfg); err != nil {
					return err
				}
				e.p.printf("restored snapshot %s into %s for member %s\n", args[0], cfg.DataDir, cfg.Name)
				return nil
			}
		}}
}
