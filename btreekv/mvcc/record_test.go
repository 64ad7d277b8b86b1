package mvcc

import (
	"errors"
	"reflect"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/btreekv/pagefile"
	"github.com/cairndb/cairn/internal/fsx"
)

func TestRecordRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		kv   api.KeyValue
		tomb bool
	}{
		{api.KeyValue{Key: []byte("k"), Value: []byte("v"), CreateRevision: 3, ModRevision: 9, Version: 4, Lease: 77}, false},
		{api.KeyValue{Key: []byte("k"), ModRevision: 10}, true},
		{api.KeyValue{Key: []byte{0, 0xff}, CreateRevision: 1, ModRevision: 1, Version: 1}, false},
	} {
		kv, tomb, err := decodeRecord(encodeRecord(tt.kv, tt.tomb))
		if err != nil || tomb != tt.tomb || !reflect.DeepEqual(kv, tt.kv) {
			t.Errorf("%+v: got %+v tomb=%v err=%v", tt.kv, kv, tomb, err)
		}
	}
}

// FuzzDecodeRecord: any bytes decode to a record that encodes back to
// the same bytes, or to an ErrCorrupt; never a panic.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(api.KeyValue{Key: []byte("k"), Value: []byte("v"), CreateRevision: 3, ModRevision: 9, Version: 4, Lease: 77}, false))
	f.Add(encodeRecord(api.KeyValue{Key: []byte("k"), ModRevision: 10}, true))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		kv, tomb, err := decodeRecord(b)
		if err != nil {
			if !errors.Is(err, pagefile.ErrCorrupt) {
				t.Fatalf("error not marked corrupt: %v", err)
			}
			return
		}
		// Varints have several encodings of one number; compare values.
		kv2, tomb2, err := decodeRecord(encodeRecord(kv, tomb))
		if err != nil || tomb2 != tomb || !reflect.DeepEqual(kv, kv2) {
			t.Fatalf("re-encoding changed the record: %+v -> %+v (%v)", kv, kv2, err)
		}
	})
}

// TestReadResultsBelongToTheCaller: changing a value a read returned
// does not change what the store holds.
func TestReadResultsBelongToTheCaller(t *testing.T) {
	s := openMem(t, fsx.NewMem(), 1)
	_, _ = s.Put(1, 1, &api.PutRequest{Key: []byte("k"), Value: []byte("value")})
	_ = s.Commit()
	for range 2 {
		res, err := s.Range([]byte("k"), nil, RangeOptions{})
		if err != nil || len(res.KVs) != 1 || string(res.KVs[0].Value) != "value" {
			t.Fatalf("read %v, %v", res, err)
		}
		res.KVs[0].Value[0] = 'X'
		res.KVs[0].Key[0] = 'X'
	}
}
