package sim

import (
	"os/exec"
	"strings"
	"testing"
)

// TestSimDoesNotLinkTheServer: the simulator runs the server's
// deterministic member (node/replica) and its peer wire (node/peerwire),
// which import only core packages; package node itself, with gRPC and
// Prometheus behind it, stays out.
func TestSimDoesNotLinkTheServer(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Skipf("go list is not available: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "github.com/cairndb/cairn/node" || pkg == "github.com/cairndb/cairn/etcdapi" ||
			strings.HasPrefix(pkg, "google.golang.org/grpc") || strings.HasPrefix(pkg, "github.com/prometheus/") {
			t.Fatalf("sim links %s", pkg)
		}
	}
}
