package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/rpc"
)

// A client configured with a user name and password acts as that user:
// it exchanges the name and password for a token (Authenticate) and sends
// the token with every call and stream. Tokens do not last: a simple
// token is forgotten when the member that holds it restarts or its TTL
// passes (the cluster answers ErrInvalidAuthToken), and every token goes
// stale when users, roles or permissions change (ErrAuthOldRevision). The
// server refuses such a request before doing anything with it, so the
// client gets a new token and makes the call once more, writes included.
//
// All of it happens in one place, authed, which every call and stream of
// the client goes through.

// credentials are the user's name and password and the token the cluster
// last gave for them.
type credentials struct {
	name, password string
	// lock is held (a value sent into it) while the token is read or
	// renewed, so that many callers whose token went stale together
	// authenticate once, and a caller whose context ends stops waiting.
	lock chan struct{}
	// token is the cluster's last answer: a token, or "" when the cluster
	// said auth is not enabled. Valid only once known is set.
	token string
	known bool
}

func newCredentials(name, password string) *credentials {
	return &credentials{name: name, password: password, lock: make(chan struct{}, 1)}
}

// acquire takes the lock, or gives up when ctx ends.
func (cr *credentials) acquire(ctx context.Context) error {
	select {
	case cr.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (cr *credentials) release() { <-cr.lock }

// token returns the token to send: the one held, or a new one when there
// is none yet. It is "" for a client without credentials, and when the
// cluster has auth turned off.
func (c *Client) token(ctx context.Context) (string, error) {
	cr := c.creds
	if cr == nil {
		return "", nil
	}
	if err := cr.acquire(ctx); err != nil {
		return "", err
	}
	defer cr.release()
	if cr.known {
		return cr.token, nil
	}
	return c.fetchToken(ctx)
}

// renewToken returns a token to use instead of stale, which the cluster
// refused: a new one, or the one another caller fetched meanwhile.
func (c *Client) renewToken(ctx context.Context, stale string) (string, error) {
	cr := c.creds
	if err := cr.acquire(ctx); err != nil {
		return "", err
	}
	defer cr.release()
	if cr.known && cr.token != stale {
		return cr.token, nil
	}
	return c.fetchToken(ctx)
}

// authenticateAttempts bounds how often fetchToken asks for a token when
// users or roles keep changing while the cluster checks the password.
const authenticateAttempts = 3

// fetchToken authenticates and keeps the answer; the caller holds the
// lock. A cluster with auth off answers ErrAuthNotEnabled: the client
// then sends no token until the cluster asks for one.
func (c *Client) fetchToken(ctx context.Context) (string, error) {
	cr := c.creds
	resp := &api.AuthenticateResponse{}
	var err error
	for range authenticateAttempts {
		err = c.invoke(ctx, api.MethodAuthenticate, &api.AuthenticateRequest{Name: cr.name, Password: cr.password}, resp, retryRead)
		// ErrAuthOldRevision: the cluster changed users or roles while
		// it checked the password; ask again.
		if !errors.Is(err, api.ErrAuthOldRevision) {
			break
		}
	}
	switch {
	case errors.Is(err, api.ErrAuthNotEnabled):
		resp.Token = ""
	case err != nil:
		cr.known = false
		return "", fmt.Errorf("client: authenticating as user %q: %w", cr.name, err)
	}
	cr.token, cr.known = resp.Token, true
	return resp.Token, nil
}

// withToken attaches token to ctx for the client's calls. A client
// without credentials leaves ctx as it is, so that a caller may attach a
// token of its own with rpc.WithToken.
func (c *Client) withToken(ctx context.Context, token string) context.Context {
	if c.creds == nil {
		return ctx
	}
	return rpc.WithToken(ctx, token)
}

// staleToken says whether err is the cluster refusing the token sent (or
// the lack of one) in a way a new token may cure: the token is unknown or
// expired, it predates a change of users, roles or permissions, or none
// was sent (the client found auth off) and auth is on now.
func (c *Client) staleToken(err error, sent string) bool {
	if c.creds == nil || err == nil {
		return false
	}
	err = toError(err)
	return errors.Is(err, api.ErrInvalidAuthToken) || errors.Is(err, api.ErrAuthOldRevision) ||
		(sent == "" && errors.Is(err, api.ErrUserEmpty))
}

// authed runs f, a call or a stream's opening, with the client's token
// attached to its context. When the cluster refuses the token as stale,
// it gets a new token and runs f once more: the refusal came before the
// request did anything, so even a write may go again.
func (c *Client) authed(ctx context.Context, f func(ctx context.Context) error) error {
	tok, err := c.token(ctx)
	if err != nil {
		return err
	}
	err = f(c.withToken(ctx, tok))
	if !c.staleToken(err, tok) {
		return err
	}
	if tok, err = c.renewToken(ctx, tok); err != nil {
		return err
	}
	return f(c.withToken(ctx, tok))
}

// isAuthError says whether err is the cluster refusing a request on
// authentication or authorization grounds (wrong password, permission
// denied, ...), which trying another member or again later will not cure.
func isAuthError(err error) bool {
	code := api.CodeOf(toError(err))
	return code >= 400 && code < 500
}
