package client

import (
	"bytes"
	"errors"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/rpc"
)

func TestParseEndpoint(t *testing.T) {
	for _, tc := range []struct {
		in      string
		addr    string
		tls, ok bool
	}{
		{"127.0.0.1:2379", "127.0.0.1:2379", false, true},
		{"http://10.0.0.1:2379", "10.0.0.1:2379", false, true},
		{"https://node-a:2379", "node-a:2379", true, true},
		{"[::1]:2379", "[::1]:2379", false, true},
		{"localhost", "", false, false},
		{"ftp://h:1", "", false, false},
	} {
		addr, useTLS, err := ParseEndpoint(tc.in)
		if (err == nil) != tc.ok || addr != tc.addr || useTLS != tc.tls {
			t.Errorf("ParseEndpoint(%q) = %q, %v, %v", tc.in, addr, useTLS, err)
		}
	}
}

func TestPrefixEnd(t *testing.T) {
	for _, tc := range []struct{ in, want []byte }{
		{[]byte("a"), []byte("b")},
		{[]byte("a\xff"), []byte("b")},
		{[]byte("ab"), []byte("ac")},
		{[]byte("\xff\xff"), []byte{0}},
		{nil, []byte{0}},
	} {
		if got := PrefixEnd(tc.in); !bytes.Equal(got, tc.want) {
			t.Errorf("PrefixEnd(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestOpRanges(t *testing.T) {
	for _, tc := range []struct {
		op       Op
		key, end string
	}{
		{OpGet("k"), "k", ""},
		{OpGet("k", WithPrefix()), "k", "l"},
		{OpGet("", WithPrefix()), "\x00", "\x00"},
		{OpGet("k", WithFromKey()), "k", "\x00"},
		{OpGet("a", WithRange("c")), "a", "c"},
		{OpDelete("p/", WithPrefix()), "p/", "p0"},
	} {
		r := tc.op.rangeRequest()
		if string(r.Key) != tc.key || string(r.RangeEnd) != tc.end {
			t.Errorf("range [%q, %q), want [%q, %q)", r.Key, r.RangeEnd, tc.key, tc.end)
		}
	}
}

func TestCompareBuildsTheRightOperand(t *testing.T) {
	c := Compare(ModRevision("k"), ">", 5)
	if c.Target != api.CompareMod || c.Result != api.CompareGreater || c.ModRevision != 5 {
		t.Fatalf("%+v", c)
	}
	c = Compare(Value("k"), "!=", "v")
	if c.Target != api.CompareValue || c.Result != api.CompareNotEqual || string(c.Value) != "v" {
		t.Fatalf("%+v", c)
	}
	c = Compare(Version("k"), "=", int64(0)).WithPrefix()
	if c.Version != 0 || string(c.RangeEnd) != "l" {
		t.Fatalf("%+v", c)
	}
	txn := OpTxn([]Cmp{c}, []Op{OpPut("k", "v", WithLease(7))}, []Op{OpGet("k")}).txnRequest()
	if len(txn.Compare) != 1 || txn.Success[0].Put.Lease != 7 || txn.Failure[0].Range == nil {
		t.Fatalf("%+v", txn)
	}
}

// Errors carrying an API code become the API's typed errors, so callers
// test them with errors.Is.
func TestToError(t *testing.T) {
	err := toError(&rpc.Error{Code: rpc.Code(api.CodeCompacted), Message: "compacted at 5"})
	if !errors.Is(err, api.ErrCompacted) {
		t.Fatalf("%v is not ErrCompacted", err)
	}
	unavailable := &rpc.Error{Code: rpc.CodeUnavailable, Message: "down"}
	if err := toError(unavailable); err != error(unavailable) {
		t.Fatalf("transport error changed to %v", err)
	}
	if !retryElsewhere(&rpc.Error{Code: rpc.Code(api.CodeNotLeader)}) || retryElsewhere(unavailable) || !retryRead(unavailable) {
		t.Fatal("retry predicates")
	}
}
