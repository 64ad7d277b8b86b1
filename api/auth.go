package api

// PermType is the access a permission grants.
type PermType uint8

const (
	// PermRead allows Range and Watch.
	PermRead PermType = iota
	// PermWrite allows Put and DeleteRange.
	PermWrite
	// PermReadWrite allows both.
	PermReadWrite
)

// Permission grants access of PermType to the keys in [Key, RangeEnd)
// (same range rules as RangeRequest).
type Permission struct {
	PermType PermType
	Key      []byte
	RangeEnd []byte
}

// AuthEnableRequest turns authentication on (the root user must exist).
type AuthEnableRequest struct{}

// AuthEnableResponse is the answer to an AuthEnableRequest.
type AuthEnableResponse struct {
	Header ResponseHeader
}

// AuthDisableRequest turns authentication off.
type AuthDisableRequest struct{}

// AuthDisableResponse is the answer to an AuthDisableRequest.
type AuthDisableResponse struct {
	Header ResponseHeader
}

// AuthStatusRequest asks whether authentication is on.
type AuthStatusRequest struct{}

// AuthStatusResponse is the answer to an AuthStatusRequest.
type AuthStatusResponse struct {
	Header  ResponseHeader
	Enabled bool
	// AuthRevision counts the changes to users, roles and permissions;
	// tokens issued before a change carry an older revision.
	AuthRevision uint64
}

// AuthenticateRequest exchanges a user's name and password for a token.
type AuthenticateRequest struct {
	Name     string
	Password string
}

// AuthenticateResponse is the answer to an AuthenticateRequest.
type AuthenticateResponse struct {
	Header ResponseHeader
	// Token is sent with later requests to act as the user.
	Token string
}

// UserAddRequest creates a user.
type UserAddRequest struct {
	Name     string
	Password string
	// NoPassword creates a user that cannot authenticate with a password
	// (only with a client certificate).
	NoPassword bool
}

// UserAddResponse is the answer to a UserAddRequest.
type UserAddResponse struct {
	Header ResponseHeader
}

// UserGetRequest asks for the roles granted to a user.
type UserGetRequest struct {
	Name string
}

// UserGetResponse is the answer to a UserGetRequest.
type UserGetResponse struct {
	Header ResponseHeader
	Roles  []string
}

// UserListRequest lists every user.
type UserListRequest struct{}

// UserListResponse is the answer to a UserListRequest.
type UserListResponse struct {
	Header ResponseHeader
	Users  []string
}

// UserDeleteRequest deletes a user.
type UserDeleteRequest struct {
	Name string
}

// UserDeleteResponse is the answer to a UserDeleteRequest.
type UserDeleteResponse struct {
	Header ResponseHeader
}

// UserChangePasswordRequest sets a user's password: Password, or, when
// it is empty, HashedPassword.
type UserChangePasswordRequest struct {
	Name     string
	Password string
	// HashedPassword is a bcrypt hash the client made of the new password,
	// in etcd's form (its hashedPassword): the hash as bcrypt writes it
	// ("$2a$10$..."), then in standard base64. It is used only when
	// Password is empty; one that is not base64 of a bcrypt hash is
	// refused with ErrNoPasswordUser.
	HashedPassword string
}

// UserChangePasswordResponse is the answer to a UserChangePasswordRequest.
type UserChangePasswordResponse struct {
	Header ResponseHeader
}

// UserGrantRoleRequest grants Role to User.
type UserGrantRoleRequest struct {
	User string
	Role string
}

// UserGrantRoleResponse is the answer to a UserGrantRoleRequest.
type UserGrantRoleResponse struct {
	Header ResponseHeader
}

// UserRevokeRoleRequest takes Role away from the user Name.
type UserRevokeRoleRequest struct {
	Name string
	Role string
}

// UserRevokeRoleResponse is the answer to a UserRevokeRoleRequest.
type UserRevokeRoleResponse struct {
	Header ResponseHeader
}

// RoleAddRequest creates a role with no permissions.
type RoleAddRequest struct {
	Name string
}

// RoleAddResponse is the answer to a RoleAddRequest.
type RoleAddResponse struct {
	Header ResponseHeader
}

// RoleGetRequest asks for the permissions of a role.
type RoleGetRequest struct {
	Role string
}

// RoleGetResponse is the answer to a RoleGetRequest.
type RoleGetResponse struct {
	Header ResponseHeader
	Perm   []Permission
}

// RoleListRequest lists every role.
type RoleListRequest struct{}

// RoleListResponse is the answer to a RoleListRequest.
type RoleListResponse struct {
	Header ResponseHeader
	Roles  []string
}

// RoleDeleteRequest deletes a role, revoking it from every user.
type RoleDeleteRequest struct {
	Role string
}

// RoleDeleteResponse is the answer to a RoleDeleteRequest.
type RoleDeleteResponse struct {
	Header ResponseHeader
}

// RoleGrantPermissionRequest adds Perm to the role Name.
type RoleGrantPermissionRequest struct {
	Name string
	Perm Permission
}

// RoleGrantPermissionResponse is the answer to a
// RoleGrantPermissionRequest.
type RoleGrantPermissionResponse struct {
	Header ResponseHeader
}

// RoleRevokePermissionRequest removes from Role the permission on exactly
// the range [Key, RangeEnd).
type RoleRevokePermissionRequest struct {
	Role     string
	Key      []byte
	RangeEnd []byte
}

// RoleRevokePermissionResponse is the answer to a
// RoleRevokePermissionRequest.
type RoleRevokePermissionResponse struct {
	Header ResponseHeader
}

func (m *Permission) fields(c *coder) {
	enum(c, &m.PermType, PermReadWrite)
	c.bytes(&m.Key)
	c.bytes(&m.RangeEnd)
}

func (m *AuthEnableRequest) fields(c *coder)   {}
func (m *AuthEnableResponse) fields(c *coder)  { m.Header.fields(c) }
func (m *AuthDisableRequest) fields(c *coder)  {}
func (m *AuthDisableResponse) fields(c *coder) { m.Header.fields(c) }
func (m *AuthStatusRequest) fields(c *coder)   {}

func (m *AuthStatusResponse) fields(c *coder) {
	m.Header.fields(c)
	c.boolean(&m.Enabled)
	c.uvarint(&m.AuthRevision)
}

func (m *AuthenticateRequest) fields(c *coder) {
	c.str(&m.Name)
	c.str(&m.Password)
}

func (m *AuthenticateResponse) fields(c *coder) {
	m.Header.fields(c)
	c.str(&m.Token)
}

func (m *UserAddRequest) fields(c *coder) {
	c.str(&m.Name)
	c.str(&m.Password)
	c.boolean(&m.NoPassword)
}

func (m *UserAddResponse) fields(c *coder) { m.Header.fields(c) }
func (m *UserGetRequest) fields(c *coder)  { c.str(&m.Name) }

func (m *UserGetResponse) fields(c *coder) {
	m.Header.fields(c)
	c.strs(&m.Roles)
}

func (m *UserListRequest) fields(c *coder) {}

func (m *UserListResponse) fields(c *coder) {
	m.Header.fields(c)
	c.strs(&m.Users)
}

func (m *UserDeleteRequest) fields(c *coder)  { c.str(&m.Name) }
func (m *UserDeleteResponse) fields(c *coder) { m.Header.fields(c) }

func (m *UserChangePasswordRequest) fields(c *coder) {
	c.str(&m.Name)
	c.str(&m.Password)
	if c.more() {
		c.str(&m.HashedPassword)
	}
}

func (m *UserChangePasswordResponse) fields(c *coder) { m.Header.fields(c) }

func (m *UserGrantRoleRequest) fields(c *coder) {
	c.str(&m.User)
	c.str(&m.Role)
}

func (m *UserGrantRoleResponse) fields(c *coder) { m.Header.fields(c) }

func (m *UserRevokeRoleRequest) fields(c *coder) {
	c.str(&m.Name)
	c.str(&m.Role)
}

func (m *UserRevokeRoleResponse) fields(c *coder) { m.Header.fields(c) }
func (m *RoleAddRequest) fields(c *coder)         { c.str(&m.Name) }
func (m *RoleAddResponse) fields(c *coder)        { m.Header.fields(c) }
func (m *RoleGetRequest) fields(c *coder)         { c.str(&m.Role) }

func (m *RoleGetResponse) fields(c *coder) {
	m.Header.fields(c)
	list(c, &m.Perm)
}

func (m *RoleListRequest) fields(c *coder) {}

func (m *RoleListResponse) fields(c *coder) {
	m.Header.fields(c)
	c.strs(&m.Roles)
}

func (m *RoleDeleteRequest) fields(c *coder)  { c.str(&m.Role) }
func (m *RoleDeleteResponse) fields(c *coder) { m.Header.fields(c) }

func (m *RoleGrantPermissionRequest) fields(c *coder) {
	c.str(&m.Name)
	m.Perm.fields(c)
}

func (m *RoleGrantPermissionResponse) fields(c *coder) { m.Header.fields(c) }

func (m *RoleRevokePermissionRequest) fields(c *coder) {
	c.str(&m.Role)
	c.bytes(&m.Key)
	c.bytes(&m.RangeEnd)
}

func (m *RoleRevokePermissionResponse) fields(c *coder) { m.Header.fields(c) }
