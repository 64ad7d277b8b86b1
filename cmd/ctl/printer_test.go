package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/client"
	"github.com/cairndb/cairn/internal/restore"
)

func newTestPrinter(format string) (*printer, *bytes.Buffer) {
	var b bytes.Buffer
	return &printer{out: &b, format: format}, &b
}

func kv(k, v string) api.KeyValue {
	return api.KeyValue{Key: []byte(k), Value: []byte(v), CreateRevision: 2, ModRevision: 3, Version: 1}
}

func TestPrintKV(t *testing.T) {
	resp := &api.RangeResponse{Kvs: []api.KeyValue{kv("a", "1"), kv("b", "two")}, Count: 2}
	tests := []struct {
		name  string
		setup func(p *printer)
		count bool
		want  string
	}{
		{"plain", func(*printer) {}, false, "a\n1\nb\ntwo\n"},
		{"hex", func(p *printer) { p.hex = true }, false, "\\x61\n\\x31\n\\x62\n\\x74\\x77\\x6f\n"},
		{"value only", func(p *printer) { p.valueOnly = true }, false, "1\ntwo\n"},
		{"keys only", func(p *printer) { p.keysOnly = true }, false, "a\nb\n"},
		{"count only", func(*printer) {}, true, "2\n"},
	}
	for _, tt := range tests {
		p, out := newTestPrinter(formatSimple)
		tt.setup(p)
		p.get(resp, tt.count)
		if out.String() != tt.want {
			t.Errorf("%s: printed %q; want %q", tt.name, out.String(), tt.want)
		}
	}
	// The table format: TestPrintGetTable.
}

func TestPrintWrites(t *testing.T) {
	prev := kv("k", "old")
	tests := []struct {
		name  string
		print func(p *printer)
		want  string
	}{
		{"put", func(p *printer) { p.put(&api.PutResponse{}) }, "OK\n"},
		{"put prev-kv", func(p *printer) { p.put(&api.PutResponse{PrevKv: &prev}) }, "OK\nk\nold\n"},
		{"del", func(p *printer) { p.del(&api.DeleteRangeResponse{Deleted: 3}) }, "3\n"},
		{"del prev-kv", func(p *printer) {
			p.del(&api.DeleteRangeResponse{Deleted: 1, PrevKvs: []api.KeyValue{prev}})
		}, "1\nk\nold\n"},
		{"compaction", func(p *printer) { p.compaction(12) }, "compacted revision 12\n"},
		{"txn", func(p *printer) {
			p.txn(&api.TxnResponse{Succeeded: true, Responses: []api.ResponseOp{
				{Put: &api.PutResponse{}},
				{Range: &api.RangeResponse{Kvs: []api.KeyValue{kv("k", "v")}, Count: 1}},
				{DeleteRange: &api.DeleteRangeResponse{Deleted: 2}},
			}})
		}, "SUCCESS\n\nOK\n\nk\nv\n\n2\n"},
		{"txn failure", func(p *printer) { p.txn(&api.TxnResponse{}) }, "FAILURE\n"},
		{"watch", func(p *printer) {
			p.watch(&client.WatchResponse{Events: []api.Event{
				{Type: api.EventPut, Kv: kv("k", "new"), PrevKv: &prev},
				{Type: api.EventDelete, Kv: api.KeyValue{Key: []byte("k")}},
			}})
		}, "PUT\nk\nold\nk\nnew\nDELETE\nk\n\n"},
	}
	for _, tt := range tests {
		p, out := newTestPrinter(formatSimple)
		tt.print(p)
		if out.String() != tt.want {
			t.Errorf("%s: printed %q; want %q", tt.name, out.String(), tt.want)
		}
	}
}

func TestPrintLeases(t *testing.T) {
	tests := []struct {
		name  string
		print func(p *printer)
		want  string
	}{
		{"grant", func(p *printer) { p.leaseGrant(&api.LeaseGrantResponse{ID: 0x694d5765fc71500b, TTL: 10}) },
			"lease 694d5765fc71500b granted with TTL(10s)\n"},
		{"revoke", func(p *printer) { p.leaseRevoke(0x1f, &api.LeaseRevokeResponse{}) }, "lease 000000000000001f revoked\n"},
		{"ttl", func(p *printer) {
			p.timeToLive(&api.LeaseTimeToLiveResponse{ID: 1, TTL: 8, GrantedTTL: 10, Keys: [][]byte{[]byte("a"), []byte("b")}}, false)
		}, "lease 0000000000000001 granted with TTL(10s), remaining(8s)\n"},
		{"ttl keys", func(p *printer) {
			p.timeToLive(&api.LeaseTimeToLiveResponse{ID: 1, TTL: 8, GrantedTTL: 10, Keys: [][]byte{[]byte("a"), []byte("b")}}, true)
		}, "lease 0000000000000001 granted with TTL(10s), remaining(8s), attached keys([a b])\n"},
		{"ttl expired", func(p *printer) { p.timeToLive(&api.LeaseTimeToLiveResponse{ID: 1, TTL: -1}, true) },
			"lease 0000000000000001 already expired\n"},
		{"list", func(p *printer) { p.leases(&api.LeaseLeasesResponse{Leases: []api.LeaseStatus{{ID: 1}, {ID: 2}}}) },
			"found 2 leases\n0000000000000001\n0000000000000002\n"},
		{"keep-alive", func(p *printer) { p.keepAlive(&api.LeaseKeepAliveResponse{ID: 2, TTL: 9}) },
			"lease 0000000000000002 keepalived with TTL(9)\n"},
	}
	for _, tt := range tests {
		p, out := newTestPrinter(formatSimple)
		tt.print(p)
		if out.String() != tt.want {
			t.Errorf("%s: printed %q; want %q", tt.name, out.String(), tt.want)
		}
	}
}

func TestPrintMembers(t *testing.T) {
	members := []api.Member{
		{ID: 0xa, Name: "m0", PeerURLs: []string{"http://127.0.0.1:2380"}, ClientURLs: []string{"http://127.0.0.1:2379"}},
		{ID: 0xb, PeerURLs: []string{"http://127.0.0.1:2480"}, IsLearner: true},
	}
	p, out := newTestPrinter(formatSimple)
	p.memberList(&api.MemberListResponse{Members: members})
	want := "000000000000000a, started, m0, http://127.0.0.1:2380, http://127.0.0.1:2379, false\n" +
		"000000000000000b, unstarted, , http://127.0.0.1:2480, , true\n"
	if out.String() != want {
		t.Errorf("member list printed %q; want %q", out.String(), want)
	}
	p, out = newTestPrinter(formatTable)
	p.memberList(&api.MemberListResponse{Members: members[:1]})
	want = "+------------------+---------+------+-----------------------+-----------------------+------------+\n" +
		"| ID               | STATUS  | NAME | PEER ADDRS            | CLIENT ADDRS          | IS LEARNER |\n" +
		"+------------------+---------+------+-----------------------+-----------------------+------------+\n" +
		"| 000000000000000a | started | m0   | http://127.0.0.1:2380 | http://127.0.0.1:2379 | false      |\n" +
		"+------------------+---------+------+-----------------------+-----------------------+------------+\n"
	if out.String() != want {
		t.Errorf("member list table:\n%s\nwant:\n%s", out.String(), want)
	}

	p, out = newTestPrinter(formatSimple)
	added := api.Member{ID: 0xc, PeerURLs: []string{"http://127.0.0.1:2580"}}
	p.memberAdd("m2", &api.MemberAddResponse{Header: api.ResponseHeader{ClusterID: 0xfeed}, Member: added,
		Members: append(append([]api.Member(nil), members...), added)})
	want = "Member 000000000000000c added to cluster 000000000000feed\n\n" +
		"Start it with these flags of cmd/node, and the cluster's --initial-cluster-token:\n" +
		"--name=m2\n" +
		"--initial-cluster=m0=http://127.0.0.1:2380,m2=http://127.0.0.1:2580\n" +
		"--initial-advertise-peer-urls=http://127.0.0.1:2580\n" +
		"--initial-cluster-state=existing\n"
	if out.String() != want {
		t.Errorf("member add printed:\n%s\nwant:\n%s", out.String(), want)
	}

	p, out = newTestPrinter(formatSimple)
	p.memberChanged(0xb, "removed from", api.ResponseHeader{ClusterID: 0xfeed}, nil)
	if want := "Member 000000000000000b removed from cluster 000000000000feed\n"; out.String() != want {
		t.Errorf("member remove printed %q; want %q", out.String(), want)
	}
}

func TestPrintEndpoints(t *testing.T) {
	st := endpointStatus{"127.0.0.1:2379", &api.StatusResponse{Header: api.ResponseHeader{MemberID: 0xa}, Version: "0.1.0",
		StorageVersion: "3.6.0", DbSize: 25000, DbSizeInUse: 20000, DbSizeQuota: 2 << 30, Leader: 0xa,
		RaftTerm: 2, RaftIndex: 8, RaftAppliedIndex: 7, Errors: []string{"NOSPACE"}}}
	p, out := newTestPrinter(formatSimple)
	p.endpointStatus([]endpointStatus{st})
	if want := "127.0.0.1:2379, 000000000000000a, 0.1.0, 3.6.0, 25 kB, 20 kB, 20%, 2.1 GB, true, false, 2, 8, 7, NOSPACE, , false\n"; out.String() != want {
		t.Errorf("status printed %q; want %q", out.String(), want)
	}
	p, out = newTestPrinter(formatTable)
	p.endpointStatus([]endpointStatus{st})
	if !strings.Contains(out.String(), "| ENDPOINT       | ID               | VERSION | STORAGE VERSION | DB SIZE | IN USE | PERCENTAGE NOT IN USE | QUOTA  | IS LEADER | IS LEARNER | RAFT TERM | RAFT INDEX | RAFT APPLIED INDEX | ERRORS  | DOWNGRADE TARGET VERSION | DOWNGRADE ENABLED |") ||
		!strings.Contains(out.String(), "| 127.0.0.1:2379 | 000000000000000a | 0.1.0   | 3.6.0           | 25 kB   | 20 kB  | 20%                   | 2.1 GB | true      | false      | 2         | 8          | 7                  | NOSPACE |                          | false             |") {
		t.Errorf("status table:\n%s", out.String())
	}
	for _, tt := range []struct {
		size, inUse int64
		want        string
	}{{0, 0, "0%"}, {100, 100, "0%"}, {100, 1, "99%"}, {3, 1, "67%"}, {-1, 0, "0%"}} {
		if got := percentFree(tt.size, tt.inUse); got != tt.want {
			t.Errorf("percentFree(%d, %d) = %q; want %q", tt.size, tt.inUse, got, tt.want)
		}
	}

	var stderr bytes.Buffer
	p, out = newTestPrinter(formatSimple)
	p.endpointHealth([]endpointHealth{{Endpoint: "a:1", Health: true, Took: "2.1ms"}, {Endpoint: "b:2", Error: "timed out"}}, &stderr)
	if want := "a:1 is healthy: successfully committed proposal: took = 2.1ms\n"; out.String() != want {
		t.Errorf("health printed %q; want %q", out.String(), want)
	}
	if want := "b:2 is unhealthy: failed to commit proposal: timed out\n"; stderr.String() != want {
		t.Errorf("health printed %q on stderr; want %q", stderr.String(), want)
	}

	p, out = newTestPrinter(formatSimple)
	p.endpointHashKV([]endpointHash{{"a:1", &api.HashKVResponse{Hash: 42, HashRevision: 9, CompactRevision: 3}}})
	if want := "a:1, 42, 9, 3\n"; out.String() != want {
		t.Errorf("hashkv printed %q; want %q", out.String(), want)
	}
}

func TestPrintAlarmsAndSnapshot(t *testing.T) {
	p, out := newTestPrinter(formatSimple)
	p.alarms(&api.AlarmResponse{Alarms: []api.AlarmMember{{MemberID: 0xa, Alarm: api.AlarmNoSpace}}})
	if want := "memberID:000000000000000a alarm:NOSPACE\n"; out.String() != want {
		t.Errorf("alarms printed %q; want %q", out.String(), want)
	}
	p, out = newTestPrinter(formatSimple)
	p.snapshotStatus(snapshotStatus{SHA256: "ab12", Revision: 9, TotalKey: 4, TotalSize: 2_100_000, Format: restore.FormatEtcd})
	if want := "ab12, 9, 4, 2.1 MB, etcd\n"; out.String() != want {
		t.Errorf("snapshot status printed %q; want %q", out.String(), want)
	}
}

func TestPrintGetTable(t *testing.T) {
	resp := &api.RangeResponse{Count: 2, Kvs: []api.KeyValue{
		{Key: []byte("a"), Value: []byte("1"), CreateRevision: 2, ModRevision: 5, Version: 3, Lease: 0x42},
		{Key: []byte("b"), Value: []byte("two\nlines"), CreateRevision: 4, ModRevision: 4, Version: 1},
	}}
	tests := []struct {
		name                string
		valueOnly, keysOnly bool
		countOnly           bool
		want                string
	}{
		{"keys and values", false, false, false, "" +
			"+-----+--------------+-----------------+--------------+---------+------------------+\n" +
			"| KEY | VALUE        | CREATE REVISION | MOD REVISION | VERSION | LEASE            |\n" +
			"+-----+--------------+-----------------+--------------+---------+------------------+\n" +
			"| a   | 1            | 2               | 5            | 3       | 0000000000000042 |\n" +
			"| b   | \"two\\nlines\" | 4               | 4            | 1       |                  |\n" +
			"+-----+--------------+-----------------+--------------+---------+------------------+\n"},
		{"keys only", false, true, false, "+-----+\n| KEY |\n+-----+\n| a   |\n| b   |\n+-----+\n"},
		{"values only", true, false, false, "+--------------+\n| VALUE        |\n+--------------+\n| 1            |\n| \"two\\nlines\" |\n+--------------+\n"},
		{"count only", false, false, true, "+-------+\n| COUNT |\n+-------+\n| 2     |\n+-------+\n"},
	}
	for _, tt := range tests {
		p, out := newTestPrinter(formatTable)
		p.valueOnly, p.keysOnly = tt.valueOnly, tt.keysOnly
		p.get(resp, tt.countOnly)
		if out.String() != tt.want {
			t.Errorf("%s: printed\n%s\nwant\n%s", tt.name, out.String(), tt.want)
		}
	}
}

func TestHumanBytes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {999, "999 B"}, {1000, "1.0 kB"}, {1500, "1.5 kB"}, {25_000, "25 kB"}, {999_499, "999 kB"},
		{999_999, "1.0 MB"}, {2_100_000, "2.1 MB"}, {5_000_000_000, "5.0 GB"}, {1 << 62, "4.6 EB"},
	}
	for _, tt := range tests {
		if got := humanBytes(tt.n); got != tt.want {
			t.Errorf("humanBytes(%d) = %q; want %q", tt.n, got, tt.want)
		}
	}
}

func TestRenderTableWidths(t *testing.T) {
	got := renderTable([]string{"A", "LONG HEADER"}, [][]string{{"wide cell", "x"}, {"é", ""}})
	want := "+-----------+-------------+\n" +
		"| A         | LONG HEADER |\n" +
		"+-----------+-------------+\n" +
		"| wide cell | x           |\n" +
		"| é         |             |\n" +
		"+-----------+-------------+\n"
	if got != want {
		t.Errorf("renderTable:\n%s\nwant:\n%s", got, want)
	}
}

// failWriter fails every write.
type failWriter struct{}

// Write fails.
func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestPrinterKeepsFirstWriteError(t *testing.T) {
	p := &printer{out: failWriter{}, format: formatSimple}
	p.put(&api.PutResponse{})
	p.del(&api.DeleteRangeResponse{})
	if p.err == nil || p.err.Error() != "broken pipe" {
		t.Errorf("printer error %v; want broken pipe", p.err)
	}
}
