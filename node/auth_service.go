package node

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/auth"
	"github.com/cairndb/cairn/node/replica"
	"github.com/cairndb/cairn/rpc"
)

// The Auth service: turning auth on and off, authenticating, and
// managing users and roles. Changes go through raft as auth.Commands; a
// password is hashed here (bcrypt, at this member's --bcrypt-cost), by
// the member that received it, before it is proposed, as etcd does: the
// command carries the hash, so every member stores the same one and
// applying is cheap.

func (s *Server) registerAuthServices() {
	r := s.clientServices()
	m := func(id uint16) rpc.Method { return rpc.Method(id) }
	r.HandleUnary(m(api.MethodAuthEnable), unary(s, s.serveAuthEnable))
	r.HandleUnary(m(api.MethodAuthDisable), unary(s, s.serveAuthDisable))
	r.HandleUnary(m(api.MethodAuthStatus), unary(s, s.serveAuthStatus))
	r.HandleUnary(m(api.MethodAuthenticate), unary(s, s.serveAuthenticate))
	r.HandleUnary(m(api.MethodUserAdd), unary(s, s.serveUserAdd))
	r.HandleUnary(m(api.MethodUserGet), unary(s, s.serveUserGet))
	r.HandleUnary(m(api.MethodUserList), unary(s, s.serveUserList))
	r.HandleUnary(m(api.MethodUserDelete), unary(s, s.serveUserDelete))
	r.HandleUnary(m(api.MethodUserChangePassword), unary(s, s.serveUserChangePassword))
	r.HandleUnary(m(api.MethodUserGrantRole), unary(s, s.serveUserGrantRole))
	r.HandleUnary(m(api.MethodUserRevokeRole), unary(s, s.serveUserRevokeRole))
	r.HandleUnary(m(api.MethodRoleAdd), unary(s, s.serveRoleAdd))
	r.HandleUnary(m(api.MethodRoleGet), unary(s, s.serveRoleGet))
	r.HandleUnary(m(api.MethodRoleList), unary(s, s.serveRoleList))
	r.HandleUnary(m(api.MethodRoleDelete), unary(s, s.serveRoleDelete))
	r.HandleUnary(m(api.MethodRoleGrantPermission), unary(s, s.serveRoleGrantPermission))
	r.HandleUnary(m(api.MethodRoleRevokePermission), unary(s, s.serveRoleRevokePermission))
}

// proposeAuth proposes an auth change as every member does
// (replica.AuthChange, which the simulator's administrator goes through
// too). With auth on, the caller must be allowed to make it: checked here
// first, to refuse early, and again by every member as it applies it;
// prepare, if set, runs after the check (hashing a password costs ~95 ms:
// not for callers who may not).
func (s *Server) proposeAuth(ctx context.Context, c *auth.Command, prepare func() error) error {
	caller, err := s.caller(ctx)
	if err == nil && caller != nil {
		err = s.replica.AuthorizeAuthChange(c, caller)
	}
	if err == nil && prepare != nil {
		err = prepare()
	}
	var cmd replica.Envelope
	if err == nil {
		cmd, err = s.replica.AuthChange(c, caller, s.limits())
	}
	if err == nil {
		_, err = s.replicate(ctx, cmd)
	}
	if isAuthRefusal(err) {
		s.logDenied(c.Op.String(), caller, "", err)
	}
	return err
}

// hashInto hashes password into c with bcrypt at this member's cost. A
// password longer than bcrypt's 72 bytes is refused with etcd's error
// (api.ErrPasswordTooLong) rather than hashed without its tail.
func (s *Server) hashInto(c *auth.Command, password string) func() error {
	return func() error {
		if password == "" {
			return api.Errorf(api.CodeInvalidArgument, "etcdserver: password is empty (create the user with NoPassword to let it in by client certificate only)")
		}
		h, err := auth.HashBcrypt(password, s.cfg.bcryptCost())
		if err != nil {
			return err
		}
		c.Password = h
		return nil
	}
}

// takeHash sets c's password to a hash the client made of it (etcd's
// hashedPassword, in standard base64), kept as etcd keeps it
// (auth.ClientHash): bytes that are not a bcrypt hash are kept too, and
// then no password lets the user in (api.ErrAuthFailed), as in etcd. A
// hash that is not base64 gets etcd's error, api.ErrNoPasswordUser. A
// user this member does not know is refused first, as applying would
// refuse it (api.ErrUserNotFound): etcd looks for the user before the
// hash.
func (s *Server) takeHash(c *auth.Command, hashed string) func() error {
	return func() error {
		if _, ok := s.replica.State.Auth().User(c.Name); !ok {
			return api.ErrUserNotFound
		}
		raw, err := base64.StdEncoding.DecodeString(hashed)
		if err != nil {
			return api.Errorf(api.CodeNoPasswordUser, "auth: the hashed password of %q is not standard base64: %v", c.Name, err)
		}
		c.Password = auth.ClientHash(raw)
		return nil
	}
}

func (s *Server) serveAuthEnable(ctx context.Context, req *api.AuthEnableRequest) (api.Message, error) {
	// A fresh signing key: kept only if the cluster has none yet.
	key := make([]byte, auth.MinSigningKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("auth enable: signing key: %w", err)
	}
	if err := s.proposeAuth(ctx, &auth.Command{Op: auth.OpEnable, SigningKey: key}, nil); err != nil {
		return nil, err
	}
	s.log.Info("auth: enabled")
	return &api.AuthEnableResponse{Header: s.header()}, nil
}

func (s *Server) serveAuthDisable(ctx context.Context, req *api.AuthDisableRequest) (api.Message, error) {
	if err := s.proposeAuth(ctx, &auth.Command{Op: auth.OpDisable}, nil); err != nil {
		return nil, err
	}
	s.log.Info("auth: disabled")
	return &api.AuthDisableResponse{Header: s.header()}, nil
}

func (s *Server) serveAuthStatus(ctx context.Context, req *api.AuthStatusRequest) (api.Message, error) {
	a := s.replica.State.Auth()
	return &api.AuthStatusResponse{Header: s.header(), Enabled: a.Enabled(), AuthRevision: a.Revision()}, nil
}

// serveAuthenticate checks a password against the current state (after a
// ReadIndex wait) and hands out a token: a signed one made here, or a
// simple one proposed through raft so every member knows it.
func (s *Server) serveAuthenticate(ctx context.Context, req *api.AuthenticateRequest) (api.Message, error) {
	// Waiting first: a member behind the others may not have applied the
	// enable yet.
	if err := s.readBarrier(ctx); err != nil {
		return nil, err
	}
	a := s.replica.State.Auth()
	if !a.Enabled() {
		return nil, api.ErrAuthNotEnabled
	}
	id, err := a.Authenticate(req.Name, req.Password, s.auth.decoy)
	if err != nil {
		s.logDenied("Authenticate", &auth.Identity{User: req.Name}, "", err)
		return nil, err
	}
	var token string
	if s.cfg.authToken() == auth.TokenSigned {
		token = auth.SignToken(a.SigningKey(), id, time.Now().Add(s.cfg.authTokenTTL()))
	} else {
		if token, err = auth.NewSimpleToken(rand.Reader); err != nil {
			return nil, err
		}
		c := &auth.Command{Op: auth.OpIssueToken, Name: id.User, Token: auth.HashSimpleToken(token), Revision: id.Revision}
		if _, err := s.proposeOwn(ctx, replica.IssueToken(c)); err != nil {
			// The state changed since the password was checked (the
			// client tries again), or the proposal failed.
			return nil, err
		}
	}
	return &api.AuthenticateResponse{Header: s.header(), Token: token}, nil
}

func (s *Server) serveUserAdd(ctx context.Context, req *api.UserAddRequest) (api.Message, error) {
	if req.Name == "" {
		return nil, api.ErrUserEmpty
	}
	c := &auth.Command{Op: auth.OpUserAdd, Name: req.Name, NoPassword: req.NoPassword}
	var prepare func() error
	if !req.NoPassword {
		prepare = s.hashInto(c, req.Password)
	}
	if err := s.proposeAuth(ctx, c, prepare); err != nil {
		return nil, err
	}
	return &api.UserAddResponse{Header: s.header()}, nil
}

func (s *Server) serveUserGet(ctx context.Context, req *api.UserGetRequest) (api.Message, error) {
	if err := s.authorizeAuthRead(ctx, "UserGet", func(a *auth.State, id auth.Identity) error { return a.CheckUserGet(id, req.Name) }); err != nil {
		return nil, err
	}
	roles, err := s.replica.State.Auth().UserRoles(req.Name)
	if err != nil {
		return nil, err
	}
	return &api.UserGetResponse{Header: s.header(), Roles: roles}, nil
}

func (s *Server) serveUserList(ctx context.Context, req *api.UserListRequest) (api.Message, error) {
	if err := s.authorizeAuthRead(ctx, "UserList", (*auth.State).CheckAdmin); err != nil {
		return nil, err
	}
	return &api.UserListResponse{Header: s.header(), Users: s.replica.State.Auth().Users()}, nil
}

func (s *Server) serveUserDelete(ctx context.Context, req *api.UserDeleteRequest) (api.Message, error) {
	if err := s.proposeAuth(ctx, &auth.Command{Op: auth.OpUserDelete, Name: req.Name}, nil); err != nil {
		return nil, err
	}
	return &api.UserDeleteResponse{Header: s.header()}, nil
}

func (s *Server) serveUserChangePassword(ctx context.Context, req *api.UserChangePasswordRequest) (api.Message, error) {
	c := &auth.Command{Op: auth.OpUserChangePassword, Name: req.Name}
	var prepare func() error
	switch u, ok := s.replica.State.Auth().User(req.Name); {
	case ok && u.NoPassword:
		// As etcd's: the user keeps having no password, whatever came
		// (an empty one too), so nothing is hashed; applying the change
		// moves the revision.
	case req.Password == "" && req.HashedPassword != "":
		prepare = s.takeHash(c, req.HashedPassword)
	default:
		prepare = s.hashInto(c, req.Password)
	}
	if err := s.proposeAuth(ctx, c, prepare); err != nil {
		return nil, err
	}
	return &api.UserChangePasswordResponse{Header: s.header()}, nil
}

func (s *Server) serveUserGrantRole(ctx context.Context, req *api.UserGrantRoleRequest) (api.Message, error) {
	if err := s.proposeAuth(ctx, &auth.Command{Op: auth.OpUserGrantRole, Name: req.User, Role: req.Role}, nil); err != nil {
		return nil, err
	}
	return &api.UserGrantRoleResponse{Header: s.header()}, nil
}

func (s *Server) serveUserRevokeRole(ctx context.Context, req *api.UserRevokeRoleRequest) (api.Message, error) {
	if err := s.proposeAuth(ctx, &auth.Command{Op: auth.OpUserRevokeRole, Name: req.Name, Role: req.Role}, nil); err != nil {
		return nil, err
	}
	return &api.UserRevokeRoleResponse{Header: s.header()}, nil
}

func (s *Server) serveRoleAdd(ctx context.Context, req *api.RoleAddRequest) (api.Message, error) {
	if req.Name == "" {
		return nil, api.ErrRoleEmpty
	}
	if err := s.proposeAuth(ctx, &auth.Command{Op: auth.OpRoleAdd, Name: req.Name}, nil); err != nil {
		return nil, err
	}
	return &api.RoleAddResponse{Header: s.header()}, nil
}

func (s *Server) serveRoleGet(ctx context.Context, req *api.RoleGetRequest) (api.Message, error) {
	if err := s.authorizeAuthRead(ctx, "RoleGet", func(a *auth.State, id auth.Identity) error { return a.CheckRoleGet(id, req.Role) }); err != nil {
		return nil, err
	}
	perms, err := s.replica.State.Auth().RolePerms(req.Role)
	if err != nil {
		return nil, err
	}
	return &api.RoleGetResponse{Header: s.header(), Perm: perms}, nil
}

func (s *Server) serveRoleList(ctx context.Context, req *api.RoleListRequest) (api.Message, error) {
	if err := s.authorizeAuthRead(ctx, "RoleList", (*auth.State).CheckAdmin); err != nil {
		return nil, err
	}
	return &api.RoleListResponse{Header: s.header(), Roles: s.replica.State.Auth().Roles()}, nil
}

func (s *Server) serveRoleDelete(ctx context.Context, req *api.RoleDeleteRequest) (api.Message, error) {
	if err := s.proposeAuth(ctx, &auth.Command{Op: auth.OpRoleDelete, Name: req.Role}, nil); err != nil {
		return nil, err
	}
	return &api.RoleDeleteResponse{Header: s.header()}, nil
}

func (s *Server) serveRoleGrantPermission(ctx context.Context, req *api.RoleGrantPermissionRequest) (api.Message, error) {
	checkRange := func() error { return auth.CheckGrantRange(req.Perm.Key, req.Perm.RangeEnd) }
	if err := s.proposeAuth(ctx, &auth.Command{Op: auth.OpRoleGrantPermission, Name: req.Name, Perm: req.Perm}, checkRange); err != nil {
		return nil, err
	}
	return &api.RoleGrantPermissionResponse{Header: s.header()}, nil
}

func (s *Server) serveRoleRevokePermission(ctx context.Context, req *api.RoleRevokePermissionRequest) (api.Message, error) {
	c := &auth.Command{Op: auth.OpRoleRevokePermission, Name: req.Role, Perm: api.Permission{Key: req.Key, RangeEnd: req.RangeEnd}}
	if err := s.proposeAuth(ctx, c, nil); err != nil {
		return nil, err
	}
	return &api.RoleRevokePermissionResponse{Header: s.header()}, nil
}

// authorizeAuthRead checks a read of the auth state, after a ReadIndex
// wait so the answer (and the check) is current.
func (s *Server) authorizeAuthRead(ctx context.Context, method string, check func(*auth.State, auth.Identity) error) error {
	if err := s.readBarrier(ctx); err != nil {
		return err
	}
	return s.authorize(ctx, method, nil, check)
}
