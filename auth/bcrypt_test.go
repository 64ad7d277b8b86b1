package auth

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cairndb/cairn/api"
	"golang.org/x/crypto/bcrypt"
)

// bcryptVectors were made by golang.org/x/crypto/bcrypt (the library
// etcd hashes passwords with), GenerateFromPassword(password, cost).
var bcryptVectors = []struct{ password, hash string }{
	{"", "$2a$04$7nCIowPUdhCqwTKCSx.0Pe/lKaiPfXIBE6gJ7W1iZBtJxu9XYWrwm"},
	{"password", "$2a$04$cswbEuA7TsIenzOACaU2guOqEaWLqo4vUOIXiqi6fjsgJhaZp1Ume"},
	{"root-pw", "$2a$05$/xZvFGhtpM2jDN/kv/SxFODzBfx1lHGd1Iezcy7JNR6TLqcxbki9S"},
	{strings.Repeat("x", 71), "$2a$04$pVVMPHInmQaYlhxWZPdD7uvx7n2rQYzYBoe/lBl.ksXPRmkT5TVwS"},
	{"héllo wörld", "$2a$06$FiIQ7xY1ZFAaCKrNebyl.uqWzEXLefVuXRCqSIlEueY.2KZy8ZDPC"},
}

func TestBcryptVerifiesEtcdHashes(t *testing.T) {
	for _, v := range bcryptVectors {
		h, err := ParsePasswordHash(v.hash)
		if err != nil {
			t.Fatalf("%s: %v", v.hash, err)
		}
		if !h.Verify(v.password) {
			t.Errorf("%q does not verify against %s", v.password, v.hash)
		}
		for _, wrong := range []string{v.password + "x", strings.ToUpper(v.password) + "!", v.password[:len(v.password)/2]} {
			if wrong != v.password && h.Verify(wrong) {
				t.Errorf("wrong password %q verifies against %s", wrong, v.hash)
			}
		}
		if h.String() != v.hash || h.IsZero() {
			t.Errorf("%s: String %q, IsZero %v", v.hash, h.String(), h.IsZero())
		}
		// 2b and 2y differ from 2a only for passwords of 255 bytes or more.
		for _, version := range []string{"$2b$", "$2y$"} {
			h, err := ParsePasswordHash(version + v.hash[4:])
			if err != nil || !h.Verify(v.password) {
				t.Errorf("%s as %s: %v", v.hash, version, err)
			}
		}
	}
}

func TestBcryptRefusesPasswordsBeyond72Bytes(t *testing.T) {
	// The 71-byte password's key is 72 bytes with its NUL: a longer
	// password sharing its first 72 bytes must not pass for it.
	h, err := ParsePasswordHash(bcryptVectors[3].hash)
	if err != nil {
		t.Fatal(err)
	}
	for _, long := range []string{strings.Repeat("x", 72), strings.Repeat("x", 73), strings.Repeat("x", 200)} {
		if h.Verify(long) {
			t.Errorf("password of %d bytes verifies", len(long))
		}
	}
}

func TestParseBcryptRefusesMalformedHashes(t *testing.T) {
	good := bcryptVectors[1].hash
	tests := []struct{ hash, want string }{
		{good[:59], "characters"},
		{good + "A", "characters"},
		{"$3a" + good[3:], "form"},
		{"$2c" + good[3:], "form"},
		{"$2a$03" + good[6:], "cost"},
		{"$2a$21" + good[6:], "cost"},
		{"$2a$1x" + good[6:], "cost"},
		{good[:7] + "!" + good[8:], "salt"},
		{good[:40] + "*" + good[41:], "hash"},
	}
	for _, tt := range tests {
		if _, err := ParsePasswordHash(tt.hash); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want one mentioning %q", tt.hash, err, tt.want)
		}
	}
}

// TestBcryptUserThroughApplyAndLoad: a user added with a bcrypt hash
// (as a restore of an etcd snapshot does) is stored, reloaded and
// authenticated like any other.
func TestBcryptUserThroughApplyAndLoad(t *testing.T) {
	h, err := ParsePasswordHash(bcryptVectors[2].hash)
	if err != nil {
		t.Fatal(err)
	}
	s, recs := New(), memRecords{}
	for _, c := range []*Command{
		{Op: OpUserAdd, Name: "root", Password: h},
		{Op: OpUserGrantRole, Name: "root", Role: RootRole},
		{Op: OpEnable, SigningKey: make([]byte, MinSigningKeySize)},
	} {
		back, err := UnmarshalCommand(c.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Apply(back, recs); err != nil {
			t.Fatalf("%v: %v", c.Op, err)
		}
	}
	loaded := New()
	if err := loaded.Load(recs.list()); err != nil {
		t.Fatal(err)
	}
	if _, err := loaded.Authenticate("root", "root-pw", Decoy(MinBcryptCost)); err != nil {
		t.Fatalf("authenticate with the etcd password: %v", err)
	}
	if _, err := loaded.Authenticate("root", "wrong", Decoy(MinBcryptCost)); err != api.ErrAuthFailed {
		t.Fatalf("authenticate with a wrong password: %v", err)
	}
}

// TestHashBcrypt: a new hash is a bcrypt hash of the asked cost, in the
// form etcd keeps ("$2a$"), that golang.org/x/crypto/bcrypt (etcd's
// check) accepts for the password and nothing else, with a fresh salt
// each time, and that reads back from its stored form.
func TestHashBcrypt(t *testing.T) {
	for _, pw := range []string{"", "s3cret", "héllo wörld", strings.Repeat("x", MaxPasswordBytes)} {
		for _, cost := range []int{MinBcryptCost, MinBcryptCost + 1} {
			h, err := HashBcrypt(pw, cost)
			if err != nil {
				t.Fatalf("%q at cost %d: %v", pw, cost, err)
			}
			enc := h.String()
			if h.BcryptCost() != cost || h.IsZero() || !strings.HasPrefix(enc, fmt.Sprintf("$2a$%02d$", cost)) {
				t.Fatalf("%q at cost %d: %s (BcryptCost %d)", pw, cost, enc, h.BcryptCost())
			}
			if got, err := bcrypt.Cost([]byte(enc)); err != nil || got != cost {
				t.Fatalf("bcrypt reads %s as cost %d, %v", enc, got, err)
			}
			if err := bcrypt.CompareHashAndPassword([]byte(enc), []byte(pw)); err != nil {
				t.Fatalf("bcrypt does not accept %q against %s: %v", pw, enc, err)
			}
			back, err := ParsePasswordHash(enc)
			if err != nil || !back.Verify(pw) || back.Verify(pw+"x") || back.Verify(strings.ToUpper(pw)+"!") {
				t.Fatalf("%s read back: %v; verifies the password %v", enc, err, back.Verify(pw))
			}
			if again, _ := HashBcrypt(pw, cost); again.String() == enc {
				t.Fatalf("two hashes of %q are equal: the salt is not fresh", pw)
			}
		}
	}
}

// TestHashBcryptRefuses: a password past 72 bytes gets etcd's error (the
// bcrypt library's, which etcd passes through), and a cost out of range
// an error naming it.
func TestHashBcryptRefuses(t *testing.T) {
	for _, n := range []int{MaxPasswordBytes + 1, 200} {
		_, err := HashBcrypt(strings.Repeat("x", n), MinBcryptCost)
		if !errors.Is(err, api.ErrPasswordTooLong) || err.Error() != bcrypt.ErrPasswordTooLong.Error() {
			t.Errorf("password of %d bytes: %v, want %v", n, err, bcrypt.ErrPasswordTooLong)
		}
	}
	for _, cost := range []int{-1, 0, MinBcryptCost - 1, MaxBcryptCost + 1, bcrypt.MaxCost} {
		if _, err := HashBcrypt("pw", cost); err == nil || !strings.Contains(err.Error(), fmt.Sprint(cost)) {
			t.Errorf("cost %d: %v", cost, err)
		}
	}
}

// TestDecoy: the decoy has the cost asked (clamped to the bounds), reads
// back as a bcrypt hash, and matches no password.
func TestDecoy(t *testing.T) {
	for _, tt := range []struct{ cost, want int }{{MinBcryptCost, MinBcryptCost}, {5, 5}, {0, MinBcryptCost}, {99, MaxBcryptCost}} {
		d := Decoy(tt.cost)
		if d.BcryptCost() != tt.want {
			t.Errorf("Decoy(%d) has cost %d, want %d", tt.cost, d.BcryptCost(), tt.want)
		}
		if _, err := ParsePasswordHash(d.String()); err != nil {
			t.Errorf("Decoy(%d) = %s does not read back: %v", tt.cost, d, err)
		}
	}
	d := Decoy(MinBcryptCost)
	for _, pw := range []string{"", "password", "root-pw"} {
		if d.Verify(pw) {
			t.Errorf("the decoy matches %q", pw)
		}
	}
}

// BenchmarkHashBcryptDefault is one new hash at the default cost.
func BenchmarkHashBcryptDefault(b *testing.B) {
	for b.Loop() {
		if _, err := HashBcrypt("correct horse battery staple", DefaultBcryptCost); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBcryptCost10 is one check of a hash at etcd's default cost.
func BenchmarkBcryptCost10(b *testing.B) {
	h, err := ParsePasswordHash("$2a$10$" + strings.Repeat("a", 53))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		h.Verify("password")
	}
}
