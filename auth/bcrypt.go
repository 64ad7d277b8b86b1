package auth

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strconv"
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
// The cipher is Blowfish, whose key schedule bcrypt makes expensive
// ("EksBlowfish"): the state starts from the hexadecimal digits of pi,
// takes the salt and the password, then alternately the password and the
// salt 2^cost times; the hash is "OrpheanBeholderScryDoubt" encrypted 64
// times with the final state.

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

// verify reports whether password is the one h was made from. A
// password longer than 72 bytes never is: bcrypt would use only its
// first 72 bytes, and etcd refuses such passwords rather than hash them.
func (h bcryptHash) verify(password string) bool {
	if len(password) > bcryptMaxPassword {
		return false
	}
	sum := bcryptSum([]byte(password), h.salt, h.cost)
	return subtle.ConstantTimeCompare(sum, h.sum) == 1
}

// bcryptSum is the 23 bytes of hash bcrypt makes of password with salt
// at cost.
func bcryptSum(password, salt []byte, cost int) []byte {
	key := make([]byte, 0, len(password)+1)
	key = append(append(key, password...), 0)
	if len(key) > bcryptMaxPassword {
		key = key[:bcryptMaxPassword]
	}
	c := newBlowfish()
	c.expand(key, salt)
	for range 1 << cost {
		c.expand(key, nil)
		c.expand(salt, nil)
	}
	var text [6]uint32
	for i := range text {
		text[i] = binary.BigEndian.Uint32([]byte("OrpheanBeholderScryDoubt")[4*i:])
	}
	for range 64 {
		for i := 0; i < len(text); i += 2 {
			text[i], text[i+1] = c.encrypt(text[i], text[i+1])
		}
	}
	out := make([]byte, 0, 4*len(text))
	for _, w := range text {
		out = binary.BigEndian.AppendUint32(out, w)
	}
	return out[:bcryptHashLen]
}

// blowfish is Blowfish's state: the 18 subkeys and the four S-boxes.
type blowfish struct {
	p [18]uint32
	s [4][256]uint32
}

// newBlowfish returns Blowfish's initial state.
func newBlowfish() *blowfish {
	c := &blowfish{}
	copy(c.p[:], blowfishPi[:18])
	for i := range c.s {
		copy(c.s[i][:], blowfishPi[18+256*i:])
	}
	return c
}

// f is Blowfish's round function.
func (c *blowfish) f(x uint32) uint32 {
	return ((c.s[0][x>>24] + c.s[1][x>>16&0xff]) ^ c.s[2][x>>8&0xff]) + c.s[3][x&0xff]
}

// encrypt enciphers one 64-bit block, given as its two halves.
func (c *blowfish) encrypt(l, r uint32) (uint32, uint32) {
	for i := range 16 {
		l ^= c.p[i]
		r ^= c.f(l)
		l, r = r, l
	}
	l, r = r, l
	r ^= c.p[16]
	l ^= c.p[17]
	return l, r
}

// expand is Blowfish's key schedule with bcrypt's salt: the subkeys are
// XORed with key (repeated), then every subkey and S-box entry is
// replaced, two at a time, by the encryption of the previous block XORed
// with the next 64 bits of salt (repeated; none if salt is nil).
func (c *blowfish) expand(key, salt []byte) {
	next := func(data []byte, pos *int) uint32 {
		var w uint32
		for range 4 {
			w = w<<8 | uint32(data[*pos])
			*pos = (*pos + 1) % len(data)
		}
		return w
	}
	kpos := 0
	for i := range c.p {
		c.p[i] ^= next(key, &kpos)
	}
	var l, r uint32
	spos := 0
	block := func() {
		if salt != nil {
			l ^= next(salt, &spos)
			r ^= next(salt, &spos)
		}
		l, r = c.encrypt(l, r)
	}
	for i := 0; i < len(c.p); i += 2 {
		block()
		c.p[i], c.p[i+1] = l, r
	}
	for i := range c.s {
		for j := 0; j < 256; j += 2 {
			block()
			c.s[i][j], c.s[i][j+1] = l, r
		}
	}
}
