package auth

import (
	"fmt"
	"strings"

	"github.com/cairndb/cairn/api"
)

// Authenticate checks a user's password and returns the identity a
// token for the user carries: the user and the current revision. An
// unknown user and a wrong password give api.ErrAuthFailed, after the
// same work: for an unknown user the password is checked against decoy
// (a hash with the usual cost that matches no password), so the time
// taken does not tell which users exist. A user made without a password
// gets etcd's answer, api.ErrNoPasswordUser (it lets in by certificate
// only), after the same work too; so does a user whose password hash no
// password can match (bytes a client sent as its hash, which etcd keeps
// too: see ClientHash), with etcd's answer for it, api.ErrAuthFailed.
//
// It takes as long as one password hash; it holds no lock meanwhile.
func (s *State) Authenticate(name, password string, decoy PasswordHash) (Identity, error) {
	v := s.v.Load()
	if !v.enabled {
		return Identity{}, api.ErrAuthNotEnabled
	}
	u := v.users[name]
	if u == nil {
		decoy.Verify(password)
		return Identity{}, api.ErrAuthFailed
	}
	if u.NoPassword {
		// etcd's answer: the user exists and lets in by certificate only.
		decoy.Verify(password)
		return Identity{}, api.ErrNoPasswordUser
	}
	if !u.Password.Checkable() {
		decoy.Verify(password)
		return Identity{}, api.ErrAuthFailed
	}
	if !u.Password.Verify(password) {
		return Identity{}, api.ErrAuthFailed
	}
	return Identity{User: name, Revision: v.revision}, nil
}

// Decoy is a bcrypt hash of the given cost (the cost of new hashes) that
// no password matches, for Authenticate: its salt and hash are all zeros
// (bcrypt's base64 writes a zero as '.'), which bcrypt gives with
// negligible probability. A cost outside [MinBcryptCost, MaxBcryptCost]
// is taken as the nearest bound.
func Decoy(cost int) PasswordHash {
	cost = min(max(cost, MinBcryptCost), MaxBcryptCost)
	return PasswordHash{bcrypt: &bcryptHash{
		encoded: fmt.Sprintf("$2a$%02d$%s", cost, strings.Repeat(".", bcryptEncodedLen-len("$2a$10$"))),
		cost:    cost,
		salt:    make([]byte, bcryptSaltLen),
		sum:     make([]byte, bcryptHashLen),
	}}
}
