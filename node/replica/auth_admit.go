package replica

import (
	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/auth"
)

// The deterministic half of auth admission on a member's services: given
// the auth state as this member applied it and the caller, may a request
// run, and if not, with which error. The server's services (package node)
// and the simulator's clients both ask these; the server adds what needs
// the world — finding the caller from its token or certificate, catching
// up with the log when a call carries a token while this member still sees
// auth off, and logging refusals.
//
// Writes are not checked here: every member checks them when it applies
// them (auth_apply.go), against the auth state as of that entry; a
// member's services only name the caller in the command (Command, Seal).
// Each function passes everything while auth is off, and refuses a nil
// caller with api.ErrUserEmpty while it is on.

// AuthOn reports whether auth is on as this member applied the log.
func (r *Replica) AuthOn() bool { return r.State.Auth().Enabled() }

// checkCaller runs check on caller, when auth is on.
func (r *Replica) checkCaller(caller *auth.Identity, check func(a *auth.State, id auth.Identity) error) error {
	a := r.State.Auth()
	if !a.Enabled() {
		return nil
	}
	if caller == nil {
		return api.ErrUserEmpty
	}
	return check(a, *caller)
}

// AuthorizeRead checks a read a member serves itself: a Range needs read
// on its range; a read-only transaction read on every compared key and
// every range of both branches (the rule every member applies to a
// proposed one, auth.State.CheckRequest).
func (r *Replica) AuthorizeRead(req api.Message, caller *auth.Identity) error {
	if rr, ok := req.(*api.RangeRequest); ok {
		return r.AuthorizeRange(rr.Key, rr.RangeEnd, caller)
	}
	return r.checkCaller(caller, func(a *auth.State, id auth.Identity) error {
		return a.CheckRequest(id, req)
	})
}

// AuthorizeRange checks a read of [key, end): a Range, or a watch's
// creation (read on the whole watched range).
func (r *Replica) AuthorizeRange(key, end []byte, caller *auth.Identity) error {
	return r.checkCaller(caller, func(a *auth.State, id auth.Identity) error {
		return a.CheckRange(id, api.PermRead, key, end)
	})
}

// AuthorizeAuthChange checks an auth change before it is proposed (every
// member checks it again as it applies it): administrators only, except
// that users may change their own password.
func (r *Replica) AuthorizeAuthChange(c *auth.Command, caller *auth.Identity) error {
	return r.checkCaller(caller, func(a *auth.State, id auth.Identity) error {
		return a.CheckCommand(id, c)
	})
}

// AuthChange is the command to propose for an auth change as caller makes
// it: checked first while auth is on (AuthorizeAuthChange), and proposed
// without a user while it is off (then refused when it applies, unless it
// enables auth, if auth was turned on meanwhile).
func (r *Replica) AuthChange(c *auth.Command, caller *auth.Identity, lim Limits) (Envelope, error) {
	if !r.AuthOn() {
		caller = nil
	} else if err := r.AuthorizeAuthChange(c, caller); err != nil {
		return Envelope{}, err
	}
	return Seal(AuthCommand(c), caller, lim)
}

// AuthorizeKeepAlive checks one renewal of a lease: keeping a lease alive
// keeps its keys alive, so (as for revoking it) the caller must be root
// or allowed to write every key the lease holds. It is checked against the
// user as of now, whatever revision its token has: a keep-alive stream
// lives on across auth changes, and this check is current.
func (r *Replica) AuthorizeKeepAlive(lease int64, caller *auth.Identity) error {
	return r.checkCaller(caller, func(a *auth.State, id auth.Identity) error {
		id.Revision = 0
		return a.CheckKeys(id, api.PermWrite, r.LeaseKeys(lease))
	})
}

// AuthorizeLeaseKeys checks a question about a lease that lists its keys:
// read on every one of them.
func (r *Replica) AuthorizeLeaseKeys(lease int64, caller *auth.Identity) error {
	return r.checkCaller(caller, func(a *auth.State, id auth.Identity) error {
		return a.CheckKeys(id, api.PermRead, r.LeaseKeys(lease))
	})
}

// LeaseKeys are the keys attached to a lease in this member's store (none
// if it does not exist).
func (r *Replica) LeaseKeys(lease int64) [][]byte {
	names, _ := r.State.Store().LeaseKeys(lease)
	keys := make([][]byte, len(names))
	for i, k := range names {
		keys[i] = []byte(k)
	}
	return keys
}
