package api

import (
	"errors"
	"reflect"
	"testing"

	"pgregory.net/rapid"
)

func genBytes(t *rapid.T, label string) []byte {
	b := rapid.SliceOfN(rapid.Byte(), 0, 16).Draw(t, label)
	if len(b) == 0 {
		return nil
	}
	return b
}

// genList draws up to 3 elements with gen; an empty list is nil, as the
// codec decodes it.
func genList[T any](t *rapid.T, label string, gen func(*rapid.T) T) []T {
	n := rapid.IntRange(0, 3).Draw(t, label)
	if n == 0 {
		return nil
	}
	out := make([]T, n)
	for i := range out {
		out[i] = gen(t)
	}
	return out
}

func genStr(t *rapid.T) string { return rapid.StringN(0, 12, -1).Draw(t, "s") }

func genStrs(t *rapid.T, label string) []string { return genList(t, label, genStr) }

func genBytesList(t *rapid.T, label string) [][]byte {
	return genList(t, label, func(t *rapid.T) []byte { return genBytes(t, "b") })
}

func genKV(t *rapid.T) KeyValue {
	return KeyValue{Key: genBytes(t, "key"), CreateRevision: rapid.Int64().Draw(t, "c"), ModRevision: rapid.Int64().Draw(t, "m"),
		Version: rapid.Int64().Draw(t, "v"), Value: genBytes(t, "value"), Lease: rapid.Int64().Draw(t, "l")}
}

func genKVs(t *rapid.T) []KeyValue {
	n := rapid.IntRange(0, 3).Draw(t, "n")
	if n == 0 {
		return nil
	}
	out := make([]KeyValue, n)
	for i := range out {
		out[i] = genKV(t)
	}
	return out
}

func genHeader(t *rapid.T) ResponseHeader {
	return ResponseHeader{ClusterID: rapid.Uint64().Draw(t, "cid"), MemberID: rapid.Uint64().Draw(t, "mid"),
		Revision: rapid.Int64().Draw(t, "rev"), RaftTerm: rapid.Uint64().Draw(t, "term")}
}

func genRange(t *rapid.T) *RangeRequest {
	return &RangeRequest{Key: genBytes(t, "k"), RangeEnd: genBytes(t, "e"), Limit: rapid.Int64().Draw(t, "limit"),
		Revision: rapid.Int64().Draw(t, "rev"), SortOrder: SortOrder(rapid.IntRange(0, 2).Draw(t, "so")),
		SortTarget: SortTarget(rapid.IntRange(0, 4).Draw(t, "st")), Serializable: rapid.Bool().Draw(t, "s"),
		KeysOnly: rapid.Bool().Draw(t, "ko"), CountOnly: rapid.Bool().Draw(t, "co"),
		MinModRevision: rapid.Int64().Draw(t, "a"), MaxModRevision: rapid.Int64().Draw(t, "b"),
		MinCreateRevision: rapid.Int64().Draw(t, "c"), MaxCreateRevision: rapid.Int64().Draw(t, "d")}
}

func genPut(t *rapid.T) *PutRequest {
	return &PutRequest{Key: genBytes(t, "k"), Value: genBytes(t, "v"), Lease: rapid.Int64().Draw(t, "l"),
		PrevKv: rapid.Bool().Draw(t, "p"), IgnoreValue: rapid.Bool().Draw(t, "iv"), IgnoreLease: rapid.Bool().Draw(t, "il")}
}

func genTxn(t *rapid.T, depth int) *TxnRequest {
	txn := &TxnRequest{}
	for range rapid.IntRange(0, 2).Draw(t, "ncmp") {
		txn.Compare = append(txn.Compare, Compare{Result: CompareResult(rapid.IntRange(0, 3).Draw(t, "r")),
			Target: CompareTarget(rapid.IntRange(0, 4).Draw(t, "t")), Key: genBytes(t, "k"), Value: genBytes(t, "v"),
			Version: rapid.Int64().Draw(t, "ver")})
	}
	for range rapid.IntRange(0, 3).Draw(t, "nops") {
		var op RequestOp
		switch k := rapid.IntRange(0, 3).Draw(t, "kind"); {
		case k == 0:
			op.Range = genRange(t)
		case k == 1:
			op.Put = genPut(t)
		case k == 2:
			op.DeleteRange = &DeleteRangeRequest{Key: genBytes(t, "k"), RangeEnd: genBytes(t, "e"), PrevKv: rapid.Bool().Draw(t, "p")}
		case depth < 2:
			op.Txn = genTxn(t, depth+1)
		default:
			op.Put = genPut(t)
		}
		if rapid.Bool().Draw(t, "branch") {
			txn.Success = append(txn.Success, op)
		} else {
			txn.Failure = append(txn.Failure, op)
		}
	}
	return txn
}

func roundTrip[T any, P interface {
	*T
	Message
}](t *rapid.T, m P) {
	b := Marshal(m)
	if n := encodedLen(m); n != len(b) {
		t.Fatalf("%T: the sizing pass counted %d bytes, the encoding has %d", m, n, len(b))
	}
	got := P(new(T))
	if err := Unmarshal(b, got); err != nil {
		t.Fatalf("decode %T: %v", m, err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("round trip %T:\n got %+v\nwant %+v", m, got, m)
	}
	for i := 0; i < len(b); i++ {
		if err := Unmarshal(b[:i], P(new(T))); !errors.Is(err, ErrDecode) {
			t.Fatalf("%T prefix %d/%d: %v", m, i, len(b), err)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		kv := genKV(t)
		roundTrip(t, &kv)
		prev := genKV(t)
		roundTrip(t, &Event{Type: EventType(rapid.IntRange(0, 1).Draw(t, "et")), Kv: genKV(t), PrevKv: &prev})
		roundTrip(t, genRange(t))
		roundTrip(t, &RangeResponse{Header: genHeader(t), Kvs: genKVs(t), More: rapid.Bool().Draw(t, "more"), Count: rapid.Int64().Draw(t, "count")})
		roundTrip(t, genPut(t))
		roundTrip(t, &PutResponse{Header: genHeader(t), PrevKv: &prev})
		roundTrip(t, &DeleteRangeRequest{Key: genBytes(t, "k"), RangeEnd: genBytes(t, "e"), PrevKv: true})
		roundTrip(t, &DeleteRangeResponse{Header: genHeader(t), Deleted: 3, PrevKvs: genKVs(t)})
		roundTrip(t, genTxn(t, 0))
		roundTrip(t, &TxnResponse{Header: genHeader(t), Succeeded: true, Responses: []ResponseOp{
			{Put: &PutResponse{Header: genHeader(t)}}, {Txn: &TxnResponse{Responses: []ResponseOp{{Range: &RangeResponse{Kvs: genKVs(t)}}}}}}})
		roundTrip(t, &CompactionRequest{Revision: rapid.Int64().Draw(t, "r"), Physical: true})
		roundTrip(t, &LeaseGrantRequest{TTL: rapid.Int64().Draw(t, "ttl"), ID: rapid.Int64().Draw(t, "id")})
		roundTrip(t, &LeaseRevokeRequest{ID: rapid.Int64().Draw(t, "id")})
	})
}

func TestDecodeRejects(t *testing.T) {
	deep := &TxnRequest{}
	cur := deep
	for range maxTxnDepth + 1 {
		next := &TxnRequest{}
		cur.Success = []RequestOp{{Txn: next}}
		cur = next
	}
	tests := map[string]struct {
		b []byte
		m Message
	}{
		"empty":             {nil, &PutRequest{}},
		"bad boolean":       {[]byte{0, 0, 0, 7, 0, 0}, &PutRequest{}},
		"enum out of range": {[]byte{9, 0, 0, 0, 0, 0, 0, 0, 0}, &Event{}},
		"huge list":         {[]byte{0, 0, 0, 0, 0xff, 0xff, 0xff, 0x0f}, &RangeResponse{}},
		"unknown op kind":   {[]byte{0, 1, 9, 0}, &TxnRequest{}},
		"trailing":          {append(Marshal(&LeaseRevokeRequest{ID: 1}), 0), &LeaseRevokeRequest{}},
		"too deep":          {Marshal(deep), &TxnRequest{}},
	}
	for name, tt := range tests {
		if err := Unmarshal(tt.b, tt.m); !errors.Is(err, ErrDecode) {
			t.Errorf("%s: %v, want ErrDecode", name, err)
		}
	}
}

func FuzzUnmarshalTxn(f *testing.F) {
	f.Add(Marshal(&TxnRequest{Compare: []Compare{{Key: []byte("k")}}, Success: []RequestOp{{Put: &PutRequest{Key: []byte("k"), Value: []byte("v")}}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var m TxnRequest
		if err := Unmarshal(b, &m); err != nil {
			return
		}
		var again TxnRequest
		if err := Unmarshal(Marshal(&m), &again); err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("re-encoding changed the message: %v", err)
		}
	})
}

func FuzzUnmarshalRangeResponse(f *testing.F) {
	f.Add(Marshal(&RangeResponse{Kvs: []KeyValue{{Key: []byte("a"), Value: []byte("b")}}, Count: 1}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var m RangeResponse
		if err := Unmarshal(b, &m); err != nil {
			return
		}
		var again RangeResponse
		if err := Unmarshal(Marshal(&m), &again); err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("re-encoding changed the message: %v", err)
		}
	})
}

// EncodedSize must be exactly the encoding's length, for every field
// value, including the varint boundaries and negative numbers.
func TestKeyValueEncodedSize(t *testing.T) {
	num := func(t *rapid.T, label string) int64 {
		return rapid.OneOf(rapid.Int64(), rapid.Int64Range(-300, 300),
			rapid.SampledFrom([]int64{0, 63, 64, -64, -65, 1 << 62, -1 << 63, 1<<63 - 1})).Draw(t, label)
	}
	rapid.Check(t, func(t *rapid.T) {
		kv := KeyValue{
			Key:            rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "key"),
			CreateRevision: num(t, "create"),
			ModRevision:    num(t, "mod"),
			Version:        num(t, "version"),
			Value:          rapid.SliceOfN(rapid.Byte(), 0, 20000).Draw(t, "value"),
			Lease:          num(t, "lease"),
		}
		if got, want := kv.EncodedSize(), len(Marshal(&kv)); got != want {
			t.Fatalf("EncodedSize %d, encoding has %d bytes", got, want)
		}
	})
}

// Marshaling into a buffer with room allocates only the coder (one for
// both the sizing pass and the encoding): nothing per field, and no second
// coder for the sizing pass.
func TestAppendMarshalAllocatesOnlyItsCoder(t *testing.T) {
	req := &PutRequest{Key: []byte("key"), Value: make([]byte, 256), Lease: 7, PrevKv: true}
	buf := make([]byte, 0, 1024)
	allocs := testing.AllocsPerRun(100, func() {
		buf = AppendMarshal(buf[:0], req)
	})
	if allocs > 1 {
		t.Fatalf("AppendMarshal of a put into a buffer with room: %.0f allocations, want 1", allocs)
	}
	var got PutRequest
	if err := Unmarshal(buf, &got); err != nil || string(got.Key) != "key" || len(got.Value) != 256 || got.Lease != 7 || !got.PrevKv {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
}
