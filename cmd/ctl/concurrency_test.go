package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cairndb/cairn/client"
	"github.com/cairndb/cairn/client/concurrency"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// background is a ctl run in the background, interrupted by cancel.
type background struct {
	stdout, stderr syncBuffer
	cancel         context.CancelFunc
	done           chan int
}

// start runs a ctl command line in the background.
func (c *testCluster) start(args ...string) *background {
	ctx, cancel := context.WithCancel(context.Background())
	b := &background{cancel: cancel, done: make(chan int, 1)}
	full := append([]string{"--endpoints=" + strings.Join(c.endpoints, ","), "--command-timeout=5s"}, args...)
	go func() { b.done <- runContext(ctx, full, strings.NewReader(""), &b.stdout, &b.stderr) }()
	return b
}

// waitOutput waits until the run's output matches re, and returns the
// match's submatches.
func (b *background) waitOutput(t *testing.T, what string, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := re.FindStringSubmatch(b.stdout.String()); m != nil {
			return m
		}
		select {
		case code := <-b.done:
			t.Fatalf("%s: ctl exited (%d) before printing %v; stdout %q, stderr %q", what, code, re, b.stdout.String(), b.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no output matching %v in 10s; stdout %q, stderr %q", what, re, b.stdout.String(), b.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exit waits for the run to end and returns its exit status.
func (b *background) exit(t *testing.T, what string) int {
	t.Helper()
	select {
	case code := <-b.done:
		return code
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: ctl still running after 10s; stdout %q, stderr %q", what, b.stdout.String(), b.stderr.String())
		return -1
	}
}

// isLocked reports whether lock name is held, by trying to take it.
func isLocked(t *testing.T, cl *client.Client, name string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := concurrency.NewSession(cl)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = concurrency.NewMutex(s, name).TryLock(ctx)
	if err != nil && !errors.Is(err, concurrency.ErrLocked) {
		t.Fatal(err)
	}
	return err != nil
}

func TestLockAndElect(t *testing.T) {
	c := startCluster(t, 3, nil)
	cl, err := client.New(client.Config{Endpoints: c.endpoints})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	t.Run("lock runs a command while held", func(t *testing.T) { testLockCommand(t, c, cl) })
	t.Run("lock holds until interrupted", func(t *testing.T) { testLockHold(t, c, cl) })
	t.Run("elect", func(t *testing.T) { testElect(t, c) })
	t.Run("etcdctl's json", func(t *testing.T) { testLockElectJSON(t, c) })
	t.Run("usage", func(t *testing.T) {
		c.ctl(t, "", "lock").fails(t, "lock without a name", exitUsage, "lock takes at least 1 argument")
		c.ctl(t, "", "lock", "x", "--ttl=0").fails(t, "lock --ttl=0", exitUsage, "--ttl 0")
		c.ctl(t, "", "elect", "x").fails(t, "elect without a proposal", exitUsage, "needs a PROPOSAL")
		c.ctl(t, "", "elect", "-l", "x", "y").fails(t, "elect --listen with a proposal", exitUsage, "takes no PROPOSAL")
	})
}

func testLockCommand(t *testing.T, c *testCluster, cl *client.Client) {
	dir := t.TempDir()
	started, release := filepath.Join(dir, "started"), filepath.Join(dir, "release")
	script := `echo "running with $CAIRN_LOCK_KEY at $CAIRN_LOCK_REV"; touch "$1"; while [ ! -e "$2" ]; do sleep 0.02; done`
	run := c.start("lock", "cmdlock", "--", "sh", "-c", script, "sh", started, release)
	m := run.waitOutput(t, "lock with a command", regexp.MustCompile(`^(cmdlock/[0-9a-f]+)\nrunning with (cmdlock/[0-9a-f]+) at [1-9][0-9]*\n`))
	if m[1] != m[2] {
		t.Errorf("ctl printed key %s but the command saw %s", m[1], m[2])
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(started); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the command did not start in 5s")
		}
	}
	if !isLocked(t, cl, "cmdlock") {
		t.Error("the lock is free while its command runs")
	}
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code := run.exit(t, "lock with a command"); code != exitOK || run.stderr.String() != "" {
		t.Errorf("lock with a command: exit %d, stderr %q", code, run.stderr.String())
	}
	if isLocked(t, cl, "cmdlock") {
		t.Error("the lock is still held after its command ended")
	}

	// A failing command fails ctl, and the lock is released all the same.
	c.ctl(t, "", "lock", "cmdlock", "--", "sh", "-c", "exit 3").fails(t, "lock with a failing command", exitError, "exit status 3")
	if isLocked(t, cl, "cmdlock") {
		t.Error("the lock is still held after its command failed")
	}
	// In etcdctl's formats the command's output is all there is, as
	// etcdctl's.
	c.ctl(t, "", "-w", "json", "lock", "cmdlock", "echo", "hi").ok(t, "lock -w json with a command", "hi\n")
}

func testLockHold(t *testing.T, c *testCluster, cl *client.Client) {
	first := c.start("lock", "holdlock")
	key1 := first.waitOutput(t, "first lock", regexp.MustCompile(`^holdlock/[0-9a-f]+\n`))[0]
	if !isLocked(t, cl, "holdlock") {
		t.Error("the lock is free while ctl lock holds it")
	}
	second := c.start("lock", "holdlock", "--ttl=5")
	time.Sleep(200 * time.Millisecond)
	if out := second.stdout.String(); out != "" {
		t.Fatalf("a second ctl lock printed %q while the first holds the lock", out)
	}
	first.cancel()
	if code := first.exit(t, "interrupted lock"); code != exitOK || first.stderr.String() != "" {
		t.Errorf("interrupted lock: exit %d, stderr %q", code, first.stderr.String())
	}
	key2 := second.waitOutput(t, "second lock", regexp.MustCompile(`^holdlock/[0-9a-f]+\n`))[0]
	if key1 == key2 {
		t.Errorf("both holders printed key %q", key1)
	}
	second.cancel()
	if code := second.exit(t, "second lock"); code != exitOK {
		t.Errorf("second lock: exit %d, stderr %q", code, second.stderr.String())
	}
	if isLocked(t, cl, "holdlock") {
		t.Error("the lock is still held after both ctl lock exited")
	}
}

func testElect(t *testing.T, c *testCluster) {
	listener := c.start("elect", "el", "--listen")
	first := c.start("elect", "el", "one")
	key1 := first.waitOutput(t, "first campaigner", regexp.MustCompile(`^(el/[0-9a-f]+)\none\n$`))[1]
	listener.waitOutput(t, "listener", regexp.MustCompile(`^`+key1+`\none\n`))

	second := c.start("elect", "el", "two")
	time.Sleep(200 * time.Millisecond)
	if out := second.stdout.String(); out != "" {
		t.Fatalf("a second campaigner printed %q while the first leads", out)
	}
	first.cancel()
	if code := first.exit(t, "first campaigner"); code != exitOK || first.stderr.String() != "" {
		t.Errorf("interrupted campaigner: exit %d, stderr %q", code, first.stderr.String())
	}
	key2 := second.waitOutput(t, "second campaigner", regexp.MustCompile(`^(el/[0-9a-f]+)\ntwo\n$`))[1]
	listener.waitOutput(t, "listener", regexp.MustCompile(`^`+key1+`\none\n`+key2+`\ntwo\n$`))
	second.cancel()
	listener.cancel()
	for _, b := range []*background{second, listener} {
		if code := b.exit(t, "elect"); code != exitOK || b.stderr.String() != "" {
			t.Errorf("interrupted elect: exit %d, stderr %q", code, b.stderr.String())
		}
	}
}

// testLockElectJSON: in etcdctl's formats a held lock and an elected
// leader print the get response of their key, as etcdctl's; an observed
// leader a get response without a header (ctl has its key-value alone).
func testLockElectJSON(t *testing.T, c *testCluster) {
	line := regexp.MustCompile(`^(.+)\n`)
	check := func(what, out, prefix, value string, header bool) {
		t.Helper()
		var r pb.RangeResponse
		if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.Kvs) != 1 || r.Count != 1 ||
			!strings.HasPrefix(string(r.Kvs[0].Key), prefix) || string(r.Kvs[0].Value) != value || (r.Header != nil) != header {
			t.Errorf("%s -w json printed %q (%v); want the get response of a key %s... = %q (header: %v)", what, out, err, prefix, value, header)
		}
	}
	lock := c.start("-w", "json", "lock", "jsonlock")
	check("lock", lock.waitOutput(t, "lock", line)[1], "jsonlock/", "", true)
	lock.cancel()
	listener := c.start("-w", "json", "elect", "jsonel", "--listen")
	leader := c.start("-w", "json", "elect", "jsonel", "v")
	check("elect", leader.waitOutput(t, "elect", line)[1], "jsonel/", "v", true)
	check("elect --listen", listener.waitOutput(t, "elect --listen", line)[1], "jsonel/", "v", false)
	for _, b := range []*background{lock, leader, listener} {
		b.cancel()
		if code := b.exit(t, "json lock or elect"); code != exitOK {
			t.Errorf("interrupted: exit %d, stderr %q", code, b.stderr.String())
		}
	}
}
