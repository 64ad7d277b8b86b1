package node

import "github.com/cairndb/cairn/internal/restore"

// RestoreSnapshot creates the data dir of one member of a new cluster from
// a snapshot file: cairn's (`ctl snapshot save`) or etcd's (`etcdctl
// snapshot save`), see package restore. Run it once per member of the new
// cluster, with the same snapshot and the same --initial-cluster and
// --initial-cluster-token: every member gets the same state, new member
// ids and a new cluster id, so the restored cluster can never exchange
// messages with the old one. Then start each member with its data dir.
//
// cfg is the member's configuration; cfg.DataDir must not hold a member
// already.
func RestoreSnapshot(snapshotPath string, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	_, err := restore.Snapshot(snapshotPath, restore.Member{Name: cfg.Name, DataDir: cfg.DataDir,
		PeerURLs: cfg.InitialAdvertisePeerURLs, InitialCluster: cfg.InitialCluster,
		InitialClusterToken: cfg.InitialClusterToken}, restore.Options{})
	return err
}
