package etcdsnap

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/auth"
	"github.com/cairndb/cairn/btreekv/mvcc"
	"github.com/cairndb/cairn/internal/datadir"
	"github.com/cairndb/cairn/internal/etcdschema"
)

// Info sums up a written snapshot, as `etcdutl snapshot status` and
// `ctl snapshot status` report it.
type Info struct {
	// Revision is the main revision of the newest record of the history
	// (what etcdutl reports); CompactRevision the last compaction's (0:
	// never compacted).
	Revision, CompactRevision int64
	// Keys is how many keys exist at Revision; Records how many records
	// of the history the snapshot holds (puts and deletions).
	Keys, Records int64
	// Leases, Members, Users and Roles count what the snapshot holds.
	Leases, Members, Users, Roles int
}

// batchRecords is how many records of the history go into one bbolt
// transaction: bbolt keeps a transaction's changed pages in memory until
// it commits.
const batchRecords = 10_000

// Write writes the store s as an etcd snapshot's database to a new file
// at path (Open then streams it with its hash). s must be a store no one
// writes to, such as a copy of a member's store (the etcd face opens one
// from the member's snapshot): the work compactions left is done first
// (FinishCompaction), so that the history holds exactly what a
// compaction keeps, then everything is read from one committed state.
// On an error, or once ctx is done, the file is removed.
func Write(ctx context.Context, path string, s *mvcc.Store) (info Info, err error) {
	if err := s.FinishCompaction(); err != nil {
		return Info{}, fmt.Errorf("etcdsnap: %w", err)
	}
	// The file is a temporary one, streamed once: no fsync.
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{NoSync: true, NoGrowSync: true})
	if err != nil {
		return Info{}, fmt.Errorf("etcdsnap: create %s: %w", path, err)
	}
	defer func() {
		if cerr := db.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("etcdsnap: close %s: %w", path, cerr)
		}
		if err != nil {
			_ = os.Remove(path)
		}
	}()
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucket(b); err != nil {
				return fmt.Errorf("bucket %s: %w", b, err)
			}
		}
		return nil
	})
	if err != nil {
		return Info{}, fmt.Errorf("etcdsnap: %w", err)
	}
	if err := writeHistory(ctx, db, s, &info); err != nil {
		return Info{}, fmt.Errorf("etcdsnap: the history: %w", err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		members, err := writeMembers(tx, s)
		if err != nil {
			return err
		}
		info.Members = len(members)
		if err := writeMeta(tx, s, members); err != nil {
			return err
		}
		if info.Leases, err = writeLeases(tx, s); err != nil {
			return err
		}
		if err := writeAlarms(tx, s); err != nil {
			return err
		}
		info.Users, info.Roles, err = writeAuth(tx, s)
		return err
	})
	if err != nil {
		return Info{}, fmt.Errorf("etcdsnap: %w", err)
	}
	info.CompactRevision = s.CompactRev()
	return info, nil
}

// writeHistory copies the store's history into the "key" bucket, in
// revision order, batchRecords per bbolt transaction, and counts the
// keys alive at the end (by a second pass over the bucket, as etcdutl
// counts them, so that no set of every key is kept in memory).
func writeHistory(ctx context.Context, db *bbolt.DB, s *mvcc.Store, info *Info) error {
	var tx *bbolt.Tx
	var b *bbolt.Bucket
	defer func() {
		if tx != nil {
			_ = tx.Rollback()
		}
	}()
	pending := 0
	err := s.History(func(rev mvcc.Revision, kv api.KeyValue, tombstone bool) error {
		if tx == nil {
			var err error
			if tx, err = db.Begin(true); err != nil {
				return err
			}
			b = tx.Bucket(etcdschema.Key)
			b.FillPercent = 1 // keys are appended in order: full pages
		}
		k, v, err := encodeRecord(rev, kv, tombstone)
		if err != nil {
			return err
		}
		if err := b.Put(k, v); err != nil {
			return fmt.Errorf("revision %d.%d: %w", rev.Main, rev.Sub, err)
		}
		info.Revision = rev.Main
		info.Records++
		if pending++; pending == batchRecords {
			pending = 0
			if err := ctx.Err(); err != nil {
				return err
			}
			err, tx = tx.Commit(), nil
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	if tx != nil {
		err, tx = tx.Commit(), nil
		if err != nil {
			return err
		}
	}
	// The keys alive at the store's revision, as etcdutl counts them
	// (from the store's index: the copy does not change).
	res, err := s.Range([]byte{0}, []byte{0}, mvcc.RangeOptions{CountOnly: true})
	if err != nil {
		return fmt.Errorf("count the keys: %w", err)
	}
	info.Keys = res.Count
	return nil
}

// encodeRecord makes the key and value of a change in the "key" bucket.
// Both are new slices (bbolt keeps them until its transaction commits;
// kv aliases the store's page file).
func encodeRecord(rev mvcc.Revision, kv api.KeyValue, tombstone bool) (k, v []byte, err error) {
	if rev.Main < 0 || rev.Sub < 0 {
		return nil, nil, fmt.Errorf("revision %d.%d is negative", rev.Main, rev.Sub)
	}
	k = make([]byte, revBytes, revBytes+1)
	binary.BigEndian.PutUint64(k, uint64(rev.Main))
	k[8] = '_'
	binary.BigEndian.PutUint64(k[9:], uint64(rev.Sub))
	rec := &mvccpb.KeyValue{Key: kv.Key}
	if tombstone {
		k = append(k, tombstoneMark)
	} else {
		rec.CreateRevision, rec.ModRevision, rec.Version = kv.CreateRevision, kv.ModRevision, kv.Version
		rec.Value, rec.Lease = kv.Value, kv.Lease
	}
	v, err = rec.Marshal()
	if err != nil {
		return nil, nil, fmt.Errorf("revision %d.%d: %w", rev.Main, rev.Sub, err)
	}
	return k, v, nil
}

// etcdMember is a member as etcd 3.6 keeps it in its "members" bucket
// (the JSON of etcd's membership.Member: id as a number, then its raft
// attributes, then the others).
type etcdMember struct {
	ID         uint64   `json:"id"`
	PeerURLs   []string `json:"peerURLs"`
	IsLearner  bool     `json:"isLearner,omitempty"`
	Name       string   `json:"name,omitempty"`
	ClientURLs []string `json:"clientURLs,omitempty"`
}

// memberKey is a member's key in the "members" and "members_removed"
// buckets: its id in hex, unpadded.
func memberKey(id uint64) []byte { return []byte(strconv.FormatUint(id, 16)) }

// writeMembers writes the membership, and returns the members.
func writeMembers(tx *bbolt.Tx, s *mvcc.Store) ([]api.Member, error) {
	var members []api.Member
	b := tx.Bucket(etcdschema.Members)
	for _, r := range s.Aux([]byte(datadir.AuxMember)) {
		m, err := datadir.DecodeMember(r.Value)
		if err != nil {
			return nil, fmt.Errorf("member record %q: %w", r.Key, err)
		}
		v, err := json.Marshal(etcdMember{ID: m.ID, PeerURLs: m.PeerURLs, IsLearner: m.IsLearner, Name: m.Name, ClientURLs: m.ClientURLs})
		if err != nil {
			return nil, fmt.Errorf("member %x: %w", m.ID, err)
		}
		if err := b.Put(memberKey(m.ID), v); err != nil {
			return nil, fmt.Errorf("member %x: %w", m.ID, err)
		}
		members = append(members, m)
	}
	rb := tx.Bucket(etcdschema.MembersRemoved)
	for _, r := range s.Aux([]byte(datadir.AuxRemoved)) {
		id, err := strconv.ParseUint(string(r.Key[len(datadir.AuxRemoved):]), 16, 64)
		if err != nil {
			return nil, fmt.Errorf("removed-member record %q: %w", r.Key, err)
		}
		if err := rb.Put(memberKey(id), removedValue); err != nil {
			return nil, fmt.Errorf("removed member %x: %w", id, err)
		}
	}
	return members, tx.Bucket(etcdschema.Cluster).Put(etcdschema.ClusterVersion, []byte(StorageVersion))
}

// confState is the JSON of raft's ConfState as etcd keeps it in "meta".
type confState struct {
	Voters    []uint64 `json:"voters,omitempty"`
	Learners  []uint64 `json:"learners,omitempty"`
	AutoLeave bool     `json:"auto_leave"`
}

// writeMeta writes the raft position, the compaction, the configuration
// and the storage version.
func writeMeta(tx *bbolt.Tx, s *mvcc.Store, members []api.Member) error {
	b := tx.Bucket(etcdschema.Meta)
	put := func(k, v []byte) error {
		if err := b.Put(k, v); err != nil {
			return fmt.Errorf("meta %s: %w", k, err)
		}
		return nil
	}
	if err := put(etcdschema.MetaConsistentIndex, binary.BigEndian.AppendUint64(nil, s.ConsistentIndex())); err != nil {
		return err
	}
	if err := put(etcdschema.MetaTerm, binary.BigEndian.AppendUint64(nil, s.AppliedTerm())); err != nil {
		return err
	}
	if rev := s.CompactRev(); rev > 0 {
		k, _, err := encodeRecord(mvcc.Revision{Main: rev}, api.KeyValue{}, false)
		if err != nil {
			return err
		}
		if err := put(etcdschema.MetaScheduledCompact, k); err != nil {
			return err
		}
		if err := put(etcdschema.MetaFinishedCompact, slices.Clone(k)); err != nil {
			return err
		}
	}
	var cs confState
	for _, m := range members {
		if m.IsLearner {
			cs.Learners = append(cs.Learners, m.ID)
		} else {
			cs.Voters = append(cs.Voters, m.ID)
		}
	}
	slices.Sort(cs.Voters)
	slices.Sort(cs.Learners)
	v, err := json.Marshal(cs)
	if err != nil {
		return err
	}
	if err := put(etcdschema.MetaConfState, v); err != nil {
		return err
	}
	return put(etcdschema.MetaStorageVersion, []byte(StorageVersion))
}

// writeLeases writes each lease as a leasepb.Lease (ID 1, TTL 2:
// varints; the time left is not kept, as etcd keeps it only for the
// leases it checkpoints), and returns how many.
func writeLeases(tx *bbolt.Tx, s *mvcc.Store) (int, error) {
	b := tx.Bucket(etcdschema.Lease)
	leases := s.Leases()
	for _, l := range leases {
		var v []byte
		if l.ID != 0 {
			v = protowire.AppendTag(v, 1, protowire.VarintType)
			v = protowire.AppendVarint(v, uint64(l.ID))
		}
		if l.TTL != 0 {
			v = protowire.AppendTag(v, 2, protowire.VarintType)
			v = protowire.AppendVarint(v, uint64(l.TTL))
		}
		if err := b.Put(binary.BigEndian.AppendUint64(nil, uint64(l.ID)), v); err != nil {
			return 0, fmt.Errorf("lease %x: %w", l.ID, err)
		}
	}
	return len(leases), nil
}

// writeAlarms writes each raised alarm as etcd does: the encoded
// AlarmMember is the key, the value empty.
func writeAlarms(tx *bbolt.Tx, s *mvcc.Store) error {
	b := tx.Bucket(etcdschema.Alarm)
	for _, r := range s.Aux([]byte(datadir.AuxAlarm)) {
		rest := string(r.Key[len(datadir.AuxAlarm):])
		idHex, typ, ok := strings.Cut(rest, "/")
		id, err1 := strconv.ParseUint(idHex, 16, 64)
		t, err2 := strconv.ParseUint(typ, 10, 8)
		if !ok || err1 != nil || err2 != nil {
			return fmt.Errorf("alarm record %q is not member/type", r.Key)
		}
		k, err := (&pb.AlarmMember{MemberID: id, Alarm: pb.AlarmType(t)}).Marshal()
		if err != nil {
			return err
		}
		if err := b.Put(k, nil); err != nil {
			return fmt.Errorf("alarm %q: %w", r.Key, err)
		}
	}
	return nil
}

// permTypes maps cairn's permission types to etcd's.
var permTypes = map[api.PermType]authpb.Permission_Type{
	api.PermRead:      authpb.READ,
	api.PermWrite:     authpb.WRITE,
	api.PermReadWrite: authpb.READWRITE,
}

// writeAuth writes whether auth is on, the auth revision, the users and
// the roles, and returns how many users and roles.
func writeAuth(tx *bbolt.Tx, s *mvcc.Store) (users, roles int, err error) {
	var recs []auth.Record
	for _, r := range s.Aux([]byte(datadir.AuxAuth)) {
		recs = append(recs, auth.Record{Key: string(r.Key[len(datadir.AuxAuth):]), Value: r.Value})
	}
	state := auth.New()
	if err := state.Load(recs); err != nil {
		return 0, 0, fmt.Errorf("the auth records: %w", err)
	}
	b := tx.Bucket(etcdschema.Auth)
	enabled := []byte{0}
	if state.Enabled() {
		enabled = []byte{1}
	}
	if err := b.Put(etcdschema.AuthEnabled, enabled); err != nil {
		return 0, 0, err
	}
	if err := b.Put(etcdschema.AuthRevision, binary.BigEndian.AppendUint64(nil, state.Revision())); err != nil {
		return 0, 0, err
	}
	ub := tx.Bucket(etcdschema.AuthUsers)
	for _, name := range state.Users() {
		u, ok := state.User(name)
		if !ok {
			return 0, 0, fmt.Errorf("user %q vanished", name)
		}
		pu := &authpb.User{Name: []byte(name), Roles: slices.Sorted(slices.Values(u.Roles)),
			Options: &authpb.UserAddOptions{NoPassword: u.NoPassword}}
		if !u.NoPassword && !u.Password.IsZero() {
			pu.Password = u.Password.EtcdBytes()
		}
		v, err := pu.Marshal()
		if err != nil {
			return 0, 0, fmt.Errorf("user %q: %w", name, err)
		}
		if err := ub.Put([]byte(name), v); err != nil {
			return 0, 0, fmt.Errorf("user %q: %w", name, err)
		}
	}
	rb := tx.Bucket(etcdschema.AuthRoles)
	for _, name := range state.Roles() {
		perms, err := state.RolePerms(name)
		if err != nil {
			return 0, 0, fmt.Errorf("role %q: %w", name, err)
		}
		pr := &authpb.Role{Name: []byte(name)}
		if name != auth.RootRole { // its powers are implied: etcd keeps none
			for _, p := range perms {
				t, ok := permTypes[p.PermType]
				if !ok {
					return 0, 0, fmt.Errorf("role %q has a permission of unknown type %d", name, p.PermType)
				}
				pr.KeyPermission = append(pr.KeyPermission, &authpb.Permission{PermType: t,
					Key: bytes.Clone(p.Key), RangeEnd: bytes.Clone(p.RangeEnd)})
			}
		}
		v, err := pr.Marshal()
		if err != nil {
			return 0, 0, fmt.Errorf("role %q: %w", name, err)
		}
		if err := rb.Put([]byte(name), v); err != nil {
			return 0, 0, fmt.Errorf("role %q: %w", name, err)
		}
	}
	return len(state.Users()), len(state.Roles()), nil
}

// errNotSnapshot is wrapped by Open's error for a file that is no
// database Write made.
var errNotSnapshot = errors.New("not an etcd snapshot database")
