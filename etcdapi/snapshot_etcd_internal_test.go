package etcdapi

import (
	"bytes"
	"crypto/sha256"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// snapshotRecorder keeps what a snapshot stream sends.
type snapshotRecorder struct {
	pb.Maintenance_SnapshotServer
	sent []*pb.SnapshotResponse
}

func (r *snapshotRecorder) Send(m *pb.SnapshotResponse) error {
	m.Blob = bytes.Clone(m.Blob)
	r.sent = append(r.sent, m)
	return nil
}

// TestSnapshotChunksAsEtcd: the database goes in chunks of 32 KiB, each
// with the database bytes still to come, then the checksum alone with 0
// remaining, none with a header, as etcd streams a snapshot, however the
// bytes are written.
func TestSnapshotChunksAsEtcd(t *testing.T) {
	for _, tt := range []struct {
		db     int
		writes int // bytes per Write
		want   [][2]int
	}{
		{db: 70000, writes: 1 << 20, want: [][2]int{{32768, 37232}, {32768, 4464}, {4464, 0}, {32, 0}}},
		{db: 70000, writes: 1000, want: [][2]int{{32768, 37232}, {32768, 4464}, {4464, 0}, {32, 0}}},
		{db: 65536, writes: 4096, want: [][2]int{{32768, 32768}, {32768, 0}, {32, 0}}},
		{db: 100, writes: 7, want: [][2]int{{100, 0}, {32, 0}}},
	} {
		db := bytes.Repeat([]byte{'d'}, tt.db)
		sum := sha256.Sum256(db)
		all := append(bytes.Clone(db), sum[:]...)
		rec := &snapshotRecorder{}
		s := &etcdSnapshotSender{st: rec, data: uint64(tt.db), left: uint64(tt.db)}
		for p := all; len(p) > 0; {
			n := min(len(p), tt.writes)
			if _, err := s.Write(p[:n]); err != nil {
				t.Fatal(err)
			}
			p = p[n:]
		}
		if err := s.flush(); err != nil {
			t.Fatal(err)
		}
		var got [][2]int
		var blob []byte
		for _, m := range rec.sent {
			if m.Header != nil || m.Version == "" {
				t.Fatalf("db %d: a response with header %v, version %q; want none and a version", tt.db, m.Header, m.Version)
			}
			got = append(got, [2]int{len(m.Blob), int(m.RemainingBytes)})
			blob = append(blob, m.Blob...)
		}
		if !bytes.Equal(blob, all) || len(got) != len(tt.want) {
			t.Fatalf("db %d written %d at a time: chunks (size, remaining) %v, want %v", tt.db, tt.writes, got, tt.want)
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Fatalf("db %d written %d at a time: chunks (size, remaining) %v, want %v", tt.db, tt.writes, got, tt.want)
			}
		}
	}
}
