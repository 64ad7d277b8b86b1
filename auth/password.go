package auth

import (
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Password hashing: PBKDF2-HMAC-SHA256 (crypto/pbkdf2, an approved
// algorithm in the standard library), a random salt per hash, and the
// iteration count stored with the hash, so the cost can be raised later
// without invalidating existing passwords. A hash may also be a bcrypt
// hash, etcd's kind, kept as it was by a restore of an etcd snapshot
// (bcrypt.go): cairn checks those but never makes them.
const (
	// DefaultIterations makes one hash take about 50 ms on the 2-core
	// machine this was measured on (BenchmarkHashPassword); it slows
	// password guessing against a stolen store.
	DefaultIterations = 170_000
	// MaxIterations bounds the cost a hash may ask for (a corrupt or
	// hostile record cannot make a member spin for minutes).
	MaxIterations = 50_000_000
	// SaltSize is the random salt's length in bytes.
	SaltSize = 16
	// keySize is the derived key's length (SHA-256's output).
	keySize = sha256.Size
	// hashScheme names the algorithm in an encoded hash.
	hashScheme = "pbkdf2-sha256"
)

// PasswordHash is a salted, slow hash of a password: PBKDF2's
// (Iterations, Salt, Key), or a bcrypt hash from etcd (ParsePasswordHash
// of one; the PBKDF2 fields are then zero). The zero value is no hash.
type PasswordHash struct {
	Iterations int
	Salt       []byte
	Key        []byte
	// bcrypt is set for a bcrypt hash.
	bcrypt *bcryptHash
}

// IsZero reports whether h is no hash at all.
func (h PasswordHash) IsZero() bool { return h.Iterations == 0 && h.bcrypt == nil }

// HashPassword hashes password with a fresh salt read from random
// (crypto/rand.Reader in production) and the given iteration count.
func HashPassword(password string, iterations int, random io.Reader) (PasswordHash, error) {
	if iterations < 1 || iterations > MaxIterations {
		return PasswordHash{}, fmt.Errorf("auth: password hash iterations %d out of range [1, %d]", iterations, MaxIterations)
	}
	salt := make([]byte, SaltSize)
	if _, err := io.ReadFull(random, salt); err != nil {
		return PasswordHash{}, fmt.Errorf("auth: reading a password salt: %w", err)
	}
	key, err := pbkdf2.Key(sha256.New, password, salt, iterations, keySize)
	if err != nil {
		return PasswordHash{}, fmt.Errorf("auth: hashing a password: %w", err)
	}
	return PasswordHash{Iterations: iterations, Salt: salt, Key: key}, nil
}

// Verify reports whether password is the one h was made from. It takes
// as long as hashing, and compares in constant time.
func (h PasswordHash) Verify(password string) bool {
	if h.bcrypt != nil {
		return h.bcrypt.verify(password)
	}
	if h.Iterations < 1 || h.Iterations > MaxIterations || len(h.Key) == 0 {
		return false
	}
	key, err := pbkdf2.Key(sha256.New, password, h.Salt, h.Iterations, len(h.Key))
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(key, h.Key) == 1
}

// String encodes h as "pbkdf2-sha256$iterations$salt$key" (salt and key
// in unpadded base64), or a bcrypt hash as bcrypt writes it
// ("$2a$cost$..."): the form it is stored and replicated in.
func (h PasswordHash) String() string {
	if h.bcrypt != nil {
		return h.bcrypt.encoded
	}
	enc := base64.RawStdEncoding
	return hashScheme + "$" + strconv.Itoa(h.Iterations) + "$" + enc.EncodeToString(h.Salt) + "$" + enc.EncodeToString(h.Key)
}

// ParsePasswordHash decodes the form String writes, or a bcrypt hash
// ("$2a$", "$2b$" or "$2y$", as etcd keeps passwords).
func ParsePasswordHash(s string) (PasswordHash, error) {
	if strings.HasPrefix(s, "$2") {
		b, err := parseBcrypt(s)
		if err != nil {
			return PasswordHash{}, err
		}
		return PasswordHash{bcrypt: &b}, nil
	}
	parts := strings.Split(s, "$")
	if len(parts) != 4 || parts[0] != hashScheme {
		return PasswordHash{}, fmt.Errorf("auth: password hash %.20q... is not of the form %s$iterations$salt$key", s, hashScheme)
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 1 || iter > MaxIterations {
		return PasswordHash{}, fmt.Errorf("auth: password hash iteration count %q is not in [1, %d]", parts[1], MaxIterations)
	}
	enc := base64.RawStdEncoding
	salt, err := enc.DecodeString(parts[2])
	if err != nil {
		return PasswordHash{}, fmt.Errorf("auth: password hash salt: %w", err)
	}
	key, err := enc.DecodeString(parts[3])
	if err != nil || len(key) == 0 {
		return PasswordHash{}, fmt.Errorf("auth: password hash key is not base64 (%v)", err)
	}
	return PasswordHash{Iterations: iter, Salt: salt, Key: key}, nil
}
