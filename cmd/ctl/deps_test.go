package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCtlDoesNotLinkTheServer: ctl is a client; what it shares with the
// server (the data dir's layout, restore, the conversions to etcd's
// messages) lives in small packages of its own, not in package node or
// the etcd face.
func TestCtlDoesNotLinkTheServer(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Skipf("go list is not available: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "github.com/cairndb/cairn/node" || strings.HasPrefix(pkg, "github.com/cairndb/cairn/node/") ||
			pkg == "github.com/cairndb/cairn/etcdapi" {
			t.Fatalf("ctl links %s", pkg)
		}
	}
}
