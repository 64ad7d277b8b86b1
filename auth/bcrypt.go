package auth

import (
	"encoding/base64"
	"fmt"
	"strconv"

	"golang.org/x/crypto/bcrypt"
)

// bcrypt (Provos and Mazières, "A Future-Adaptable Password Scheme",
// 1999) is how etcd hashes passwords. cairn never makes bcrypt hashes;
// it checks them, so the users of an etcd snapshot restored into cairn
// keep their passwords. A hash reads
//
//	$2a$10$SSSSSSSSSSSSSSSSSSSSSSHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHH
//
// — the version (2a, 2b or 2y: they differ only for passwords of 255 bytes
// or more, which the 72-byte limit below never reaches), the cost (the
// key schedule runs 2^cost times), then 22 characters of salt (16 bytes)
// and 31 of hash (23 bytes) in bcrypt's own base64 alphabet.
//
// This file parses and bounds such hashes (a cost past bcryptMaxCost would
// let one login stall a member); the check itself is
// golang.org/x/crypto/bcrypt's.

// Limits of the bcrypt hashes cairn accepts.
const (
	// bcryptMinCost and bcryptMaxCost bound the cost. etcd accepts costs
	// up to 31, but each step doubles the time (cost 10, etcd's default,
	// takes about 95 ms on 2 cores, BenchmarkBcryptCost10): beyond 20 a
	// single login would take over a minute, so such a hash is refused
	// when read rather than let it stall a member.
	bcryptMinCost = 4
	bcryptMaxCost = 20
	// bcryptMaxPassword is the longest password bcrypt uses whole (the key
	// is the password and a NUL byte, truncated to 72 bytes).
	bcryptMaxPassword = 72
	bcryptSaltLen     = 16
	bcryptHashLen     = 23
	bcryptEncodedLen  = 60
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
	if err != nil || cost < bcryptMinCost || cost > bcryptMaxCost {
		return bad(fmt.Sprintf("cost %q is not in [%d, %d]", s[4:6], bcryptMinCost, bcryptMaxCost))
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
	if len(password) > bcryptMaxPassword {
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(h.encoded), []byte(password)) == nil
}
