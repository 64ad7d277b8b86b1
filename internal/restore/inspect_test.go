package restore

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cairndb/cairn/internal/datadir"
)

// TestInspect: an etcd snapshot and a cairn store are described as a
// restore would describe them, and anything else is refused with a reason,
// the file left as it was.
func TestInspect(t *testing.T) {
	dir := t.TempDir()
	etcdSnap := filepath.Join(dir, "etcd.db")
	sampleStore().write(t, etcdSnap, true)
	dataDir := filepath.Join(dir, "m1.node")
	if _, err := Snapshot(etcdSnap, testMember(t, dataDir), Options{}); err != nil {
		t.Fatal(err)
	}
	cairnSnap := filepath.Join(dataDir, datadir.MemberDir, datadir.DBFile)
	raw, err := os.ReadFile(etcdSnap)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	flipped := append([]byte(nil), raw...)
	flipped[len(flipped)/2] ^= 0x10
	want := Report{Revision: 7, Keys: 3, Leases: 2, Users: 3, Roles: 2, AuthEnabled: true}
	tests := []struct {
		name, path string
		format     Format
		wantErr    string
	}{
		{"etcd", etcdSnap, FormatEtcd, ""},
		{"cairn", cairnSnap, FormatCairn, ""},
		{"text", write("notes.txt", []byte("not a snapshot\n")), "", "neither a cairn snapshot nor an etcd one"},
		{"empty", write("empty.db", nil), "", "is empty, not a snapshot"},
		{"damaged etcd", write("flipped.db", flipped), "", "etcd snapshot is damaged"},
		{"missing", filepath.Join(dir, "nope.db"), "", "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := os.ReadFile(tt.path)
			rep, err := Inspect(tt.path, Options{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Inspect: %v; want an error containing %q", err, tt.wantErr)
				}
			} else {
				w := want
				w.Format = tt.format
				if err != nil || !reflect.DeepEqual(rep, w) {
					t.Fatalf("Inspect: %+v %v; want %+v", rep, err, w)
				}
			}
			if after, _ := os.ReadFile(tt.path); string(after) != string(before) {
				t.Fatal("Inspect changed the file")
			}
		})
	}
}
