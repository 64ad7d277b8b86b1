package auth

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"
)

// The PBKDF2 hashes of earlier versions still verify, read back from
// their stored form, and are never made by the server any more.

func TestPBKDF2HashVerifies(t *testing.T) {
	h, err := HashPBKDF2("s3cret", 10, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Verify("s3cret") {
		t.Fatal("the right password does not verify")
	}
	for _, wrong := range []string{"", "s3cre", "s3cret ", "S3cret"} {
		if h.Verify(wrong) {
			t.Fatalf("wrong password %q verifies", wrong)
		}
	}
	if len(h.Salt) != SaltSize || h.Iterations != 10 {
		t.Fatalf("hash %+v", h)
	}
	// Two hashes of one password differ (fresh salt).
	h2, _ := HashPBKDF2("s3cret", 10, rand.Reader)
	if bytes.Equal(h.Key, h2.Key) {
		t.Fatal("two hashes of the same password are equal: salt not random")
	}
}

func TestPBKDF2HashEncoding(t *testing.T) {
	h, err := HashPBKDF2("pw", 7, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s := h.String()
	if !strings.HasPrefix(s, "pbkdf2-sha256$7$") {
		t.Fatalf("encoded as %q", s)
	}
	back, err := ParsePasswordHash(s)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Verify("pw") || back.Iterations != 7 {
		t.Fatalf("decoded %+v does not verify", back)
	}
	for _, bad := range []string{"", "pbkdf2-sha256$7$AAAA", "md5$7$AAAA$AAAA", "pbkdf2-sha256$0$AAAA$AAAA",
		"pbkdf2-sha256$x$AAAA$AAAA", "pbkdf2-sha256$7$!!$AAAA", "pbkdf2-sha256$7$AAAA$", "pbkdf2-sha256$999999999999$AAAA$AAAA"} {
		if _, err := ParsePasswordHash(bad); err == nil {
			t.Errorf("ParsePasswordHash(%q) accepted", bad)
		}
	}
}

func TestHashPBKDF2RefusesBadCost(t *testing.T) {
	for _, n := range []int{0, -1, MaxIterations + 1} {
		if _, err := HashPBKDF2("pw", n, rand.Reader); err == nil {
			t.Errorf("%d iterations accepted", n)
		}
	}
	if _, err := HashPBKDF2("pw", 1, bytes.NewReader(nil)); err == nil {
		t.Error("a failing random source was not reported")
	}
	// A zero or corrupt hash never verifies.
	if (PasswordHash{}).Verify("") {
		t.Error("the zero hash verifies")
	}
}

// TestStoredPBKDF2HashVerifies: a hash as an earlier version stored it
// (crypto/pbkdf2 with SHA-256, 1000 iterations, of "old-pw"; made once
// and pasted here) verifies, so users of an upgraded store keep their
// passwords.
func TestStoredPBKDF2HashVerifies(t *testing.T) {
	const stored = "pbkdf2-sha256$1000$AAECAwQFBgcICQoLDA0ODw$ApoFiVsHVv+YI+5yk7+Mn9T9Jf0Tf3YIIVCooJaAlYQ"
	h, err := ParsePasswordHash(stored)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Verify("old-pw") || h.Verify("old-pw ") || h.BcryptCost() != 0 || h.String() != stored {
		t.Fatalf("stored hash %s: Verify %v, BcryptCost %d, String %s", stored, h.Verify("old-pw"), h.BcryptCost(), h)
	}
	// A store of an earlier version: its records load, and the user logs
	// in beside one whose password was set since (bcrypt).
	bc, err := HashBcrypt("new-pw", MinBcryptCost)
	if err != nil {
		t.Fatal(err)
	}
	s, recs := New(), memRecords{}
	mustApply(t, s, recs, rootSetup(t)...)
	mustApply(t, s, recs,
		&Command{Op: OpUserAdd, Name: "old", Password: h},
		&Command{Op: OpUserAdd, Name: "new", Password: bc},
		&Command{Op: OpEnable, SigningKey: testKey})
	loaded := New()
	if err := loaded.Load(recs.list()); err != nil {
		t.Fatal(err)
	}
	for user, pw := range map[string]string{"old": "old-pw", "new": "new-pw"} {
		if _, err := loaded.Authenticate(user, pw, Decoy(MinBcryptCost)); err != nil {
			t.Errorf("%s: %v", user, err)
		}
		if _, err := loaded.Authenticate(user, pw+"x", Decoy(MinBcryptCost)); err == nil {
			t.Errorf("%s logs in with a wrong password", user)
		}
	}
}
