package auth

import "github.com/cairndb/cairn/api"

// Authenticate checks a user's password and returns the identity a
// token for the user carries: the user and the current revision. An
// unknown user, a user without a password and a wrong password all give
// api.ErrAuthFailed, after the same work: for the first two the password
// is checked against decoy (a hash with the usual cost that matches no
// password), so the time taken does not tell which users exist.
//
// It takes as long as one password hash; it holds no lock meanwhile.
func (s *State) Authenticate(name, password string, decoy PasswordHash) (Identity, error) {
	v := s.v.Load()
	if !v.enabled {
		return Identity{}, api.ErrAuthNotEnabled
	}
	u := v.users[name]
	if u == nil || u.NoPassword {
		decoy.Verify(password)
		return Identity{}, api.ErrAuthFailed
	}
	if !u.Password.Verify(password) {
		return Identity{}, api.ErrAuthFailed
	}
	return Identity{User: name, Revision: v.revision}, nil
}

// Decoy is a hash with the given cost that no password matches (its key
// is all zeros, which PBKDF2 gives with negligible probability), for
// Authenticate.
func Decoy(iterations int) PasswordHash {
	return PasswordHash{Iterations: iterations, Salt: make([]byte, SaltSize), Key: make([]byte, keySize)}
}
