package main

import (
	"testing"

	"github.com/cairndb/cairn/api"
)

// What TestFormatsMatchEtcdctl cannot bring about with the real etcdctl:
// responses a single member does not give, and lines printed alike in
// every format.
func TestPrintEtcdFormats(t *testing.T) {
	header := api.ResponseHeader{ClusterID: 0x1f, MemberID: 0xa, Revision: 5, RaftTerm: 2}
	tests := []struct {
		name, format string
		hex          bool
		print        func(p *printer)
		want         string
	}{
		{"member list hex, an unstarted member", formatJSON, true, func(p *printer) {
			p.memberList(&api.MemberListResponse{Header: header, Members: []api.Member{
				{ID: 0xa, Name: "m\"0", PeerURLs: []string{"http://a:1"}, ClientURLs: []string{"http://a:2"}},
				{ID: 0xb, PeerURLs: []string{"http://b:1"}, IsLearner: true}}})
		}, `{"header":{"cluster_id":"1f","member_id":"a","raft_term":2},"members":[{"ID":"a","name":"m\"0","peerURLs":["http://a:1"],"clientURLs":["http://a:2"]},{"ID":"b","name":"","peerURLs":["http://b:1"],"clientURLs":null}]}` + "\n"},
		{"member list hex, no members", formatJSON, true, func(p *printer) { p.memberList(&api.MemberListResponse{Header: header}) },
			`{"header":{"cluster_id":"1f","member_id":"a","raft_term":2}}` + "\n"},
		{"member list", formatJSON, false, func(p *printer) { p.memberList(&api.MemberListResponse{Header: header}) },
			`{"header":{"cluster_id":31,"member_id":10,"raft_term":2}}` + "\n"},
		{"no endpoint answered", formatJSON, false, func(p *printer) { p.endpointStatus(nil) }, "null\n"},
		{"no endpoint hashed", formatJSON, false, func(p *printer) { p.endpointHashKV(nil) }, "null\n"},
		{"nested txn", formatFields, false, func(p *printer) {
			p.txn(&api.TxnResponse{Header: header, Succeeded: true, Responses: []api.ResponseOp{
				{Txn: &api.TxnResponse{Header: api.ResponseHeader{Revision: 5}, Succeeded: true}}}})
		}, "\"ClusterID\" : 31\n\"MemberID\" : 10\n\"Revision\" : 5\n\"RaftTerm\" : 2\n\"Succeeded\" : true\n" +
			"\"Unknown\" : \"&{ResponseTxn:header:<revision:5 > succeeded:true }\"\n"},
		{"alarms hex", formatFields, true, func(p *printer) {
			p.alarms(&api.AlarmResponse{Header: header, Alarms: []api.AlarmMember{{MemberID: 0xa, Alarm: api.AlarmNoSpace}}})
		}, "\"ClusterID\" : 1f\n\"MemberID\" : a\n\"Revision\" : 5\n\"RaftTerm\" : 2\n\"MemberID\" : a\n\"AlarmType\" : NOSPACE\n\n"},
		{"lease grant hex", formatFields, true, func(p *printer) { p.leaseGrant(&api.LeaseGrantResponse{Header: header, ID: 0x694d, TTL: 10}) },
			"\"ClusterID\" : 1f\n\"MemberID\" : a\n\"Revision\" : 5\n\"RaftTerm\" : 2\n\"ID\" : 000000000000694d\n\"TTL\" : 10\n"},
		{"leader", formatJSON, false, func(p *printer) {
			p.leader(&api.KeyValue{Key: []byte("el/1"), Value: []byte("v"), CreateRevision: 3, ModRevision: 3, Version: 1})
		},
			`{"kvs":[{"key":"ZWwvMQ==","create_revision":3,"mod_revision":3,"version":1,"value":"dg=="}],"count":1}` + "\n"},
		{"compaction", formatJSON, false, func(p *printer) { p.compaction(12) }, "compacted revision 12\n"},
		{"snapshot saved", formatProtobuf, false, func(p *printer) { p.snapshotSaved("s.db") }, "Snapshot saved at s.db\n"},
	}
	for _, tt := range tests {
		p, out := newTestPrinter(tt.format)
		p.hex = tt.hex
		tt.print(p)
		if p.err != nil || out.String() != tt.want {
			t.Errorf("%s: printed (error %v)\n%s\nwant\n%s", tt.name, p.err, out.String(), tt.want)
		}
	}
}
