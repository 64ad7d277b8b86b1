package sim

import (
	"bytes"
	"strings"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/auth"
	"github.com/cairndb/cairn/internal/fsx"
	"github.com/cairndb/cairn/node/replica"
	"pgregory.net/rapid"
)

// The checker's auth model agrees with the member's auth on far more than
// the simulated administrator and clients do: random auth commands (by
// root, by another user, by no user, with old revisions) applied through a
// real KVState leave its auth state as the model says, and random writes
// and reads over a small alphabet of keys and ranges are refused exactly
// when the model refuses them. So a run that fails an auth check found a
// bug in the member, not in the model.
func TestAuthModelAgreesWithMembers(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		k, err := replica.OpenKVState(fsx.NewMem(), "/db")
		if err != nil {
			t.Fatal(err)
		}
		defer k.Close()
		model := newAuthModel()
		index := uint64(0)
		apply := func(e replica.Envelope) replica.ApplyResult {
			index++
			out, err := k.Apply(index, 1, e.Marshal()[entryHeader:])
			if err != nil {
				t.Fatalf("apply at %d: %v", index, err)
			}
			return out.(replica.ApplyResult)
		}
		keys := []string{"a", "b", "ba", "c"}
		ends := []string{"", "", "\x00", "b", "bb", "c", "d"}
		span := func(label string) ([]byte, []byte) {
			key := rapid.SampledFrom(append([]string{""}, keys...)).Draw(t, label+" key")
			end := rapid.SampledFrom(ends).Draw(t, label+" end")
			if key == "" && end == "" {
				key = "a"
			}
			return []byte(key), []byte(end)
		}
		names := []string{auth.RootUser, "u1", "u2"}
		roles := []string{auth.RootRole, "r1", "r2"}
		who := func(e replica.Envelope) replica.Envelope {
			switch rapid.IntRange(0, 3).Draw(t, "who") {
			case 0:
				return e // no user
			case 1:
				return e.By(auth.Identity{User: auth.RootUser})
			}
			rev := rapid.Uint64Range(0, model.revision+1).Draw(t, "token revision")
			return e.By(auth.Identity{User: rapid.SampledFrom(names).Draw(t, "user"), Revision: rev})
		}
		if rapid.IntRange(0, 3).Draw(t, "start with auth on") != 0 {
			for _, c := range []*auth.Command{
				{Op: auth.OpUserAdd, Name: auth.RootUser, NoPassword: true},
				{Op: auth.OpUserGrantRole, Name: auth.RootUser, Role: auth.RootRole},
				{Op: auth.OpUserAdd, Name: "u1", NoPassword: true},
				{Op: auth.OpUserAdd, Name: "u2", NoPassword: true},
				{Op: auth.OpRoleAdd, Name: "r1"},
				{Op: auth.OpRoleAdd, Name: "r2"},
				{Op: auth.OpUserGrantRole, Name: "u1", Role: "r1"},
				{Op: auth.OpUserGrantRole, Name: "u2", Role: "r2"},
				{Op: auth.OpRoleGrantPermission, Name: "r1", Perm: api.Permission{PermType: api.PermRead, Key: []byte("a"), RangeEnd: []byte("c")}},
				{Op: auth.OpRoleGrantPermission, Name: "r2", Perm: api.Permission{PermType: api.PermWrite, Key: []byte("b"), RangeEnd: []byte{0}}},
				{Op: auth.OpEnable, SigningKey: bytes.Repeat([]byte{7}, auth.MinSigningKeySize)},
			} {
				apply(replica.AuthCommand(c))
				model, _ = model.apply(replica.AuthCommand(c), c)
			}
			if !k.Auth().Enabled() || !model.enabled {
				t.Fatalf("auth not on after the setup: the state is %s, the model %s", describeAuthState(k.Auth()), model.describe())
			}
		}
		for step := range rapid.IntRange(1, 60).Draw(t, "steps") {
			switch rapid.IntRange(0, 2).Draw(t, "kind") {
			case 0: // an auth change
				c := &auth.Command{Op: auth.Op(rapid.IntRange(int(auth.OpEnable), int(auth.OpRoleRevokePermission)).Draw(t, "op"))}
				c.Name = rapid.SampledFrom(names).Draw(t, "name")
				c.Role = rapid.SampledFrom(roles).Draw(t, "role")
				c.NoPassword = true
				if c.Op >= auth.OpRoleAdd {
					c.Name = rapid.SampledFrom(roles).Draw(t, "role name")
				}
				c.Perm.Key, c.Perm.RangeEnd = span("perm")
				c.Perm.PermType = api.PermType(rapid.IntRange(0, 2).Draw(t, "perm type"))
				c.SigningKey = bytes.Repeat([]byte{7}, auth.MinSigningKeySize)
				e := who(replica.AuthCommand(c))
				apply(e)
				model, _ = model.apply(e, c)
				if got, want := describeAuthState(k.Auth()), model.describe(); got != want {
					t.Fatalf("step %d: after %v by %s the state is\n  %s\nthe model's\n  %s", step, c.Op, describeWho(e), got, want)
				}
			case 1: // a write
				var req api.Message
				key, end := span("write")
				switch rapid.IntRange(0, 2).Draw(t, "write kind") {
				case 0:
					req = &api.PutRequest{Key: []byte(rapid.SampledFrom(keys).Draw(t, "put key")), PrevKv: rapid.Bool().Draw(t, "prev")}
				case 1:
					req = &api.DeleteRangeRequest{Key: key, RangeEnd: end, PrevKv: rapid.Bool().Draw(t, "prev")}
				default:
					ck, cend := span("compare")
					req = &api.TxnRequest{Compare: []api.Compare{{Key: ck, RangeEnd: cend, Target: api.CompareVersion}},
						Success: []api.RequestOp{{Put: &api.PutRequest{Key: []byte(rapid.SampledFrom(keys).Draw(t, "txn put"))}}},
						Failure: []api.RequestOp{{Range: &api.RangeRequest{Key: key, RangeEnd: end}}}}
				}
				cmd, err := replica.NewCommand(req)
				if err != nil {
					t.Fatal(err)
				}
				e := who(cmd)
				want, ok := model.judgeWrite(e)
				if !ok {
					t.Fatalf("the model cannot judge %v by %s", e.Kind, describeWho(e))
				}
				got := api.CodeOf(apply(e).Err)
				if !isAuthCode(got) {
					got = 0
				}
				if got != want {
					t.Fatalf("step %d: %v of %s by %s: %v; the model (%s) says %v", step, e.Kind, describeAuthRequest(req), describeWho(e), got, model.describe(), want)
				}
			default: // a read
				key, end := span("read")
				user := rapid.SampledFrom(names).Draw(t, "reader")
				id := auth.Identity{User: user, Revision: rapid.Uint64Range(0, model.revision+1).Draw(t, "reader revision")}
				req := &api.RangeRequest{Key: key, RangeEnd: end}
				got, want := api.CodeOf(k.Auth().CheckRequest(id, req)), model.judgeRead(&id, req)
				if got != want {
					t.Fatalf("step %d: %+v reads %s: %v; the model (%s) says %v", step, id, describeAuthRequest(req), got, model.describe(), want)
				}
			}
		}
	})
}

func describeAuthRequest(req api.Message) string {
	var b strings.Builder
	switch r := req.(type) {
	case *api.RangeRequest:
		b.WriteString("range " + auth.DescribeRange(r.Key, r.RangeEnd))
	case *api.PutRequest:
		b.WriteString("put " + auth.DescribeRange(r.Key, nil))
	case *api.DeleteRangeRequest:
		b.WriteString("delete " + auth.DescribeRange(r.Key, r.RangeEnd))
	case *api.TxnRequest:
		b.WriteString("txn comparing " + auth.DescribeRange(r.Compare[0].Key, r.Compare[0].RangeEnd))
		for _, op := range append(r.Success, r.Failure...) {
			b.WriteString(", " + describeAuthRequest(op.Request()))
		}
	}
	return b.String()
}

// A key span is within a set of spans exactly when every key that could
// be the first one outside them is in one of them: the span's first key,
// and the end of each span of the set (the keys not covered form ranges,
// each starting at one of those).
func TestKeySpanWithin(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		draw := func(label string) keySpan {
			key := rapid.SampledFrom([]string{"", "a", "aa", "ab", "b", "ba", "c"}).Draw(t, label+" key")
			end := rapid.SampledFrom([]string{"", "\x00", "a", "ab", "b", "ba", "bb", "c", "d"}).Draw(t, label+" end")
			return spanOf([]byte(key), []byte(end))
		}
		s := draw("span")
		var have []keySpan
		for range rapid.IntRange(0, 4).Draw(t, "spans") {
			have = append(have, draw("have"))
		}
		contains := func(h keySpan, k string) bool { return k >= h.from && (h.open || k < h.to) }
		candidates := []string{s.from}
		for _, h := range have {
			if !h.open {
				candidates = append(candidates, h.to)
			}
		}
		want := true
		for _, k := range candidates {
			if !contains(s, k) {
				continue
			}
			in := false
			for _, h := range have {
				in = in || contains(h, k)
			}
			want = want && in
		}
		if got := s.within(have); got != want {
			t.Fatalf("%+v within %+v = %v, want %v", s, have, got, want)
		}
	})
}

// Runs with auth are clean, and cover what they are for: auth changes
// applied, writes and reads refused, old tokens refused. (Four seeds: how
// much two runs of 8 s cover varies with what else the runs simulate.)
func TestAuthRunsCoverRefusals(t *testing.T) {
	var total Coverage
	for _, seed := range []uint64{1, 2, 3, 4} {
		cfg := DefaultConfig(seed)
		cfg.Auth, cfg.Duration = AuthAlways, 8000
		w, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Run(); err != nil {
			t.Fatalf("seed %d with auth: %.1500s", seed, err)
		}
		total.Add(w.Coverage())
	}
	if total.AuthRuns != 4 || total.AuthChanges == 0 || total.AuthRefusedWrites == 0 || total.AuthRefusedReads == 0 || total.AuthOldTokens == 0 {
		t.Errorf("four runs with auth covered %+v", total)
	}
}

// TestMutationNoReadAuthCaught serves reads without checking permissions.
func TestMutationNoReadAuthCaught(t *testing.T) { expectAuthCaught(t, NoReadAuth) }

// TestMutationNoWriteAuthCaught applies every client write as root's.
func TestMutationNoWriteAuthCaught(t *testing.T) { expectAuthCaught(t, NoWriteAuth) }

// expectAuthCaught runs seeds with auth on and mutation until one fails
// an auth check.
func expectAuthCaught(t *testing.T, mutation Mutation) {
	t.Helper()
	for seed := uint64(1); seed <= 8; seed++ {
		cfg := DefaultConfig(seed)
		cfg.Auth, cfg.Mutation, cfg.VizDir = AuthAlways, mutation, t.TempDir()
		w, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		err = w.Run()
		if err != nil && strings.Contains(err.Error(), "the auth model") {
			t.Logf("caught at seed %d: %.600s", seed, err)
			return
		}
		if err != nil {
			t.Fatalf("seed %d failed, but not on an auth check: %.1500s", seed, err)
		}
	}
	t.Fatalf("mutation %d passed every auth check on 8 seeds", mutation)
}
