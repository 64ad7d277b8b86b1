package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairndb/cairn/bench"
	"github.com/cairndb/cairn/node/nodetest"
)

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code = run(ctx, args, &out, &errb, false)
	return code, out.String(), errb.String()
}

func TestCommandAgainstACluster(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{})
	eps := strings.Join(c.Endpoints(), ",")
	dir := t.TempDir()
	plot := filepath.Join(dir, "put.svg")

	// Flags before and after the workload's name.
	code, out, errs := runCmd(t, "--endpoints", eps, "put", "--total", "30", "--clients", "3", "--json", "--label", "p", "--plot", plot)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	results, err := bench.ReadResults(strings.NewReader(out))
	if err != nil || len(results) != 1 || results[0].Ops != 30 || results[0].Label != "p" || results[0].Clients != 3 {
		t.Fatalf("json output %q: %+v %v", out, results, err)
	}
	if svg, err := os.ReadFile(plot); err != nil || !strings.HasPrefix(string(svg), "<svg") {
		t.Fatalf("plot: %v %.40q", err, svg)
	}
	a := filepath.Join(dir, "a.jsonl")
	if err := os.WriteFile(a, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}

	code, out, errs = runCmd(t, "range", "--endpoints", eps, "--total", "20", "--key-space", "30", "--consistency", "s", "--prefix")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"range: serializable, prefix of 10 keys", "ops      20 in", "latency histogram"} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}

	code, out, errs = runCmd(t, "compare", a, a)
	if code != 0 || !strings.Contains(out, "QPS cairn/other") || !strings.Contains(out, "1.00") {
		t.Fatalf("compare: exit %d %s\n%s", code, errs, out)
	}
	// Sides named on the command line, one row per other side.
	code, out, errs = runCmd(t, "compare", "mine="+a, "again="+a, a)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || !strings.Contains(lines[0], "QPS mine/other") ||
		!strings.Contains(lines[1], " again ") || !strings.Contains(lines[2], " cairn ") {
		t.Fatalf("compare of three: exit %d %s\n%s", code, errs, out)
	}

	// The leader is one of the endpoints, and the one the cluster names.
	code, out, errs = runCmd(t, "leader", "--endpoints", eps)
	if want := c.Endpoints()[c.Leader()]; code != 0 || out != want+"\n" {
		t.Fatalf("leader: exit %d, %q %s; want %q", code, out, errs, want)
	}
}

func TestDiskCommand(t *testing.T) {
	code, out, errs := runCmd(t, "disk", "--dir", t.TempDir(), "--writers", "2", "--chunk-kib", "64", "--mib", "1", "--overwrite")
	if code != 0 || !strings.Contains(out, "2 writers, overwriting, 64 KiB per fsync: ") || !strings.Contains(out, "MB/s in all") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

func TestCommandRejectsBadUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{}, 2, "no workload given"},
		{[]string{"frobnicate"}, 2, `unknown workload "frobnicate"`},
		{[]string{"put", "--clients"}, 2, "flag needs an argument"},
		{[]string{"put", "extra"}, 2, "unexpected arguments"},
		{[]string{"--target", "redis", "put"}, 2, `--target "redis"`},
		{[]string{"--consistency", "x", "range"}, 2, `--consistency "x"`},
		{[]string{"put", "--key-size", "2", "--key-space", "1000"}, 1, "--key-size 2 is too short"},
		{[]string{"compare", "only-one"}, 2, "usage: bench compare"},
		{[]string{"leader", "--target", "redis"}, 2, `--target "redis"`},
		{[]string{"leader", "--endpoints", ""}, 2, "--endpoints is empty"},
		{[]string{"leader", "extra"}, 2, "unexpected arguments"},
		{[]string{"leader", "--target", "etcd", "--endpoints", "https://h:1"}, 1, "only plain-text"},
		{[]string{"compare", "/nonexistent/a", "/nonexistent/b"}, 1, "no such file"},
		{[]string{"-h"}, 0, "Workloads: "},
		{[]string{"disk", "--writers", "0"}, 2, "must be at least 1"},
		{[]string{"disk", "--mib", "x"}, 2, "invalid value"},
		{[]string{"disk", "extra"}, 2, "unexpected arguments"},
		{[]string{"disk", "--dir", "/nonexistent/dir", "--mib", "1"}, 1, "no such file"},
	} {
		code, _, errs := runCmd(t, tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("bench %q: exit %d, stderr %q; want exit %d and %q", tc.args, code, errs, tc.code, tc.want)
		}
	}
}
