package auth

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"
)

func TestPasswordHashVerifies(t *testing.T) {
	h, err := HashPassword("s3cret", 10, rand.Reader)
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
	h2, _ := HashPassword("s3cret", 10, rand.Reader)
	if bytes.Equal(h.Key, h2.Key) {
		t.Fatal("two hashes of the same password are equal: salt not random")
	}
}

func TestPasswordHashEncoding(t *testing.T) {
	h, err := HashPassword("pw", 7, rand.Reader)
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

func TestHashPasswordRefusesBadCost(t *testing.T) {
	for _, n := range []int{0, -1, MaxIterations + 1} {
		if _, err := HashPassword("pw", n, rand.Reader); err == nil {
			t.Errorf("%d iterations accepted", n)
		}
	}
	if _, err := HashPassword("pw", 1, bytes.NewReader(nil)); err == nil {
		t.Error("a failing random source was not reported")
	}
	// A zero or corrupt hash never verifies.
	if (PasswordHash{}).Verify("") {
		t.Error("the zero hash verifies")
	}
}

// BenchmarkHashPassword measures one hash at the default cost (the
// DefaultIterations comment quotes it).
func BenchmarkHashPassword(b *testing.B) {
	for b.Loop() {
		if _, err := HashPassword("correct horse battery staple", DefaultIterations, rand.Reader); err != nil {
			b.Fatal(err)
		}
	}
}
