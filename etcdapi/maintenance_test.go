package etcdapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/cairndb/cairn/node"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestClusterAndMaintenance: member list/add/remove, status with etcd's
// fields, hashes, alarms, defragmentation, a snapshot stream whose data
// matches its SHA-256, and moving the leader.
func TestClusterAndMaintenance(t *testing.T) {
	c := startCluster(t, 3)
	ctx := ctxT(t)
	cli := etcdClient(t, c.Endpoints()...)
	must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, "k", "v"))

	// Members publish their names and client URLs through raft once
	// started: wait for the three.
	var list *clientv3.MemberListResponse
	for published := false; !published; time.Sleep(10 * time.Millisecond) {
		list = must[*clientv3.MemberListResponse](t, "member list")(cli.MemberList(ctx))
		published = len(list.Members) == 3
		for _, m := range list.Members {
			published = published && len(m.ClientURLs) == 1
		}
		if ctx.Err() != nil {
			t.Fatalf("members never all published: %+v", list.Members)
		}
	}
	for _, m := range list.Members {
		if m.Name == "" || len(m.PeerURLs) != 1 || len(m.ClientURLs) != 1 || m.IsLearner {
			t.Fatalf("member %+v", m)
		}
	}
	added := must[*clientv3.MemberAddResponse](t, "member add")(cli.MemberAddAsLearner(ctx, []string{"http://127.0.0.1:1"}))
	if !added.Member.IsLearner || added.Member.ID == 0 || len(added.Members) != 4 {
		t.Fatalf("member add as learner: %+v", added)
	}
	if _, err := cli.MemberPromote(ctx, added.Member.ID); !errors.Is(err, rpctypes.ErrMemberLearnerNotReady) {
		t.Fatalf("promote a learner that never started: %v, want %v", err, rpctypes.ErrMemberLearnerNotReady)
	}
	if _, err := cli.MemberAdd(ctx, []string{"http://127.0.0.1:1"}); !errors.Is(err, rpctypes.ErrPeerURLExist) {
		t.Fatalf("add a second member with the same peer URL: %v, want %v", err, rpctypes.ErrPeerURLExist)
	}
	removed := must[*clientv3.MemberRemoveResponse](t, "member remove")(cli.MemberRemove(ctx, added.Member.ID))
	if len(removed.Members) != 3 {
		t.Fatalf("after remove: %+v", removed.Members)
	}
	if _, err := cli.MemberRemove(ctx, added.Member.ID); !errors.Is(err, rpctypes.ErrMemberNotFound) {
		t.Fatalf("remove twice: %v, want %v", err, rpctypes.ErrMemberNotFound)
	}

	lead := c.Leader()
	leaderID := c.Servers[lead].ID()
	var revs []int64
	for i := range 3 {
		st := must[*clientv3.StatusResponse](t, "status")(cli.Status(ctx, c.Endpoint(i)))
		if st.Version != node.EtcdAPIVersion || st.Leader != leaderID || st.DbSize == 0 || st.DbSizeInUse == 0 ||
			st.RaftIndex == 0 || st.RaftAppliedIndex == 0 || st.RaftTerm == 0 || st.DbSizeQuota == 0 || st.StorageVersion == "" {
			t.Fatalf("status of member %d: %+v", i, st)
		}
		hkv := must[*clientv3.HashKVResponse](t, "hashkv")(cli.HashKV(ctx, c.Endpoint(i), 2))
		revs = append(revs, int64(hkv.Hash), hkv.HashRevision)
		// etcd's answer has no header.
		if defrag := must[*clientv3.DefragmentResponse](t, "defragment")(cli.Defragment(ctx, c.Endpoint(i))); defrag.Header != nil {
			t.Fatalf("defragment: header %+v, want none (as etcd)", defrag.Header)
		}
	}
	if revs[0] != revs[2] || revs[0] != revs[4] || revs[1] != 2 {
		t.Fatalf("hashes at revision 2 differ between members: %v", revs)
	}
	alarms := must[*clientv3.AlarmResponse](t, "alarm list")(cli.AlarmList(ctx))
	if len(alarms.Alarms) != 0 {
		t.Fatalf("alarms on a healthy cluster: %+v", alarms.Alarms)
	}

	rc, err := cli.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	body, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		t.Fatalf("snapshot of %d bytes: its SHA-256 does not match the data", len(data))
	}

	target := c.Servers[(lead+1)%3].ID()
	leaderCli := etcdClient(t, c.Endpoint(lead))
	if moved := must[*clientv3.MoveLeaderResponse](t, "move leader")(leaderCli.MoveLeader(ctx, target)); moved.Header != nil {
		t.Fatalf("move leader: header %+v, want none (as etcd)", moved.Header)
	}
	if got := c.Servers[c.Leader()].ID(); got != target {
		t.Fatalf("leader %x after moving it to %x", got, target)
	}
	if _, err := leaderCli.MoveLeader(ctx, leaderID); !errors.Is(err, rpctypes.ErrNotLeader) {
		t.Fatalf("move leader asked of a follower: %v, want %v", err, rpctypes.ErrNotLeader)
	}
}

// TestLearnerServesOnlyWhatEtcdsDoes: a learner answers its status and
// serializable reads, and sends snapshots; linearizable reads, writes and
// watches are refused
// with etcd's error, which clientv3 takes as "ask another member".
func TestLearnerServesOnlyWhatEtcdsDoes(t *testing.T) {
	c := startCluster(t, 1)
	ctx := ctxT(t)
	cli := etcdClient(t, c.Endpoints()...)
	must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, "k", "v"))
	i := c.AddMember("learner")
	must[*clientv3.MemberAddResponse](t, "member add")(cli.MemberAddAsLearner(ctx, []string{c.Configs[i].ListenPeerURLs[0].String()}))
	c.StartMember(i)
	for !c.Servers[i].IsLearner() {
		if ctx.Err() != nil {
			t.Fatal("the learner never applied its own addition")
		}
		time.Sleep(10 * time.Millisecond)
	}
	learner := etcdClient(t, c.Endpoint(i))
	must[*clientv3.StatusResponse](t, "status")(learner.Status(ctx, c.Endpoint(i)))
	for {
		r := must[*clientv3.GetResponse](t, "serializable get")(learner.Get(ctx, "k", clientv3.WithSerializable()))
		if len(r.Kvs) == 1 {
			break
		}
		time.Sleep(10 * time.Millisecond) // still catching up
	}
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := learner.Get(short, "k"); err == nil || !strings.Contains(err.Error(), rpctypes.ErrorDesc(rpctypes.ErrGRPCNotSupportedForLearner)) {
		t.Fatalf("linearizable get at a learner: %v", err)
	}
	if _, err := learner.Put(short, "k", "w"); err == nil || !strings.Contains(err.Error(), rpctypes.ErrorDesc(rpctypes.ErrGRPCNotSupportedForLearner)) {
		t.Fatalf("put at a learner: %v", err)
	}
	// A snapshot is the one stream a learner serves, as etcd's do (of
	// its own store).
	rc, err := learner.Snapshot(ctx)
	if err != nil {
		t.Fatalf("snapshot at a learner: %v", err)
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || len(data) < sha256.Size {
		t.Fatalf("snapshot at a learner: %d bytes, %v", len(data), err)
	}
	if body, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]; sha256.Sum256(body) != [sha256.Size]byte(sum) {
		t.Fatalf("snapshot of %d bytes at a learner: its SHA-256 does not match the data", len(data))
	}
	wch := learner.Watch(short, "k")
	if w := <-wch; w.Err() == nil || !strings.Contains(w.Err().Error(), rpctypes.ErrorDesc(rpctypes.ErrGRPCNotSupportedForLearner)) {
		t.Fatalf("watch at a learner: %v", w.Err())
	}
	// With a voter among its endpoints, clientv3 goes on there.
	both := etcdClient(t, c.Endpoint(i), c.Endpoint(0))
	must[*clientv3.PutResponse](t, "put through the voter")(both.Put(ctx, "k", "w"))
}

// TestStatusAndAlarmsWithoutLeader: a member that lost its quorum says
// "etcdserver: no leader" first in its status's errors, and does not
// answer alarm list (etcd's goes through its log), as etcd's members.
func TestStatusAndAlarmsWithoutLeader(t *testing.T) {
	c := startCluster(t, 3)
	ctx := ctxT(t)
	cli := etcdClient(t, c.Endpoint(0))
	must[*clientv3.AlarmResponse](t, "alarm list with a leader")(cli.AlarmList(ctx))
	c.StopMember(1)
	c.StopMember(2)
	for {
		st := must[*clientv3.StatusResponse](t, "status")(cli.Status(ctx, c.Endpoint(0)))
		if st.Leader == 0 {
			if len(st.Errors) == 0 || st.Errors[0] != "etcdserver: no leader" {
				t.Fatalf("status without a leader: errors %q, want etcd's no leader first", st.Errors)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the member kept its leader without a quorum")
		}
		time.Sleep(50 * time.Millisecond)
	}
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if r, err := cli.AlarmList(short); err == nil {
		t.Fatalf("alarm list without a quorum answered %+v", r)
	}
}
