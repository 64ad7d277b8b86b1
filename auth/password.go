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

// Password hashes. New passwords are hashed with bcrypt, as etcd does
// (bcrypt.go, HashBcrypt), so that users keep their passwords across a
// snapshot restored from etcd into cairn or from cairn into etcd.
//
// Stores written by earlier versions of cairn hold PBKDF2-HMAC-SHA256
// hashes (crypto/pbkdf2): a random salt per hash and the iteration count
// stored with it. They still verify, and stay as they are until the
// user's password is changed; cairn makes no new ones (HashPBKDF2 is
// kept for tests and the deterministic simulator, which need a cheap hash
// from a seeded salt). etcd cannot check them: restored into etcd from an
// etcd snapshot of cairn, such a user's password fails until `etcdctl
// user passwd` sets it again.
const (
	// MaxIterations bounds the cost a PBKDF2 hash may ask for (a corrupt or
	// hostile record cannot make a member spin for minutes).
	MaxIterations = 50_000_000
	// SaltSize is a PBKDF2 hash's random salt's length in bytes.
	SaltSize = 16
	// keySize is the derived key's length (SHA-256's output).
	keySize = sha256.Size
	// hashScheme names the algorithm in an encoded PBKDF2 hash.
	hashScheme = "pbkdf2-sha256"
)

// PasswordHash is a salted, slow hash of a password: a bcrypt hash
// (HashBcrypt, or ParsePasswordHash of one; the PBKDF2 fields are then
// zero), an earlier version's PBKDF2 hash (Iterations, Salt, Key), or
// bytes kept as etcd keeps them that need not be a hash at all
// (ClientHash, SnapshotHash; see etcdhash.go). The zero value is no
// hash.
type PasswordHash struct {
	Iterations int
	Salt       []byte
	Key        []byte
	// bcrypt is set for a bcrypt hash.
	bcrypt *bcryptHash
	// raw is set for bytes kept as etcd keeps them.
	raw *rawHash
}

// IsZero reports whether h is no hash at all.
func (h PasswordHash) IsZero() bool { return h.Iterations == 0 && h.bcrypt == nil && h.raw == nil }

// HashPBKDF2 hashes password as earlier versions of cairn did: PBKDF2
// with a fresh salt read from random and the given iteration count.
func HashPBKDF2(password string, iterations int, random io.Reader) (PasswordHash, error) {
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
	if h.raw != nil {
		return h.raw.verify(password)
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

// String encodes a bcrypt hash as bcrypt writes it ("$2a$cost$...",
// which is what etcd keeps too), a PBKDF2 hash as
// "pbkdf2-sha256$iterations$salt$key" (salt and key in unpadded base64),
// or bytes kept as etcd keeps them as "raw$bytes" (unpadded base64): the
// form it is stored and replicated in. EtcdBytes is the form etcd keeps.
func (h PasswordHash) String() string {
	if h.bcrypt != nil {
		return h.bcrypt.encoded
	}
	if h.raw != nil {
		return rawHashScheme + base64.RawStdEncoding.EncodeToString([]byte(h.raw.bytes))
	}
	enc := base64.RawStdEncoding
	return hashScheme + "$" + strconv.Itoa(h.Iterations) + "$" + enc.EncodeToString(h.Salt) + "$" + enc.EncodeToString(h.Key)
}

// ParsePasswordHash decodes the form String writes: a bcrypt hash ("$2a$",
// "$2b$" or "$2y$", as cairn and etcd keep passwords), a PBKDF2 hash, or
// bytes kept as etcd keeps them ("raw$").
func ParsePasswordHash(s string) (PasswordHash, error) {
	if rest, ok := strings.CutPrefix(s, rawHashScheme); ok {
		return parseRawHash(rest)
	}
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
