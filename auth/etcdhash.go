package auth

import (
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// Password hashes kept as etcd keeps them. etcd stores, without looking
// at them, the bytes a client sends as a user's new hashed password
// (UserChangePassword's hashedPassword, decoded from base64), and an
// etcd snapshot may hold any bytes as a password. When the user
// authenticates, etcd checks the password against those bytes with
// golang.org/x/crypto/bcrypt: bytes that are not a bcrypt hash match no
// password, and the answer is the one for a wrong password
// (api.ErrAuthFailed) until the user gets a new one.
//
// cairn keeps such bytes as they are too (a rawHash), so that the change
// is applied as etcd applies it (the revision moves, the user's tokens
// end), the user gets etcd's answers, and an etcd snapshot of cairn
// holds what etcd would. A password is checked against them as etcd
// checks it, by the same library, if their cost (which the library
// reads, however lax the rest of the hash) is at most MaxBcryptCost; a
// higher cost, which would stall the member, and bytes the library
// cannot read match no password.

// rawHashScheme starts the stored form of a rawHash: "raw$" and the
// bytes in unpadded standard base64. Neither a bcrypt hash ("$2") nor a
// PBKDF2 one ("pbkdf2-sha256$") starts so.
const rawHashScheme = "raw$"

// rawHash is a password hash kept as the bytes etcd would keep.
type rawHash struct {
	bytes string
	// cost is the bcrypt cost the bytes ask for, or 0 if bcrypt cannot
	// read them or the cost is past MaxBcryptCost: then no password
	// matches.
	cost int
}

// newRawHash keeps b as it is, noting whether a password can be checked
// against it.
func newRawHash(b []byte) PasswordHash {
	cost, err := bcrypt.Cost(b)
	if err != nil || cost > MaxBcryptCost {
		cost = 0
	}
	return PasswordHash{raw: &rawHash{bytes: string(b), cost: cost}}
}

// verify reports whether password matches, as etcd checks it (with the
// 72-byte limit of cairn's bcrypt hashes).
func (h rawHash) verify(password string) bool {
	if h.cost == 0 || len(password) > MaxPasswordBytes {
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(h.bytes), []byte(password)) == nil
}

// ClientHash is the hash a client made of a new password (etcd's
// hashedPassword, decoded from base64) as etcd keeps it: a bcrypt hash
// if it is one ParseBcrypt reads, else the bytes as they are, which
// match no password unless bcrypt reads them at a cost of at most
// MaxBcryptCost. A PBKDF2 hash of cairn's earlier versions is kept as
// bytes too: etcd cannot check it, and a client cannot make cairn do so.
func ClientHash(b []byte) PasswordHash {
	if h, err := ParseBcrypt(string(b)); err == nil {
		return h
	}
	return newRawHash(b)
}

// SnapshotHash is a user's password as an etcd snapshot holds it: a
// bcrypt hash, a PBKDF2 hash of cairn's earlier versions (which cairn
// writes into the etcd snapshots it makes of itself), or else the bytes
// as they are, as ClientHash keeps them.
func SnapshotHash(b []byte) PasswordHash {
	s := string(b)
	if strings.HasPrefix(s, "$2") || strings.HasPrefix(s, hashScheme+"$") {
		if h, err := ParsePasswordHash(s); err == nil {
			return h
		}
	}
	return newRawHash(b)
}

// Checkable reports whether some password may match h: false for a hash
// kept as bytes that bcrypt cannot read at a cost cairn allows.
func (h PasswordHash) Checkable() bool {
	switch {
	case h.raw != nil:
		return h.raw.cost != 0
	case h.bcrypt != nil:
		return true
	default:
		return h.Iterations >= 1 && h.Iterations <= MaxIterations && len(h.Key) > 0
	}
}

// EtcdBytes is h as etcd keeps a password: a bcrypt hash as bcrypt
// writes it, a PBKDF2 hash in its stored form (which etcd cannot check),
// and bytes kept as they are.
func (h PasswordHash) EtcdBytes() []byte {
	if h.raw != nil {
		return []byte(h.raw.bytes)
	}
	return []byte(h.String())
}

// parseRawHash decodes the stored form of a rawHash (after its scheme).
func parseRawHash(encoded string) (PasswordHash, error) {
	b, err := base64.RawStdEncoding.DecodeString(encoded)
	if err != nil {
		return PasswordHash{}, fmt.Errorf("auth: password hash kept as bytes is not base64: %w", err)
	}
	return newRawHash(b), nil
}
