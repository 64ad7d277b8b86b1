package auth

import (
	"bytes"
	"crypto/rand"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cairndb/cairn/api"
	"golang.org/x/crypto/bcrypt"
	"pgregory.net/rapid"
)

// TestClientHash: what a client sends as a hash is kept as etcd keeps it
// (its bytes come back from EtcdBytes, and read back from the stored
// form), and a password matches it exactly when it matches in etcd,
// except that a cost past MaxBcryptCost matches nothing at once.
func TestClientHash(t *testing.T) {
	good := bcryptVectors[1] // "password" at cost 4
	pbkdf2, err := HashPBKDF2("password", 1, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		bytes     string
		bcrypt    bool // read as a bcrypt hash
		checkable bool
		matches   bool // "password" matches, as in etcd
	}{
		{"a bcrypt hash", good.hash, true, true, true},
		{"garbage", "garbage", false, false, false},
		{"nothing", "", false, false, false},
		{"binary", "\x00\xff$2a$04$\n", false, false, false},
		{"one character short", good.hash[:59], false, true, false},
		{"one character long (bcrypt reads 60)", good.hash + "A", false, true, true},
		{"a version bcrypt reads but cairn does not", "$2x$" + good.hash[4:], false, true, true},
		{"a cost past cairn's bound", "$2a$21$" + good.hash[7:], false, false, false},
		{"bcrypt's highest cost", "$2a$31$" + good.hash[7:], false, false, false},
		{"a cairn PBKDF2 hash of the password", pbkdf2.String(), false, false, false},
		{"a stored form of bytes", "raw$" + good.hash, false, false, false},
	}
	for _, tt := range tests {
		h := ClientHash([]byte(tt.bytes))
		start := time.Now()
		matches := h.Verify("password")
		if took := time.Since(start); took > time.Second {
			t.Errorf("%s: checking a password took %v", tt.name, took)
		}
		if (h.bcrypt != nil) != tt.bcrypt || h.IsZero() || h.Checkable() != tt.checkable || matches != tt.matches {
			t.Errorf("%s: bcrypt %v, zero %v, checkable %v, matches %v; want bcrypt %v, checkable %v, matches %v",
				tt.name, h.bcrypt != nil, h.IsZero(), h.Checkable(), matches, tt.bcrypt, tt.checkable, tt.matches)
		}
		if h.Verify("wrong") || h.Verify(strings.Repeat("x", 80)) {
			t.Errorf("%s: a wrong password matches", tt.name)
		}
		if got := h.EtcdBytes(); string(got) != tt.bytes {
			t.Errorf("%s: EtcdBytes %q, want the bytes sent", tt.name, got)
		}
		back, err := ParsePasswordHash(h.String())
		if err != nil || !reflect.DeepEqual(back, h) {
			t.Errorf("%s: stored as %q, read back as %+v, %v", tt.name, h.String(), back, err)
		}
	}
}

// TestClientHashMatchesBcrypt: for bytes near a bcrypt hash (one byte
// changed, cut short or lengthened), a password matches them exactly
// when golang.org/x/crypto/bcrypt, etcd's check, says it does. The cost's
// digits are left alone: a high cost would make each check take minutes
// (cairn refuses those, TestClientHash).
func TestClientHashMatchesBcrypt(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v := bcryptVectors[rapid.IntRange(0, 2).Draw(t, "vector")]
		b := []byte(v.hash)
		switch rapid.IntRange(0, 2).Draw(t, "how") {
		case 0:
			i := rapid.SampledFrom([]int{0, 1, 2, 3, 6, 7, 20, 28, 29, 45, 59}).Draw(t, "at")
			b[i] = rapid.Byte().Draw(t, "byte")
		case 1:
			b = b[:rapid.IntRange(0, len(b)).Draw(t, "len")]
		case 2:
			b = append(b, rapid.SliceOfN(rapid.Byte(), 1, 4).Draw(t, "more")...)
		}
		password := rapid.SampledFrom([]string{v.password, v.password + "x", ""}).Draw(t, "password")
		want := bcrypt.CompareHashAndPassword(b, []byte(password)) == nil
		h := ClientHash(b)
		if got := h.Verify(password); got != want {
			t.Fatalf("%q against %q: cairn says %v, bcrypt %v", password, b, got, want)
		}
		if !bytes.Equal(h.EtcdBytes(), b) {
			t.Fatalf("kept %q as %q", b, h.EtcdBytes())
		}
	})
}

// TestSnapshotHash: an etcd snapshot's password is read as a bcrypt hash,
// as a PBKDF2 hash of cairn's earlier versions (which cairn's own etcd
// snapshots carry), or else kept as it is, as ClientHash keeps it.
func TestSnapshotHash(t *testing.T) {
	pbkdf2, err := HashPBKDF2("pw", 1, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		bytes string
		want  PasswordHash
	}{
		{bcryptVectors[1].hash, ClientHash([]byte(bcryptVectors[1].hash))},
		{pbkdf2.String(), pbkdf2},
		{"pbkdf2-sha256$0$AAAA$AAAA", ClientHash([]byte("pbkdf2-sha256$0$AAAA$AAAA"))},
		{"$2a$21$" + bcryptVectors[1].hash[7:], ClientHash([]byte("$2a$21$" + bcryptVectors[1].hash[7:]))},
		{"raw$AAAA", ClientHash([]byte("raw$AAAA"))},
	} {
		got := SnapshotHash([]byte(tt.bytes))
		if !reflect.DeepEqual(got, tt.want) || string(got.EtcdBytes()) != tt.bytes {
			t.Errorf("%q: read as %+v (etcd bytes %q), want %+v", tt.bytes, got, got.EtcdBytes(), tt.want)
		}
	}
	if !SnapshotHash([]byte(pbkdf2.String())).Verify("pw") {
		t.Error("a PBKDF2 hash from a snapshot does not verify")
	}
}

// TestParseRawHashRefusesBadBase64: a stored form of bytes that is not
// base64 is an error, not a hash.
func TestParseRawHashRefusesBadBase64(t *testing.T) {
	for _, bad := range []string{"raw$!", "raw$AAAA=", "raw$A"} {
		if h, err := ParsePasswordHash(bad); err == nil {
			t.Errorf("%q read as %+v", bad, h)
		}
	}
}

// TestPasswordChangeToUncheckableHash: a password change to bytes that no
// password matches is applied (the revision moves), survives the log and
// a reload, and the user then gets etcd's answer for a wrong password,
// whatever password it gives.
func TestPasswordChangeToUncheckableHash(t *testing.T) {
	pw, err := HashBcrypt("pw", MinBcryptCost)
	if err != nil {
		t.Fatal(err)
	}
	s, recs := New(), memRecords{}
	apply := func(c *Command) {
		t.Helper()
		back, err := UnmarshalCommand(c.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Apply(back, recs); err != nil {
			t.Fatalf("%v: %v", c.Op, err)
		}
	}
	apply(&Command{Op: OpUserAdd, Name: "root", Password: pw})
	apply(&Command{Op: OpUserGrantRole, Name: "root", Role: RootRole})
	apply(&Command{Op: OpEnable, SigningKey: make([]byte, MinSigningKeySize)})
	if _, err := s.Authenticate("root", "pw", Decoy(MinBcryptCost)); err != nil {
		t.Fatal(err)
	}
	rev := s.Revision()
	apply(&Command{Op: OpUserChangePassword, Name: "root", Password: ClientHash([]byte("not a bcrypt hash"))})
	if s.Revision() != rev+1 {
		t.Fatalf("revision %d after the change, want %d", s.Revision(), rev+1)
	}
	loaded := New()
	if err := loaded.Load(recs.list()); err != nil {
		t.Fatal(err)
	}
	for _, st := range []*State{s, loaded} {
		for _, p := range []string{"pw", "not a bcrypt hash", ""} {
			if _, err := st.Authenticate("root", p, Decoy(MinBcryptCost)); err != api.ErrAuthFailed {
				t.Errorf("authenticate with %q: %v, want %v", p, err, api.ErrAuthFailed)
			}
		}
		u, _ := st.User("root")
		if string(u.Password.EtcdBytes()) != "not a bcrypt hash" {
			t.Errorf("kept %q", u.Password.EtcdBytes())
		}
	}
}
