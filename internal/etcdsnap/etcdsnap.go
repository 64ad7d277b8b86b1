// Package etcdsnap writes a cairn member's store as an etcd 3.6 snapshot:
// the bbolt database an etcd member keeps its state in, followed by its
// SHA-256, which is what `etcdctl snapshot save` gets from etcd and what
// etcd's tools read back (`etcdutl snapshot status`, `etcdutl snapshot
// restore`, an etcd started on the restored data dir). The etcd face's
// Snapshot (package etcdapi) streams one, so that an etcd operator's
// backups work against cairn and a cluster can move from cairn back to
// etcd; cairn's `ctl snapshot restore` reads it too (package restore).
//
// The database is laid out as etcd 3.6 lays out its backend (bucket and
// key names as in etcd's server/storage/schema):
//
//	"key":     the whole history since the last compaction, every
//	           revision: 8 bytes of main revision (big endian), '_', 8
//	           bytes of sub revision, and 't' after a deletion; the value
//	           an mvccpb.KeyValue (a deletion's holds only the key)
//	"meta":    consistent_index and term (8 bytes big endian each),
//	           finishedCompactRev and scheduledCompactRev (a revision as
//	           above, sub 0; absent if never compacted), confState (the
//	           voters and learners, as JSON), storageVersion ("3.6.0")
//	"lease":   8-byte lease id -> leasepb.Lease (ID, TTL)
//	"alarm":   an encoded etcdserverpb.AlarmMember per raised alarm
//	"cluster": clusterVersion ("3.6.0")
//	"members": the member id in hex -> the member as JSON (id, peerURLs,
//	           isLearner, name, clientURLs); "members_removed": the
//	           removed ids in hex -> "removed"
//	"auth":    authEnabled (1 byte) and authRevision (8 bytes big
//	           endian); "authUsers", "authRoles": name -> authpb.User,
//	           authpb.Role
//
// A user's password goes over as the hash cairn keeps, which is etcd's
// kind: cairn hashes passwords with bcrypt as etcd does (and keeps the
// hash etcd made for a user restored from an etcd snapshot), so in etcd
// every user logs in with the password it had in cairn. The exception is
// a password last set under an earlier version of cairn, a PBKDF2 hash
// that etcd cannot check: that user needs its password set again
// (etcdctl user passwd); a restore back into cairn keeps them all.
// cairn's key for signed tokens has no place in etcd's store and is left
// out.
//
// Writing reads the store once (Write), into a bbolt file on disk, never
// the whole store in memory; Open then streams the file and its hash.
package etcdsnap

import "github.com/cairndb/cairn/internal/etcdschema"

// allBuckets are the buckets an etcd 3.6 member creates, in etcd's order.
var allBuckets = [][]byte{etcdschema.Key, etcdschema.Meta, etcdschema.Lease, etcdschema.Alarm, etcdschema.Cluster,
	etcdschema.Members, etcdschema.MembersRemoved, etcdschema.Auth, etcdschema.AuthUsers, etcdschema.AuthRoles}

// StorageVersion is the etcd storage version and cluster version the
// snapshot says it holds: cairn's etcd face serves etcd 3.6's API.
const StorageVersion = "3.6.0"

// removedValue is the value etcd keeps for a removed member.
var removedValue = []byte("removed")

// revBytes is the length of a revision key in the "key" bucket (one more
// with the tombstone mark).
const revBytes = 17

// tombstoneMark ends the revision key of a deletion.
const tombstoneMark = 't'
