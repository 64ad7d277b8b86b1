package main

// Flags of earlier versions of cairn that no longer do anything. A unit
// file or config file that still sets one starts the member all the same,
// with a one-line warning saying what replaced it: refusing it would stop
// a member at an upgrade for a setting that changes nothing it keeps.

// deprecatedFlags say, for each such flag, what replaced it.
//
// --auth-password-cost set the PBKDF2 iterations of new password hashes.
// cairn now hashes new passwords with bcrypt at --bcrypt-cost, as etcd
// does, so that every password it sets also works in etcd after an etcd
// snapshot of cairn is restored there; keeping PBKDF2 for those who set
// the old flag would quietly keep their users out of etcd. The hashes it
// made still verify.
var deprecatedFlags = map[string]string{
	"auth-password-cost": "new passwords are hashed with bcrypt, as etcd does, at --bcrypt-cost; the PBKDF2 hashes made before still verify",
}

// deprecatedValue is the value of a deprecated flag: kept, never used.
type deprecatedValue struct {
	name  string
	value string
}

func (v *deprecatedValue) String() string { return v.value }

func (v *deprecatedValue) Set(s string) error {
	v.value = s
	return nil
}
