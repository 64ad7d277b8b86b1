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
	// DefaultAuthPasswordCost is the PBKDF2 iteration count of new
	// password hashes (about 50 ms each).
	DefaultAuthPasswordCost = auth.DefaultIterations
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

// authPasswordCost is the hash cost in force (0 means the default).
func (c *Config) authPasswordCost() int {
	if c.AuthPasswordCost == 0 {
		return DefaultAuthPasswordCost
	}
	return c.AuthPasswordCost
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
	if c.AuthPasswordCost < 0 || c.AuthPasswordCost > auth.MaxIterations {
		return fmt.Errorf("--auth-password-cost (%d) must be between 1 and %d PBKDF2 iterations", c.AuthPasswordCost, auth.MaxIterations)
	}
	return nil
}
