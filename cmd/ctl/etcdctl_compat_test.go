package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/client"
	"github.com/cairndb/cairn/etcdapi"
	"github.com/cairndb/cairn/node"
	"github.com/cairndb/cairn/node/nodetest"
)

// The proof that ctl's json, fields and protobuf formats are etcdctl's:
// the real etcdctl 3.6 (built from tools/etcd) and ctl run the same
// command against one cairn member, etcdctl through the member's etcd
// face and ctl through cairn's own protocol, and print the same bytes.

// etcdctlBuild is the etcdctl binary, built once per test binary into a
// directory TestMain removes.
var etcdctlBuild struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if etcdctlBuild.dir != "" {
		_ = os.RemoveAll(etcdctlBuild.dir)
	}
	os.Exit(code)
}

// etcdctlBinary builds etcdctl from the nested module tools/etcd, or
// skips the test if that fails (no module cache and no network, say).
func etcdctlBinary(t *testing.T) string {
	t.Helper()
	b := &etcdctlBuild
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "ctl-etcdctl"); b.err != nil {
			return
		}
		b.path = filepath.Join(b.dir, "etcdctl")
		out, err := exec.Command("go", "-C", "../../tools/etcd", "build", "-o", b.path, "go.etcd.io/etcd/etcdctl/v3").CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("%v: %s", err, out)
		}
	})
	if b.err != nil {
		t.Skipf("building etcdctl from tools/etcd failed, so ctl cannot be compared with it: %v", b.err)
	}
	return b.path
}

// compatMember is one member serving both protocols, and the two tools.
type compatMember struct {
	etcdctl  string
	endpoint string
	cl       *client.Client
}

// etcdctlEnv is the environment etcdctl runs in: this process's, without
// ETCDCTL_ settings that would change what it does.
func etcdctlEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCDCTL_") {
			env = append(env, kv)
		}
	}
	return env
}

// run runs the command line with etcdctl (etcd true) or ctl, for at most
// d (a watch runs until then), and returns its stdout and whether it
// exited 0.
func (m *compatMember) run(etcd bool, d time.Duration, stdin string, args []string) (string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	full := append([]string{"--endpoints=" + m.endpoint, "--command-timeout=5s"}, args...)
	var out, errb bytes.Buffer
	if !etcd {
		code := runContext(ctx, full, strings.NewReader(stdin), &out, &errb)
		return out.String(), code == exitOK
	}
	cmd := exec.CommandContext(ctx, m.etcdctl, full...)
	cmd.Env = etcdctlEnv()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &out, &errb
	err := cmd.Run()
	return out.String(), err == nil
}

// A mask hides a value that differs between the two runs for a reason
// the test knows (a revision moved on, a lease id was drawn at random),
// in the json and fields formats alike: each match's group 1 is kept,
// the rest becomes "…".
var (
	maskRevisions = regexp.MustCompile(`("(?:revision|create_revision|mod_revision)":|"(?:Prev)?(?:Revision|CreateRevision|ModRevision)" : )-?\d+`)
	maskIDs       = regexp.MustCompile(`("(?:ID|id)":|"ID" : )\d+`)
	maskTTLs      = regexp.MustCompile(`("ttl":|"TTL" : )\d+`)
	maskTook      = regexp.MustCompile(`("took":"|"Took" : )[^"\n]*`)
)

func mask(s string, masks []*regexp.Regexp) string {
	for _, m := range masks {
		s = m.ReplaceAllString(s, "${1}…")
	}
	return s
}

// fixStatus turns etcdctl's endpoint status into ctl's: ctl reports the
// version the member gives cairn's clients (its own), where the etcd face
// reports the etcd API version.
func fixStatus(s string) string {
	for _, r := range []struct{ re, to string }{
		{`"version":"3\.6\.0"`, `"version":"` + node.Version + `"`},
		{`"Version" : "3\.6\.0"`, `"Version" : "` + node.Version + `"`},
	} {
		s = regexp.MustCompile(r.re).ReplaceAllString(s, r.to)
	}
	return s
}

// compatCase is one command line run by both tools in each of formats.
// setup, if set, runs before each tool's run so that both see the same
// state, and returns the text that replaces "{}" in args (a lease or
// member id it made).
type compatCase struct {
	name    string
	args    []string
	stdin   string
	formats []string
	setup   func(ctx context.Context, cl *client.Client) (string, error)
	masks   []*regexp.Regexp
	fix     func(etcdctlOut string) string
	// canon, if set, rewrites both outputs (before masking) into a form
	// in which an order that depends on random ids no longer differs.
	canon func(string) string
	watch bool // runs until its time is up; both tools at once, no setup
}

// membersByPeerURL orders a JSON response's members by peer URL: the
// server lists them by id, which is random for a member added in setup,
// so the two runs may list the same members in different orders.
func membersByPeerURL(out string) string {
	dec := json.NewDecoder(strings.NewReader(out))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		return out
	}
	ms, _ := v["members"].([]any)
	sort.SliceStable(ms, func(i, j int) bool {
		return fmt.Sprint(ms[i].(map[string]any)["peerURLs"]) < fmt.Sprint(ms[j].(map[string]any)["peerURLs"])
	})
	b, err := json.Marshal(v)
	if err != nil {
		return out
	}
	return string(b) + "\n"
}

var allEtcdFormats = []string{formatJSON, formatFields, formatProtobuf}

func TestFormatsMatchEtcdctl(t *testing.T) {
	m := &compatMember{etcdctl: etcdctlBinary(t)}
	c := nodetest.Start(t, 1, nodetest.Options{ClientFace: etcdapi.New})
	m.endpoint, m.cl = c.Endpoint(0), c.Client()
	ctx := context.Background()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	lease, err := m.cl.Grant(ctx, 1000)
	must(lease, err)
	must(m.cl.Put(ctx, "a", "1"))
	must(m.cl.Put(ctx, "a", "one"))
	must(m.cl.Put(ctx, "dir/x", "\x00\xffbytes", client.WithLease(lease.ID)))
	must(m.cl.Put(ctx, "dir/y", "y"))
	must(m.cl.RoleAdd(ctx, "reader"))
	must(m.cl.RoleGrantPermission(ctx, "reader", "dir/", client.PrefixRangeEnd("dir/"), api.PermRead))
	must(m.cl.RoleGrantPermission(ctx, "reader", "a", "", api.PermReadWrite))
	must(m.cl.UserAdd(ctx, "alice", "secret"))
	must(m.cl.UserGrantRole(ctx, "alice", "reader"))
	leaseHex := fmt.Sprintf("%x", lease.ID)

	grant := func(ctx context.Context, cl *client.Client) (string, error) {
		r, err := cl.Grant(ctx, 100)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%x", r.ID), nil
	}
	learnerURL := "http://127.0.0.1:1"
	// addLearner removes the learner the other tool's run left (so its
	// peer URL can be added again) and, with add, adds it anew.
	learner := func(add bool) func(ctx context.Context, cl *client.Client) (string, error) {
		return func(ctx context.Context, cl *client.Client) (string, error) {
			ms, err := cl.MemberList(ctx)
			if err != nil {
				return "", err
			}
			for _, mb := range ms.Members {
				if mb.IsLearner {
					if _, err := cl.MemberRemove(ctx, mb.ID); err != nil {
						return "", err
					}
				}
			}
			if !add {
				return "", nil
			}
			r, err := cl.MemberAddAsLearner(ctx, []string{learnerURL})
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("%x", r.Member.ID), nil
		}
	}
	steps := func(fs ...func(ctx context.Context, cl *client.Client) error) func(ctx context.Context, cl *client.Client) (string, error) {
		return func(ctx context.Context, cl *client.Client) (string, error) {
			for _, f := range fs {
				if err := f(ctx, cl); err != nil {
					return "", err
				}
			}
			return "", nil
		}
	}
	del := func(key string, opts ...client.OpOption) func(ctx context.Context, cl *client.Client) error {
		return func(ctx context.Context, cl *client.Client) error { _, err := cl.Delete(ctx, key, opts...); return err }
	}
	put := func(key, val string) func(ctx context.Context, cl *client.Client) error {
		return func(ctx context.Context, cl *client.Client) error { _, err := cl.Put(ctx, key, val); return err }
	}
	revs := []*regexp.Regexp{maskRevisions}

	tests := []compatCase{
		// Reads: the same state, the same bytes.
		{name: "get", args: []string{"get", "a"}, formats: allEtcdFormats},
		{name: "get prefix", args: []string{"get", "dir/", "--prefix"}, formats: allEtcdFormats},
		{name: "get hex", args: []string{"get", "dir/", "--prefix", "--hex"}, formats: allEtcdFormats},
		{name: "get keys only", args: []string{"get", "a", "dir/z", "--keys-only"}, formats: allEtcdFormats},
		{name: "get limit", args: []string{"get", "a", "--from-key", "--limit=1"}, formats: allEtcdFormats},
		{name: "get old revision", args: []string{"get", "a", "--rev=3"}, formats: allEtcdFormats},
		{name: "get missing", args: []string{"get", "nothing"}, formats: allEtcdFormats},
		{name: "get count only", args: []string{"get", "dir/", "--prefix", "--count-only"}, formats: []string{formatFields}},
		{name: "lease timetolive", args: []string{"lease", "timetolive", leaseHex, "--keys"}, formats: allEtcdFormats, masks: []*regexp.Regexp{maskTTLs}},
		{name: "lease timetolive hex", args: []string{"lease", "timetolive", leaseHex, "--hex"}, formats: []string{formatFields}, masks: []*regexp.Regexp{maskTTLs}},
		{name: "lease list", args: []string{"lease", "list"}, formats: allEtcdFormats},
		{name: "lease list hex", args: []string{"lease", "list", "--hex"}, formats: []string{formatFields}},
		{name: "member list", args: []string{"member", "list"}, formats: allEtcdFormats},
		{name: "member list hex", args: []string{"member", "list", "--hex"}, formats: allEtcdFormats},
		{name: "endpoint status", args: []string{"endpoint", "status"}, formats: []string{formatJSON, formatFields}, fix: fixStatus},
		{name: "endpoint status hex", args: []string{"endpoint", "status", "--hex"}, formats: []string{formatFields}, fix: fixStatus},
		{name: "endpoint hashkv", args: []string{"endpoint", "hashkv"}, formats: []string{formatJSON, formatFields}},
		{name: "endpoint health", args: []string{"endpoint", "health"}, formats: []string{formatJSON, formatFields}, masks: []*regexp.Regexp{maskTook}},
		{name: "alarm list", args: []string{"alarm", "list"}, formats: allEtcdFormats},
		{name: "auth status", args: []string{"auth", "status"}, formats: []string{formatJSON, formatProtobuf}},
		{name: "user get", args: []string{"user", "get", "alice"}, formats: []string{formatJSON, formatProtobuf}},
		{name: "user get detail", args: []string{"user", "get", "alice", "--detail"}, formats: allEtcdFormats},
		{name: "user list", args: []string{"user", "list"}, formats: []string{formatJSON, formatProtobuf}},
		{name: "role get", args: []string{"role", "get", "reader"}, formats: allEtcdFormats},
		{name: "role list", args: []string{"role", "list"}, formats: allEtcdFormats},
		{name: "watch", args: []string{"watch", "a", "--rev=1", "--prev-kv"}, formats: allEtcdFormats, watch: true},
		{name: "watch prefix", args: []string{"watch", "dir/", "--prefix", "--rev=1"}, formats: allEtcdFormats, watch: true},

		// Writes: each tool's run moves the revision on, so revisions are
		// masked; setup gives both the same state otherwise.
		{name: "put", args: []string{"put", "w/k", "v"}, formats: []string{formatJSON, formatFields}, masks: revs},
		{name: "put prev-kv", args: []string{"put", "w/k", "new", "--prev-kv"}, formats: []string{formatJSON, formatFields}, masks: revs,
			setup: steps(del("w/k"), put("w/k", "old"))},
		{name: "put lease", args: []string{"put", "w/l", "v", "--lease=" + leaseHex, "--prev-kv"}, formats: []string{formatJSON, formatFields}, masks: revs,
			setup: steps(del("w/l"), put("w/l", "old"))},
		{name: "del", args: []string{"del", "w/", "--prefix", "--prev-kv"}, formats: []string{formatJSON, formatFields}, masks: revs,
			setup: steps(del("w/", client.WithPrefix()), put("w/1", "a"), put("w/2", "b"))},
		{name: "del none", args: []string{"del", "w/none"}, formats: allEtcdFormats},
		{name: "txn", args: []string{"txn"}, stdin: "value(\"a\") = \"one\"\n\nput w/t y\nget a\ndel w/1\n\nget nothing\n\n",
			formats: []string{formatJSON, formatFields}, masks: revs, setup: steps(put("w/1", "a"))},
		{name: "txn failure", args: []string{"txn"}, stdin: "mod(\"a\") = \"1\"\n\nput w/t y\n\nget a\nget dir/ --prefix --limit=1\n\n",
			formats: allEtcdFormats},
		{name: "lease grant", args: []string{"lease", "grant", "100"}, formats: allEtcdFormats, masks: []*regexp.Regexp{maskIDs}},
		{name: "lease keep-alive", args: []string{"lease", "keep-alive", "--once", "{}"}, formats: allEtcdFormats,
			masks: []*regexp.Regexp{maskIDs}, setup: grant},
		{name: "lease revoke", args: []string{"lease", "revoke", "{}"}, formats: []string{formatJSON, formatFields}, setup: grant},
		{name: "member add", args: []string{"member", "add", "new", "--learner", "--peer-urls=" + learnerURL},
			formats: []string{formatJSON}, masks: []*regexp.Regexp{maskIDs}, setup: learner(false), canon: membersByPeerURL},
		{name: "member update", args: []string{"member", "update", "{}", "--peer-urls=http://127.0.0.1:2"},
			formats: []string{formatJSON}, masks: []*regexp.Regexp{maskIDs}, setup: learner(true), canon: membersByPeerURL},
		{name: "member remove", args: []string{"member", "remove", "{}"}, formats: []string{formatJSON}, setup: learner(true), canon: membersByPeerURL},
		{name: "role add", args: []string{"role", "add", "writer"}, formats: allEtcdFormats,
			setup: func(ctx context.Context, cl *client.Client) (string, error) {
				_, err := cl.RoleDelete(ctx, "writer")
				return "", ignoreNotFound(err)
			}},
		{name: "user add", args: []string{"user", "add", "bob", "--no-password"}, formats: allEtcdFormats,
			setup: func(ctx context.Context, cl *client.Client) (string, error) {
				_, err := cl.UserDelete(ctx, "bob")
				return "", ignoreNotFound(err)
			}},
		{name: "role grant-permission", args: []string{"role", "grant-permission", "reader", "readwrite", "w/", "--prefix"}, formats: allEtcdFormats},
		{name: "user grant-role", args: []string{"user", "grant-role", "alice", "reader"}, formats: allEtcdFormats},
	}
	for _, tt := range tests {
		for _, format := range tt.formats {
			t.Run(tt.name+"/"+format, func(t *testing.T) {
				args := append([]string{"-w", format}, tt.args...)
				var outs [2]string
				if tt.watch {
					// Both replay the key's history at once, until the
					// time is up.
					var wg sync.WaitGroup
					for i, etcd := range []bool{true, false} {
						wg.Add(1)
						go func() {
							defer wg.Done()
							outs[i], _ = m.run(etcd, time.Second, "", args)
						}()
					}
					wg.Wait()
				}
				for i, etcd := range []bool{true, false} {
					if tt.watch {
						break
					}
					args := append([]string(nil), args...)
					if tt.setup != nil {
						arg, err := tt.setup(ctx, m.cl)
						if err != nil {
							t.Fatalf("setup: %v", err)
						}
						for j := range args {
							args[j] = strings.ReplaceAll(args[j], "{}", arg)
						}
					}
					var ok bool
					if outs[i], ok = m.run(etcd, 10*time.Second, tt.stdin, args); !ok {
						t.Fatalf("%v (etcdctl: %v) failed; stdout %q", args, etcd, outs[i])
					}
				}
				want, got := outs[0], outs[1]
				if tt.fix != nil {
					want = tt.fix(want)
				}
				if tt.canon != nil {
					want, got = tt.canon(want), tt.canon(got)
				}
				if format != formatProtobuf {
					want, got = mask(want, tt.masks), mask(got, tt.masks)
				}
				if want == "" {
					t.Fatalf("etcdctl printed nothing")
				}
				if got != want {
					t.Errorf("ctl printed\n%q\netcdctl\n%q", got, want)
				}
			})
		}
	}
}

// ignoreNotFound is err, unless it says what was to be deleted was not
// there.
func ignoreNotFound(err error) error {
	if err != nil && (strings.Contains(err.Error(), "not found")) {
		return nil
	}
	return err
}
