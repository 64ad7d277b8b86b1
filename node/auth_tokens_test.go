package node_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/auth"
	"github.com/cairndb/cairn/node"
)

// A simple token unused for its TTL is refused; used, it lives on. The
// TTL is long beside a request's latency on a loaded machine: each use
// must come within it of the last for the token to live on.
func TestAuthSimpleTokenExpires(t *testing.T) {
	const ttl = 1500 * time.Millisecond
	c := authCluster(t, 1, func(cfg *node.Config) { cfg.AuthTokenTTL = ttl })
	conn := dial(t, c, 0)
	setUpAuth(t, conn)
	alice := asUser{t, conn, mustAuthenticate(t, conn, "alice", "alicepw")}
	// Used more often than the TTL, it stays valid beyond it.
	for range 6 {
		time.Sleep(ttl / 5)
		if err := alice.get("app/x", ""); err != nil {
			t.Fatalf("token in use: %v", err)
		}
	}
	time.Sleep(ttl + ttl/2)
	wantCode(t, "token unused for its TTL", alice.get("app/x", ""), api.ErrInvalidAuthToken)
}

// A signed token is self-contained: a member that did not issue it
// verifies it, also after a restart, which simple tokens do not survive.
// (Its TTL is long: a restart under -race on a loaded machine takes
// seconds. TestAuthSignedTokenExpires checks the expiry.)
func TestAuthSignedTokenVerifiedByAnotherMember(t *testing.T) {
	c := authCluster(t, 3, func(cfg *node.Config) {
		cfg.AuthToken = "signed"
		cfg.AuthTokenTTL = time.Hour
	})
	c0, c2 := dial(t, c, 0), dial(t, c, 2)
	setUpAuth(t, c0)
	tok := mustAuthenticate(t, c0, "alice", "alicepw")
	if err := (asUser{t, c2, tok}).put("app/x"); err != nil {
		t.Fatalf("signed token at another member: %v", err)
	}
	wantCode(t, "signed token, forbidden key", asUser{t, c2, tok}.put("secret"), api.ErrPermissionDenied)
	c.StopMember(2)
	c.StartMember(2)
	c.Leader()
	c2 = dial(t, c, 2)
	if err := (asUser{t, c2, tok}).get("app/x", ""); err != nil {
		t.Fatalf("signed token after the member restarted: %v", err)
	}
}

// A signed token is refused once its TTL has passed, however it is
// used meanwhile.
func TestAuthSignedTokenExpires(t *testing.T) {
	const ttl = 300 * time.Millisecond
	c := authCluster(t, 1, func(cfg *node.Config) {
		cfg.AuthToken = "signed"
		cfg.AuthTokenTTL = ttl
	})
	conn := dial(t, c, 0)
	setUpAuth(t, conn)
	alice := asUser{t, conn, mustAuthenticate(t, conn, "alice", "alicepw")}
	// Issued before mustAuthenticate returned: expired by then.
	time.Sleep(ttl + 100*time.Millisecond)
	err := alice.get("app/x", "")
	wantCode(t, "expired signed token", err, api.ErrInvalidAuthToken)
	if !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired signed token refused for another reason: %v", err)
	}
}

// Simple tokens live in members' memory: after a restart the member
// refuses them and the client authenticates again.
func TestAuthSimpleTokenLostOnRestart(t *testing.T) {
	c := authCluster(t, 1, nil)
	conn := dial(t, c, 0)
	setUpAuth(t, conn)
	tok := mustAuthenticate(t, conn, "alice", "alicepw")
	c.StopMember(0)
	c.StartMember(0)
	c.Leader()
	conn = dial(t, c, 0)
	wantCode(t, "simple token after a restart", asUser{t, conn, tok}.get("app/x", ""), api.ErrInvalidAuthToken)
	again := mustAuthenticate(t, conn, "alice", "alicepw")
	if err := (asUser{t, conn, again}).put("app/x"); err != nil {
		t.Fatalf("after authenticating again: %v", err)
	}
}

// A simple token never reaches the disk: the log holds its hash, and the
// hash is no token, even to a member that replays the log.
func TestSimpleTokenNotInTheLog(t *testing.T) {
	c := authCluster(t, 1, nil)
	conn := dial(t, c, 0)
	setUpAuth(t, conn)
	tok := mustAuthenticate(t, conn, "alice", "alicepw")
	if err := (asUser{t, conn, tok}).put("app/x"); err != nil {
		t.Fatalf("put with the token: %v", err)
	}
	c.StopMember(0)
	var wal []byte
	err := filepath.WalkDir(c.Configs[0].DataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		wal = append(wal, b...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(wal, []byte(tok)) {
		t.Fatalf("the data dir holds the token %s", tok)
	}
	if !bytes.Contains(wal, []byte(auth.HashSimpleToken(tok))) {
		t.Fatal("the data dir holds no hash of the token: the test looks in the wrong place")
	}
	c.StartMember(0)
	c.Leader()
	conn = dial(t, c, 0)
	wantCode(t, "the token's hash as a token", (asUser{t, conn, auth.HashSimpleToken(tok)}).put("app/x"), api.ErrInvalidAuthToken)
}
