package replica

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/auth"
	"pgregory.net/rapid"
)

// Every envelope a member makes reads back as it was.
func TestEnvelopeRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		e := Envelope{
			Tag:     rapid.Uint64().Draw(t, "tag"),
			Seq:     rapid.Uint64().Draw(t, "seq"),
			Who:     Who(rapid.IntRange(0, 2).Draw(t, "who")),
			Payload: rapid.SliceOf(rapid.Byte()).Draw(t, "payload"),
		}
		kinds := []Kind{KindPut, KindDeleteRange, KindTxn, KindCompaction, KindLeaseGrant, KindLeaseRevoke, KindMemberAttrs, KindMemberUpdate, KindAlarm, KindAuth}
		switch e.Who {
		case WhoUser:
			e.User = auth.Identity{User: rapid.String().Draw(t, "user"), Revision: rapid.Uint64().Draw(t, "revision")}
		case WhoMember:
			e.Member, e.Term = rapid.Uint64().Draw(t, "member"), rapid.Uint64().Draw(t, "term")
			kinds = append(kinds[:len(kinds)-1], KindIssueToken) // a member makes no auth change
		}
		e.Kind = rapid.SampledFrom(kinds).Draw(t, "kind")
		data := e.Marshal()
		if len(data) != headerSize+e.Size() {
			t.Fatalf("marshaled %d bytes, Size said %d and the header", len(data), e.Size())
		}
		got, err := OpenEnvelope(data)
		if err != nil {
			t.Fatalf("open %x: %v", data, err)
		}
		if len(got.Payload) == 0 {
			got.Payload = e.Payload[:0:0]
		}
		if got.Tag != e.Tag || got.Seq != e.Seq || got.Who != e.Who || got.User != e.User || got.Member != e.Member ||
			got.Term != e.Term || got.Kind != e.Kind || !bytes.Equal(got.Payload, e.Payload) {
			t.Fatalf("round trip: %+v, got %+v", e, got)
		}
	})
}

// The envelope is the format every existing log holds: these bytes are
// what members wrote before the Envelope type existed, and must stay so.
func TestEnvelopeFormatIsStable(t *testing.T) {
	put := api.Marshal(&api.PutRequest{Key: []byte("k"), Value: []byte("v")})
	header := "00000000000000070000000000000009" // tag 7, seq 9
	for _, tc := range []struct {
		name string
		e    Envelope
		hex  string
	}{
		{"a client's put", Envelope{Kind: KindPut, Payload: put}, "01"},
		{"alice's put", Envelope{Who: WhoUser, User: auth.Identity{User: "alice", Revision: 300}, Kind: KindPut, Payload: put},
			"41" + "05" + hex.EncodeToString([]byte("alice")) + "ac02" + "01"},
		{"member 2's put in term 3", Envelope{Who: WhoMember, Member: 2, Term: 3, Kind: KindPut, Payload: put},
			"42" + "0000000000000002" + "0000000000000003" + "01"},
		{"member 2's token in term 3", Envelope{Who: WhoMember, Member: 2, Term: 3, Kind: KindIssueToken, Payload: put},
			"43" + "0000000000000002" + "0000000000000003"},
		{"a membership change's context", Envelope{Payload: put}, ""},
	} {
		tc.e.Tag, tc.e.Seq = 7, 9
		want := header + tc.hex + hex.EncodeToString(put)
		if got := hex.EncodeToString(tc.e.Marshal()); got != want {
			t.Errorf("%s: %s, want %s", tc.name, got, want)
		}
	}
}

// A malformed command is an error naming what is wrong, never a panic.
func TestOpenEnvelopeRefusesMalformed(t *testing.T) {
	origin := make([]byte, originSize)
	for _, tc := range []struct {
		name string
		body []byte
		want string // what the error must say
	}{
		{"empty", []byte{}, "node: empty command"},
		{"user name past the end", []byte{markUser, 5, 'a'}, "node: authenticated command: user name: varint truncated"},
		{"user name length cut short", []byte{markUser, 0x80}, "node: authenticated command: user name: varint truncated"},
		{"user name length overlong", []byte{markUser, 0x81, 0x00, 'a'}, "node: authenticated command: user name: varint longer than its shortest encoding"},
		{"user name length overflows", []byte{markUser, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, "node: authenticated command: user name: varint overflows 64 bits"},
		{"no revision", []byte{markUser, 1, 'a'}, "node: authenticated command: auth revision: varint truncated"},
		{"revision cut short", []byte{markUser, 1, 'a', 0x80}, "node: authenticated command: auth revision: varint truncated"},
		{"revision overlong", []byte{markUser, 1, 'a', 0x80, 0x00, 1}, "node: authenticated command: auth revision: varint longer than its shortest encoding"},
		{"no inner command", []byte{markUser, 1, 'a', 1}, "node: authenticated command: no inner command"},
		{"nested users", []byte{markUser, 1, 'a', 1, markUser, 0}, "node: authenticated command: no inner command"},
		{"origin too short", []byte{markMember, 0, 0, 1}, "too short for its origin"},
		{"token origin too short", []byte{byte(KindIssueToken), 0, 0, 1}, "too short for its origin"},
		{"member's command without kind", append([]byte{markMember}, origin...), errNoPlainInner.Error()},
		{"member's auth change", append(append([]byte{markMember}, origin...), byte(KindAuth)), errNoPlainInner.Error()},
		{"member's nested command", append(append([]byte{markMember}, origin...), markMember), errNoPlainInner.Error()},
	} {
		_, err := OpenEnvelope(append(make([]byte, headerSize), tc.body...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
	if _, err := OpenEnvelope(make([]byte, headerSize-1)); err != errNoHeader {
		t.Errorf("no header: %v", err)
	}
}

// A leader takes a forwarded command that names its origin only from
// the member that stamped it, in the leader's term.
func TestCheckOrigin(t *testing.T) {
	cmd, err := Internal(&api.CompactionRequest{Revision: 1})
	if err != nil {
		t.Fatal(err)
	}
	cmd.stamp(5, 3)
	token := IssueToken(&auth.Command{Op: auth.OpIssueToken, Name: "root", Token: "h"})
	token.stamp(5, 3)
	plain := mustCommand(t, &api.PutRequest{Key: []byte("k")})
	plain.stamp(5, 3) // no origin to stamp: unchanged
	if plain.Member != 0 || plain.Term != 0 {
		t.Fatal("stamp changed a command without an origin")
	}
	tooShort := append(make([]byte, headerSize), markMember, 1)
	for _, tc := range []struct {
		name       string
		cmd        []byte
		from, term uint64
		ok         bool
	}{
		{"its maker, its term", cmd.Marshal(), 5, 3, true},
		{"a token, its maker, its term", token.Marshal(), 5, 3, true},
		{"forwarded by another member", cmd.Marshal(), 6, 3, false},
		{"a token forwarded by another member", token.Marshal(), 6, 3, false},
		{"in a later term", cmd.Marshal(), 5, 4, false},
		{"unstamped", (&Envelope{Who: WhoMember, Kind: KindIssueToken}).Marshal(), 5, 3, false},
		{"too short", tooShort, 5, 3, false},
		{"a client's command", plain.Marshal(), 6, 9, true},
		{"a user's command", (&Envelope{Who: WhoUser, User: auth.Identity{User: "u"}, Kind: KindPut}).Marshal(), 6, 9, true},
	} {
		if err := checkOrigin(tc.cmd, tc.from, tc.term); (err == nil) != tc.ok {
			t.Errorf("%s: checkOrigin = %v", tc.name, err)
		}
	}
}

// The "op" label names the request inside whatever envelope.
func TestCommandName(t *testing.T) {
	internal, err := Internal(&api.CompactionRequest{Revision: 1})
	if err != nil {
		t.Fatal(err)
	}
	for want, data := range map[string][]byte{
		"Put":        mustEncode(t, &api.PutRequest{Key: []byte("k")}),
		"Txn":        body(mustCommand(t, &api.TxnRequest{}).By(auth.Identity{User: "u"})),
		"Compaction": body(internal),
		"IssueToken": body(IssueToken(&auth.Command{Op: auth.OpIssueToken})),
		"Auth":       body(AuthCommand(&auth.Command{Op: auth.OpEnable})),
		"Authed":     {markUser, 9},
		"Empty":      nil,
	} {
		if got := CommandName(data); got != want {
			t.Errorf("CommandName(%x) = %s, want %s", data, got, want)
		}
	}
}

// Request decodes what NewCommand encoded, from the whole entry
// (OpenEnvelope) and from what Apply gets (OpenCommand), whoever made it.
func TestRequestInvertsNewCommand(t *testing.T) {
	for _, req := range []api.Message{
		&api.PutRequest{Key: []byte("k"), Value: []byte("v"), Lease: 3},
		&api.DeleteRangeRequest{Key: []byte("a"), RangeEnd: []byte("b")},
		&api.TxnRequest{Success: []api.RequestOp{{Put: &api.PutRequest{Key: []byte("k")}}}},
		&api.CompactionRequest{Revision: 4},
		&api.LeaseGrantRequest{ID: 7, TTL: 5},
		&api.LeaseRevokeRequest{ID: 7},
		&api.Member{ID: 1, Name: "a"},
		&api.AlarmRequest{Action: api.AlarmActivate, MemberID: 1, Alarm: api.AlarmNoSpace},
	} {
		cmd, err := NewCommand(req)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range []Envelope{cmd, cmd.By(auth.Identity{User: "alice", Revision: 2}), ExpiryCommand(7)} {
			if e.Who == WhoMember {
				if _, ok := req.(*api.LeaseRevokeRequest); !ok {
					continue
				}
				e.Member, e.Term = 3, 4
			}
			data := e.Marshal()
			whole, err := OpenEnvelope(data)
			if err != nil {
				t.Fatal(err)
			}
			body, err := OpenCommand(data[headerSize:])
			if err != nil || body.Who != whole.Who || body.Member != whole.Member || body.User != whole.User {
				t.Fatalf("%T: OpenCommand = %+v, %v; OpenEnvelope = %+v", req, body, err, whole)
			}
			got, err := body.Request()
			if err != nil || !bytes.Equal(api.Marshal(got), api.Marshal(req)) {
				t.Errorf("%T made by %v: Request = %+v, %v", req, e.Who, got, err)
			}
		}
	}
	raw := Raw([]byte("context"))
	if _, err := raw.Request(); err == nil {
		t.Error("a raw envelope gave a request")
	}
	bad := Envelope{Kind: KindPut, Payload: []byte{0xff, 0xff}}
	if _, err := bad.Request(); err == nil {
		t.Error("a payload that does not decode gave a request")
	}
}

// TestKindOfAndNewRequestAgree: the two directions of the map between a
// command's kind and its request's type are inverses, for every kind.
func TestKindOfAndNewRequestAgree(t *testing.T) {
	carrying := 0
	for k := range Kind(255) {
		req := newRequest(k)
		if req == nil {
			continue
		}
		carrying++
		if got, ok := kindOf(req); !ok || got != k {
			t.Errorf("kind %s: newRequest gives %T, whose kind is %s (%v)", k, req, got, ok)
		}
	}
	if carrying != 9 {
		t.Errorf("%d kinds carry a request, want the 9 client and member writes", carrying)
	}
}
