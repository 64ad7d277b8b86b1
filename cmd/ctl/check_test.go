package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cairndb/cairn/etcdapi"
	"github.com/cairndb/cairn/node/nodetest"
)

func TestJudgePerf(t *testing.T) {
	ms := time.Millisecond
	steady := []time.Duration{10 * ms, 12 * ms, 11 * ms, 9 * ms}
	tests := []struct {
		name   string
		s      putStats
		ok     bool
		phrase string // a line it must print
	}{
		{"pass", putStats{count: 300, elapsed: 2 * time.Second, latencies: steady}, true, "PASS: Throughput is 151 writes/s"},
		{"slow rate", putStats{count: 270, elapsed: 2 * time.Second, latencies: steady}, false, "FAIL: Throughput too low: 136 writes/s"},
		{"slowest", putStats{count: 300, elapsed: 2 * time.Second, latencies: []time.Duration{10 * ms, 600 * ms}}, false, "FAIL: Slowest request took too long: 0.600000s"},
		{"deviation", putStats{count: 300, elapsed: 2 * time.Second, latencies: []time.Duration{0, 0, 400 * ms, 400 * ms}}, false, "FAIL: Stddev too high: 0.200000s"},
		{"errors", putStats{count: 300, elapsed: 2 * time.Second, latencies: steady, errors: map[string]int{"boom": 2}}, false, "FAIL: ERROR(boom) -> 2"},
	}
	for _, tt := range tests {
		lines, ok := judgePerf(tt.s, 150)
		if ok != tt.ok || !strings.Contains(strings.Join(lines, "\n"), tt.phrase) {
			t.Errorf("%s: ok %v, lines %q; want ok %v and %q", tt.name, ok, lines, tt.ok, tt.phrase)
		}
	}
}

func TestLatencyStats(t *testing.T) {
	slowest, stddev := latencyStats([]time.Duration{2, 4, 4, 4, 5, 5, 7, 9})
	if slowest != 9 || stddev != 2 {
		t.Errorf("slowest %v, stddev %v; want 9, 2", slowest, stddev)
	}
	if s, d := latencyStats(nil); s != 0 || d != 0 {
		t.Errorf("no latencies: %v %v", s, d)
	}
}

func TestParseResidentMemory(t *testing.T) {
	page := "# HELP process_resident_memory_bytes Resident memory size in bytes.\n" +
		"# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 3.4603008e+07\nprocess_open_fds 9\n"
	if v, err := parseResidentMemory(strings.NewReader(page), "u"); err != nil || v != 34603008 {
		t.Errorf("parsed %v, %v", v, err)
	}
	if _, err := parseResidentMemory(strings.NewReader("go_goroutines 3\n"), "u"); err == nil || !strings.Contains(err.Error(), "has no process_resident_memory_bytes") {
		t.Errorf("no gauge: %v", err)
	}
	if _, err := parseResidentMemory(strings.NewReader("process_resident_memory_bytes lots\n"), "u"); err == nil || !strings.Contains(err.Error(), "is not a number") {
		t.Errorf("bad gauge: %v", err)
	}
}

// TestPaced: the pace never runs ahead of the rate (no burst makes up
// for a late call), and does not fall far behind it.
func TestPaced(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	n := 0
	paced(ctx, 100, func() bool { n++; return true })
	if n > 31 || n < 15 {
		t.Errorf("%d calls in 300ms at 100/s; want about 30, never over 31", n)
	}
	n = 0
	paced(context.Background(), 1000, func() bool { n++; return n < 5 })
	if n != 5 {
		t.Errorf("stopped after %d calls; want 5", n)
	}
}

// TestCheckCommands runs both checks, briefly, against a member serving
// the etcd face (for /metrics on its client port).
func TestCheckCommands(t *testing.T) {
	cl := nodetest.Start(t, 1, nodetest.Options{ClientFace: etcdapi.New})
	c := &testCluster{servers: cl.Servers, endpoints: cl.Endpoints()}

	r := c.ctl(t, "", "check", "perf", "--duration=2s", "--auto-compact")
	if r.code != exitOK && r.code != exitError {
		t.Fatalf("check perf: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	verdict := regexp.MustCompile(`(?s)^Compacted with revision \d+\n(PASS|FAIL): Throughput (is|too low:) \d+ writes/s\n.*(PASS|FAIL): (Slowest|Stddev).*\n(PASS|FAIL)\n$`)
	if !verdict.MatchString(r.stdout) || (r.code == exitOK) != strings.HasSuffix(r.stdout, "\nPASS\n") {
		t.Errorf("check perf: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	c.ctl(t, "", "get", "/etcdctl-check-perf/", "--prefix", "--count-only").ok(t, "keys left by check perf", "0\n")

	r = c.ctl(t, "", "check", "datascale", "--keys=300")
	want := regexp.MustCompile(`^Start data scale check for work load \[300 key-value pairs, 1024 bytes per key-value, 50 concurrent clients\]\.\n` +
		`PASS: Approximate system memory used : -?\d+\.\d\d MB\.\nPASS: Approximate memory per key : -?\d+ bytes\.\n$`)
	if r.code != exitOK || !want.MatchString(r.stdout) {
		t.Errorf("check datascale: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	c.ctl(t, "", "get", "/etcdctl-check-datascale/", "--prefix", "--count-only").ok(t, "keys left by check datascale", "0\n")

	c.ctl(t, "", "put", "/etcdctl-check-perf/x", "1").ok(t, "put", "OK\n")
	c.ctl(t, "", "check", "perf", "--duration=1s").fails(t, "check perf on a used prefix", exitError, `prefix "/etcdctl-check-perf/" has 1 keys`)
	c.ctl(t, "", "check", "perf", "--load=huge").fails(t, "check perf --load=huge", exitUsage, `--load "huge"`)
	c.ctl(t, "", "check", "datascale", "--keys=-1").fails(t, "check datascale --keys=-1", exitUsage, "--keys -1 is negative")
}
