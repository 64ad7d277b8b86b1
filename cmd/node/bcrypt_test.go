package main

import (
	"strings"
	"testing"

	"github.com/cairndb/cairn/node"
)

// --bcrypt-cost is etcd's flag, environment variable and config-file key:
// the cost of new password hashes, etcd's default 10. A cost bcrypt or
// cairn would not use is one line naming the flag and the bounds.
func TestBcryptCostFlag(t *testing.T) {
	for _, tc := range []struct {
		args, env []string
		file      string
		want      int
		err       string
	}{
		{want: node.DefaultBcryptCost},
		{args: []string{"--bcrypt-cost", "4"}, want: 4},
		{args: []string{"--bcrypt-cost=20"}, want: 20},
		{env: []string{"ETCD_BCRYPT_COST=12"}, want: 12},
		{env: []string{"CAIRN_BCRYPT_COST=5"}, want: 5},
		{file: "bcrypt-cost: 11\n", want: 11},
		{args: []string{"--bcrypt-cost", "3"}, err: "--bcrypt-cost must be between 4 and 20, not 3"},
		{args: []string{"--bcrypt-cost", "0"}, err: "--bcrypt-cost must be between 4 and 20, not 0"},
		{args: []string{"--bcrypt-cost", "-1"}, err: "--bcrypt-cost must be between 4 and 20, not -1"},
		{args: []string{"--bcrypt-cost", "21"}, err: "--bcrypt-cost must be between 4 and 20, not 21"},
		{args: []string{"--bcrypt-cost", "31"}, err: "--bcrypt-cost must be between 4 and 20, not 31"},
		{args: []string{"--bcrypt-cost", "ten"}, err: `invalid value "ten" for flag --bcrypt-cost`},
		{env: []string{"ETCD_BCRYPT_COST=32"}, err: "--bcrypt-cost must be between 4 and 20, not 32"},
		{file: "bcrypt-cost: 2\n", err: "--bcrypt-cost must be between 4 and 20, not 2"},
	} {
		args := tc.args
		if tc.file != "" {
			args = []string{"--config-file", writeFile(t, "etcd.yml", tc.file)}
		}
		o, err := parseFlags(args, tc.env)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), "\n") {
				t.Errorf("%q %q %q: %v, want one line with %q", tc.args, tc.env, tc.file, err, tc.err)
			}
			continue
		}
		if err != nil || o.cfg.BcryptCost != tc.want || len(o.warnings) != 0 {
			t.Errorf("%q %q %q: cost %d, warnings %q, %v; want %d", tc.args, tc.env, tc.file, o.cfg.BcryptCost, o.warnings, err, tc.want)
		}
	}
}

// --auth-password-cost, the PBKDF2 iterations of earlier versions, still
// starts the member, with one warning saying bcrypt and --bcrypt-cost
// replaced it, wherever it is set; it changes nothing.
func TestAuthPasswordCostIsDeprecated(t *testing.T) {
	for _, tc := range []struct {
		args, env []string
		file      string
	}{
		{args: []string{"--auth-password-cost", "1000"}},
		{env: []string{"CAIRN_AUTH_PASSWORD_COST=1000"}},
		{file: "auth-password-cost: 1000\n"},
	} {
		args := tc.args
		if tc.file != "" {
			args = []string{"--config-file", writeFile(t, "etcd.yml", tc.file)}
		}
		o, err := parseFlags(args, tc.env)
		if err != nil {
			t.Fatalf("%q %q %q: %v", tc.args, tc.env, tc.file, err)
		}
		want := "--auth-password-cost is deprecated and has no effect: new passwords are hashed with bcrypt, as etcd does, at --bcrypt-cost"
		if len(o.warnings) != 1 || !strings.HasPrefix(o.warnings[0], want) || o.cfg.BcryptCost != node.DefaultBcryptCost {
			t.Errorf("%q %q %q: warnings %q, cost %d", tc.args, tc.env, tc.file, o.warnings, o.cfg.BcryptCost)
		}
	}
}
