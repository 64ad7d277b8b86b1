package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/cairndb/cairn/linearizability/procharness"
)

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantErr string
		check   func(t *testing.T, cfg procharness.Config)
	}{
		{args: nil, check: func(t *testing.T, cfg procharness.Config) {
			if len(cfg.Faults) != len(procharness.FaultKinds()) || cfg.Seed == 0 || cfg.Clients != 5 {
				t.Errorf("defaults: %+v", cfg)
			}
		}},
		{args: []string{"--faults", "kill, pause", "--seed", "9", "--clients", "2"}, check: func(t *testing.T, cfg procharness.Config) {
			if len(cfg.Faults) != 2 || cfg.Faults[0] != procharness.FaultKill || cfg.Faults[1] != procharness.FaultPause {
				t.Errorf("faults %v", cfg.Faults)
			}
			if cfg.Seed != 9 || cfg.Clients != 2 {
				t.Errorf("seed %d clients %d", cfg.Seed, cfg.Clients)
			}
		}},
		{args: []string{"--faults", "lose-wal-tail,flip-bit,kill"}, check: func(t *testing.T, cfg procharness.Config) {
			want := []procharness.FaultKind{procharness.FaultLoseWALTail, procharness.FaultFlipBit, procharness.FaultKill}
			if !slices.Equal(cfg.Faults, want) {
				t.Errorf("faults %v, want %v", cfg.Faults, want)
			}
		}},
		{args: []string{"--faults", "flood"}, wantErr: `unknown fault "flood"`},
		{args: []string{"--faults", ","}, wantErr: "no fault kind"},
		{args: []string{"--clients", "0"}, wantErr: "must be positive"},
		{args: []string{"extra"}, wantErr: `unexpected argument "extra"`},
	} {
		cfg, _, err := parseFlags(tc.args, &bytes.Buffer{})
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("%v: %v", tc.args, err)
		default:
			tc.check(t, cfg)
		}
	}
}

func TestRunBadFlagExitsWithUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--faults", "nope"}, &stdout, &stderr); code != exitUsage {
		t.Fatalf("exit %d, want %d; stderr %s", code, exitUsage, stderr.String())
	}
	if !strings.Contains(stderr.String(), "linearize: --faults") {
		t.Fatalf("stderr %q does not say what is wrong", stderr.String())
	}
}
