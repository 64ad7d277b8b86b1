package replica

import (
	"bytes"
	"strings"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/auth"
	"pgregory.net/rapid"
)

// A command NewCommand made marshals to the bytes a copy would, whoever
// made it and however long its prefix (some do not fit the room); only
// the first Marshal of it and its copies writes in place, so an entry
// already handed out never changes when the command is proposed again.
func TestMarshalInPlaceIsMarshal(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		req := &api.PutRequest{
			Key:   []byte(rapid.StringN(1, 20, -1).Draw(t, "key")),
			Value: bytes.Repeat([]byte{rapid.Byte().Draw(t, "fill")}, rapid.IntRange(0, 3*roomMin).Draw(t, "value")),
		}
		cmd, err := NewCommand(req)
		if err != nil {
			t.Fatal(err)
		}
		switch rapid.IntRange(0, 2).Draw(t, "who") {
		case 1:
			cmd = cmd.By(auth.Identity{User: strings.Repeat("u", rapid.IntRange(0, 2*roomReserve).Draw(t, "user")), Revision: rapid.Uint64().Draw(t, "revision")})
		case 2:
			cmd.Who, cmd.Member, cmd.Term = WhoMember, rapid.Uint64().Draw(t, "member"), rapid.Uint64().Draw(t, "term")
		}
		first, again := cmd, cmd // a retry proposes a copy
		first.Tag, first.Seq = 1, rapid.Uint64().Draw(t, "seq")
		again.Tag, again.Seq = 1, first.Seq+1
		want := func(e Envelope) []byte {
			return append(e.appendPrefix(nil), e.Payload...)
		}
		a := first.Marshal()
		wantA := want(first)
		if !bytes.Equal(a, wantA) {
			t.Fatalf("Marshal wrote %x, want %x", a, wantA)
		}
		b := again.Marshal()
		if !bytes.Equal(b, want(again)) {
			t.Fatalf("second Marshal wrote %x, want %x", b, want(again))
		}
		if !bytes.Equal(a, wantA) {
			t.Fatal("marshaling a copy changed the entry marshaled first")
		}
		got, err := OpenEnvelope(a)
		if err != nil {
			t.Fatal(err)
		}
		back, err := got.Request()
		if err != nil {
			t.Fatal(err)
		}
		if p := back.(*api.PutRequest); !bytes.Equal(p.Key, req.Key) || !bytes.Equal(p.Value, req.Value) {
			t.Fatalf("read back key %q and %d bytes of value", p.Key, len(p.Value))
		}
	})
}

// A large put is marshaled into its entry without a second copy: the
// entry's bytes are the ones NewCommand wrote.
func TestMarshalInPlaceDoesNotCopy(t *testing.T) {
	cmd, err := NewCommand(&api.PutRequest{Key: []byte("k"), Value: make([]byte, 64<<10)})
	if err != nil {
		t.Fatal(err)
	}
	cmd.Tag, cmd.Seq = 1, 2
	data := cmd.Marshal()
	if &data[len(data)-1] != &cmd.Payload[len(cmd.Payload)-1] {
		t.Fatal("Marshal copied the payload")
	}
}

// BenchmarkProposeLargePut is a member's part of proposing a 64 KiB put:
// the request made a command and marshaled into its entry (B/op: the
// copies of the value).
func BenchmarkProposeLargePut(b *testing.B) {
	req := &api.PutRequest{Key: []byte("key"), Value: make([]byte, 64<<10)}
	b.ReportAllocs()
	for i := range b.N {
		cmd, err := NewCommand(req)
		if err != nil {
			b.Fatal(err)
		}
		cmd.Tag, cmd.Seq = 1, uint64(i)
		if len(cmd.Marshal()) < len(req.Value) {
			b.Fatal("short entry")
		}
	}
}
