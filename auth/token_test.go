package auth

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cairndb/cairn/api"
)

func TestSimpleTokensExpireUnlessUsed(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ts := NewSimpleTokens(10 * time.Second)
	tok, err := NewSimpleToken(rand.Reader)
	if err != nil || len(tok) != 32 || IsSigned(tok) {
		t.Fatalf("token %q, %v", tok, err)
	}
	id := Identity{User: "alice", Revision: 4}
	ts.Add(HashSimpleToken(tok), id, t0)
	// The table holds hashes: presenting the hash is presenting an
	// unknown token.
	if _, err := ts.Lookup(HashSimpleToken(tok), t0); !errors.Is(err, api.ErrInvalidAuthToken) {
		t.Fatalf("a token's hash taken for the token: %v", err)
	}
	// Used every 6 s it stays alive past its first 10 s.
	for i := 1; i <= 3; i++ {
		got, err := ts.Lookup(tok, t0.Add(time.Duration(6*i)*time.Second))
		if err != nil || got != id {
			t.Fatalf("lookup %d: %+v %v", i, got, err)
		}
	}
	// Unused for the TTL it is gone.
	if _, err := ts.Lookup(tok, t0.Add(28*time.Second)); !errors.Is(err, api.ErrInvalidAuthToken) {
		t.Fatalf("expired token: %v", err)
	}
	if _, err := ts.Lookup("nope", t0); !errors.Is(err, api.ErrInvalidAuthToken) {
		t.Fatalf("unknown token: %v", err)
	}
	ts.Add(HashSimpleToken("a"), id, t0)
	ts.Add(HashSimpleToken("b"), id, t0.Add(5*time.Second))
	if n := ts.Expire(t0.Add(12 * time.Second)); n != 1 || ts.Len() != 1 {
		t.Fatalf("expire dropped %d, %d left", n, ts.Len())
	}
	// Adding many tokens over time keeps only the live ones around.
	for i := range 1000 {
		ts.Add(fmt.Sprint(i), id, t0.Add(time.Duration(i)*time.Second))
	}
	if ts.Len() > 2*minSweep+20 {
		t.Fatalf("%d tokens kept, most of them expired", ts.Len())
	}
}

func TestSignedTokens(t *testing.T) {
	now := time.Unix(5000, 0)
	key := bytes.Repeat([]byte{7}, 32)
	id := Identity{User: "al.ice", Revision: 9}
	tok := SignToken(key, id, now.Add(time.Minute))
	if !IsSigned(tok) {
		t.Fatalf("%q is not recognised as signed", tok)
	}
	got, err := VerifyToken(key, tok, now)
	if err != nil || got != id {
		t.Fatalf("verify: %+v %v", got, err)
	}
	bad := map[string]string{
		"expired":        tok,
		"other key":      tok,
		"tampered":       tok[:len(tok)-2] + "AA",
		"garbage":        "s1.!!!.???",
		"no mac":         "s1.abc",
		"simple":         "0123456789abcdef0123456789abcdef",
		"zero revision":  SignToken(key, Identity{User: "x"}, now.Add(time.Minute)),
		"forged payload": SignToken(bytes.Repeat([]byte{8}, 32), id, now.Add(time.Hour)),
	}
	for name, tk := range bad {
		k, at := key, now
		switch name {
		case "expired":
			at = now.Add(time.Minute)
		case "other key":
			k = bytes.Repeat([]byte{9}, 32)
		}
		if _, err := VerifyToken(k, tk, at); !errors.Is(err, api.ErrInvalidAuthToken) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A token whose payload was changed (another user) fails its mac.
	parts := strings.Split(tok, ".")
	other := strings.Split(SignToken(key, Identity{User: "root", Revision: 9}, now.Add(time.Minute)), ".")
	if _, err := VerifyToken(key, parts[0]+"."+other[1]+"."+parts[2], now); !errors.Is(err, api.ErrInvalidAuthToken) {
		t.Fatalf("spliced token: %v", err)
	}
	if _, err := VerifyToken(nil, tok, now); !errors.Is(err, api.ErrInvalidAuthToken) {
		t.Fatalf("no key: %v", err)
	}
}

// DropUser forgets one user's tokens and DropAll every token.
func TestSimpleTokensDrop(t *testing.T) {
	now := time.Now()
	tokens := NewSimpleTokens(time.Hour)
	for _, tc := range []struct{ token, user string }{{"a1", "alice"}, {"a2", "alice"}, {"b1", "bob"}} {
		tokens.Add(HashSimpleToken(tc.token), Identity{User: tc.user, Revision: 2}, now)
	}
	tokens.DropUser("alice")
	for token, live := range map[string]bool{"a1": false, "a2": false, "b1": true} {
		if _, err := tokens.Lookup(token, now); (err == nil) != live {
			t.Errorf("token %s after alice's tokens were dropped: %v, want live %v", token, err, live)
		}
	}
	tokens.DropAll()
	if _, err := tokens.Lookup("b1", now); !errors.Is(err, api.ErrInvalidAuthToken) || tokens.Len() != 0 {
		t.Fatalf("after DropAll: %v, %d tokens left", err, tokens.Len())
	}
}
