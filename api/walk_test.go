package api

import (
	"fmt"
	"reflect"
	"testing"
)

func TestRequestOpRequest(t *testing.T) {
	r, p, d, x := &RangeRequest{}, &PutRequest{}, &DeleteRangeRequest{}, &TxnRequest{}
	for _, c := range []struct {
		op   RequestOp
		want Message
	}{{RequestOp{Range: r}, r}, {RequestOp{Put: p}, p}, {RequestOp{DeleteRange: d}, d}, {RequestOp{Txn: x}, x}, {RequestOp{}, nil}} {
		if got := c.op.Request(); got != c.want {
			t.Errorf("%+v.Request() = %v, want %v", c.op, got, c.want)
		}
	}
}

// describe names a request by kind and key, for comparing walks.
func describe(m Message) string {
	switch r := m.(type) {
	case *RangeRequest:
		return "range " + string(r.Key)
	case *PutRequest:
		return "put " + string(r.Key)
	case *DeleteRangeRequest:
		return "delete " + string(r.Key)
	case *TxnRequest:
		return "txn"
	case *RangeResponse:
		return fmt.Sprintf("range %d", r.Count)
	case *PutResponse:
		return "put"
	case *TxnResponse:
		return "txn"
	}
	return fmt.Sprintf("%T", m)
}

func TestTxnRequestOpsWalksNestedDepthFirst(t *testing.T) {
	txn := &TxnRequest{
		Success: []RequestOp{
			{Put: &PutRequest{Key: []byte("a")}},
			{Txn: &TxnRequest{
				Success: []RequestOp{{Range: &RangeRequest{Key: []byte("b")}}},
				Failure: []RequestOp{{DeleteRange: &DeleteRangeRequest{Key: []byte("c")}}, {}},
			}},
			{Range: &RangeRequest{Key: []byte("d")}},
		},
		Failure: []RequestOp{{DeleteRange: &DeleteRangeRequest{Key: []byte("e")}}},
	}
	var got []string
	for m := range txn.Ops() {
		got = append(got, describe(m))
	}
	want := []string{"put a", "txn", "range b", "delete c", "range d", "delete e"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("walk %v, want %v", got, want)
	}
	// Stopping early stops the nested walk too.
	got = nil
	for m := range txn.Ops() {
		got = append(got, describe(m))
		if describe(m) == "range b" {
			break
		}
	}
	if want := []string{"put a", "txn", "range b"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("walk stopped at range b: %v, want %v", got, want)
	}
}

func TestTxnResponseOpsWalksNested(t *testing.T) {
	resp := &TxnResponse{Responses: []ResponseOp{
		{Range: &RangeResponse{Count: 1}},
		{Txn: &TxnResponse{Responses: []ResponseOp{{Put: &PutResponse{}}, {Range: &RangeResponse{Count: 2}}}}},
		{},
	}}
	var got []string
	for m := range resp.Ops() {
		got = append(got, describe(m))
	}
	if want := []string{"range 1", "txn", "put", "range 2"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("walk %v, want %v", got, want)
	}
}

func TestKeyRanges(t *testing.T) {
	op := RequestOp{Txn: &TxnRequest{
		Compare: []Compare{{Key: []byte("c0"), RangeEnd: []byte("c9")}},
		Success: []RequestOp{
			{Put: &PutRequest{Key: []byte("p")}},
			{Txn: &TxnRequest{
				Compare: []Compare{{Key: []byte("n")}},
				Failure: []RequestOp{{DeleteRange: &DeleteRangeRequest{Key: []byte("d"), RangeEnd: []byte("e")}}},
			}},
		},
		Failure: []RequestOp{{Range: &RangeRequest{Key: []byte("r"), RangeEnd: []byte{0}}}},
	}}
	var got []string
	for k, end := range op.KeyRanges() {
		got = append(got, fmt.Sprintf("%s-%q", k, end))
	}
	want := []string{`c0-"c9"`, `p-""`, `n-""`, `d-"e"`, `r-"\x00"`}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("key ranges %v, want %v", got, want)
	}
	for range (RequestOp{}).KeyRanges() {
		t.Fatal("an empty op has a key range")
	}
	n := 0
	for range op.KeyRanges() {
		n++
		break
	}
	if n != 1 {
		t.Fatal("break did not stop the walk")
	}
}
