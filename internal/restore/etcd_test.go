package restore

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/authpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/auth"
	"github.com/cairndb/cairn/btreekv/mvcc"
	"github.com/cairndb/cairn/internal/datadir"
	"github.com/cairndb/cairn/internal/fsx"
)

// rootHash is golang.org/x/crypto/bcrypt's hash of "root-pw" (etcd makes
// its password hashes with that library).
const rootHash = "$2a$05$/xZvFGhtpM2jDN/kv/SxFODzBfx1lHGd1Iezcy7JNR6TLqcxbki9S"

// etcdRecord is one record of a hand-made etcd store.
type etcdRecord struct {
	main, sub int64
	tomb      bool
	kv        mvccpb.KeyValue
}

// etcdStore describes a hand-made etcd store.
type etcdStore struct {
	records   []etcdRecord
	leases    map[int64]int64 // id -> TTL
	compacted int64
	users     []*authpb.User
	roles     []*authpb.Role
	enabled   bool
}

func etcdRevKey(main, sub int64, tomb bool) []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(main))
	b = append(b, '_')
	b = binary.BigEndian.AppendUint64(b, uint64(sub))
	if tomb {
		b = append(b, 't')
	}
	return b
}

func etcdLease(id, ttl int64) []byte {
	b := protowire.AppendTag(nil, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(id))
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(ttl))
	b = protowire.AppendTag(b, 3, protowire.VarintType) // RemainingTTL
	return protowire.AppendVarint(b, uint64(ttl/2))
}

// write writes s as etcd's bbolt file at path and, if withHash, appends
// its SHA-256 as etcdctl snapshot save does.
func (s etcdStore) write(t *testing.T, path string, withHash bool) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		bucket := func(name string) *bbolt.Bucket {
			b, err := tx.CreateBucketIfNotExists([]byte(name))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		keys, meta, leases := bucket("key"), bucket("meta"), bucket("lease")
		bucket("members") // the old cluster's, which a restore drops
		for _, r := range s.records {
			v, err := r.kv.Marshal()
			if err != nil {
				return err
			}
			if err := keys.Put(etcdRevKey(r.main, r.sub, r.tomb), v); err != nil {
				return err
			}
		}
		if s.compacted > 0 {
			_ = meta.Put([]byte("finishedCompactRev"), etcdRevKey(s.compacted, 0, false))
		}
		_ = meta.Put([]byte("consistent_index"), binary.BigEndian.AppendUint64(nil, 99))
		for id, ttl := range s.leases {
			_ = leases.Put(binary.BigEndian.AppendUint64(nil, uint64(id)), etcdLease(id, ttl))
		}
		authB, users, roles := bucket("auth"), bucket("authUsers"), bucket("authRoles")
		enabled := []byte{0}
		if s.enabled {
			enabled = []byte{1}
		}
		_ = authB.Put([]byte("authEnabled"), enabled)
		for _, u := range s.users {
			v, _ := u.Marshal()
			_ = users.Put(u.Name, v)
		}
		for _, r := range s.roles {
			v, _ := r.Marshal()
			_ = roles.Put(r.Name, v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if withHash {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if err := os.WriteFile(path, append(b, sum[:]...), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// sampleStore is a small history: a put, a leased put, an update, a
// deletion, a new generation, auth on with root and a reader.
func sampleStore() etcdStore {
	kv := func(key, value string, created, mod, version, lease int64) mvccpb.KeyValue {
		return mvccpb.KeyValue{Key: []byte(key), Value: []byte(value), CreateRevision: created, ModRevision: mod, Version: version, Lease: lease}
	}
	return etcdStore{
		records: []etcdRecord{
			{main: 2, kv: kv("a", "1", 2, 2, 1, 0)},
			{main: 3, kv: kv("b", "leased", 3, 3, 1, 0x42)},
			{main: 4, kv: kv("a", "2", 2, 4, 2, 0)},
			{main: 4, sub: 1, kv: kv("c", "x", 4, 4, 1, 0)},
			{main: 5, tomb: true, kv: mvccpb.KeyValue{Key: []byte("c")}},
			{main: 6, kv: kv("c", "y", 6, 6, 1, 0)},
			{main: 7, kv: kv("a", "3", 2, 7, 3, 0)},
		},
		leases: map[int64]int64{0x42: 30, 0x43: 60},
		users: []*authpb.User{
			{Name: []byte("reader"), Password: []byte(rootHash), Roles: []string{"read-app"}},
			{Name: []byte("root"), Password: []byte(rootHash), Roles: []string{"root"}},
			{Name: []byte("svc"), Roles: []string{"read-app"}, Options: &authpb.UserAddOptions{NoPassword: true}},
		},
		roles: []*authpb.Role{
			{Name: []byte("read-app"), KeyPermission: []*authpb.Permission{{PermType: authpb.READ, Key: []byte("a"), RangeEnd: []byte("b")}}},
			{Name: []byte("root")},
		},
		enabled: true,
	}
}

func testMember(t *testing.T, dataDir string) Member {
	t.Helper()
	peers, err := datadir.ParseURLs("http://127.0.0.1:12380")
	if err != nil {
		t.Fatal(err)
	}
	return Member{Name: "m1", DataDir: dataDir, PeerURLs: peers,
		InitialCluster: map[string][]url.URL{"m1": peers}, InitialClusterToken: "restored"}
}

// openRestored opens the store of a restored data dir.
func openRestored(t *testing.T, dataDir string) *mvcc.Store {
	t.Helper()
	s, err := mvcc.Open(filepath.Join(dataDir, datadir.MemberDir, datadir.DBFile), mvcc.Options{FS: fsx.OS{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestRestoreEtcdSnapshot(t *testing.T) {
	dir := t.TempDir()
	snap := filepath.Join(dir, "etcd.db")
	sampleStore().write(t, snap, true)
	dataDir := filepath.Join(dir, "m1.node")
	rep, err := Snapshot(snap, testMember(t, dataDir), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := Report{Format: FormatEtcd, Revision: 7, Keys: 3, Leases: 2, Users: 3, Roles: 2, AuthEnabled: true}
	if !reflect.DeepEqual(rep, want) {
		t.Fatalf("report %+v, want %+v", rep, want)
	}
	s := openRestored(t, dataDir)
	res, err := s.Range([]byte{0}, []byte{0}, mvcc.RangeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantKVs := []api.KeyValue{
		{Key: []byte("a"), Value: []byte("3"), CreateRevision: 2, ModRevision: 7, Version: 3},
		{Key: []byte("b"), Value: []byte("leased"), CreateRevision: 3, ModRevision: 3, Version: 1, Lease: 0x42},
		{Key: []byte("c"), Value: []byte("y"), CreateRevision: 6, ModRevision: 6, Version: 1},
	}
	if !reflect.DeepEqual(res.KVs, wantKVs) {
		t.Fatalf("keys now:\n%+v\nwant\n%+v", res.KVs, wantKVs)
	}
	// The history went over too: c at revision 4, gone at 5.
	for rev, wantC := range map[int64]int{4: 1, 5: 0} {
		res, err := s.Range([]byte("c"), nil, mvcc.RangeOptions{Rev: rev})
		if err != nil || len(res.KVs) != wantC {
			t.Fatalf("c at revision %d: %+v %v", rev, res, err)
		}
	}
	if got := s.Leases(); len(got) != 2 || got[0].ID != 0x42 || got[0].TTL != 30 || !reflect.DeepEqual(got[0].Keys, []string{"b"}) || got[1].TTL != 60 {
		t.Fatalf("leases %+v", got)
	}
	a, err := loadAuth(s)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Enabled() || len(a.SigningKey()) == 0 {
		t.Fatal("auth not enabled, or without a signing key")
	}
	if _, err := a.Authenticate("root", "root-pw", auth.Decoy(auth.MinBcryptCost)); err != nil {
		t.Fatalf("root with etcd's password: %v", err)
	}
	if _, err := a.Authenticate("root", "wrong", auth.Decoy(auth.MinBcryptCost)); err == nil {
		t.Fatal("root authenticated with a wrong password")
	}
	if roles, _ := a.UserRoles("reader"); !reflect.DeepEqual(roles, []string{"read-app"}) {
		t.Fatalf("reader's roles %v", roles)
	}
	perms, _ := a.RolePerms("read-app")
	if len(perms) != 1 || perms[0].PermType != api.PermRead || string(perms[0].Key) != "a" || string(perms[0].RangeEnd) != "b" {
		t.Fatalf("read-app's permissions %+v", perms)
	}
	// The member records are the new cluster's.
	ms := s.Aux([]byte(datadir.AuxMember))
	if len(ms) != 1 {
		t.Fatalf("member records %v", ms)
	}
	if m, err := datadir.DecodeMember(ms[0].Value); err != nil || m.Name != "m1" {
		t.Fatalf("member record %+v %v", m, err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, datadir.MemberDir, datadir.WALDir)); err != nil {
		t.Fatalf("no log: %v", err)
	}
}

// TestRestoreEtcdSigningKeyIsTheSameOnEveryMember: members restored from
// one file with one token get one key (signed tokens work at any of
// them); another token gives another key.
func TestRestoreEtcdSigningKeyIsTheSameOnEveryMember(t *testing.T) {
	dir := t.TempDir()
	snap := filepath.Join(dir, "etcd.db")
	sampleStore().write(t, snap, true)
	key := func(name, token string) []byte {
		m := testMember(t, filepath.Join(dir, name))
		m.InitialClusterToken = token
		if _, err := Snapshot(snap, m, Options{}); err != nil {
			t.Fatal(err)
		}
		s := openRestored(t, m.DataDir)
		a, err := loadAuth(s)
		if err != nil {
			t.Fatal(err)
		}
		return a.SigningKey()
	}
	a, b, c := key("a", "t1"), key("b", "t1"), key("c", "t2")
	if string(a) != string(b) || string(a) == string(c) {
		t.Fatalf("signing keys %x %x %x: want the first two equal, the third different", a, b, c)
	}
}

// TestRestoreEtcdRefusesDamagedSnapshots: a damaged file gets an error
// saying what is wrong, and no data dir is left.
func TestRestoreEtcdRefusesDamagedSnapshots(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	sampleStore().write(t, good, true)
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte(nil), raw...)
	flipped[len(flipped)/2] ^= 0x10
	badHistory := sampleStore()
	badHistory.records[2].kv.Version = 5
	tests := []struct {
		name    string
		data    []byte // nil: make it from badHistory
		opts    Options
		wantErr string
	}{
		{"truncated", raw[:len(raw)-100], Options{}, "no SHA-256"},
		{"truncated to a page", raw[:8192], Options{}, "no SHA-256"},
		{"truncated by the hash", raw[:len(raw)-32], Options{}, "no SHA-256"},
		{"flipped byte", flipped, Options{}, "damaged"},
		{"damaged hash", append(append([]byte(nil), raw[:len(raw)-1]...), raw[len(raw)-1]^1), Options{}, "damaged"},
		{"empty", []byte{}, Options{}, "empty"},
		{"not a snapshot", []byte(strings.Repeat("hello ", 2000)), Options{}, "neither a cairn snapshot nor an etcd one"},
		{"impossible history", nil, Options{}, "do not follow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := filepath.Join(t.TempDir(), "snap.db")
			if tt.data == nil {
				badHistory.write(t, snap, true)
			} else if err := os.WriteFile(snap, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			dataDir := filepath.Join(t.TempDir(), "new.node")
			_, err := Snapshot(snap, testMember(t, dataDir), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
			}
			if _, err := os.Stat(dataDir); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("the failed restore left %s (%v)", dataDir, err)
			}
		})
	}
}

// TestRestoreLeavesAnExistingDataDirAsItWas: a failure in a data dir that
// existed removes only what the restore made.
func TestRestoreLeavesAnExistingDataDirAsItWas(t *testing.T) {
	dataDir := t.TempDir()
	keep := filepath.Join(dataDir, "operator-notes.txt")
	if err := os.WriteFile(keep, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(t.TempDir(), "snap.db")
	if err := os.WriteFile(snap, []byte("not a snapshot at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Snapshot(snap, testMember(t, dataDir), Options{}); err == nil {
		t.Fatal("restored garbage")
	}
	if _, err := os.Stat(keep); err != nil {
		t.Fatalf("the operator's file went: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, datadir.MemberDir)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("member dir left behind: %v", err)
	}
}

// TestRestoreEtcdDataDirFile: a db file copied out of an etcd data dir
// has no hash: refused unless --skip-hash-check.
func TestRestoreEtcdDataDirFile(t *testing.T) {
	dir := t.TempDir()
	snap := filepath.Join(dir, "db")
	sampleStore().write(t, snap, false)
	if _, err := Snapshot(snap, testMember(t, filepath.Join(dir, "a")), Options{}); err == nil || !strings.Contains(err.Error(), "--skip-hash-check") {
		t.Fatalf("restore of a file without hash: %v", err)
	}
	rep, err := Snapshot(snap, testMember(t, filepath.Join(dir, "b")), Options{SkipHashCheck: true})
	if err != nil || rep.Keys != 3 {
		t.Fatalf("restore with --skip-hash-check: %+v %v", rep, err)
	}
}

// TestRestoreEtcdDamageWithoutHashCheckIsAnErrorNotACrash flips bytes
// all over a file restored with --skip-hash-check: each restore fails
// with an error or succeeds, never crashes.
func TestRestoreEtcdDamageWithoutHashCheckIsAnErrorNotACrash(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	sampleStore().write(t, good, false)
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	// bbolt's pages are 4096 bytes, mostly empty here: damage the start
	// of each (header, elements, keys and values).
	var offsets []int
	for page := 0; page < len(raw); page += 4096 {
		for off := page; off < page+192; off += 17 {
			offsets = append(offsets, off)
		}
	}
	failed := 0
	for _, off := range offsets {
		data := append([]byte(nil), raw...)
		data[off] ^= 0xff
		snap := filepath.Join(dir, "damaged.db")
		if err := os.WriteFile(snap, data, 0o600); err != nil {
			t.Fatal(err)
		}
		dataDir := filepath.Join(dir, "out")
		if _, err := Snapshot(snap, testMember(t, dataDir), Options{SkipHashCheck: true}); err != nil {
			failed++
			t.Logf("offset %d: %v", off, err)
			if _, serr := os.Stat(dataDir); !errors.Is(serr, fs.ErrNotExist) {
				t.Fatalf("offset %d: failed (%v) and left %s", off, err, dataDir)
			}
		}
		_ = os.RemoveAll(dataDir)
	}
	if failed == 0 {
		t.Fatal("no damaged file was refused")
	}
}

// TestRestoreEtcdCompactedHistory: records the compaction should have
// removed (it was interrupted) are dropped; reads at the compacted
// revision and later are etcd's.
func TestRestoreEtcdCompactedHistory(t *testing.T) {
	dir := t.TempDir()
	st := sampleStore()
	st.compacted = 5
	snap := filepath.Join(dir, "etcd.db")
	st.write(t, snap, true)
	rep, err := Snapshot(snap, testMember(t, filepath.Join(dir, "m")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.CompactRevision != 5 || rep.Revision != 7 || rep.Keys != 3 {
		t.Fatalf("report %+v", rep)
	}
	s := openRestored(t, filepath.Join(dir, "m"))
	if _, err := s.Range([]byte("a"), nil, mvcc.RangeOptions{Rev: 4}); !errors.Is(err, mvcc.ErrCompacted) {
		t.Fatalf("read below the compaction: %v", err)
	}
	res, err := s.Range([]byte{0}, []byte{0}, mvcc.RangeOptions{Rev: 5})
	if err != nil || len(res.KVs) != 2 || string(res.KVs[0].Value) != "2" {
		t.Fatalf("at the compacted revision: %+v %v", res, err)
	}
}

func TestDecodeEtcdLease(t *testing.T) {
	id, ttl, err := decodeEtcdLease(etcdLease(7, 90))
	if err != nil || id != 7 || ttl != 90 {
		t.Fatalf("decoded %d %d %v", id, ttl, err)
	}
	// Small values take one byte of tag and one of varint: a prefix of
	// odd length ends inside a field.
	b := etcdLease(7, 90)
	for i := 1; i < len(b); i += 2 {
		if _, _, err := decodeEtcdLease(b[:i]); err == nil {
			t.Errorf("prefix of %d bytes decoded", i)
		}
	}
}

// TestRestoreEtcdPasswordKeptAsEtcdKeepsIt: a user's password is kept
// as the snapshot holds it, a hash cairn checks or not (etcd keeps
// whatever a client sent as a hash). One no password can match (empty,
// not a bcrypt hash, or a bcrypt cost cairn will not compute) gets etcd's
// answer for a wrong password and a note naming the user and the way out;
// one golang.org/x/crypto/bcrypt reads as etcd does (another version)
// still lets the user in, without a note.
func TestRestoreEtcdPasswordKeptAsEtcdKeepsIt(t *testing.T) {
	for _, tt := range []struct {
		name     string
		password string
		note     bool
	}{
		{"a bcrypt cost past cairn's bound", "$2a$21$" + rootHash[7:], true},
		{"not a bcrypt hash", "garbage", true},
		{"empty", "", true},
		{"a bcrypt version bcrypt reads", "$2x$" + rootHash[4:], false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			st := sampleStore()
			st.users[0].Password = []byte(tt.password)
			snap := filepath.Join(dir, "etcd.db")
			st.write(t, snap, true)
			rep, err := Snapshot(snap, testMember(t, filepath.Join(dir, "m")), Options{})
			if err != nil {
				t.Fatal(err)
			}
			noted := len(rep.Notes) == 1 && strings.Contains(rep.Notes[0], `user "reader"`) && strings.Contains(rep.Notes[0], "ctl user passwd reader")
			if noted != tt.note || len(rep.Notes) > 1 {
				t.Fatalf("notes %q, want a note about reader: %v", rep.Notes, tt.note)
			}
			a, err := loadAuth(openRestored(t, filepath.Join(dir, "m")))
			if err != nil {
				t.Fatal(err)
			}
			_, err = a.Authenticate("reader", "root-pw", auth.Decoy(auth.MinBcryptCost))
			if tt.note && err != api.ErrAuthFailed || !tt.note && err != nil {
				t.Fatalf("reader with the password: %v", err)
			}
			u, ok := a.User("reader")
			if !ok || u.NoPassword || string(u.Password.EtcdBytes()) != tt.password || !reflect.DeepEqual(u.Roles, []string{"read-app"}) {
				t.Fatalf("reader restored as %+v (etcd bytes %q)", u, u.Password.EtcdBytes())
			}
		})
	}
}
