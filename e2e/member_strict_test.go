package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// TestMemberChangesNeedStartedMembersAsEtcd: etcd 3.6's strict
// reconfiguration check refuses a membership change after which the
// started voters (those that have published their names) would be fewer
// than a quorum ("re-configuration failed due to not enough started
// members"). On a three-member etcd and a three-member cairn, voters that
// never start are added until one more would leave the started ones
// short of a quorum, a started voter is removed (refused), then an
// unstarted one (made), and the answers are compared. Without the check,
// cairn took the sixth voter, and its cluster, whose three started
// members were no longer a quorum, answered nothing more.
//
// etcd also refuses a change unless this member has been connected for 5 s
// to a quorum of the voters (the new one counted as not connected),
// "unhealthy cluster": cairn does not make that check, and the steps here
// are ones the started members decide (etcd's check of them comes first).
func TestMemberChangesNeedStartedMembersAsEtcd(t *testing.T) {
	etcdEPs := startEtcd3(t)
	c := startCluster3(t)
	var cairnEPs []string
	for _, ep := range c.eps {
		cairnEPs = append(cairnEPs, "http://"+ep)
	}
	// etcd's connectivity check wants its peers connected for 5 s.
	time.Sleep(6 * time.Second)
	run := func(side string, eps []string, port func() int) []string {
		cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		var lines []string
		var added []uint64
		add := func(name string) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			resp, err := cli.MemberAdd(ctx, []string{fmt.Sprintf("http://127.0.0.1:%d", port())})
			if err == nil {
				added = append(added, resp.Member.ID)
			}
			lines = append(lines, fmt.Sprintf("add voter %s: %v", name, err))
		}
		remove := func(name string, id uint64) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := cli.MemberRemove(ctx, id)
			lines = append(lines, fmt.Sprintf("remove %s: %v", name, err))
		}
		add("m4") // 4 voters, 3 started
		add("m5") // 5 voters, 3 started
		add("m6") // 6 voters, 3 started: refused
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		list, err := cli.MemberList(ctx)
		cancel()
		if err != nil {
			t.Fatalf("%s: member list after the adds: %v (lines so far: %q)", side, err, lines)
		}
		var started uint64
		for _, m := range list.Members {
			if m.Name != "" && m.ID != list.Header.MemberId {
				started = m.ID
			}
		}
		lines = append(lines, fmt.Sprintf("members: %d", len(list.Members)))
		remove("a started voter", started) // 4 voters left, 2 started: refused
		if len(added) > 0 {
			remove("m4", added[0]) // 4 voters left, 3 started
		}
		add("m6 again") // 5 voters, 3 started
		ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
		_, err = cli.Put(ctx, "after", "the changes")
		cancel()
		lines = append(lines, fmt.Sprintf("put: %v", err))
		return lines
	}
	want := run("etcd", etcdEPs, func() int { return freePort(t) })
	got := run("cairn", cairnEPs, func() int { return freePort(t) })
	t.Logf("etcd:\n%s", strings.Join(want, "\n"))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("cairn:\n%s\netcd:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// startEtcd3 starts a three-member etcd 3.6 on loopback ports and returns
// its client URLs once every member answers.
func startEtcd3(t *testing.T) []string {
	t.Helper()
	etcdBin, _ := etcdBinaries(t)
	var clients, peers, initial []string
	for i := range 3 {
		clients = append(clients, fmt.Sprintf("http://127.0.0.1:%d", freePort(t)))
		peers = append(peers, fmt.Sprintf("http://127.0.0.1:%d", freePort(t)))
		initial = append(initial, fmt.Sprintf("e%d=%s", i+1, peers[i]))
	}
	dir := t.TempDir()
	var servers []*etcdServer
	for i := range 3 {
		name := fmt.Sprintf("e%d", i+1)
		e := &etcdServer{t: t, stderr: &syncBuffer{}, done: make(chan error, 1), endpoint: clients[i]}
		e.cmd = exec.Command(etcdBin, "--name", name, "--data-dir", filepath.Join(dir, name+".etcd"),
			"--listen-client-urls", clients[i], "--advertise-client-urls", clients[i],
			"--listen-peer-urls", peers[i], "--initial-advertise-peer-urls", peers[i],
			"--initial-cluster", strings.Join(initial, ","), "--log-level", "warn", "--unsafe-no-fsync")
		e.cmd.Stderr = e.stderr
		if err := e.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { e.done <- e.cmd.Wait() }()
		t.Cleanup(e.stop)
		servers = append(servers, e)
	}
	for _, e := range servers {
		e.waitServing()
	}
	return clients
}
