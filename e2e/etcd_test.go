package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The real etcd 3.6 and etcdctl, built once per test binary from the
// nested module tools/etcd (about 25 s each on 2 cores the first time,
// seconds once Go's build cache has them).
var (
	etcdBuildOnce sync.Once
	etcdBinDir    string
	etcdBuildErr  error
)

// etcdBinaries returns the paths of etcd and etcdctl; the test is
// skipped, saying why, if they cannot be built.
func etcdBinaries(t *testing.T) (etcd, etcdctl string) {
	t.Helper()
	etcdBuildOnce.Do(func() {
		etcdBinDir, etcdBuildErr = os.MkdirTemp("", "cairn-e2e-etcd")
		if etcdBuildErr != nil {
			return
		}
		for name, pkg := range map[string]string{"etcd": "go.etcd.io/etcd/server/v3", "etcdctl": "go.etcd.io/etcd/etcdctl/v3"} {
			out, err := exec.Command("go", "-C", "../tools/etcd", "build", "-o", filepath.Join(etcdBinDir, name), pkg).CombinedOutput()
			if err != nil {
				etcdBuildErr = fmt.Errorf("go -C tools/etcd build %s: %v\n%s", pkg, err, out)
				return
			}
		}
	})
	if etcdBuildErr != nil {
		t.Skipf("the real etcd is needed and could not be built: %v", etcdBuildErr)
	}
	return filepath.Join(etcdBinDir, "etcd"), filepath.Join(etcdBinDir, "etcdctl")
}

// etcdServer is a running single-member etcd.
type etcdServer struct {
	t        *testing.T
	cmd      *exec.Cmd
	stderr   *syncBuffer
	done     chan error
	endpoint string // http://127.0.0.1:port
}

// startEtcd starts a single-member etcd on loopback ports in a temp dir
// and waits until it answers.
func startEtcd(t *testing.T) *etcdServer {
	t.Helper()
	return startEtcdNamed(t, "e1")
}

// startEtcdNamed is startEtcd with the member named name and etcd's
// flags extra.
func startEtcdNamed(t *testing.T, name string, extra ...string) *etcdServer {
	t.Helper()
	etcdBin, _ := etcdBinaries(t)
	client := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	e := &etcdServer{t: t, stderr: &syncBuffer{}, done: make(chan error, 1), endpoint: client}
	e.cmd = exec.Command(etcdBin, "--name", name, "--data-dir", filepath.Join(t.TempDir(), name+".etcd"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", name+"="+peer, "--log-level", "warn", "--unsafe-no-fsync")
	e.cmd.Args = append(e.cmd.Args, extra...)
	e.cmd.Stderr = e.stderr
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { e.done <- e.cmd.Wait() }()
	t.Cleanup(e.stop)
	e.waitServing()
	return e
}

// waitServing returns once e answers a read (within 20 s), or fails the
// test if it exits or does not.
func (e *etcdServer) waitServing() {
	e.t.Helper()
	cli := e.client("", "")
	defer cli.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := cli.Get(ctx, "health-check")
		cancel()
		if err == nil {
			return
		}
		select {
		case err := <-e.done:
			e.done <- err
			e.t.Fatalf("etcd %s exited: %v\n%s", e.endpoint, err, e.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("etcd %s did not answer: %v\n%s", e.endpoint, err, e.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// client is an etcd client of e, as user (none if "").
func (e *etcdServer) client(user, password string) *clientv3.Client {
	e.t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{e.endpoint}, DialTimeout: 5 * time.Second,
		Username: user, Password: password})
	if err != nil {
		e.t.Fatal(err)
	}
	return cli
}

// etcdctl runs etcdctl against e and returns its output, failing the
// test on an error.
func (e *etcdServer) etcdctl(args ...string) string {
	e.t.Helper()
	_, etcdctlBin := etcdBinaries(e.t)
	out, err := exec.Command(etcdctlBin, append([]string{"--endpoints", e.endpoint}, args...)...).CombinedOutput()
	if err != nil {
		e.t.Fatalf("etcdctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// stop kills etcd (its data dir is the test's to remove).
func (e *etcdServer) stop() {
	if e.cmd.ProcessState == nil {
		_ = e.cmd.Process.Kill()
		select {
		case err := <-e.done:
			e.done <- err
		case <-time.After(5 * time.Second):
		}
	}
}
