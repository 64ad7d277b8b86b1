package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The same etcdctl and gateway session against a real etcd 3.6 member
// and a cairn member, compared: simple output line for line (ids,
// numbers and durations aside), -w fields by field names, and JSON by
// shape (every field with its JSON type), so that scripts written
// against etcd's output (jq, awk) work unchanged against cairn.
func TestEtcdctlOutputMatchesEtcd(t *testing.T) {
	etcdctlBin(t)
	etcdEP := strings.TrimPrefix(startEtcd(t).endpoint, "http://")
	cairnEP := startCairnMember(t)
	want := compatSession(t, etcdEP)
	got := compatSession(t, cairnEP)
	if len(want) != len(got) {
		t.Fatalf("the sessions ran %d and %d steps", len(want), len(got))
	}
	for i, w := range want {
		g := got[i]
		switch w.kind {
		case compareText:
			if nw, ng := normalizeOutput(w.out), normalizeOutput(g.out); nw != ng {
				t.Errorf("%s: etcd printed %q, cairn %q (normalized %q and %q)", w.name, w.out, g.out, nw, ng)
			}
		case compareFields:
			if fw, fg := fieldNames(w.out), fieldNames(g.out); !slices.Equal(fw, fg) {
				t.Errorf("%s: etcd printed the fields %q, cairn %q", w.name, fw, fg)
			}
		case compareJSON:
			pw, err := jsonShape(w.out)
			if err != nil {
				t.Fatalf("%s: etcd printed %q: %v", w.name, w.out, err)
			}
			pg, err := jsonShape(g.out)
			if err != nil {
				t.Errorf("%s: cairn printed %q: %v", w.name, g.out, err)
				continue
			}
			var missing, extra []string
			for p := range pw {
				if !pg[p] {
					missing = append(missing, p)
				}
			}
			for p := range pg {
				if !pw[p] && !w.extraOK[p] {
					extra = append(extra, p)
				}
			}
			if len(missing) > 0 || len(extra) > 0 {
				slices.Sort(missing)
				slices.Sort(extra)
				t.Errorf("%s: cairn's JSON lacks %q and adds %q\netcd:  %s\ncairn: %s", w.name, missing, extra, w.out, g.out)
			}
		}
	}
}

type compareKind int

const (
	compareText   compareKind = iota // normalized text, equal
	compareFields                    // -w fields: the same field names in the same order
	compareJSON                      // the same JSON shape
)

// compatStep is one command's output in a session.
type compatStep struct {
	name    string
	kind    compareKind
	out     string
	extraOK map[string]bool // JSON paths cairn may add, each for a stated reason
}

// compatSession runs one session against the member at ep (host:port)
// and returns what each step printed.
func compatSession(t *testing.T, ep string) []compatStep {
	eps := "--endpoints=" + ep
	base := "http://" + ep
	var steps []compatStep
	text := func(name, out string) { steps = append(steps, compatStep{name: name, kind: compareText, out: out}) }
	js := func(name, out string) { steps = append(steps, compatStep{name: name, kind: compareJSON, out: out}) }
	run := func(stdin string, args ...string) string {
		t.Helper()
		return etcdctl(t, stdin, append([]string{eps}, args...)...)
	}
	// failsWith is the error line of a command that must fail.
	failsWith := func(stdin string, args ...string) string {
		t.Helper()
		_, errOut, code := etcdctlRun(t, stdin, append([]string{eps}, args...)...)
		if code == 0 {
			t.Fatalf("etcdctl %s succeeded at %s", strings.Join(args, " "), ep)
		}
		return errOut[strings.LastIndex(strings.TrimSuffix(errOut, "\n"), "\n")+1:]
	}
	fails := func(args ...string) string { t.Helper(); return failsWith("", args...) }

	text("put", run("", "put", "cmp/a", "1"))
	first := getJSON(t, eps, "cmp/a").Header.Revision
	text("put", run("", "put", "cmp/b", "2"))
	js("put --prev-kv -w json", run("", "put", "cmp/a", "1b", "--prev-kv", "-w", "json"))
	text("get --prefix", run("", "get", "cmp/", "--prefix"))
	js("get --prefix -w json", run("", "get", "cmp/", "--prefix", "-w", "json"))
	js("get --keys-only -w json", run("", "get", "cmp/", "--prefix", "--keys-only", "-w", "json"))
	js("get --limit -w json", run("", "get", "cmp/", "--prefix", "--limit", "1", "-w", "json"))
	steps = append(steps, compatStep{name: "get -w fields", kind: compareFields, out: run("", "get", "cmp/a", "-w", "fields")})
	steps = append(steps, compatStep{name: "get --count-only -w fields", kind: compareFields,
		out: run("", "get", "cmp/", "--prefix", "--count-only", "-w", "fields")})
	txn := "value(\"cmp/a\") = \"1b\"\n\nput cmp/c 3\nget cmp/a\n\ndel cmp/a\n\n"
	text("txn --interactive", run(txn, "txn", "--interactive"))
	js("txn -w json", run(txn, "txn", "-w", "json"))
	text("del --prev-kv", run("", "del", "cmp/c", "--prev-kv"))
	js("del --prev-kv -w json", run("", "del", "cmp/b", "--prev-kv", "-w", "json"))
	text("get a future revision", fails("get", "cmp/a", "--rev", "1000000"))
	text("put of 1.6 MB", failsWith(strings.Repeat("x", 1600000), "put", "cmp/big"))
	text("txn of 130 puts", failsWith("\n"+strings.Repeat("put cmp/many v\n", 130)+"\n\n", "txn"))

	watch := startEtcdctl(t, eps, "watch", "cmp/", "--prefix", "--prev-kv", "--rev", strconv.FormatInt(first, 10))
	// Seven events: three puts, then the txn's put and delete, then two deletes.
	text("watch --prefix --prev-kv --rev", watch.waitOutput("seven events", func(s string) bool {
		return strings.Count(s, "PUT\n")+strings.Count(s, "DELETE\n") >= 7
	}))
	watchJSON := startEtcdctl(t, eps, "watch", "cmp/", "--prefix", "--prev-kv", "--rev", strconv.FormatInt(first, 10), "-w", "json")
	js("watch -w json", watchJSON.waitOutput("seven events", func(s string) bool {
		return strings.Count(s, `"kv"`) >= 7
	}))

	text("lease grant", run("", "lease", "grant", "60"))
	var grant struct{ ID int64 }
	out := run("", "lease", "grant", "60", "-w", "json")
	js("lease grant -w json", out)
	decodeJSON(t, "lease grant -w json", out, &grant)
	id := fmt.Sprintf("%016x", grant.ID)
	run("", "put", "cmp/leased", "v", "--lease="+id)
	text("lease timetolive --keys", run("", "lease", "timetolive", id, "--keys"))
	js("lease timetolive --keys -w json", run("", "lease", "timetolive", id, "--keys", "-w", "json"))
	text("lease keep-alive --once", run("", "lease", "keep-alive", "--once", id))
	js("lease keep-alive --once -w json", run("", "lease", "keep-alive", "--once", id, "-w", "json"))
	js("lease list -w json", run("", "lease", "list", "-w", "json"))
	text("lease revoke", run("", "lease", "revoke", id))
	text("lease timetolive after revoke", run("", "lease", "timetolive", id))
	text("lease revoke again", fails("lease", "revoke", id))
	text("lease grant too long", fails("lease", "grant", "9000000001"))

	js("member list -w json", run("", "member", "list", "-w", "json"))
	js("endpoint status -w json", run("", "endpoint", "status", "-w", "json"))
	js("endpoint hashkv -w json", run("", "endpoint", "hashkv", "-w", "json"))
	js("endpoint health -w json", run("", "endpoint", "health", "-w", "json"))
	js("alarm list -w json", run("", "alarm", "list", "-w", "json"))
	text("alarm list", run("", "alarm", "list"))
	rev := getJSON(t, eps, "cmp/").Header.Revision
	text("compaction", run("", "compaction", strconv.FormatInt(rev, 10)))
	js("endpoint hashkv after compaction -w json", run("", "endpoint", "hashkv", "-w", "json"))
	text("get a compacted revision", fails("get", "cmp/a", "--rev", strconv.FormatInt(first, 10)))

	text("user add", run("", "user", "add", "root", "--new-user-password=rootpw", "--interactive=false"))
	text("user add", run("", "user", "add", "bob", "--new-user-password=bobpw", "--interactive=false"))
	tooLong := strings.Repeat("p", 73) // past bcrypt's 72 bytes
	text("user add with a password of 73 bytes", fails("user", "add", "eve", "--new-user-password="+tooLong, "--interactive=false"))
	text("user passwd with a password of 73 bytes", failsWith(tooLong+"\n", "user", "passwd", "bob", "--interactive=false"))
	text("role add", run("", "role", "add", "r"))
	text("role grant-permission", run("", "role", "grant-permission", "r", "readwrite", "cmp/", "--prefix"))
	text("role grant-permission", run("", "role", "grant-permission", "r", "read", "other"))
	text("user grant-role", run("", "user", "grant-role", "bob", "r"))
	text("role get", run("", "role", "get", "r"))
	js("role get -w json", run("", "role", "get", "r", "-w", "json"))
	text("user get", run("", "user", "get", "bob"))
	js("user get -w json", run("", "user", "get", "bob", "-w", "json"))
	text("user list", run("", "user", "list"))
	text("auth enable", run("", "auth", "enable"))
	text("get without a user", fails("get", "cmp/a"))
	text("bob get outside his role", fails("--user=bob:bobpw", "get", "secret"))
	text("bob put outside his role", fails("--user=bob:bobpw", "put", "other", "x"))
	text("wrong password", fails("--user=bob:nope", "get", "cmp/a"))
	text("bob put", run("", "--user=bob:bobpw", "put", "cmp/bob", "x"))
	js("auth status -w json", run("", "--user=root:rootpw", "auth", "status", "-w", "json"))
	text("auth disable", run("", "--user=root:rootpw", "auth", "disable"))

	// The JSON gateway.
	gw := func(name, path, body string) {
		t.Helper()
		_, out := gatewayCall(t, base, path, "", body)
		js(name, out)
	}
	gw("/v3/kv/put", "/v3/kv/put", `{"key":"`+b64("gw")+`","value":"`+b64("1")+`","prev_kv":true}`)
	gw("/v3/kv/put prev_kv", "/v3/kv/put", `{"key":"`+b64("gw")+`","value":"`+b64("2")+`","prev_kv":true}`)
	gw("/v3/kv/range", "/v3/kv/range", `{"key":"`+b64("gw")+`"}`)
	gw("/v3/kv/range count_only", "/v3/kv/range", `{"key":"`+b64("a")+`","range_end":"`+b64("z")+`","count_only":true}`)
	gw("/v3/kv/txn", "/v3/kv/txn", `{"compare":[{"key":"`+b64("gw")+`","target":"VALUE","value":"`+b64("2")+`"}],`+
		`"success":[{"request_range":{"key":"`+b64("gw")+`"}},{"request_put":{"key":"`+b64("gw2")+`"}}]}`)
	gw("/v3/kv/deleterange", "/v3/kv/deleterange", `{"key":"`+b64("gw")+`","prev_kv":true}`)
	gw("/v3/lease/grant", "/v3/lease/grant", `{"TTL":30}`)
	gw("/v3/maintenance/status", "/v3/maintenance/status", `{}`)
	gw("/v3/cluster/member/list", "/v3/cluster/member/list", `{}`)
	gw("/v3/auth/status", "/v3/auth/status", `{}`)
	next := openGatewayWatch(t, base, `{"create_request":{"key":"`+b64("gw")+`","prev_kv":true}}`)
	created := next()
	gatewayCall(t, base, "/v3/kv/put", "", `{"key":"`+b64("gw")+`","value":"`+b64("3")+`"}`)
	// cairn numbers a stream's watches from 1, etcd from 0 (a zero value,
	// left out).
	steps = append(steps, compatStep{name: "/v3/watch", kind: compareJSON, out: created + next(),
		extraOK: map[string]bool{".result.watch_id:string": true}})
	for _, bad := range []struct{ name, path, body string }{
		{"an empty key", "/v3/kv/put", `{}`},
		{"bad base64", "/v3/kv/range", `{"key":"not base64!"}`},
		{"a revoked lease", "/v3/lease/revoke", `{"ID":"1"}`},
		{"not JSON", "/v3/kv/range", `{`},
		{"a password of 73 bytes", "/v3/auth/user/add", `{"name":"eve","password":"` + strings.Repeat("p", 73) + `"}`},
	} {
		code, out := gatewayCall(t, base, bad.path, "", bad.body)
		var e gwError
		if err := json.Unmarshal([]byte(out), &e); err != nil {
			t.Fatalf("POST %s %s at %s: HTTP %d %q: %v", bad.path, bad.body, ep, code, out, err)
		}
		// protobuf's JSON and its error texts vary their spaces from one
		// build to another on purpose (a space or a no-break space), so
		// the error is compared parsed.
		text(bad.path+" with "+bad.name, fmt.Sprintf("HTTP %d code %d %s", code, e.Code, strings.ReplaceAll(e.Message, "\u00a0", " ")))
	}
	for _, path := range []string{"/health"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		text(path, strings.TrimSuffix(string(b), "\n"))
	}
	return steps
}

// normalizeOutput hides what differs between any two members: ids,
// numbers, durations, addresses.
func normalizeOutput(s string) string {
	s = regexp.MustCompile(`127\.0\.0\.1:\d+`).ReplaceAllString(s, "ADDR")
	s = regexp.MustCompile(`\b[0-9a-f]{10,16}\b`).ReplaceAllString(s, "ID")
	s = regexp.MustCompile(`\d+(\.\d+)?(ms|µs|s)\b`).ReplaceAllString(s, "DUR")
	s = regexp.MustCompile(`\d+`).ReplaceAllString(s, "N")
	return s
}

// fieldNames lists the "Name" labels of -w fields output in order.
func fieldNames(s string) []string {
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^"(\w+)" : `).FindAllStringSubmatch(s, -1) {
		names = append(names, m[1])
	}
	return names
}

// jsonShape lists the paths of every value in a JSON document (or a
// stream of them, as watch prints), each with its JSON type, array
// elements sharing their array's path: {"a":[{"b":1}]} is .a:array,
// .a[]:object, .a[].b:number.
func jsonShape(doc string) (map[string]bool, error) {
	shape := map[string]bool{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			shape[path+":object"] = true
			for k, e := range v {
				walk(path+"."+k, e)
			}
		case []any:
			shape[path+":array"] = true
			for _, e := range v {
				walk(path+"[]", e)
			}
		case string:
			shape[path+":string"] = true
		case json.Number:
			shape[path+":number"] = true
		case bool:
			shape[path+":bool"] = true
		case nil:
			shape[path+":null"] = true
		}
	}
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	n := 0
	for ; ; n++ {
		var v any
		err := dec.Decode(&v)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		walk("", v)
	}
	if n == 0 {
		return nil, fmt.Errorf("no JSON")
	}
	return shape, nil
}

// startCairnMember starts a one-member cairn and returns its client
// endpoint (host:port) once it has published it.
func startCairnMember(t *testing.T) string {
	t.Helper()
	return startCairnMemberNamed(t, "c")
}
