package auth

import (
	"reflect"
	"testing"

	"github.com/cairndb/cairn/api"
	"pgregory.net/rapid"
)

func TestCommandRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := &Command{
			Op:         Op(rapid.IntRange(int(OpEnable), int(OpIssueToken)).Draw(t, "op")),
			Name:       rapid.String().Draw(t, "name"),
			Role:       rapid.String().Draw(t, "role"),
			NoPassword: rapid.Bool().Draw(t, "nopw"),
			Perm: api.Permission{PermType: api.PermType(rapid.IntRange(0, 2).Draw(t, "ptype")),
				Key: rapid.SliceOf(rapid.Byte()).Draw(t, "key"), RangeEnd: rapid.SliceOf(rapid.Byte()).Draw(t, "end")},
			SigningKey: rapid.SliceOf(rapid.Byte()).Draw(t, "skey"),
			Token:      rapid.String().Draw(t, "token"),
			Revision:   rapid.Uint64().Draw(t, "rev"),
		}
		switch rapid.IntRange(0, 2).Draw(t, "hash") {
		case 1:
			c.Password = PasswordHash{Iterations: rapid.IntRange(1, MaxIterations).Draw(t, "iter"),
				Salt: rapid.SliceOfN(rapid.Byte(), 16, 16).Draw(t, "salt"), Key: rapid.SliceOfN(rapid.Byte(), 1, 32).Draw(t, "hkey")}
		case 2:
			// Bytes a client sent as its hash, a bcrypt hash or not.
			c.Password = ClientHash(rapid.SliceOf(rapid.Byte()).Draw(t, "client hash"))
		}
		back, err := UnmarshalCommand(c.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		norm := func(b []byte) []byte {
			if len(b) == 0 {
				return nil
			}
			return b
		}
		c.Perm.Key, c.Perm.RangeEnd, c.SigningKey = norm(c.Perm.Key), norm(c.Perm.RangeEnd), norm(c.SigningKey)
		if !reflect.DeepEqual(c, back) {
			t.Fatalf("round trip:\n%+v\n%+v", c, back)
		}
	})
}

// TestUnmarshalCommandNeverPanics: any bytes decode to a command or an
// error.
func TestUnmarshalCommandNeverPanics(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		b := rapid.SliceOf(rapid.Byte()).Draw(t, "bytes")
		_, _ = UnmarshalCommand(b)
		_, _ = decodeUser("u", b)
		_, _ = decodeRole("r", b)
	})
	if _, err := UnmarshalCommand(nil); err == nil {
		t.Fatal("empty command decoded")
	}
	good := (&Command{Op: OpRoleAdd, Name: "r"}).Marshal()
	if _, err := UnmarshalCommand(append(good, 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
}

func FuzzUnmarshalCommand(f *testing.F) {
	f.Add((&Command{Op: OpUserAdd, Name: "u", NoPassword: true}).Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := UnmarshalCommand(b)
		if err == nil {
			if _, err := UnmarshalCommand(c.Marshal()); err != nil {
				t.Fatalf("re-encoding a decoded command: %v", err)
			}
		}
	})
}
