package replica

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/auth"
	"github.com/cairndb/cairn/btreekv/mvcc"
	"github.com/cairndb/cairn/internal/datadir"
)

// Authentication in the raft log. Two command kinds carry it:
//
//   - kindAuth: a change of the auth state (an auth.Command: users,
//     roles, permissions, enable/disable, or a simple token issued).
//
//   - kindAuthed: a command made by an authenticated client: the user,
//     the auth revision of the user's token (0 for a client certificate)
//     and the inner command. Every member checks the user's permissions
//     when it applies the entry, against the auth state as of that entry,
//     so a permission revoked before the write applies refuses it, the
//     same way on every member.
//
//   - kindInternal: a command the member makes itself (lease expiry,
//     auto-compaction, the alarms it raises): applied without a user
//     even while auth is on.
//
//   - kindIssueToken: a simple token issued (an auth.Command with
//     OpIssueToken, carrying the token's hash): applied without a user
//     while auth is on, since the member checked the password.
//
// The last two are taken on the word of the member that made them, so
// they name it: after the kind, the member's id and the term it proposed
// them in, 8 bytes each (an origin). The proposer writes zeros; the core
// stamps the origin when it proposes the command (OriginChecker). A
// leader appends such a command forwarded by another member only if it
// bears that member's stamp and the leader's term (CheckOrigin), so it
// is always appended in the term it was stamped with; an entry whose
// stamp's term is not its own is refused when applied, on every member.
//
// Commands of clients while auth is off stay as they were. A client's
// write that carries no user (its member still saw auth off) is refused
// if auth is on when it applies; only publishing a member's attributes
// and peer URLs pass unmarked (membership is checked when proposed).
const (
	kindAuth       requestKind = 64
	kindAuthed     requestKind = 65
	kindInternal   requestKind = 66
	kindIssueToken requestKind = 67
)

// originSize is the length of an origin: member id and term.
const originSize = 16

// EncodeInternal encodes a write the member makes on its own behalf,
// with room for its origin.
func EncodeInternal(req api.Message) ([]byte, error) {
	cmd, err := EncodeRequest(req)
	if err != nil {
		return nil, err
	}
	return append(append([]byte{byte(kindInternal)}, make([]byte, originSize)...), cmd...), nil
}

// EncodeIssueToken encodes a simple token issued (c.Op is
// OpIssueToken), with room for its origin.
func EncodeIssueToken(c *auth.Command) []byte {
	return append(append([]byte{byte(kindIssueToken)}, make([]byte, originSize)...), c.Marshal()...)
}

// HasOrigin reports whether cmd is of a kind that names its origin.
func HasOrigin(cmd []byte) bool {
	return len(cmd) > 0 && (requestKind(cmd[0]) == kindInternal || requestKind(cmd[0]) == kindIssueToken)
}

// decodeOrigin splits a command that names its origin.
func decodeOrigin(cmd []byte) (member, term uint64, inner []byte, err error) {
	if len(cmd) < 1+originSize {
		return 0, 0, nil, fmt.Errorf("node: %d-byte command of kind %d: too short for its origin", len(cmd), cmd[0])
	}
	return binary.BigEndian.Uint64(cmd[1:]), binary.BigEndian.Uint64(cmd[9:]), cmd[1+originSize:], nil
}

// StampOrigin implements OriginChecker.
func (k *KVState) StampOrigin(cmd []byte, member, term uint64) {
	if HasOrigin(cmd) && len(cmd) >= 1+originSize {
		binary.BigEndian.PutUint64(cmd[1:], member)
		binary.BigEndian.PutUint64(cmd[9:], term)
	}
}

// CheckOrigin implements OriginChecker: a command that names its origin
// is appended only if from, the member that forwarded it, stamped it in
// the leader's term.
func (k *KVState) CheckOrigin(cmd []byte, from, term uint64) error {
	if !HasOrigin(cmd) {
		return nil
	}
	member, stamped, _, err := decodeOrigin(cmd)
	switch {
	case err != nil:
		return err
	case member != from:
		return fmt.Errorf("node: a command made by member %016x, forwarded by member %016x", member, from)
	case stamped != term:
		return fmt.Errorf("node: a command member %016x made in term %d, forwarded in term %d", member, stamped, term)
	}
	return nil
}

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
}

// Auth is the replicated auth state.
func (k *KVState) Auth() *auth.State { return k.auth.state }

// OnAuthToken sets the function told of every simple token applied, by
// its hash (before the member starts applying).
func (k *KVState) OnAuthToken(fn func(hash string, id auth.Identity)) { k.auth.onToken = fn }

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

// EncodeAuthCommand encodes an auth state change as a raft command.
func EncodeAuthCommand(c *auth.Command) []byte {
	return append([]byte{byte(kindAuth)}, c.Marshal()...)
}

// EncodeAuthed wraps a command made by id.
func EncodeAuthed(id auth.Identity, inner []byte) []byte {
	b := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(id.User)+len(inner))
	b = append(b, byte(kindAuthed))
	b = binary.AppendUvarint(b, uint64(len(id.User)))
	b = append(b, id.User...)
	b = binary.AppendUvarint(b, id.Revision)
	return append(b, inner...)
}

// decodeAuthed reads what EncodeAuthed wrote, after the kind byte.
func decodeAuthed(b []byte) (auth.Identity, []byte, error) {
	n, sz := binary.Uvarint(b)
	if sz <= 0 || n > uint64(len(b)-sz) {
		return auth.Identity{}, nil, errors.New("node: authenticated command: bad user name length")
	}
	b = b[sz:]
	id := auth.Identity{User: string(b[:n])}
	b = b[n:]
	rev, sz := binary.Uvarint(b)
	if sz <= 0 {
		return auth.Identity{}, nil, errors.New("node: authenticated command: bad auth revision")
	}
	id.Revision = rev
	inner := b[sz:]
	if len(inner) == 0 || requestKind(inner[0]) == kindAuthed {
		return auth.Identity{}, nil, errors.New("node: authenticated command: no inner command")
	}
	return id, inner, nil
}

// applyAuthorized applies a command, checking its maker's permissions
// first when it carries one.
func (k *KVState) applyAuthorized(index, term uint64, data []byte) (api.Message, error) {
	if len(data) == 0 {
		return k.apply(index, term, data)
	}
	switch requestKind(data[0]) {
	case kindAuth:
		return k.applyAuthCommand(index, term, data[1:], false)
	case kindAuthed:
		id, inner, err := decodeAuthed(data[1:])
		if err == nil {
			err = k.authorize(id, inner)
		}
		if err != nil {
			return nil, k.refuse(index, term, err)
		}
		if requestKind(inner[0]) == kindAuth {
			return k.applyAuthCommand(index, term, inner[1:], true)
		}
		return k.apply(index, term, inner)
	case kindInternal, kindIssueToken:
		inner, err := checkStamp(index, term, data)
		if err != nil {
			return nil, k.refuse(index, term, err)
		}
		if requestKind(data[0]) == kindIssueToken {
			return k.applyIssueToken(index, term, inner)
		}
		if len(inner) == 0 || requestKind(inner[0]) >= kindAuth {
			return nil, k.refuse(index, term, fmt.Errorf("node: internal command at index %d: no plain inner command", index))
		}
		return k.apply(index, term, inner)
	}
	if err := k.checkUnauthenticated(requestKind(data[0])); err != nil {
		return nil, k.refuse(index, term, err)
	}
	return k.apply(index, term, data)
}

// checkStamp returns the command inside data, an entry at index of term
// that names its origin, if the origin's term is the entry's.
func checkStamp(index, term uint64, data []byte) ([]byte, error) {
	member, stamped, inner, err := decodeOrigin(data)
	if err != nil {
		return nil, fmt.Errorf("node: command at index %d: %w", index, err)
	}
	if stamped != term {
		return nil, api.Errorf(api.CodeInvalidArgument, "node: command at index %d of term %d was made by member %016x in term %d: refused",
			index, term, member, stamped)
	}
	return inner, nil
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
// member's own commands are marked (kindInternal) and never come here;
// attributes and peer URL updates pass.
func (k *KVState) checkUnauthenticated(kind requestKind) error {
	if !k.auth.state.Enabled() {
		return nil
	}
	switch kind {
	case kindPut, kindDeleteRange, kindTxn, kindCompaction, kindLeaseGrant, kindLeaseRevoke, kindAlarm:
		return api.Errorf(api.CodeUserEmpty, "etcdserver: user name is empty: a write proposed while auth was off was applied after it was turned on")
	}
	return nil
}

// authorize checks that id may make the command inner, against the auth
// state as of this entry.
func (k *KVState) authorize(id auth.Identity, inner []byte) error {
	a := k.auth.state
	body := inner[1:]
	decode := func(m api.Message) error {
		if err := api.Unmarshal(body, m); err != nil {
			return fmt.Errorf("node: authenticated command: %w", err)
		}
		return nil
	}
	var req api.Message
	switch requestKind(inner[0]) {
	case kindPut:
		req = &api.PutRequest{}
	case kindDeleteRange:
		req = &api.DeleteRangeRequest{}
	case kindTxn:
		req = &api.TxnRequest{}
	case kindCompaction:
		req = &api.CompactionRequest{}
	case kindLeaseGrant:
		req = &api.LeaseGrantRequest{}
	case kindLeaseRevoke:
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
	case kindAuth:
		c, err := auth.UnmarshalCommand(body)
		if err != nil {
			return fmt.Errorf("node: authenticated command: %w", err)
		}
		return a.CheckCommand(id, c)
	default:
		// Alarms, membership: the administrator's.
		return a.CheckAdmin(id)
	}
	if err := decode(req); err != nil {
		return err
	}
	return a.CheckRequest(id, req)
}

// applyIssueToken applies a simple token issued (kindIssueToken, its
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
// auth is on. A token is issued only by kindIssueToken.
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
	return nil, err
}
