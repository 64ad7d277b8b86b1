package replica

import (
	"errors"
	"fmt"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/auth"
	"github.com/cairndb/cairn/btreekv/mvcc"
	"github.com/cairndb/cairn/internal/datadir"
)

// Authentication in the raft log. A command's envelope (envelope.go) says
// who made it:
//
//   - an authenticated client (WhoUser): every member checks the user's
//     permissions when it applies the entry, against the auth state as of
//     that entry, so a permission revoked before the write applies
//     refuses it, the same way on every member;
//
//   - the member itself (WhoMember): lease expiry, auto-compaction, the
//     alarms it raises, and a simple token it issued (KindIssueToken)
//     after checking the password. Applied without a user even while auth
//     is on, and so taken on the word of the member that made them: the
//     core stamps them with its id and the term it proposes them in; a
//     leader appends such a command forwarded by another member only if it
//     bears that member's stamp and the leader's term (checkOrigin), so it
//     is always appended in the term it was stamped with; an entry whose
//     stamp's term is not its own is refused when applied, on every
//     member;
//
//   - anyone (WhoAnyone): a client's command while auth is off stays as
//     it was. One that carries no user (its member still saw auth off) is
//     refused if auth is on when it applies; only publishing a member's
//     attributes and peer URLs pass unmarked (membership is checked when
//     proposed), and enabling auth.
//
// A change of the auth state is a command of KindAuth (an auth.Command:
// users, roles, permissions, enable/disable).

// auxAuth prefixes the auth records in the store's auxiliary table.
const auxAuth = datadir.AuxAuth

// kvAuth is the auth side of the state machine.
type kvAuth struct {
	// state is loaded from the auxiliary table at open and after a
	// snapshot install (the same *auth.State throughout).
	state *auth.State
	// onToken, if set, learns of every simple token issued, by its hash
	// (auth.HashSimpleToken: the log holds no token).
	onToken func(hash string, id auth.Identity)
	// onRevoke, if set, learns of every change that ends simple tokens:
	// a user's deletion or new password (its name), auth turned off ("").
	onRevoke func(user string)
}

// Auth is the replicated auth state.
func (k *KVState) Auth() *auth.State { return k.auth.state }

// OnAuthToken sets the function told of every simple token applied, by
// its hash (before the member starts applying).
func (k *KVState) OnAuthToken(fn func(hash string, id auth.Identity)) { k.auth.onToken = fn }

// OnAuthTokensRevoked sets the function told, as each is applied, of the
// changes that end simple tokens: a user deleted or given a new password
// (its name), auth turned off ("": every token). Set before the member
// starts applying.
func (k *KVState) OnAuthTokensRevoked(fn func(user string)) { k.auth.onRevoke = fn }

// loadAuth rebuilds the auth state from the store's records.
func (k *KVState) loadAuth(s *mvcc.Store) error {
	if k.auth.state == nil {
		k.auth.state = auth.New()
	}
	var recs []auth.Record
	for _, r := range s.Aux([]byte(auxAuth)) {
		recs = append(recs, auth.Record{Key: string(r.Key[len(auxAuth):]), Value: r.Value})
	}
	if err := k.auth.state.Load(recs); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	return nil
}

// authRecords writes auth records into a write transaction.
type authRecords struct{ tw *mvcc.TxnWrite }

func (r authRecords) Put(key string, value []byte) error {
	return r.tw.PutAux([]byte(auxAuth+key), value)
}

// applyAuthorized applies a command (data, what follows the entry's
// header), checking who made it first.
func (k *KVState) applyAuthorized(index, term uint64, data []byte) (api.Message, error) {
	if len(data) == 0 {
		return nil, errors.New("node: empty command")
	}
	e, err := openBody(data)
	if err != nil {
		return nil, k.refuse(index, term, fmt.Errorf("node: command at index %d: %w", index, err))
	}
	switch e.Who {
	case WhoMember:
		if e.Term != term {
			return nil, k.refuse(index, term, api.Errorf(api.CodeInvalidArgument, "node: command at index %d of term %d was made by member %016x in term %d: refused",
				index, term, e.Member, e.Term))
		}
		if e.Kind == KindIssueToken {
			return k.applyIssueToken(index, term, e.Payload)
		}
		return k.apply(index, term, e.Kind, e.Payload)
	case WhoUser:
		if err := k.authorize(e.User, e.Kind, e.Payload); err != nil {
			return nil, k.refuse(index, term, err)
		}
		if e.Kind == KindAuth {
			return k.applyAuthCommand(index, term, e.Payload, true)
		}
		return k.apply(index, term, e.Kind, e.Payload)
	}
	if e.Kind == KindAuth {
		return k.applyAuthCommand(index, term, e.Payload, false)
	}
	if err := k.checkUnauthenticated(e.Kind); err != nil {
		return nil, k.refuse(index, term, err)
	}
	return k.apply(index, term, e.Kind, e.Payload)
}

// refuse records the index of a refused command (so a restart does not
// apply it again) and returns the refusal, or the storage failure.
func (k *KVState) refuse(index, term uint64, err error) error {
	if endErr := k.Store().Write(index, term).End(); endErr != nil {
		return endErr
	}
	return err
}

// checkUnauthenticated refuses, while auth is on, the client writes that
// carry no user: proposed by a member that still saw auth off. The
// member's own commands are marked (WhoMember) and never come here;
// attributes and peer URL updates pass.
func (k *KVState) checkUnauthenticated(kind Kind) error {
	if !k.auth.state.Enabled() {
		return nil
	}
	switch kind {
	case KindPut, KindDeleteRange, KindTxn, KindCompaction, KindLeaseGrant, KindLeaseRevoke, KindAlarm:
		return api.Errorf(api.CodeUserEmpty, "etcdserver: user name is empty: a write proposed while auth was off was applied after it was turned on")
	}
	return nil
}

// authorize checks that id may make a command of kind with body, against
// the auth state as of this entry.
func (k *KVState) authorize(id auth.Identity, kind Kind, body []byte) error {
	a := k.auth.state
	decode := func(m api.Message) error {
		if err := api.Unmarshal(body, m); err != nil {
			return fmt.Errorf("node: authenticated command: %w", err)
		}
		return nil
	}
	switch kind {
	case KindPut, KindDeleteRange, KindTxn, KindCompaction, KindLeaseGrant:
		req := newRequest(kind)
		if err := decode(req); err != nil {
			return err
		}
		return a.CheckRequest(id, req)
	case KindLeaseRevoke:
		var r api.LeaseRevokeRequest
		if err := decode(&r); err != nil {
			return err
		}
		// Revoking a lease deletes its keys: the user must be allowed to
		// write every one of them.
		for _, l := range k.Store().Leases() {
			if l.ID == r.ID {
				keys := make([][]byte, len(l.Keys))
				for i, key := range l.Keys {
					keys[i] = []byte(key)
				}
				return a.CheckKeys(id, api.PermWrite, keys)
			}
		}
		return a.CheckUser(id) // no such lease: the revoke fails anyway
	case KindAuth:
		c, err := auth.UnmarshalCommand(body)
		if err != nil {
			return fmt.Errorf("node: authenticated command: %w", err)
		}
		return a.CheckCommand(id, c)
	default:
		// Alarms, membership: the administrator's.
		return a.CheckAdmin(id)
	}
}

// applyIssueToken applies a simple token issued (KindIssueToken, its
// origin checked already).
func (k *KVState) applyIssueToken(index, term uint64, body []byte) (api.Message, error) {
	c, err := auth.UnmarshalCommand(body)
	if err == nil && c.Op != auth.OpIssueToken {
		err = fmt.Errorf("a %v command where a token is issued", c.Op)
	}
	if err != nil {
		return nil, k.refuse(index, term, fmt.Errorf("node: command at index %d: %w", index, err))
	}
	return k.applyAuth(index, term, c)
}

// applyAuthCommand applies an auth state change. Unless made by an
// authenticated user (checked already), only enabling auth is taken while
// auth is on. A token is issued only by KindIssueToken.
func (k *KVState) applyAuthCommand(index, term uint64, body []byte, authenticated bool) (api.Message, error) {
	c, err := auth.UnmarshalCommand(body)
	if err != nil {
		return nil, k.refuse(index, term, fmt.Errorf("node: command at index %d: %w", index, err))
	}
	a := k.auth.state
	if c.Op == auth.OpIssueToken {
		return nil, k.refuse(index, term, fmt.Errorf("node: command at index %d: a token issued without its origin", index))
	}
	if !authenticated && a.Enabled() && c.Op != auth.OpEnable {
		return nil, k.refuse(index, term, api.ErrUserEmpty)
	}
	return k.applyAuth(index, term, c)
}

// applyAuth applies an auth state change that was allowed.
func (k *KVState) applyAuth(index, term uint64, c *auth.Command) (api.Message, error) {
	a := k.auth.state
	tw := k.Store().Write(index, term)
	err := a.Apply(c, authRecords{tw})
	if endErr := tw.End(); endErr != nil {
		return nil, endErr
	}
	if err == nil && c.Op == auth.OpIssueToken && k.auth.onToken != nil {
		k.auth.onToken(c.Token, auth.Identity{User: c.Name, Revision: c.Revision})
	}
	if err == nil && k.auth.onRevoke != nil {
		switch c.Op {
		case auth.OpUserDelete, auth.OpUserChangePassword:
			k.auth.onRevoke(c.Name)
		case auth.OpDisable:
			k.auth.onRevoke("")
		}
	}
	return nil, err
}
