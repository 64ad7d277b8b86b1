package node

import (
	"fmt"
	"time"

	"github.com/cairndb/cairn/auth"
)

// Auth defaults.
const (
	// DefaultAuthToken is the kind of token Authenticate hands out.
	DefaultAuthToken = auth.TokenSimple
	// DefaultAuthTokenTTL is how long a simple token lives unused, and a
	// signed token at all.
	DefaultAuthTokenTTL = 300 * time.Second
	// DefaultBcryptCost is the bcrypt cost of new password hashes,
	// etcd's default (about 95 ms each on 2 cores).
	DefaultBcryptCost = auth.DefaultBcryptCost
)

// authToken is the token kind in force ("" means the default).
func (c *Config) authToken() string {
	if c.AuthToken == "" {
		return DefaultAuthToken
	}
	return c.AuthToken
}

// authTokenTTL is the token lifetime in force (0 means the default).
func (c *Config) authTokenTTL() time.Duration {
	if c.AuthTokenTTL == 0 {
		return DefaultAuthTokenTTL
	}
	return c.AuthTokenTTL
}

// bcryptCost is the cost of new password hashes in force (0 means the
// default).
func (c *Config) bcryptCost() int {
	if c.BcryptCost == 0 {
		return DefaultBcryptCost
	}
	return c.BcryptCost
}

// validateAuth checks the auth settings; zero values mean the defaults.
func (c *Config) validateAuth() error {
	switch c.AuthToken {
	case "", auth.TokenSimple, auth.TokenSigned:
	default:
		return fmt.Errorf("--auth-token must be %s or %s, not %q", auth.TokenSimple, auth.TokenSigned, c.AuthToken)
	}
	if c.AuthTokenTTL < 0 {
		return fmt.Errorf("--auth-token-ttl (%v) must be positive", c.AuthTokenTTL)
	}
	if c.BcryptCost != 0 && (c.BcryptCost < auth.MinBcryptCost || c.BcryptCost > auth.MaxBcryptCost) {
		return fmt.Errorf("--bcrypt-cost (%d) must be between %d and %d", c.BcryptCost, auth.MinBcryptCost, auth.MaxBcryptCost)
	}
	return nil
}
