package restore

import (
	"bytes"
	"fmt"
	"slices"

	"go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/authpb"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/auth"
	"github.com/cairndb/cairn/btreekv/mvcc"
	"github.com/cairndb/cairn/internal/datadir"
	"github.com/cairndb/cairn/internal/etcdschema"
)

// etcdAuth is the auth state of an etcd snapshot.
type etcdAuth struct {
	enabled bool
	users   []*authpb.User // by name
	roles   []*authpb.Role // by name
}

// readEtcdAuth reads the auth buckets (absent if auth was never used).
func readEtcdAuth(tx *bbolt.Tx) (*etcdAuth, error) {
	a := &etcdAuth{}
	if b := tx.Bucket(etcdschema.Auth); b != nil {
		a.enabled = bytes.Equal(b.Get(etcdschema.AuthEnabled), []byte{1})
	}
	if b := tx.Bucket(etcdschema.AuthUsers); b != nil {
		err := b.ForEach(func(k, v []byte) error {
			u := &authpb.User{}
			if err := u.Unmarshal(v); err != nil {
				return fmt.Errorf("etcd snapshot's user %q: %w", k, err)
			}
			if string(u.Name) != string(k) {
				return fmt.Errorf("etcd snapshot's user %q is named %q", k, u.Name)
			}
			a.users = append(a.users, u)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if b := tx.Bucket(etcdschema.AuthRoles); b != nil {
		err := b.ForEach(func(k, v []byte) error {
			r := &authpb.Role{}
			if err := r.Unmarshal(v); err != nil {
				return fmt.Errorf("etcd snapshot's role %q: %w", k, err)
			}
			if string(r.Name) != string(k) {
				return fmt.Errorf("etcd snapshot's role %q is named %q", k, r.Name)
			}
			a.roles = append(a.roles, r)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return a, nil
}

// etcdPermTypes maps etcd's permission types to cairn's.
var etcdPermTypes = map[authpb.Permission_Type]api.PermType{
	authpb.READ:      api.PermRead,
	authpb.WRITE:     api.PermWrite,
	authpb.READWRITE: api.PermReadWrite,
}

// restore writes the auth state into the store, by the commands that
// would build it in a running cluster (so cairn's rules check it):
// roles and their permissions, users with their password hashes as etcd
// keeps them (bcrypt hashes, which cairn checks, or whatever bytes etcd
// held: see auth.SnapshotHash) and roles, then auth enabled if it was,
// with signingKey for signed tokens. It returns the notes the operator
// must read: users whose password no password can match.
func (a *etcdAuth) restore(store *mvcc.Store, signingKey []byte) (notes []string, err error) {
	var cmds []*auth.Command
	for _, r := range a.roles {
		cmds = append(cmds, &auth.Command{Op: auth.OpRoleAdd, Name: string(r.Name)})
		for _, p := range r.KeyPermission {
			t, ok := etcdPermTypes[p.PermType]
			if !ok {
				return nil, fmt.Errorf("etcd snapshot's role %q has a permission of unknown type %d", r.Name, p.PermType)
			}
			cmds = append(cmds, &auth.Command{Op: auth.OpRoleGrantPermission, Name: string(r.Name),
				Perm: api.Permission{PermType: t, Key: p.Key, RangeEnd: p.RangeEnd}})
		}
	}
	for _, u := range a.users {
		name := string(u.Name)
		add := &auth.Command{Op: auth.OpUserAdd, Name: name}
		if u.Options != nil && u.Options.NoPassword {
			add.NoPassword = true
		} else {
			// Kept as etcd keeps it, a hash or not (auth.SnapshotHash).
			add.Password = auth.SnapshotHash(u.Password)
			if !add.Password.Checkable() {
				notes = append(notes, fmt.Sprintf("user %q's password in the snapshot is no hash cairn checks (it is empty, "+
					"not a bcrypt hash, or one of a cost above %d): it is kept as it is, and the user can authenticate only "+
					"with a client certificate until it gets a new one (ctl user passwd %s)", name, auth.MaxBcryptCost, name))
			}
		}
		cmds = append(cmds, add)
		for _, role := range slices.Sorted(slices.Values(u.Roles)) {
			cmds = append(cmds, &auth.Command{Op: auth.OpUserGrantRole, Name: name, Role: role})
		}
	}
	if a.enabled {
		cmds = append(cmds, &auth.Command{Op: auth.OpEnable, SigningKey: signingKey})
	}
	if len(cmds) == 0 {
		return notes, nil
	}
	state := auth.New()
	tw := store.Write(store.ConsistentIndex(), store.AppliedTerm())
	for _, c := range cmds {
		if err := state.Apply(c, auxRecords{tw}); err != nil {
			_ = tw.End()
			return nil, fmt.Errorf("etcd snapshot's auth state: %s %s: %w", c.Op, c.Name, err)
		}
	}
	if err := tw.End(); err != nil {
		return nil, err
	}
	return notes, store.Commit()
}

// auxRecords writes auth records into the store's auxiliary table, where
// the server keeps them.
type auxRecords struct{ tw *mvcc.TxnWrite }

func (r auxRecords) Put(key string, value []byte) error {
	return r.tw.PutAux([]byte(datadir.AuxAuth+key), value)
}
