package etcdconv

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cairndb/cairn/api"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// The responses are checked field by field, by reflection: each cairn
// response is filled with distinct values in every field (nested
// messages, lists and transactions included), converted, and every field
// of etcd's message must hold the value of cairn's field of the same name
// (ClusterID and ClusterId alike). A field dropped, swapped with another
// or cut short by a conversion fails the test, and so does a field added
// to cairn's type that the conversion does not carry.

// etcdOnly are the fields of etcd's messages that cairn's have no twin
// for: they must be left zero.
var etcdOnly = map[string]bool{"DowngradeInfo": true, "Error": true}

// cairnOnly are the fields of cairn's messages etcd's have no twin for.
var cairnOnly = map[string]bool{"CancelCode": true}

func TestResponsesCarryEveryField(t *testing.T) {
	tests := []struct {
		in   any
		conv func(any) any
	}{
		{&api.RangeResponse{}, func(r any) any { return ToRange(r.(*api.RangeResponse)) }},
		{&api.PutResponse{}, func(r any) any { return ToPut(r.(*api.PutResponse)) }},
		{&api.DeleteRangeResponse{}, func(r any) any { return ToDeleteRange(r.(*api.DeleteRangeResponse)) }},
		{&api.TxnResponse{}, func(r any) any { return ToTxn(r.(*api.TxnResponse)) }},
		{&api.WatchResponse{}, func(r any) any { return ToWatchResponse(r.(*api.WatchResponse)) }},
		{&api.LeaseGrantResponse{}, func(r any) any { return ToLeaseGrant(r.(*api.LeaseGrantResponse)) }},
		{&api.LeaseKeepAliveResponse{}, func(r any) any { return ToLeaseKeepAlive(r.(*api.LeaseKeepAliveResponse)) }},
		{&api.LeaseTimeToLiveResponse{}, func(r any) any { return ToLeaseTimeToLive(r.(*api.LeaseTimeToLiveResponse)) }},
		{&api.LeaseLeasesResponse{}, func(r any) any { return ToLeaseLeases(r.(*api.LeaseLeasesResponse)) }},
		{&api.MemberAddResponse{}, func(r any) any { return ToMemberAdd(r.(*api.MemberAddResponse)) }},
		{&api.MemberRemoveResponse{}, func(r any) any { return ToMemberRemove(r.(*api.MemberRemoveResponse)) }},
		{&api.MemberUpdateResponse{}, func(r any) any { return ToMemberUpdate(r.(*api.MemberUpdateResponse)) }},
		{&api.MemberListResponse{}, func(r any) any { return ToMemberList(r.(*api.MemberListResponse)) }},
		{&api.MemberPromoteResponse{}, func(r any) any { return ToMemberPromote(r.(*api.MemberPromoteResponse)) }},
		{&api.AlarmResponse{}, func(r any) any { return ToAlarm(r.(*api.AlarmResponse)) }},
		{&api.StatusResponse{}, func(r any) any { return ToStatus(r.(*api.StatusResponse)) }},
		{&api.HashKVResponse{}, func(r any) any { return ToHashKV(r.(*api.HashKVResponse)) }},
		{&api.AuthStatusResponse{}, func(r any) any { return ToAuthStatus(r.(*api.AuthStatusResponse)) }},
		{&api.UserGetResponse{}, func(r any) any { return ToUserGet(r.(*api.UserGetResponse)) }},
		{&api.UserListResponse{}, func(r any) any { return ToUserList(r.(*api.UserListResponse)) }},
		{&api.RoleGetResponse{}, func(r any) any { return ToRoleGet(r.(*api.RoleGetResponse)) }},
		{&api.RoleListResponse{}, func(r any) any { return ToRoleList(r.(*api.RoleListResponse)) }},
	}
	for _, tt := range tests {
		f := &filler{}
		f.fill(reflect.ValueOf(tt.in).Elem(), 0)
		asEtcdCluster(tt.in)
		out := tt.conv(tt.in)
		name := reflect.TypeOf(tt.in).Elem().Name()
		for _, err := range compare(reflect.ValueOf(tt.in), reflect.ValueOf(out), name) {
			t.Error(err)
		}
	}
}

// asEtcdCluster makes a Cluster answer what etcd's answer to it carries
// (TestClusterAnswersAsEtcd): a header without revision, the members in
// the order of their ids. Other answers are left as they are.
func asEtcdCluster(in any) {
	v := reflect.ValueOf(in).Elem()
	members := v.FieldByName("Members")
	if !members.IsValid() || members.Type() != reflect.TypeOf([]api.Member(nil)) {
		return
	}
	v.FieldByName("Header").FieldByName("Revision").SetInt(0)
	slices.SortFunc(members.Interface().([]api.Member), func(a, b api.Member) int { return cmp.Compare(a.ID, b.ID) })
}

// TestClusterAnswersAsEtcd: the Cluster service's answers carry no
// revision in their header and list the members in the order of their
// ids, as etcd's.
func TestClusterAnswersAsEtcd(t *testing.T) {
	h := api.ResponseHeader{ClusterID: 1, MemberID: 2, Revision: 3, RaftTerm: 4}
	ms := []api.Member{{ID: 30}, {ID: 10}, {ID: 20}}
	for _, got := range []struct {
		h  *pb.ResponseHeader
		ms []*pb.Member
	}{
		{ToMemberList(&api.MemberListResponse{Header: h, Members: ms}).Header, ToMemberList(&api.MemberListResponse{Header: h, Members: ms}).Members},
		{ToMemberAdd(&api.MemberAddResponse{Header: h, Members: ms}).Header, ToMemberAdd(&api.MemberAddResponse{Header: h, Members: ms}).Members},
		{ToMemberRemove(&api.MemberRemoveResponse{Header: h, Members: ms}).Header, ToMemberRemove(&api.MemberRemoveResponse{Header: h, Members: ms}).Members},
		{ToMemberUpdate(&api.MemberUpdateResponse{Header: h, Members: ms}).Header, ToMemberUpdate(&api.MemberUpdateResponse{Header: h, Members: ms}).Members},
		{ToMemberPromote(&api.MemberPromoteResponse{Header: h, Members: ms}).Header, ToMemberPromote(&api.MemberPromoteResponse{Header: h, Members: ms}).Members},
	} {
		if got.h.Revision != 0 || got.h.ClusterId != 1 || got.h.MemberId != 2 || got.h.RaftTerm != 4 {
			t.Errorf("header %+v, want the ids and term without the revision", got.h)
		}
		if len(got.ms) != 3 || got.ms[0].ID != 10 || got.ms[1].ID != 20 || got.ms[2].ID != 30 {
			t.Errorf("members %v, want 10, 20, 30", got.ms)
		}
	}
	if ms[0].ID != 30 {
		t.Errorf("the api members were reordered: %v", ms)
	}
}

// A range of one key takes its own path (one allocation for the lot).
func TestOneKeyRangeCarriesEveryField(t *testing.T) {
	in := &api.RangeResponse{}
	(&filler{}).fill(reflect.ValueOf(in).Elem(), 0)
	in.Kvs = in.Kvs[:1]
	out := ToRange(in)
	if len(out.Kvs) != 1 {
		t.Fatalf("ToRange of one key: %d keys", len(out.Kvs))
	}
	for _, err := range compare(reflect.ValueOf(in), reflect.ValueOf(out), "RangeResponse") {
		t.Error(err)
	}
}

// filler fills a value with distinct values: each number the next count,
// each string or byte string its count in text, two elements in each
// list; a transaction's responses hold one of each kind, nested two deep.
type filler struct{ n int }

func (f *filler) next() int { f.n++; return f.n }

func (f *filler) fill(v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Int:
		v.SetInt(int64(f.next()))
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uint:
		v.SetUint(uint64(f.next()))
	case reflect.String:
		v.SetString(fmt.Sprint("s", f.next()))
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte(fmt.Sprint("b", f.next())))
			return
		}
		if v.Type() == reflect.TypeOf([]api.ResponseOp(nil)) {
			f.fillOps(v, depth)
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			f.fill(v.Index(i), depth)
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		f.fill(v.Elem(), depth)
	case reflect.Struct:
		for i := range v.NumField() {
			f.fill(v.Field(i), depth)
		}
	default:
		panic(fmt.Sprintf("filler: no value for %s", v.Type()))
	}
}

// fillOps fills a transaction's responses: one of each kind (a nested
// transaction only above depth 2).
func (f *filler) fillOps(v reflect.Value, depth int) {
	var ops []api.ResponseOp
	for kind := range 4 {
		var op api.ResponseOp
		switch kind {
		case 0:
			op.Range = &api.RangeResponse{}
		case 1:
			op.Put = &api.PutResponse{}
		case 2:
			op.DeleteRange = &api.DeleteRangeResponse{}
		case 3:
			if depth >= 2 {
				continue
			}
			op.Txn = &api.TxnResponse{}
		}
		f.fillOneOp(&op, depth+1)
		ops = append(ops, op)
	}
	v.Set(reflect.ValueOf(ops))
}

func (f *filler) fillOneOp(op *api.ResponseOp, depth int) {
	ov := reflect.ValueOf(op).Elem()
	for i := range ov.NumField() {
		if p := ov.Field(i); !p.IsNil() {
			f.fill(p.Elem(), depth)
		}
	}
}

// fold is a field name as both packages spell it: ClusterID, ClusterId.
func fold(name string) string { return strings.ToLower(name) }

// compare lists where etcd's value e differs from cairn's value c.
func compare(c, e reflect.Value, path string) []error {
	if c.Kind() == reflect.Pointer {
		if c.IsNil() {
			if e.Kind() == reflect.Pointer && !e.IsNil() {
				return []error{fmt.Errorf("%s: cairn's is nil, etcd's is not", path)}
			}
			return nil
		}
		c = c.Elem()
	}
	if e.Kind() == reflect.Pointer {
		if e.IsNil() {
			return []error{fmt.Errorf("%s: etcd's is nil, cairn's is %v", path, c)}
		}
		e = e.Elem()
	}
	if c.Type() == reflect.TypeOf(api.ResponseOp{}) {
		return compareOp(c, e, path)
	}
	switch c.Kind() {
	case reflect.Struct:
		return compareStruct(c, e, path)
	case reflect.Slice:
		if c.Type().Elem().Kind() == reflect.Uint8 {
			if string(c.Bytes()) != string(e.Bytes()) {
				return []error{fmt.Errorf("%s: etcd's %q, cairn's %q", path, e.Bytes(), c.Bytes())}
			}
			return nil
		}
		if c.Len() != e.Len() {
			return []error{fmt.Errorf("%s: etcd's has %d elements, cairn's %d", path, e.Len(), c.Len())}
		}
		var errs []error
		for i := range c.Len() {
			errs = append(errs, compare(c.Index(i), e.Index(i), fmt.Sprintf("%s[%d]", path, i))...)
		}
		return errs
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Int,
		reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uint:
		if number(c) != number(e) {
			return []error{fmt.Errorf("%s: etcd's %d, cairn's %d", path, number(e), number(c))}
		}
	default:
		if c.Interface() != e.Interface() {
			return []error{fmt.Errorf("%s: etcd's %v, cairn's %v", path, e, c)}
		}
	}
	return nil
}

// number is an integer of either sign as one comparable value.
func number(v reflect.Value) int64 {
	if v.CanInt() {
		return v.Int()
	}
	return int64(v.Uint())
}

// compareStruct matches the fields by name: each of cairn's must have a
// twin holding its value, and etcd's without a twin must be zero.
func compareStruct(c, e reflect.Value, path string) []error {
	var errs []error
	twins := map[string]bool{}
	for i := range c.NumField() {
		name := c.Type().Field(i).Name
		if cairnOnly[name] {
			continue
		}
		ef, ok := e.Type().FieldByNameFunc(func(n string) bool { return fold(n) == fold(name) })
		if !ok {
			errs = append(errs, fmt.Errorf("%s.%s: etcd's %s has no such field", path, name, e.Type()))
			continue
		}
		twins[ef.Name] = true
		errs = append(errs, compare(c.Field(i), e.FieldByIndex(ef.Index), path+"."+name)...)
	}
	for i := range e.NumField() {
		f := e.Type().Field(i)
		if twins[f.Name] || strings.HasPrefix(f.Name, "XXX_") {
			continue
		}
		if !etcdOnly[f.Name] {
			errs = append(errs, fmt.Errorf("%s: etcd's field %s has no twin in cairn's %s", path, f.Name, c.Type()))
		} else if v := e.Field(i); !v.IsZero() && !(v.Kind() == reflect.Pointer && v.Elem().IsZero()) {
			// (A pointer to an empty value is etcd's "nothing" too:
			// Status's DowngradeInfo when no downgrade is under way.)
			errs = append(errs, fmt.Errorf("%s.%s: etcd's field without a twin is set: %v", path, f.Name, e.Field(i)))
		}
	}
	return errs
}

// compareOp compares a transaction's operation response with etcd's
// oneof: the kind that is set, and its response.
func compareOp(c, e reflect.Value, path string) []error {
	op := c.Interface().(api.ResponseOp)
	switch r := e.Interface().(pb.ResponseOp).Response.(type) {
	case *pb.ResponseOp_ResponseRange:
		if op.Range != nil {
			return compare(reflect.ValueOf(op.Range), reflect.ValueOf(r.ResponseRange), path+".Range")
		}
	case *pb.ResponseOp_ResponsePut:
		if op.Put != nil {
			return compare(reflect.ValueOf(op.Put), reflect.ValueOf(r.ResponsePut), path+".Put")
		}
	case *pb.ResponseOp_ResponseDeleteRange:
		if op.DeleteRange != nil {
			return compare(reflect.ValueOf(op.DeleteRange), reflect.ValueOf(r.ResponseDeleteRange), path+".DeleteRange")
		}
	case *pb.ResponseOp_ResponseTxn:
		if op.Txn != nil {
			return compare(reflect.ValueOf(op.Txn), reflect.ValueOf(r.ResponseTxn), path+".Txn")
		}
	}
	return []error{fmt.Errorf("%s: etcd's operation is %T, cairn's %+v", path, e.Interface().(pb.ResponseOp).Response, op)}
}

func TestFromTxn(t *testing.T) {
	put := &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("k"), Value: []byte("v"), Lease: 7, PrevKv: true}}}
	get := &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("b"), Limit: 3, Revision: 4,
		SortOrder: pb.RangeRequest_DESCEND, SortTarget: pb.RangeRequest_MOD, Serializable: true, KeysOnly: true, CountOnly: true,
		MinModRevision: 5, MaxModRevision: 6, MinCreateRevision: 7, MaxCreateRevision: 8}}}
	del := &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte("d"), RangeEnd: []byte("e"), PrevKv: true}}}
	nested := &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{Success: []*pb.RequestOp{del}}}}
	compares := []*pb.Compare{
		{Result: pb.Compare_EQUAL, Target: pb.Compare_VERSION, Key: []byte("k"), TargetUnion: &pb.Compare_Version{Version: 2}},
		{Result: pb.Compare_GREATER, Target: pb.Compare_CREATE, Key: []byte("k"), TargetUnion: &pb.Compare_CreateRevision{CreateRevision: 3}},
		{Result: pb.Compare_LESS, Target: pb.Compare_MOD, Key: []byte("k"), RangeEnd: []byte("l"), TargetUnion: &pb.Compare_ModRevision{ModRevision: 4}},
		{Result: pb.Compare_NOT_EQUAL, Target: pb.Compare_VALUE, Key: []byte("k"), TargetUnion: &pb.Compare_Value{Value: []byte("v")}},
		{Result: pb.Compare_EQUAL, Target: pb.Compare_LEASE, Key: []byte("k"), TargetUnion: &pb.Compare_Lease{Lease: 9}},
	}
	got, err := FromTxn(&pb.TxnRequest{Compare: compares, Success: []*pb.RequestOp{put, get}, Failure: []*pb.RequestOp{nested}})
	if err != nil {
		t.Fatal(err)
	}
	want := &api.TxnRequest{
		Compare: []api.Compare{
			{Result: api.CompareEqual, Target: api.CompareVersion, Key: []byte("k"), Version: 2},
			{Result: api.CompareGreater, Target: api.CompareCreate, Key: []byte("k"), CreateRevision: 3},
			{Result: api.CompareLess, Target: api.CompareMod, Key: []byte("k"), RangeEnd: []byte("l"), ModRevision: 4},
			{Result: api.CompareNotEqual, Target: api.CompareValue, Key: []byte("k"), Value: []byte("v")},
			{Result: api.CompareEqual, Target: api.CompareLease, Key: []byte("k"), Lease: 9},
		},
		Success: []api.RequestOp{
			{Put: &api.PutRequest{Key: []byte("k"), Value: []byte("v"), Lease: 7, PrevKv: true}},
			{Range: &api.RangeRequest{Key: []byte("a"), RangeEnd: []byte("b"), Limit: 3, Revision: 4, SortOrder: api.SortDescend,
				SortTarget: api.SortByMod, Serializable: true, KeysOnly: true, CountOnly: true,
				MinModRevision: 5, MaxModRevision: 6, MinCreateRevision: 7, MaxCreateRevision: 8}},
		},
		Failure: []api.RequestOp{{Txn: &api.TxnRequest{Success: []api.RequestOp{
			{DeleteRange: &api.DeleteRangeRequest{Key: []byte("d"), RangeEnd: []byte("e"), PrevKv: true}}}}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FromTxn =\n%+v\nwant\n%+v", got, want)
	}
}

func TestFromTxnRefusesBadInput(t *testing.T) {
	tests := []struct {
		name string
		req  *pb.TxnRequest
		want string
	}{
		{"nil compare", &pb.TxnRequest{Compare: []*pb.Compare{nil}}, "compare 0 is empty"},
		{"bad result", &pb.TxnRequest{Compare: []*pb.Compare{{Result: 9}}}, "unknown compare result 9"},
		{"bad target", &pb.TxnRequest{Compare: []*pb.Compare{{Target: 9}}}, "unknown compare target 9"},
		{"empty op", &pb.TxnRequest{Success: []*pb.RequestOp{{}}}, "etcdserver: key not found"},
		{"nil put", &pb.TxnRequest{Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{}}}}, "etcdserver: key not found"},
		{"nested empty op", &pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{
			Success: []*pb.RequestOp{{}}}}}}}, "etcdserver: key not found"},
	}
	for _, tt := range tests {
		_, err := FromTxn(tt.req)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v; want one containing %q", tt.name, err, tt.want)
		}
	}
}

func TestFromWatchRequest(t *testing.T) {
	create := &pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{
		Key: []byte("k"), RangeEnd: []byte("l"), StartRevision: 3, ProgressNotify: true, PrevKv: true, WatchId: 4, Fragment: true,
		Filters: []pb.WatchCreateRequest_FilterType{pb.WatchCreateRequest_NOPUT, pb.WatchCreateRequest_NODELETE}}}}
	tests := []struct {
		name string
		in   *pb.WatchRequest
		want *api.WatchRequest
		err  string
	}{
		{"create", create, &api.WatchRequest{Create: &api.WatchCreateRequest{Key: []byte("k"), RangeEnd: []byte("l"), StartRevision: 3,
			ProgressNotify: true, PrevKv: true, WatchID: 4, Fragment: true, Filters: []api.WatchFilterType{api.FilterNoPut, api.FilterNoDelete}}}, ""},
		{"cancel", &pb.WatchRequest{RequestUnion: &pb.WatchRequest_CancelRequest{CancelRequest: &pb.WatchCancelRequest{WatchId: 5}}},
			&api.WatchRequest{Cancel: &api.WatchCancelRequest{WatchID: 5}}, ""},
		{"progress", &pb.WatchRequest{RequestUnion: &pb.WatchRequest_ProgressRequest{ProgressRequest: &pb.WatchProgressRequest{}}},
			&api.WatchRequest{Progress: &api.WatchProgressRequest{}}, ""},
		{"from the empty key", &pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{
			RangeEnd: []byte{0}}}}, &api.WatchRequest{Create: &api.WatchCreateRequest{Key: []byte{0}, RangeEnd: []byte{0}}}, ""},
		{"the empty key to a key", &pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{
			Key: []byte{}, RangeEnd: []byte("m")}}}, &api.WatchRequest{Create: &api.WatchCreateRequest{Key: []byte{0}, RangeEnd: []byte("m")}}, ""},
		{"the empty key alone", &pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{}}},
			&api.WatchRequest{Create: &api.WatchCreateRequest{}}, ""},
		{"nothing", &pb.WatchRequest{}, nil, ""},
		{"nil create", &pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{}}, nil, ""},
		{"bad filter", &pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{
			Filters: []pb.WatchCreateRequest_FilterType{7}}}}, nil, "unknown watch filter 7"},
	}
	for _, tt := range tests {
		got, err := FromWatchRequest(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: error %v; want one containing %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: FromWatchRequest = %+v, %v; want %+v", tt.name, got, err, tt.want)
		}
	}
}

// A transaction's operations convert in order whatever their number (one
// is allocated with the response, more apart).
func TestToTxnOperations(t *testing.T) {
	for n := range 4 {
		r := &api.TxnResponse{Header: api.ResponseHeader{Revision: 9}, Succeeded: true}
		for i := range n {
			r.Responses = append(r.Responses, api.ResponseOp{Put: &api.PutResponse{Header: api.ResponseHeader{Revision: int64(i)}}})
		}
		got := ToTxn(r)
		if got.Header.Revision != 9 || !got.Succeeded || len(got.Responses) != n {
			t.Fatalf("%d operations: converted to %+v", n, got)
		}
		for i, op := range got.Responses {
			if put := op.GetResponsePut(); put == nil || put.Header.Revision != int64(i) {
				t.Fatalf("%d operations: response %d is %+v", n, i, op)
			}
		}
	}
}

// TestFromRangeKeepsBadSortOptionsBad: a sort order or target past a byte
// does not wrap onto a valid one.
func TestFromRangeKeepsBadSortOptionsBad(t *testing.T) {
	r := FromRange(&pb.RangeRequest{Key: []byte("a"), SortOrder: pb.RangeRequest_SortOrder(257), SortTarget: pb.RangeRequest_SortTarget(-1)})
	if r.SortOrder <= api.SortDescend || r.SortTarget <= api.SortByValue {
		t.Fatalf("sort order 257 and target -1 became %d and %d, valid ones", r.SortOrder, r.SortTarget)
	}
}

// TestStatusAlarmErrorsAsEtcd: a status's errors that name a raised alarm
// are written as etcd writes them; the others are kept.
func TestStatusAlarmErrorsAsEtcd(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"memberID:cf5d8a3cd7534bb4 alarm:NOSPACE", "memberID:14942251132600404916 alarm:NOSPACE "},
		{"memberID:0000000000000001 alarm:CORRUPT", "memberID:1 alarm:CORRUPT "},
		{"memberID:0000000000000001 alarm:SOMETHING", "memberID:0000000000000001 alarm:SOMETHING"},
		{"memberID:1 alarm:NOSPACE", "memberID:1 alarm:NOSPACE"}, // not cairn's form
		{"etcdserver: no leader", "etcdserver: no leader"},
		{"the store is being repaired", "the store is being repaired"},
	} {
		out := ToStatus(&api.StatusResponse{Errors: []string{tt.in}})
		if len(out.Errors) != 1 || out.Errors[0] != tt.want {
			t.Errorf("%q became %q, want %q", tt.in, out.Errors, tt.want)
		}
	}
}
