package auth

import (
	"encoding/base64"
	"fmt"
	"strconv"

	"github.com/cairndb/cairn/api"
	"golang.org/x/crypto/bcrypt"
)

// bcrypt (Provos and Mazières, "A Future-Adaptable Password Scheme",
// 1999) is how etcd hashes passwords, and how cairn hashes new ones, so
// that a password works in both: a user restored from an etcd snapshot
// keeps the password etcd knew, and a user created in cairn keeps the
// one cairn knew when an etcd snapshot of cairn (etcdctl snapshot save)
// is restored into etcd. A hash reads
//
//	$2a$10$SSSSSSSSSSSSSSSSSSSSSSHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHH
//
// — the version (2a, 2b or 2y: they differ only for passwords of 255 bytes
// or more, which the 72-byte limit below never reaches), the cost (the
// key schedule runs 2^cost times), then 22 characters of salt (16 bytes)
// and 31 of hash (23 bytes) in bcrypt's own base64 alphabet.
//
// This file makes such hashes (HashBcrypt), and parses and bounds the
// ones it reads (a cost past MaxBcryptCost would let one login stall a
// member); the hashing and the check themselves are
// golang.org/x/crypto/bcrypt's, the library etcd uses.

// Limits of the bcrypt hashes cairn makes and accepts.
const (
	// DefaultBcryptCost is etcd's default cost (its --bcrypt-cost): one
	// hash, or one check, takes about 95 ms on 2 cores
	// (BenchmarkBcryptCost10).
	DefaultBcryptCost = bcrypt.DefaultCost
	// MinBcryptCost and MaxBcryptCost bound the cost. etcd accepts costs
	// up to 31, but each step doubles the time: beyond 20 a single login
	// would take over a minute, so such a hash is refused when read rather
	// than let it stall a member, and cairn makes none.
	MinBcryptCost = bcrypt.MinCost
	MaxBcryptCost = 20
	// MaxPasswordBytes is the longest password bcrypt uses whole (the key
	// is the password and a NUL byte, truncated to 72 bytes): as etcd,
	// cairn refuses to hash a longer one (api.ErrPasswordTooLong) rather
	// than let its tail be ignored.
	MaxPasswordBytes = 72
	bcryptSaltLen    = 16
	bcryptHashLen    = 23
	bcryptEncodedLen = 60
)

// bcryptEncoding is bcrypt's base64: its own alphabet, no padding.
var bcryptEncoding = base64.NewEncoding("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789").WithPadding(base64.NoPadding)

// bcryptHash is a parsed bcrypt hash.
type bcryptHash struct {
	encoded string // as given
	cost    int
	salt    []byte
	sum     []byte
}

// parseBcrypt checks and decodes an encoded bcrypt hash.
func parseBcrypt(s string) (bcryptHash, error) {
	bad := func(why string) (bcryptHash, error) {
		return bcryptHash{}, fmt.Errorf("auth: bcrypt hash %.7q...: %s", s, why)
	}
	if len(s) != bcryptEncodedLen {
		return bad(fmt.Sprintf("%d characters, want %d", len(s), bcryptEncodedLen))
	}
	if s[0] != '$' || s[1] != '2' || (s[2] != 'a' && s[2] != 'b' && s[2] != 'y') || s[3] != '$' || s[6] != '$' {
		return bad("not of the form $2a$cost$salthash (versions 2a, 2b, 2y)")
	}
	cost, err := strconv.Atoi(s[4:6])
	if err != nil || cost < MinBcryptCost || cost > MaxBcryptCost {
		return bad(fmt.Sprintf("cost %q is not in [%d, %d]", s[4:6], MinBcryptCost, MaxBcryptCost))
	}
	salt, err := bcryptEncoding.DecodeString(s[7:29])
	if err != nil || len(salt) != bcryptSaltLen {
		return bad("the salt is not bcrypt base64")
	}
	sum, err := bcryptEncoding.DecodeString(s[29:])
	if err != nil || len(sum) != bcryptHashLen {
		return bad("the hash is not bcrypt base64")
	}
	return bcryptHash{encoded: s, cost: cost, salt: salt, sum: sum}, nil
}

// verify reports whether password is the one h was made from, with the
// Go project's bcrypt (golang.org/x/crypto/bcrypt). A password longer
// than 72 bytes never is: bcrypt would use only its first 72 bytes, and
// etcd refuses such passwords rather than hash them.
func (h bcryptHash) verify(password string) bool {
	if len(password) > MaxPasswordBytes {
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(h.encoded), []byte(password)) == nil
}

// HashBcrypt hashes password with bcrypt at the given cost and a fresh
// salt (from crypto/rand), as etcd hashes a password at UserAdd and
// UserChangePassword. A password longer than MaxPasswordBytes is refused
// with api.ErrPasswordTooLong, etcd's error, and a cost outside
// [MinBcryptCost, MaxBcryptCost] with an error naming it.
func HashBcrypt(password string, cost int) (PasswordHash, error) {
	if cost < MinBcryptCost || cost > MaxBcryptCost {
		return PasswordHash{}, fmt.Errorf("auth: bcrypt cost %d out of range [%d, %d]", cost, MinBcryptCost, MaxBcryptCost)
	}
	if len(password) > MaxPasswordBytes {
		return PasswordHash{}, api.ErrPasswordTooLong
	}
	encoded, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return PasswordHash{}, fmt.Errorf("auth: hashing a password: %w", err)
	}
	b, err := parseBcrypt(string(encoded))
	if err != nil {
		return PasswordHash{}, fmt.Errorf("auth: bcrypt made a hash it cannot read back: %w", err)
	}
	return PasswordHash{bcrypt: &b}, nil
}

// ParseBcrypt reads a bcrypt hash as bcrypt writes it ("$2a$10$..."): one
// a client made of a password (etcd's hashedPassword). Anything else, a
// PBKDF2 hash included, is refused with an error saying what is wrong,
// and so is a cost past MaxBcryptCost.
func ParseBcrypt(s string) (PasswordHash, error) {
	b, err := parseBcrypt(s)
	if err != nil {
		return PasswordHash{}, err
	}
	return PasswordHash{bcrypt: &b}, nil
}

// BcryptCost is the cost of a bcrypt hash (0 for a hash of another kind).
func (h PasswordHash) BcryptCost() int {
	if h.bcrypt == nil {
		return 0
	}
	return h.bcrypt.cost
}
