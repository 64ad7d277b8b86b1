package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/auth"
	"github.com/cairndb/cairn/rpc"
)

// Enforcement of authentication on the client services. When auth is on,
// every call names its user: by a token (rpc.WithToken on the client),
// else by the common name of the verified TLS client certificate of its
// connection. The checks:
//
//   - writes (Put, DeleteRange, Txn, Compact, LeaseGrant, LeaseRevoke,
//     alarm changes) go through raft wrapped with the user and the
//     token's revision (servePlan, replica.Plan.Propose); every member
//     checks them when it applies them (replica/auth_apply.go);
//   - reads (Range, a read-only Txn, Watch creation, LeaseTimeToLive
//     with keys, the leases listed) are checked on the serving member,
//     after the ReadIndex wait that makes its state current;
//   - administration (users and roles, membership, defragment, hash,
//     snapshot, move-leader) is for the root role;
//   - AuthStatus, Authenticate, MemberList and Status are open.
//
// A member that sees auth off but gets a call carrying a token first
// catches up with the log (authOn): the client has seen auth on, and
// this member may not have applied the enable yet.
//
// Every refusal is logged at warn level with the user, the method and
// what it touched.

// serverAuth is the member's own auth machinery, beside the replicated
// state.
type serverAuth struct {
	// tokens are the simple tokens this member learned from the log.
	tokens *auth.SimpleTokens
	// decoy is checked instead of an unknown user's password.
	decoy auth.PasswordHash
}

// initAuth prepares the token table before the member applies entries.
func (s *Server) initAuth() {
	s.auth.tokens = auth.NewSimpleTokens(s.cfg.authTokenTTL())
	s.auth.decoy = auth.Decoy(s.cfg.bcryptCost())
	s.replica.State.OnAuthToken(func(hash string, id auth.Identity) { s.auth.tokens.Add(hash, id, time.Now()) })
	s.replica.State.OnAuthTokensRevoked(func(user string) {
		if user == "" {
			s.auth.tokens.DropAll()
		} else {
			s.auth.tokens.DropUser(user)
		}
	})
}

// identify finds the user of a call: its token's, else its client
// certificate's common name.
//
// A signed token names the auth revision it was issued at, and any auth
// change since makes it old (api.ErrAuthOldRevision: the client
// authenticates again), as etcd's JWT tokens. A simple token, as etcd's
// (its default), stands for its user as the auth state is now until it
// ends: unused for its TTL, its user deleted or given a new password, or
// auth turned off (initAuth drops it then); the call is checked against
// the current roles and permissions.
func (s *Server) identify(ctx context.Context) (auth.Identity, error) {
	if tok := rpc.Token(ctx); tok != "" {
		if auth.IsSigned(tok) {
			return auth.VerifyToken(s.replica.State.Auth().SigningKey(), tok, time.Now())
		}
		id, err := s.auth.tokens.Lookup(tok, time.Now())
		if err != nil && s.readBarrier(ctx) == nil {
			// The token may be one another member issued a moment ago,
			// in an entry this member has not applied yet: once it has
			// applied everything committed, look again.
			id, err = s.auth.tokens.Lookup(tok, time.Now())
		}
		if err == nil {
			id.Revision = s.replica.State.Auth().Revision()
		}
		return id, err
	}
	if cert := rpc.PeerCertificate(ctx); cert != nil && cert.Subject.CommonName != "" {
		return auth.Identity{User: cert.Subject.CommonName}, nil
	}
	return auth.Identity{}, api.ErrUserEmpty
}

// caller finds who makes a call, for the member's checks (replica): nil
// while auth is off (authOn). A call that names no user, made to a member
// that sees auth on, may come from a client that saw auth turned off a
// moment ago through another member: it is taken with no user if auth is
// off once this member caught up (authOffAfterCatchUp).
func (s *Server) caller(ctx context.Context) (*auth.Identity, error) {
	if !s.replica.State.Auth().Enabled() && rpc.Token(ctx) == "" {
		return nil, nil // auth off, and the client did not see it on
	}
	on, _, err := s.authOn(ctx)
	if err != nil || !on {
		return nil, err
	}
	id, err := s.identify(ctx)
	switch {
	case errors.Is(err, api.ErrUserEmpty) && s.authOffAfterCatchUp(ctx):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return &id, nil
}

// authorize runs check on the caller of ctx when auth is on (caller).
// what, if not nil, names what the call touches, for the log of a
// refusal (called only then).
func (s *Server) authorize(ctx context.Context, method string, what func() string, check func(a *auth.State, id auth.Identity) error) error {
	caller, err := s.caller(ctx)
	if err == nil && caller != nil {
		err = check(s.replica.State.Auth(), *caller)
	}
	if isAuthRefusal(err) {
		desc := ""
		if what != nil {
			desc = what()
		}
		s.logDenied(method, caller, desc, err)
	}
	return err
}

// authOn reports whether auth is on for a call. A call that carries a
// token comes from a client that saw auth on, which this member may not
// have applied yet (it was restarted, or is behind): if it sees auth off,
// it first catches up with a ReadIndex round, and answers with its state
// then. caughtUp says whether it did.
func (s *Server) authOn(ctx context.Context) (on, caughtUp bool, err error) {
	if s.replica.State.Auth().Enabled() {
		return true, false, nil
	}
	if rpc.Token(ctx) == "" {
		return false, false, nil
	}
	if err := s.readBarrier(ctx); err != nil {
		return false, false, err
	}
	return s.replica.State.Auth().Enabled(), true, nil
}

// authOffAfterCatchUp reports whether auth is off once this member has
// applied everything committed: a call that names no user, made to a
// member that sees auth on, may come from a client that saw it turned off
// a moment ago through another member. Only refusals pay the ReadIndex
// round.
func (s *Server) authOffAfterCatchUp(ctx context.Context) bool {
	return s.readBarrier(ctx) == nil && !s.replica.State.Auth().Enabled()
}

// authOnCurrent is authOn for a check the caller has not waited for:
// when auth is on, it also makes this member's state current (one
// ReadIndex round in all), so that a permission revoked a moment ago is
// already in force.
func (s *Server) authOnCurrent(ctx context.Context) (bool, error) {
	on, caughtUp, err := s.authOn(ctx)
	if err == nil && on && !caughtUp {
		err = s.readBarrier(ctx)
	}
	return on, err
}

// authorizeRead checks a read of [key, end) (a watch's creation) the
// caller has not waited for: it first makes this member's state current
// (authOnCurrent).
func (s *Server) authorizeRead(ctx context.Context, method string, key, end []byte) error {
	if on, err := s.authOnCurrent(ctx); err != nil || !on {
		return err
	}
	what := func() string { return describeKeys(key, end) }
	return s.authorize(ctx, method, what, func(_ *auth.State, id auth.Identity) error {
		return s.replica.AuthorizeRange(key, end, &id)
	})
}

// authorizeAdmin allows the root role only.
func (s *Server) authorizeAdmin(ctx context.Context, method string) error {
	return s.authorize(ctx, method, nil, (*auth.State).CheckAdmin)
}

// authorizeUser allows any user.
func (s *Server) authorizeUser(ctx context.Context, method string) error {
	return s.authorize(ctx, method, nil, (*auth.State).CheckUser)
}

// noteDenied logs err if it refuses req, made by caller (nil: none
// found), for want of authentication or permission.
func (s *Server) noteDenied(req api.Message, caller *auth.Identity, err error) {
	if isAuthRefusal(err) {
		s.logDenied(methodName(req), caller, describeRequest(req), err)
	}
}

// isAuthRefusal reports whether err refuses a call for want of
// authentication or permission.
func isAuthRefusal(err error) bool {
	switch api.CodeOf(err) {
	case api.CodeUserEmpty, api.CodePermissionDenied, api.CodeInvalidAuthToken, api.CodeAuthOldRevision, api.CodeAuthFailed:
		return true
	}
	return false
}

// logDenied logs a refused call, made by caller (nil: none found).
func (s *Server) logDenied(method string, caller *auth.Identity, what string, err error) {
	user := ""
	if caller != nil {
		user = caller.User
	}
	attrs := []any{"method", method, "user", user, "err", err}
	if what != "" {
		attrs = append(attrs, "keys", what)
	}
	s.log.Warn("auth: request refused", attrs...)
}

// methodName is a request's method as logs name it ("Put").
func methodName(req api.Message) string {
	name := fmt.Sprintf("%T", req)
	name = strings.TrimPrefix(name, "*api.")
	return strings.TrimSuffix(name, "Request")
}

// describeKeys names a key range for the log ("" for none).
func describeKeys(key, end []byte) string {
	if key == nil && end == nil {
		return ""
	}
	return auth.DescribeRange(key, end)
}

// describeRequest names what a request touches, for the log.
func describeRequest(req api.Message) string {
	switch r := req.(type) {
	case *api.RangeRequest:
		return describeKeys(r.Key, r.RangeEnd)
	case *api.PutRequest:
		return auth.DescribeRange(r.Key, nil)
	case *api.DeleteRangeRequest:
		return auth.DescribeRange(r.Key, r.RangeEnd)
	case *api.TxnRequest:
		var parts []string
		for _, c := range r.Compare {
			parts = append(parts, "compare "+auth.DescribeRange(c.Key, c.RangeEnd))
		}
		for op := range r.Ops() {
			switch op := op.(type) {
			case *api.RangeRequest:
				parts = append(parts, "range "+auth.DescribeRange(op.Key, op.RangeEnd))
			case *api.PutRequest:
				parts = append(parts, "put "+auth.DescribeRange(op.Key, nil))
			case *api.DeleteRangeRequest:
				parts = append(parts, "delete "+auth.DescribeRange(op.Key, op.RangeEnd))
			case *api.TxnRequest:
				parts = append(parts, "txn")
			}
		}
		return strings.Join(parts, "; ")
	case *api.LeaseRevokeRequest:
		return fmt.Sprintf("keys of lease %x", r.ID)
	case *api.CompactionRequest:
		return "all keys"
	}
	return ""
}
