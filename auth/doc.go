// Package auth is cairn's authentication and role-based access control,
// as pure logic: no I/O, no goroutines, no clock of its own.
//
// The State holds what the cluster replicates: whether auth is enabled,
// the users (a bcrypt password hash, as etcd keeps them, the PBKDF2
// hash an earlier version of cairn made, or bytes a client sent as its
// hash that are none, which etcd keeps too; and granted roles), the roles
// (read / write / readwrite permissions on key ranges), the key that
// signs tokens, and the auth revision, which grows by one with every
// change. It changes only by Apply, which the node calls while applying
// a raft entry, writing the changed records through the Records
// interface (the node keeps them in its store's auxiliary table, so they
// are replicated, in snapshots, and survive a restart); Load rebuilds the
// State from those records. Apply never hashes: the member that receives
// a UserAdd or a password change hashes the password (HashBcrypt, at its
// --bcrypt-cost) before proposing, as etcd does, so applying is cheap and
// every member stores the same hash.
//
// The checks (CheckRange, CheckRequest, CheckKeys, CheckAdmin, ...) say
// whether an Identity — a user and the auth revision its token was issued
// at — may do something. A permission is checked against the union of
// the ranges of the user's roles: a request's range must be covered by
// it entirely. The root role may do everything.
//
// Tokens come in two kinds: simple tokens (random strings that the
// members learn through raft and keep in memory, in SimpleTokens) and
// signed tokens (self-contained, with an HMAC-SHA256 over the user, the
// auth revision and the expiry, made with the replicated signing key).
package auth
