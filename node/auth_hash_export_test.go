package node

// Test hook of password hashing, for the tests of package node_test.

// PasswordHashForTest is user's password hash as this member stores it
// (its encoded form), and whether the user exists here.
func (s *Server) PasswordHashForTest(user string) (string, bool) {
	u, ok := s.replica.State.Auth().User(user)
	if !ok || u.Password.IsZero() {
		return "", ok
	}
	return u.Password.String(), true
}
