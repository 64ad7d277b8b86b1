package etcdsnap_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.etcd.io/bbolt"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"pgregory.net/rapid"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/auth"
	"github.com/cairndb/cairn/btreekv/mvcc"
	"github.com/cairndb/cairn/internal/datadir"
	"github.com/cairndb/cairn/internal/etcdsnap"
	"github.com/cairndb/cairn/internal/fsx"
	"github.com/cairndb/cairn/internal/restore"
)

// storeBuilder applies changes to a store as a member's apply loop does,
// one raft index each.
type storeBuilder struct {
	t     *rapid.T
	s     *mvcc.Store
	index uint64
	auth  *auth.State
}

func (b *storeBuilder) next() uint64 { b.index++; return b.index }

// authRecords writes auth records into the store's auxiliary table, as
// the server keeps them.
type authRecords struct{ tw *mvcc.TxnWrite }

func (r authRecords) Put(key string, value []byte) error {
	return r.tw.PutAux([]byte(datadir.AuxAuth+key), value)
}

// applyAuth applies an auth command; one the auth rules refuse (a role
// granted to a user that does not exist, ...) changes nothing.
func (b *storeBuilder) applyAuth(c *auth.Command) {
	tw := b.s.Write(b.next(), 1)
	err := b.auth.Apply(c, authRecords{tw})
	if eerr := tw.End(); eerr != nil {
		b.t.Fatalf("end auth write: %v", eerr)
	}
	_ = err // refused by auth's rules: nothing written
}

// userErr reports whether err is the store refusing a request (as it
// would a client's), not failing.
func userErr(err error) bool {
	return errors.Is(err, mvcc.ErrLeaseNotFound) || errors.Is(err, mvcc.ErrCompacted) || errors.Is(err, mvcc.ErrFutureRev)
}

// buildStore makes a random store: puts (some leased), deletions,
// transactions of several changes, leases granted and revoked,
// compactions, users and roles (auth maybe on), members and removed
// members, and an alarm.
func buildStore(t *rapid.T, path string) *mvcc.Store {
	s, err := mvcc.Open(path, mvcc.Options{FS: fsx.OS{}})
	if err != nil {
		t.Fatal(err)
	}
	b := &storeBuilder{t: t, s: s, auth: auth.New()}
	names := []string{"a", "b", "c", "dir/x", "dir/y", "\x00", "z\xff"}
	keys := rapid.SampledFrom(names)
	leases := []int64{}
	steps := rapid.IntRange(0, 60).Draw(t, "steps")
	for range steps {
		var err error
		switch rapid.IntRange(0, 9).Draw(t, "op") {
		case 0, 1, 2:
			req := &api.PutRequest{Key: []byte(keys.Draw(t, "key")), Value: rapid.SliceOfN(rapid.Byte(), 0, 3000).Draw(t, "value")}
			if len(leases) > 0 && rapid.Bool().Draw(t, "leased") {
				req.Lease = rapid.SampledFrom(leases).Draw(t, "lease")
			}
			_, err = s.Put(b.next(), 1, req)
		case 3:
			_, err = s.DeleteRange(b.next(), 1, &api.DeleteRangeRequest{Key: []byte(keys.Draw(t, "key"))})
		case 4:
			k := rapid.Permutation(names).Draw(t, "txn keys") // a txn changes a key once
			_, err = s.Txn(b.next(), 1, &api.TxnRequest{Success: []api.RequestOp{
				{Put: &api.PutRequest{Key: []byte(k[0]), Value: []byte("t1")}},
				{DeleteRange: &api.DeleteRangeRequest{Key: []byte(k[1])}},
				{Put: &api.PutRequest{Key: []byte(k[2]), Value: []byte("t2")}},
			}})
		case 5:
			id := rapid.Int64Range(1, 1<<62).Draw(t, "lease id")
			if slices.Contains(leases, id) {
				break
			}
			if err = s.LeaseGrant(b.next(), 1, id, rapid.Int64Range(1, 1e6).Draw(t, "ttl")); err == nil {
				leases = append(leases, id)
			}
		case 6:
			if len(leases) > 0 {
				i := rapid.IntRange(0, len(leases)-1).Draw(t, "revoked")
				_, err = s.LeaseRevoke(b.next(), 1, leases[i])
				leases = append(leases[:i], leases[i+1:]...)
			}
		case 7:
			if s.Rev() > s.CompactRev() {
				rev := rapid.Int64Range(s.CompactRev()+1, s.Rev()).Draw(t, "compact")
				if rapid.Bool().Draw(t, "finish compaction") {
					err = s.Compact(rev)
				} else {
					err = s.StartCompact(rev) // work left in the file
				}
			}
		case 8:
			buildAuth(t, b)
		case 9:
			buildMembers(t, b)
		}
		if err != nil && !userErr(err) {
			t.Fatalf("store: %v", err)
		}
		if rapid.IntRange(0, 4).Draw(t, "commit") == 0 {
			if err := s.Commit(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	return s
}

// buildAuth applies a random auth change.
func buildAuth(t *rapid.T, b *storeBuilder) {
	users := rapid.SampledFrom([]string{auth.RootUser, "alice", "bob"})
	roles := rapid.SampledFrom([]string{auth.RootRole, "reader", "writer"})
	switch rapid.IntRange(0, 5).Draw(t, "auth op") {
	case 0:
		c := &auth.Command{Op: auth.OpUserAdd, Name: users.Draw(t, "user")}
		if rapid.Bool().Draw(t, "no password") {
			c.NoPassword = true
		} else {
			h, err := auth.HashPBKDF2("pw", 1, bytes.NewReader(make([]byte, auth.SaltSize)))
			if err != nil {
				t.Fatal(err)
			}
			c.Password = h
		}
		b.applyAuth(c)
	case 1:
		b.applyAuth(&auth.Command{Op: auth.OpRoleAdd, Name: roles.Draw(t, "role")})
	case 2:
		b.applyAuth(&auth.Command{Op: auth.OpRoleGrantPermission, Name: roles.Draw(t, "role"), Perm: api.Permission{
			PermType: api.PermType(rapid.IntRange(0, 2).Draw(t, "perm")), Key: []byte(rapid.SampledFrom([]string{"a", "dir/"}).Draw(t, "perm key")),
			RangeEnd: []byte(rapid.SampledFrom([]string{"", "dir0", "\x00"}).Draw(t, "perm end"))}})
	case 3:
		b.applyAuth(&auth.Command{Op: auth.OpUserGrantRole, Name: users.Draw(t, "user"), Role: roles.Draw(t, "role")})
	case 4:
		b.applyAuth(&auth.Command{Op: auth.OpEnable, SigningKey: []byte("key")})
	case 5:
		// A client's hash, kept as etcd keeps it: bytes that need not be
		// a bcrypt hash (etcd's snapshot carries them as they are).
		hash := rapid.SampledFrom([]string{"garbage", "", "$2a$21$" + strings.Repeat("a", 53), "raw$AAAA"}).Draw(t, "client hash")
		if rapid.Bool().Draw(t, "random hash") {
			hash = string(rapid.SliceOf(rapid.Byte()).Draw(t, "random bytes"))
		}
		name := users.Draw(t, "user")
		b.applyAuth(&auth.Command{Op: auth.OpUserAdd, Name: name, Password: auth.ClientHash([]byte("first"))}) // if it is new
		b.applyAuth(&auth.Command{Op: auth.OpUserChangePassword, Name: name, Password: auth.ClientHash([]byte(hash))})
	}
}

// buildMembers adds a member, removes one, or raises an alarm.
func buildMembers(t *rapid.T, b *storeBuilder) {
	id := rapid.Uint64Range(1, 5).Draw(t, "member")
	var key, value []byte
	switch rapid.IntRange(0, 2).Draw(t, "member op") {
	case 0:
		m := api.Member{ID: id, Name: fmt.Sprintf("m%d", id), PeerURLs: []string{fmt.Sprintf("http://10.0.0.%d:2380", id)},
			IsLearner: rapid.Bool().Draw(t, "learner")}
		if rapid.Bool().Draw(t, "started") {
			m.ClientURLs = []string{fmt.Sprintf("http://10.0.0.%d:2379", id)}
		}
		key, value = datadir.AuxIDKey(datadir.AuxMember, id), datadir.EncodeMember(m)
	case 1:
		key, value = datadir.AuxIDKey(datadir.AuxRemoved, id), []byte{}
	case 2:
		key, value = []byte(fmt.Sprintf("%s%016x/%d", datadir.AuxAlarm, id, rapid.IntRange(1, 3).Draw(t, "alarm"))), []byte{}
	}
	tw := b.s.Write(b.next(), 1)
	if err := tw.PutAux(key, value); err != nil {
		t.Fatal(err)
	}
	if err := tw.End(); err != nil {
		t.Fatal(err)
	}
}

// record is a change of a store's history; a deletion's kv holds only
// the key (that is all etcd keeps of one).
type record struct {
	Rev       mvcc.Revision
	KV        api.KeyValue
	Tombstone bool
}

func history(t *rapid.T, s *mvcc.Store) []record {
	var out []record
	err := s.History(func(rev mvcc.Revision, kv api.KeyValue, tomb bool) error {
		if tomb {
			kv = api.KeyValue{Key: kv.Key}
		}
		kv.Key, kv.Value = bytes.Clone(kv.Key), bytes.Clone(kv.Value)
		out = append(out, record{rev, kv, tomb})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// authView is what the auth state says of its users and roles.
type authView struct {
	Enabled bool
	Users   map[string]auth.User
	Roles   map[string][]api.Permission
}

func viewAuth(t *rapid.T, s *mvcc.Store) authView {
	var recs []auth.Record
	for _, r := range s.Aux([]byte(datadir.AuxAuth)) {
		recs = append(recs, auth.Record{Key: string(r.Key[len(datadir.AuxAuth):]), Value: r.Value})
	}
	a := auth.New()
	if err := a.Load(recs); err != nil {
		t.Fatal(err)
	}
	v := authView{Enabled: a.Enabled(), Users: map[string]auth.User{}, Roles: map[string][]api.Permission{}}
	for _, name := range a.Users() {
		u, _ := a.User(name)
		v.Users[name] = u
	}
	for _, name := range a.Roles() {
		v.Roles[name], _ = a.RolePerms(name)
	}
	return v
}

// writeSnapshot writes s as an etcd snapshot file (database and hash)
// at path.
func writeSnapshot(t *rapid.T, s *mvcc.Store, dir string) (string, etcdsnap.Info) {
	dbPath := filepath.Join(dir, "etcd.db")
	info, err := etcdsnap.Write(context.Background(), dbPath, s)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := etcdsnap.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	path := filepath.Join(dir, "etcd.snapshot")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, err := snap.WriteTo(f)
	if err != nil || n != snap.Size() {
		t.Fatalf("stream the snapshot: %d bytes of %d, %v", n, snap.Size(), err)
	}
	return path, info
}

// TestPropertyRestoreReadsWhatWriteWrote: any store written as an etcd
// snapshot and read back by the restore of an etcd snapshot (package
// restore) gives a store with the same history record for record, the
// same compaction, leases (with their keys), users (password hashes
// included), roles and auth switch.
func TestPropertyRestoreReadsWhatWriteWrote(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		dir, err := os.MkdirTemp("", "etcdsnap-prop-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		src := buildStore(t, filepath.Join(dir, "src.db"))
		defer src.Close()
		path, info := writeSnapshot(t, src, dir)

		peer, _ := url.Parse("http://127.0.0.1:2380")
		member := restore.Member{Name: "solo", DataDir: filepath.Join(dir, "restored"), PeerURLs: []url.URL{*peer},
			InitialCluster: map[string][]url.URL{"solo": {*peer}}, InitialClusterToken: "t"}
		rep, err := restore.Snapshot(path, member, restore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := mvcc.Open(filepath.Join(member.DataDir, datadir.MemberDir, datadir.DBFile), mvcc.Options{FS: fsx.OS{}})
		if err != nil {
			t.Fatal(err)
		}
		defer got.Close()

		if rep.Format != restore.FormatEtcd {
			t.Fatalf("restore read the snapshot as %q", rep.Format)
		}
		want := history(t, src)
		if h := history(t, got); !reflect.DeepEqual(h, want) {
			t.Fatalf("history:\nrestored %+v\nwritten  %+v", h, want)
		}
		if int64(len(want)) != info.Records {
			t.Fatalf("Write counted %d records, the store has %d", info.Records, len(want))
		}
		for _, c := range []struct {
			what      string
			got, want any
		}{
			{"revision", got.Rev(), src.Rev()},
			{"compacted revision", got.CompactRev(), src.CompactRev()},
			{"Info.CompactRevision", info.CompactRevision, src.CompactRev()},
			{"keys", rep.Keys, info.Keys},
			{"leases", got.Leases(), src.Leases()},
			{"auth", viewAuth(t, got), viewAuth(t, src)},
		} {
			if !reflect.DeepEqual(c.got, c.want) {
				t.Fatalf("%s: restored %+v, written %+v", c.what, c.got, c.want)
			}
		}
	})
}

// TestWriteLaysOutEtcdsBuckets checks the records restore does not read
// back (membership, alarms, raft position, versions) and the encodings
// of the others against etcd 3.6's (server/storage/schema), on a store
// of known contents.
func TestWriteLaysOutEtcdsBuckets(t *testing.T) {
	dir := t.TempDir()
	s, err := mvcc.Open(filepath.Join(dir, "src.db"), mvcc.Options{FS: fsx.OS{}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	index := uint64(0)
	next := func() uint64 { index++; return index }
	aux := func(key, value []byte) {
		tw := s.Write(next(), 7)
		if err := tw.PutAux(key, value); err != nil {
			t.Fatal(err)
		}
		if err := tw.End(); err != nil {
			t.Fatal(err)
		}
	}
	aux(datadir.AuxIDKey(datadir.AuxMember, 0xabc), datadir.EncodeMember(api.Member{ID: 0xabc, Name: "one",
		PeerURLs: []string{"http://10.0.0.1:2380"}, ClientURLs: []string{"http://10.0.0.1:2379"}}))
	aux(datadir.AuxIDKey(datadir.AuxMember, 0x2), datadir.EncodeMember(api.Member{ID: 0x2, PeerURLs: []string{"http://10.0.0.2:2380"}}))
	aux(datadir.AuxIDKey(datadir.AuxMember, 0x3), datadir.EncodeMember(api.Member{ID: 0x3, PeerURLs: []string{"http://10.0.0.3:2380"}, IsLearner: true}))
	aux(datadir.AuxIDKey(datadir.AuxRemoved, 0x5f), []byte{})
	aux([]byte(fmt.Sprintf("%s%016x/%d", datadir.AuxAlarm, 0xabc, api.AlarmNoSpace)), []byte{})
	if _, err := s.Put(next(), 7, &api.PutRequest{Key: []byte("k"), Value: []byte("v1")}); err != nil {
		t.Fatal(err)
	}
	if err := s.LeaseGrant(next(), 7, 0x1234, 60); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(next(), 7, &api.PutRequest{Key: []byte("k"), Value: []byte("v2"), Lease: 0x1234}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteRange(next(), 7, &api.DeleteRangeRequest{Key: []byte("k")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(3); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(dir, "etcd.db")
	info, err := etcdsnap.Write(context.Background(), dbPath, s)
	if err != nil {
		t.Fatal(err)
	}
	if want := (etcdsnap.Info{Revision: 4, CompactRevision: 3, Keys: 0, Records: 2, Leases: 1, Members: 3}); info != want {
		t.Fatalf("Info %+v, want %+v", info, want)
	}

	db, err := bbolt.Open(dbPath, 0o400, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	be64 := func(v uint64) string { return string(binary.BigEndian.AppendUint64(nil, v)) }
	rev := func(main, sub uint64) string { return be64(main) + "_" + be64(sub) }
	alarm, _ := (&pb.AlarmMember{MemberID: 0xabc, Alarm: pb.AlarmType_NOSPACE}).Marshal()
	put3, _ := (&mvccpb.KeyValue{Key: []byte("k"), Value: []byte("v2"), CreateRevision: 2, ModRevision: 3, Version: 2, Lease: 0x1234}).Marshal()
	tomb4, _ := (&mvccpb.KeyValue{Key: []byte("k")}).Marshal()
	want := map[string]map[string]string{
		"key": {rev(3, 0): string(put3), rev(4, 0) + "t": string(tomb4)},
		"meta": {
			"consistent_index":    be64(index),
			"term":                be64(7),
			"scheduledCompactRev": rev(3, 0),
			"finishedCompactRev":  rev(3, 0),
			"confState":           `{"voters":[2,2748],"learners":[3],"auto_leave":false}`,
			"storageVersion":      "3.6.0",
		},
		"lease":   {be64(0x1234): "\x08\xb4\x24\x10\x3c"}, // leasepb.Lease{ID: 0x1234, TTL: 60}
		"alarm":   {string(alarm): ""},
		"cluster": {"clusterVersion": "3.6.0"},
		"members": {
			"abc": `{"id":2748,"peerURLs":["http://10.0.0.1:2380"],"name":"one","clientURLs":["http://10.0.0.1:2379"]}`,
			"2":   `{"id":2,"peerURLs":["http://10.0.0.2:2380"]}`,
			"3":   `{"id":3,"peerURLs":["http://10.0.0.3:2380"],"isLearner":true}`,
		},
		"members_removed": {"5f": "removed"},
		"auth":            {"authEnabled": "\x00", "authRevision": be64(1)}, // a new store is at 1, as etcd's
		"authUsers":       {},
		"authRoles":       {},
	}
	got := map[string]map[string]string{}
	err = db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			m := map[string]string{}
			got[string(name)] = m
			return b.ForEach(func(k, v []byte) error { m[string(k)] = string(v); return nil })
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		for name := range want {
			if !reflect.DeepEqual(got[name], want[name]) {
				t.Errorf("bucket %q:\n got %q\nwant %q", name, got[name], want[name])
			}
		}
		t.Fatalf("buckets: got %d, want %d (etcd's)", len(got), len(want))
	}
}
