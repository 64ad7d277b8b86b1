package datadir

import (
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/cairndb/cairn/api"
	"pgregory.net/rapid"
)

func mustURLs(t *testing.T, s string) []url.URL {
	t.Helper()
	u, err := ParseURLs(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestParseURLs(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		{"http://127.0.0.1:2379", ""},
		{"https://a:1,http://b:2", ""},
		{"", "empty"},
		{"127.0.0.1:2379", "scheme"},
		{"ftp://a:1", "scheme"},
		{"http://a", "host:port"},
		{"http://a:1/path", "path"},
		{"http://user@a:1", "user"},
	}
	for _, tt := range tests {
		_, err := ParseURLs(tt.in)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%q: %v", tt.in, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%q: error %v, want one mentioning %q", tt.in, err, tt.wantErr)
		}
	}
}

func TestParseInitialCluster(t *testing.T) {
	got, err := ParseInitialCluster("a=http://127.0.0.1:2380,b=http://127.0.0.1:12380,a=http://10.0.0.1:2380")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || len(got["a"]) != 2 || len(got["b"]) != 1 {
		t.Fatalf("parsed %v", got)
	}
	for _, bad := range []string{"a", "=http://x:1", "a=", "a=x:1"} {
		if _, err := ParseInitialCluster(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCheckInitialCluster(t *testing.T) {
	initial := map[string][]url.URL{
		"a": mustURLs(t, "http://a:1,http://a:2"),
		"b": mustURLs(t, "http://b:1"),
	}
	tests := []struct {
		name    string
		peers   string
		initial map[string][]url.URL
		wantErr string
	}{
		{"a", "http://a:2,http://a:1", initial, ""},
		{"c", "http://c:1", initial, `no member named "c"`},
		{"b", "http://b:9", initial, "--initial-advertise-peer-urls"},
		{"a", "http://a:1,http://a:2", map[string][]url.URL{"a": initial["a"], "z": mustURLs(t, "http://a:1")}, "both"},
	}
	for _, tt := range tests {
		err := CheckInitialCluster(tt.name, mustURLs(t, tt.peers), tt.initial)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: error %v, want one mentioning %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestMemberIDs(t *testing.T) {
	a := MemberID(mustURLs(t, "http://127.0.0.1:2380"), "tok")
	if a != MemberID(mustURLs(t, "http://127.0.0.1:2380"), "tok") {
		t.Fatal("member id not deterministic")
	}
	if a == MemberID(mustURLs(t, "http://127.0.0.1:2380"), "other") {
		t.Fatal("cluster token does not change the member id")
	}
	if MemberID(mustURLs(t, "http://a:1,http://b:2"), "t") != MemberID(mustURLs(t, "http://b:2,http://a:1"), "t") {
		t.Fatal("member id depends on URL order")
	}
	if ClusterID([]uint64{1, 2, 3}) != ClusterID([]uint64{3, 1, 2}) {
		t.Fatal("cluster id depends on member order")
	}
}

func TestMemberEncodingRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := api.Member{
			ID:        rapid.Uint64().Draw(t, "id"),
			Name:      rapid.String().Draw(t, "name"),
			IsLearner: rapid.Bool().Draw(t, "learner"),
		}
		if u := rapid.SliceOfN(rapid.String(), 1, 3).Draw(t, "peer"); len(u) > 0 {
			m.PeerURLs = u
		}
		if u := rapid.SliceOfN(rapid.String(), 0, 3).Draw(t, "client"); len(u) > 0 {
			m.ClientURLs = u
		}
		b := EncodeMember(m)
		got, err := DecodeMember(b)
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Fatalf("round trip: %+v %v, want %+v", got, err, m)
		}
		for i := range b {
			if _, err := DecodeMember(b[:i]); err == nil {
				t.Fatalf("prefix %d/%d decoded", i, len(b))
			}
		}
	})
}

func TestAuxIDKey(t *testing.T) {
	if got := string(AuxIDKey(AuxMember, 0xab)); got != "member/00000000000000ab" {
		t.Fatalf("AuxIDKey = %q", got)
	}
}
