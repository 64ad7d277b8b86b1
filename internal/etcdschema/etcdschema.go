// Package etcdschema names the buckets and keys of etcd 3.6's backend
// (etcd's server/storage/schema): what cairn reads to restore an etcd
// snapshot (internal/restore) and writes to make one (internal/etcdsnap).
// Names only, so the reader and the writer cannot drift apart.
package etcdschema

// Buckets of etcd's backend.
var (
	Key            = []byte("key")
	Meta           = []byte("meta")
	Lease          = []byte("lease")
	Alarm          = []byte("alarm")
	Cluster        = []byte("cluster")
	Members        = []byte("members")
	MembersRemoved = []byte("members_removed")
	Auth           = []byte("auth")
	AuthUsers      = []byte("authUsers")
	AuthRoles      = []byte("authRoles")
)

// Keys of the meta, cluster and auth buckets.
var (
	MetaConsistentIndex  = []byte("consistent_index")
	MetaTerm             = []byte("term")
	MetaScheduledCompact = []byte("scheduledCompactRev")
	MetaFinishedCompact  = []byte("finishedCompactRev")
	MetaConfState        = []byte("confState")
	MetaStorageVersion   = []byte("storageVersion")
	ClusterVersion       = []byte("clusterVersion")
	AuthEnabled          = []byte("authEnabled")
	AuthRevision         = []byte("authRevision")
)
