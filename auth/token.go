package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/cairndb/cairn/api"
)

// Token kinds, as the --auth-token flag names them.
const (
	TokenSimple = "simple"
	TokenSigned = "signed"
)

// simpleTokenBytes is the randomness in a simple token.
const simpleTokenBytes = 16

// NewSimpleToken returns a fresh random token (32 hex digits) read from
// random (crypto/rand.Reader in production).
func NewSimpleToken(random io.Reader) (string, error) {
	b := make([]byte, simpleTokenBytes)
	if _, err := io.ReadFull(random, b); err != nil {
		return "", fmt.Errorf("auth: reading a token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// HashSimpleToken is what the raft log and the members' tables keep of a
// simple token: the hex SHA-256 of it. The log is on disk and a member's
// memory may be dumped; neither holds a token a client could present.
// (A token is 128 random bits: a fast hash is enough, nothing can be
// guessed from it.)
func HashSimpleToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// SimpleTokens are the simple tokens a member knows, by their hashes
// (HashSimpleToken): each names a user and the auth revision it was
// issued at, and expires when unused for the TTL. They live in memory
// only (a restarted member has none: its clients get
// api.ErrInvalidAuthToken and authenticate again). Safe for concurrent
// use; the caller passes the time.
type SimpleTokens struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]simpleToken
	// sweepAt is the size at which Add next drops expired tokens (twice
	// the size after the last sweep, so sweeping costs O(1) per token).
	sweepAt int
}

// minSweep is the fewest tokens worth a sweep.
const minSweep = 64

type simpleToken struct {
	id      Identity
	expires time.Time
}

// NewSimpleTokens returns an empty table of tokens that live ttl after
// their last use.
func NewSimpleTokens(ttl time.Duration) *SimpleTokens {
	return &SimpleTokens{ttl: ttl, m: map[string]simpleToken{}, sweepAt: minSweep}
}

// Add records a token issued at now, known by its hash (as the log
// carries it); now and then it forgets the expired ones.
func (t *SimpleTokens) Add(hash string, id Identity, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.m[hash] = simpleToken{id: id, expires: now.Add(t.ttl)}
	if len(t.m) >= t.sweepAt {
		t.expireLocked(now)
		t.sweepAt = max(2*len(t.m), minSweep)
	}
}

// Lookup returns the identity of a live token and extends its life; an
// unknown or expired token gives api.ErrInvalidAuthToken.
func (t *SimpleTokens) Lookup(token string, now time.Time) (Identity, error) {
	hash := HashSimpleToken(token)
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := t.m[hash]
	if !ok {
		return Identity{}, api.ErrInvalidAuthToken
	}
	if !now.Before(st.expires) {
		delete(t.m, hash)
		return Identity{}, api.ErrInvalidAuthToken
	}
	st.expires = now.Add(t.ttl)
	t.m[hash] = st
	return st.id, nil
}

// DropUser forgets the tokens of user: its password changed, or it was
// deleted (as etcd's simple tokens go then).
func (t *SimpleTokens) DropUser(user string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, st := range t.m {
		if st.id.User == user {
			delete(t.m, k)
		}
	}
}

// DropAll forgets every token: auth was turned off.
func (t *SimpleTokens) DropAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	clear(t.m)
}

// Expire forgets the tokens expired at now and returns how many it
// dropped.
func (t *SimpleTokens) Expire(now time.Time) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.expireLocked(now)
}

func (t *SimpleTokens) expireLocked(now time.Time) int {
	n := 0
	for k, st := range t.m {
		if !now.Before(st.expires) {
			delete(t.m, k)
			n++
		}
	}
	return n
}

// Len is the number of tokens held.
func (t *SimpleTokens) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// Signed tokens are "s1." + base64url(payload) + "." + base64url(mac):
// the payload is the user, the auth revision and the expiry (Unix
// milliseconds), and the mac is HMAC-SHA256 of the payload under the
// cluster's signing key, so any member can verify a token another
// issued, with nothing shared but the replicated key.
const signedPrefix = "s1."

// IsSigned reports whether token has the form of a signed token (a
// simple token never does).
func IsSigned(token string) bool { return strings.HasPrefix(token, signedPrefix) }

// SignToken makes a signed token for id that expires at expires.
func SignToken(key []byte, id Identity, expires time.Time) string {
	var e encoder
	e.str(id.User)
	e.uvarint(id.Revision)
	e.uvarint(uint64(expires.UnixMilli()))
	enc := base64.RawURLEncoding
	return signedPrefix + enc.EncodeToString(e.b) + "." + enc.EncodeToString(tokenMAC(key, e.b))
}

func tokenMAC(key, payload []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(payload)
	return m.Sum(nil)
}

// errBadSigned describes a malformed signed token (the client gets
// api.ErrInvalidAuthToken).
var errBadSigned = errors.New("not a well-formed signed token")

// VerifyToken checks a signed token's mac and expiry and returns its
// identity; a token that is malformed, forged, signed with another key
// or expired gives api.ErrInvalidAuthToken (with the reason).
func VerifyToken(key []byte, token string, now time.Time) (Identity, error) {
	invalid := func(why error) (Identity, error) {
		return Identity{}, api.Errorf(api.CodeInvalidAuthToken, "etcdserver: invalid auth token: %v", why)
	}
	if len(key) == 0 {
		return invalid(errors.New("this member has no signing key (auth was never enabled)"))
	}
	body, ok := strings.CutPrefix(token, signedPrefix)
	if !ok {
		return invalid(errBadSigned)
	}
	p64, m64, ok := strings.Cut(body, ".")
	if !ok {
		return invalid(errBadSigned)
	}
	enc := base64.RawURLEncoding
	payload, err1 := enc.DecodeString(p64)
	mac, err2 := enc.DecodeString(m64)
	if err1 != nil || err2 != nil {
		return invalid(errBadSigned)
	}
	if !hmac.Equal(mac, tokenMAC(key, payload)) {
		return invalid(errors.New("bad signature"))
	}
	d := decoder{b: payload}
	id := Identity{User: d.str(), Revision: d.uvarint()}
	expires := time.UnixMilli(int64(d.uvarint()))
	if err := d.done(); err != nil {
		return invalid(err)
	}
	if id.User == "" || id.Revision == 0 {
		// Tokens are issued only while auth is on (revision >= 1);
		// revision 0 would skip the revision check.
		return invalid(errors.New("token names no user or revision"))
	}
	if !now.Before(expires) {
		return invalid(errors.New("token expired"))
	}
	return id, nil
}
