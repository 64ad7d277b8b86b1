package api

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// allMessages returns a constructor for every type with a fields method,
// in a fixed order: FuzzUnmarshal picks one by the first input byte, so
// append new types at the end to keep the stored corpus meaningful.
func allMessages() []func() Message {
	return []func() Message{
		// kv.go
		func() Message { return new(KeyValue) },
		func() Message { return new(Event) },
		func() Message { return new(ResponseHeader) },
		func() Message { return new(RangeRequest) },
		func() Message { return new(RangeResponse) },
		func() Message { return new(PutRequest) },
		func() Message { return new(PutResponse) },
		func() Message { return new(DeleteRangeRequest) },
		func() Message { return new(DeleteRangeResponse) },
		func() Message { return new(Compare) },
		func() Message { return new(RequestOp) },
		func() Message { return new(ResponseOp) },
		func() Message { return new(TxnRequest) },
		func() Message { return new(TxnResponse) },
		func() Message { return new(CompactionRequest) },
		func() Message { return new(CompactionResponse) },
		// lease.go
		func() Message { return new(LeaseGrantRequest) },
		func() Message { return new(LeaseGrantResponse) },
		func() Message { return new(LeaseRevokeRequest) },
		func() Message { return new(LeaseRevokeResponse) },
		func() Message { return new(LeaseKeepAliveRequest) },
		func() Message { return new(LeaseKeepAliveResponse) },
		func() Message { return new(LeaseTimeToLiveRequest) },
		func() Message { return new(LeaseTimeToLiveResponse) },
		func() Message { return new(LeaseLeasesRequest) },
		func() Message { return new(LeaseStatus) },
		func() Message { return new(LeaseLeasesResponse) },
		// cluster.go
		func() Message { return new(Member) },
		func() Message { return new(MemberAddRequest) },
		func() Message { return new(MemberAddResponse) },
		func() Message { return new(MemberRemoveRequest) },
		func() Message { return new(MemberRemoveResponse) },
		func() Message { return new(MemberUpdateRequest) },
		func() Message { return new(MemberUpdateResponse) },
		func() Message { return new(MemberListRequest) },
		func() Message { return new(MemberListResponse) },
		func() Message { return new(MemberPromoteRequest) },
		func() Message { return new(MemberPromoteResponse) },
		// watch.go
		func() Message { return new(WatchCreateRequest) },
		func() Message { return new(WatchCancelRequest) },
		func() Message { return new(WatchProgressRequest) },
		func() Message { return new(WatchRequest) },
		func() Message { return new(WatchResponse) },
		// maintenance.go
		func() Message { return new(AlarmRequest) },
		func() Message { return new(AlarmMember) },
		func() Message { return new(AlarmResponse) },
		func() Message { return new(StatusRequest) },
		func() Message { return new(StatusResponse) },
		func() Message { return new(DefragmentRequest) },
		func() Message { return new(DefragmentResponse) },
		func() Message { return new(HashRequest) },
		func() Message { return new(HashResponse) },
		func() Message { return new(HashKVRequest) },
		func() Message { return new(HashKVResponse) },
		func() Message { return new(SnapshotRequest) },
		func() Message { return new(SnapshotResponse) },
		func() Message { return new(MoveLeaderRequest) },
		func() Message { return new(MoveLeaderResponse) },
		// auth.go
		func() Message { return new(Permission) },
		func() Message { return new(AuthEnableRequest) },
		func() Message { return new(AuthEnableResponse) },
		func() Message { return new(AuthDisableRequest) },
		func() Message { return new(AuthDisableResponse) },
		func() Message { return new(AuthStatusRequest) },
		func() Message { return new(AuthStatusResponse) },
		func() Message { return new(AuthenticateRequest) },
		func() Message { return new(AuthenticateResponse) },
		func() Message { return new(UserAddRequest) },
		func() Message { return new(UserAddResponse) },
		func() Message { return new(UserGetRequest) },
		func() Message { return new(UserGetResponse) },
		func() Message { return new(UserListRequest) },
		func() Message { return new(UserListResponse) },
		func() Message { return new(UserDeleteRequest) },
		func() Message { return new(UserDeleteResponse) },
		func() Message { return new(UserChangePasswordRequest) },
		func() Message { return new(UserChangePasswordResponse) },
		func() Message { return new(UserGrantRoleRequest) },
		func() Message { return new(UserGrantRoleResponse) },
		func() Message { return new(UserRevokeRoleRequest) },
		func() Message { return new(UserRevokeRoleResponse) },
		func() Message { return new(RoleAddRequest) },
		func() Message { return new(RoleAddResponse) },
		func() Message { return new(RoleGetRequest) },
		func() Message { return new(RoleGetResponse) },
		func() Message { return new(RoleListRequest) },
		func() Message { return new(RoleListResponse) },
		func() Message { return new(RoleDeleteRequest) },
		func() Message { return new(RoleDeleteResponse) },
		func() Message { return new(RoleGrantPermissionRequest) },
		func() Message { return new(RoleGrantPermissionResponse) },
		func() Message { return new(RoleRevokePermissionRequest) },
		func() Message { return new(RoleRevokePermissionResponse) },
	}
}

// TestAllMessagesIsComplete parses the package's source and checks that
// allMessages lists every type with a fields method, once, so the fuzz
// target cannot silently miss a new message.
func TestAllMessagesIsComplete(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var inSource []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, e.Name(), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Name.Name != "fields" || fn.Recv == nil {
				continue
			}
			star, ok := fn.Recv.List[0].Type.(*ast.StarExpr)
			if !ok {
				t.Fatalf("fields method on a non-pointer receiver at %v", fset.Position(fn.Pos()))
			}
			inSource = append(inSource, star.X.(*ast.Ident).Name)
		}
	}
	var listed []string
	for _, newMsg := range allMessages() {
		listed = append(listed, reflect.TypeOf(newMsg()).Elem().Name())
	}
	count := map[string]int{}
	for _, name := range inSource {
		count[name]++
	}
	for _, name := range listed {
		count[name]--
	}
	var diff []string
	for name, n := range count {
		switch {
		case n > 0:
			diff = append(diff, name+" is missing from allMessages")
		case n < 0:
			diff = append(diff, name+" is listed without a fields method, or twice")
		}
	}
	sort.Strings(diff)
	for _, d := range diff {
		t.Error(d)
	}
}

// FuzzUnmarshal decodes the input after its first byte as the message type
// that byte selects. Decoding must fail cleanly or give a message that
// encodes and decodes back to itself.
func FuzzUnmarshal(f *testing.F) {
	msgs := allMessages()
	for i, newMsg := range msgs {
		f.Add(append([]byte{byte(i)}, Marshal(newMsg())...))
	}
	seed := func(m Message) {
		for i, newMsg := range msgs {
			if reflect.TypeOf(newMsg()) == reflect.TypeOf(m) {
				f.Add(append([]byte{byte(i)}, Marshal(m)...))
			}
		}
	}
	seed(&WatchRequest{Create: &WatchCreateRequest{Key: []byte("a"), RangeEnd: []byte("b"), Filters: []WatchFilterType{FilterNoDelete}}})
	seed(&WatchResponse{Events: []Event{{Kv: KeyValue{Key: []byte("k")}, PrevKv: &KeyValue{Value: []byte("v")}}}, CancelReason: "why"})
	seed(&MemberListResponse{Members: []Member{{ID: 1, Name: "n", PeerURLs: []string{"http://a"}}}})
	seed(&LeaseTimeToLiveResponse{TTL: -1, Keys: [][]byte{[]byte("k"), nil}})
	seed(&RoleGetResponse{Perm: []Permission{{PermType: PermReadWrite, Key: []byte("k")}}})
	seed(&HashKVResponse{Hash: 1 << 31})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		newMsg := msgs[int(b[0])%len(msgs)]
		m := newMsg()
		if err := Unmarshal(b[1:], m); err != nil {
			return
		}
		again := newMsg()
		if err := Unmarshal(Marshal(m), again); err != nil {
			t.Fatalf("%T: re-encoding does not decode: %v", m, err)
		}
		if !reflect.DeepEqual(again, m) {
			t.Fatalf("%T: re-encoding changed the message:\n got %+v\nwant %+v", m, again, m)
		}
	})
}
