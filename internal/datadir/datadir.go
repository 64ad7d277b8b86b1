// Package datadir is what a member's data dir is made of, shared by the
// server (package node) and by the restore that creates a data dir from a
// snapshot (package restore), which ctl runs without linking the server:
//
//   - the layout: <data dir>/member/wal (the write-ahead log) and
//     <data dir>/member/db (the store's page file);
//   - the keys of the records the server keeps beside the key space, in
//     the store's auxiliary table (members, removed members, alarms, the
//     duplicate filter, auth), and the encoding of a member record;
//   - how a new cluster's member and cluster ids derive from its initial
//     membership, and the parsing and checks of the URLs that describe it.
package datadir

import (
	"errors"
	"fmt"

	"github.com/cairndb/cairn/api"
)

// The layout of a data dir: everything of the member is under MemberDir;
// the write-ahead log is the directory WALDir and the store the page file
// DBFile inside it.
const (
	MemberDir = "member"
	WALDir    = "wal"
	DBFile    = "db"
)

// Prefixes of the keys of the server's records in the store's auxiliary
// table.
const (
	AuxMember  = "member/"  // + 16 hex digits of the id: an encoded Member
	AuxRemoved = "removed/" // + 16 hex digits: a removed member's id
	AuxAlarm   = "alarm/"   // + 16 hex digits of the member + "/" + alarm number
	AuxDedup   = "dedup/"   // + 16 hex digits of a proposer's tag
	AuxAuth    = "auth/"    // + the auth package's record key
)

// AuxIDKey is the auxiliary-table key of the record of id under prefix.
func AuxIDKey(prefix string, id uint64) []byte { return []byte(fmt.Sprintf("%s%016x", prefix, id)) }

// memberEncodingFormat is the first byte of an encoded member.
const memberEncodingFormat = byte(1)

// ErrMemberDecode is wrapped by the errors of DecodeMember.
var ErrMemberDecode = errors.New("decode member")

// EncodeMember encodes a member as the server keeps it (its record in the
// store, and the context of the raft conf change that adds it): a format
// byte, then the API encoding of the member.
func EncodeMember(m api.Member) []byte {
	return api.AppendMarshal([]byte{memberEncodingFormat}, &m)
}

// DecodeMember decodes what EncodeMember wrote.
func DecodeMember(b []byte) (api.Member, error) {
	var m api.Member
	if len(b) == 0 || b[0] != memberEncodingFormat {
		return m, fmt.Errorf("%w: unknown format", ErrMemberDecode)
	}
	if err := api.Unmarshal(b[1:], &m); err != nil {
		return api.Member{}, fmt.Errorf("%w: %w", ErrMemberDecode, err)
	}
	return m, nil
}
