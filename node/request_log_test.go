package node_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairndb/cairn/node"
	"github.com/cairndb/cairn/node/nodetest"
)

// lockedBuffer is a log sink the members' goroutines share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A request slower than --warning-unary-request-duration is logged at
// warn level as "request stats", with its keys and sizes but not its
// value; at info level a request within the limit is not logged.
func TestSlowRequestLogged(t *testing.T) {
	for _, tt := range []struct {
		name   string
		warn   time.Duration
		logged bool
	}{{"slow", time.Nanosecond, true}, {"fast", time.Hour, false}, {"off", 0, false}} {
		t.Run(tt.name, func(t *testing.T) {
			var logs lockedBuffer
			c := nodetest.Start(t, 1, nodetest.Options{
				Configure: func(_ int, cfg *node.Config) { cfg.WarningUnaryRequestDuration = tt.warn },
				Logger: func(string) *slog.Logger {
					return slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
				},
			})
			c.Leader()
			if _, err := c.Client().Put(ctxT(t), "slow/key", "secret-value"); err != nil {
				t.Fatal(err)
			}
			var line string
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, `msg="request stats"`) && strings.Contains(l, `"request type"=Put`) {
					line = l
				}
			}
			if !tt.logged {
				if line != "" {
					t.Fatalf("logged a request within the limit: %s", line)
				}
				return
			}
			for _, want := range []string{"level=WARN", `"time spent"=`, "expected-duration=1ns", `slow/key`, "value_size:12", `"response size"=`} {
				if !strings.Contains(line, want) {
					t.Errorf("request stats line lacks %q: %s", want, line)
				}
			}
			if strings.Contains(line, "secret-value") {
				t.Errorf("request stats line logs the value: %s", line)
			}
		})
	}
}

func TestConfigRefusesNegativeRequestWarning(t *testing.T) {
	cfg := node.DefaultConfig()
	cfg.WarningUnaryRequestDuration = -time.Second
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--warning-unary-request-duration") {
		t.Fatalf("Validate: %v", err)
	}
	if d := node.DefaultConfig().WarningUnaryRequestDuration; d != 300*time.Millisecond {
		t.Fatalf("default %v; want etcd's 300ms", d)
	}
}

// A compaction and a defragmentation log their end, with what they did.
func TestMaintenanceLogged(t *testing.T) {
	var logs lockedBuffer
	c := nodetest.Start(t, 1, nodetest.Options{
		Logger: func(string) *slog.Logger {
			return slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
		},
	})
	c.Leader()
	ctx := ctxT(t)
	cl := c.Client()
	for i := range 5 {
		if _, err := cl.Put(ctx, "k", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := cl.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Compact(ctx, resp.Header.Revision); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Defragment(ctx, c.Endpoint(0)); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	for _, want := range []string{
		fmt.Sprintf(`msg="finished compaction" revision=%d keys=1 records-removed=4 took=`, resp.Header.Revision),
		`msg=defragmenting db-size=`,
		`msg="finished defragmenting" db-size-before=`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the log:\n%s", want, out)
		}
	}
}
