package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cairndb/cairn/client"
)

// TestMirrorFromEtcd runs ctl mirror from a live etcd into a cairn
// member: the keys under the prefix are copied (under the destination
// prefix), then the changes made in etcd afterwards reach cairn, until
// Ctrl-C stops the mirror cleanly.
func TestMirrorFromEtcd(t *testing.T) {
	e := startEtcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	src := e.client("", "")
	defer src.Close()
	for i := range 40 {
		if _, err := src.Put(ctx, fmt.Sprintf("app/%02d", i), fmt.Sprintf("v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := src.Put(ctx, "other/x", "not mirrored"); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	startNode(t, dir, "--name", "m", "--data-dir", "m.node", "--listen-client-urls", clientURL,
		"--advertise-client-urls", clientURL, "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "m="+peer)
	endpoint := strings.TrimPrefix(clientURL, "http://")

	_, ctlBin := binaries(t)
	out := &syncBuffer{}
	mirror := exec.Command(ctlBin, "--endpoints="+endpoint, "mirror", "--from", e.endpoint,
		"--prefix", "app/", "--dest-prefix", "copy/", "--max-txn-ops", "16", "--progress-interval", "100ms")
	mirror.Stdout, mirror.Stderr = out, out
	if err := mirror.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mirror.Wait() }()
	t.Cleanup(func() { _ = mirror.Process.Kill() })
	waitFor(t, "the copy", func() bool { return strings.Contains(out.String(), "copied 40 keys") }, out)

	dst, err := client.New(client.Config{Endpoints: []string{endpoint}})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	keys := func() map[string]string {
		resp, err := dst.Get(ctx, "\x00", client.WithFromKey())
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, kv := range resp.Kvs {
			m[string(kv.Key)] = string(kv.Value)
		}
		return m
	}
	got := keys()
	if len(got) != 40 || got["copy/07"] != "v7" || got["other/x"] != "" {
		t.Fatalf("after the copy cairn has %d keys: %v", len(got), got)
	}

	// Changes in etcd after the copy: an update, a deletion, a
	// transaction, a range deletion, and a key outside the prefix.
	steps := []func() error{
		func() error { _, err := src.Put(ctx, "app/01", "updated"); return err },
		func() error { _, err := src.Delete(ctx, "app/02"); return err },
		func() error {
			_, err := src.Txn(ctx).Then(clientv3.OpPut("app/new1", "n1"), clientv3.OpPut("app/new2", "n2")).Commit()
			return err
		},
		func() error { _, err := src.Delete(ctx, "app/3", clientv3.WithPrefix()); return err },
		func() error { _, err := src.Put(ctx, "other/y", "not mirrored"); return err },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{}
	for i := range 30 {
		want[fmt.Sprintf("copy/%02d", i)] = fmt.Sprintf("v%d", i)
	}
	want["copy/01"] = "updated"
	delete(want, "copy/02")
	want["copy/new1"], want["copy/new2"] = "n1", "n2"
	waitFor(t, "cairn to follow etcd", func() bool { return fmt.Sprint(keys()) == fmt.Sprint(want) }, out)
	waitFor(t, "a progress line", func() bool { return strings.Contains(out.String(), "14 changes followed") }, out)

	if err := mirror.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("mirror exited with %v after Ctrl-C:\n%s", err, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("mirror did not stop on Ctrl-C:\n%s", out.String())
	}
	t.Logf("mirror printed:\n%s", out.String())
	if !strings.Contains(out.String(), "stopped: 40 keys copied, 14 changes followed") {
		t.Fatalf("mirror's last words:\n%s", out.String())
	}
}

// waitFor polls cond for up to 20 s, failing the test with the mirror's
// output if it never holds.
func waitFor(t *testing.T, what string, cond func() bool, out *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; mirror printed:\n%s", what, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
