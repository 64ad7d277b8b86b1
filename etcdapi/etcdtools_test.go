package etcdapi_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// etcdTool is one of etcd 3.6's programs, built once per test binary from
// the nested module tools/etcd into a temporary directory (TestMain
// removes it).
type etcdTool struct {
	name, pkg string
	once      sync.Once
	dir       string
	err       error
}

// The programs the tests run.
var (
	etcdServer = &etcdTool{name: "etcd", pkg: "go.etcd.io/etcd/server/v3"}
	etcdctl    = &etcdTool{name: "etcdctl", pkg: "go.etcd.io/etcd/etcdctl/v3"}
)

// path builds the program on first use and returns it; the test is
// skipped, saying why, if it cannot be built.
func (e *etcdTool) path(t *testing.T) string {
	t.Helper()
	e.once.Do(func() {
		if e.dir, e.err = os.MkdirTemp("", "cairn-etcdapi-"+e.name); e.err != nil {
			return
		}
		out, err := exec.Command("go", "-C", "../tools/etcd", "build", "-o", filepath.Join(e.dir, e.name), e.pkg).CombinedOutput()
		if err != nil {
			e.err = fmt.Errorf("go -C tools/etcd build %s: %v\n%s", e.pkg, err, out)
		}
	})
	if e.err != nil {
		t.Skipf("etcd 3.6's %s is needed and could not be built: %v", e.name, e.err)
	}
	return filepath.Join(e.dir, e.name)
}

// remove deletes the program's directory, if it was built.
func (e *etcdTool) remove() {
	if e.dir != "" {
		_ = os.RemoveAll(e.dir)
	}
}

// etcdBin is etcd 3.6's server.
func etcdBin(t *testing.T) string { return etcdServer.path(t) }

// etcdctlBin is etcd 3.6's etcdctl.
func etcdctlBin(t *testing.T) string { return etcdctl.path(t) }

// TestMain removes the etcd programs the tests built, once they have run.
func TestMain(m *testing.M) {
	code := m.Run()
	etcdServer.remove()
	etcdctl.remove()
	os.Exit(code)
}
