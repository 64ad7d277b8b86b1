package replica

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/auth"
	"github.com/cairndb/cairn/internal/wire"
)

// Envelope is a command as it travels in the raft log: who made it, which
// kind of request it is, the proposal's place in its proposer's sequence
// (for the duplicate filter, dedup.go), and the request itself.
//
// A member's services build one (NewCommand, Internal, AuthCommand,
// IssueToken, then By for an authenticated caller); the core seals it as
// it proposes it — the sequence header and, for the member's own
// commands, the origin — and Marshal writes it, the only place that does;
// OpenEnvelope is the only place that reads one. An entry's data is, in
// bytes (the format cairn has always written, so existing logs read the
// same):
//
//	tag, seq        8 + 8 bytes, big-endian: the header (all zero for a
//	                bootstrap membership change)
//	then one of     kind | request                    WhoAnyone
//	                65 | user | revision | kind | request   WhoUser
//	                66 | member | term | kind | request     WhoMember
//	                67 | member | term | auth command       WhoMember, KindIssueToken
//
// where user is a uvarint length and the name, revision a uvarint, and
// member and term 8 bytes each, big-endian. A Raw envelope (kind 0) is
// the header and the payload alone: a membership change's context, or the
// commands of a test state machine.
type Envelope struct {
	// Tag and Seq are the header: the random tag of the proposer's
	// incarnation and the proposal's number in it (set by the core).
	Tag, Seq uint64
	// Who made the command.
	Who Who
	// User is the authenticated client that made it (WhoUser): the
	// member checks its permissions when it applies the entry.
	User auth.Identity
	// Member and Term are the member that made it on its own behalf and
	// the term it proposed it in (WhoMember): stamped by the core, taken
	// on that member's word, and refused unless the entry is of that term.
	Member, Term uint64
	// Kind is the request's kind; Payload the request, encoded (an
	// api.Message, or an auth.Command for KindAuth and KindIssueToken).
	Kind    Kind
	Payload []byte

	// room, if set, is the buffer NewCommand marshaled a large Payload
	// into, with space for the prefix in front (see Marshal).
	room *payloadRoom
}

// payloadRoom is a buffer holding roomReserve free bytes, then a
// request's encoding: the payload of an envelope and of its copies.
// Only one Marshal may write its prefix there (used): an envelope
// marshaled again (a proposal retried) is copied, so an entry already
// handed to raft never changes under it.
type payloadRoom struct {
	buf  []byte
	used atomic.Bool
}

// roomReserve is the room NewCommand leaves in front of a request for
// the prefix Marshal writes: the header and an origin (34 bytes), or a
// user of up to about 40 bytes; a longer prefix is copied.
const roomReserve = 64

// roomMin is the encoded request size from which NewCommand leaves room:
// below it a copy costs less than the room.
const roomMin = 1 << 10

// Who says who made a command.
type Who uint8

const (
	// WhoAnyone: a client while auth was off (or a member publishing its
	// attributes): no user to check.
	WhoAnyone Who = iota
	// WhoUser: an authenticated client (Envelope.User).
	WhoUser
	// WhoMember: the member itself (Envelope.Member): lease expiry,
	// compaction, the alarms it raises, a simple token it issued after
	// checking the password. Applied without a user even while auth is on.
	WhoMember
)

// Kind is which request a command carries.
type Kind uint8

// The kinds of commands. The numbers are in every log: never change them.
const (
	// KindRaw is a payload with no kind: a membership change's context.
	KindRaw Kind = iota
	KindPut
	KindDeleteRange
	KindTxn
	KindCompaction
	KindLeaseGrant
	KindLeaseRevoke
	KindMemberAttrs  // a member publishes its name and client URLs
	KindMemberUpdate // a member's peer URLs change
	KindAlarm        // an alarm raised or cleared
	// KindAuth is a change of the auth state (an auth.Command: users,
	// roles, permissions, enable/disable).
	KindAuth Kind = 64
	// KindIssueToken is a simple token issued (an auth.Command with
	// OpIssueToken, carrying the token's hash), made by the member that
	// checked the password (WhoMember).
	KindIssueToken Kind = 67
)

// The markers of who made a command, in the byte where a plain command
// has its kind.
const (
	markUser   = 65
	markMember = 66
)

// headerSize is the length of the header: tag and sequence number.
const headerSize = 16

// originSize is the length of an origin: member id and term.
const originSize = 16

// NewCommand is a client's write request req as a command.
func NewCommand(req api.Message) (Envelope, error) {
	kind, ok := kindOf(req)
	if !ok {
		return Envelope{}, fmt.Errorf("node: %T is not a write request", req)
	}
	hint := sizeHint(req)
	if hint > 0 && hint < roomMin {
		return Envelope{Kind: kind, Payload: api.Marshal(req)}, nil
	}
	buf := api.AppendMarshal(make([]byte, roomReserve, roomReserve+hint), req)
	if len(buf)-roomReserve < roomMin {
		return Envelope{Kind: kind, Payload: buf[roomReserve:]}, nil
	}
	return Envelope{Kind: kind, Payload: buf[roomReserve:], room: &payloadRoom{buf: buf}}, nil
}

// sizeHint is about the encoded size of a put, so that NewCommand
// marshals a large value with one allocation; 0 for other requests.
func sizeHint(req api.Message) int {
	if p, ok := req.(*api.PutRequest); ok {
		return len(p.Key) + len(p.Value) + 32
	}
	return 0
}

// Internal is req as a command the member makes on its own behalf (lease
// expiry, auto-compaction, the alarms it raises).
func Internal(req api.Message) (Envelope, error) {
	env, err := NewCommand(req)
	env.Who = WhoMember
	return env, err
}

// AuthCommand is a change of the auth state as a command.
func AuthCommand(c *auth.Command) Envelope {
	return Envelope{Kind: KindAuth, Payload: c.Marshal()}
}

// IssueToken is a simple token issued (c.Op is OpIssueToken) as a command
// of the member that checked the password.
func IssueToken(c *auth.Command) Envelope {
	return Envelope{Who: WhoMember, Kind: KindIssueToken, Payload: c.Marshal()}
}

// Raw is payload as a command with no kind, for a state machine that
// reads its commands itself.
func Raw(payload []byte) Envelope { return Envelope{Payload: payload} }

// By returns the command as made by the authenticated user id, unless
// the member made it (its own commands act for no user).
func (e Envelope) By(id auth.Identity) Envelope {
	if e.Who != WhoMember {
		e.Who, e.User = WhoUser, id
	}
	return e
}

// Size is the length of the command as a member counts a request against
// --max-request-bytes: the marshaled envelope without its header.
func (e *Envelope) Size() int {
	n := len(e.Payload)
	if e.Kind == KindRaw {
		return n
	}
	switch e.Who {
	case WhoUser:
		n += 1 + wire.BytesLen(len(e.User.User)) + wire.UvarintLen(e.User.Revision)
	case WhoMember:
		n += 1 + originSize
		if e.Kind == KindIssueToken {
			return n
		}
	}
	return n + 1
}

// Marshal writes the envelope in the log's format. A large request that
// NewCommand marshaled is not copied again: the first Marshal of it
// writes the header in front of it, in the room NewCommand left.
func (e *Envelope) Marshal() []byte {
	if b, ok := e.marshalInPlace(); ok {
		return b
	}
	return append(e.appendPrefix(make([]byte, 0, headerSize+e.Size())), e.Payload...)
}

// marshalInPlace writes the header and the rest of the prefix into the
// free bytes in front of the payload and returns the envelope from there,
// if NewCommand left room, no other Marshal took it, and it is enough.
func (e *Envelope) marshalInPlace() ([]byte, bool) {
	r := e.room
	if r == nil || len(e.Payload) == 0 {
		return nil, false
	}
	at := len(r.buf) - len(e.Payload) // where the payload starts, if it is still r's
	prefix := headerSize + e.Size() - len(e.Payload)
	if at < prefix || &r.buf[at] != &e.Payload[0] || !r.used.CompareAndSwap(false, true) {
		return nil, false
	}
	// The capacity stops at the payload: a prefix longer than counted
	// would move to a new array rather than overwrite it.
	if b := e.appendPrefix(r.buf[at-prefix : at-prefix : at]); len(b) != prefix {
		return append(b, e.Payload...), true
	}
	return r.buf[at-prefix : len(r.buf) : len(r.buf)], true
}

// appendPrefix appends to b everything Marshal writes before the payload.
func (e *Envelope) appendPrefix(b []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, e.Tag)
	b = binary.BigEndian.AppendUint64(b, e.Seq)
	if e.Kind == KindRaw {
		return b
	}
	switch e.Who {
	case WhoUser:
		b = append(b, markUser)
		b = wire.AppendUvarint(b, uint64(len(e.User.User)))
		b = append(b, e.User.User...)
		b = wire.AppendUvarint(b, e.User.Revision)
	case WhoMember:
		if e.Kind == KindIssueToken {
			b = append(b, byte(KindIssueToken))
			b = binary.BigEndian.AppendUint64(b, e.Member)
			return binary.BigEndian.AppendUint64(b, e.Term)
		}
		b = append(b, markMember)
		b = binary.BigEndian.AppendUint64(b, e.Member)
		b = binary.BigEndian.AppendUint64(b, e.Term)
	}
	return append(b, byte(e.Kind))
}

// errNoHeader reports entry data too short for the header: a leader's
// no-op (empty), nothing anyone proposed.
var errNoHeader = errors.New("node: no proposal header")

// OpenEnvelope reads an entry's data as Marshal wrote it. An error says
// what is malformed; the header is read even then, if there is one.
func OpenEnvelope(data []byte) (Envelope, error) {
	tag, seq, body, ok := splitHeader(data)
	if !ok {
		return Envelope{}, errNoHeader
	}
	e, err := openBody(body)
	e.Tag, e.Seq = tag, seq
	return e, err
}

// OpenCommand reads a command past its entry's header — the data the
// state machine's Apply gets — as OpenEnvelope reads the whole entry
// (Tag and Seq are left zero).
func OpenCommand(body []byte) (Envelope, error) { return openBody(body) }

// Request decodes the request the envelope carries, the inverse of
// NewCommand: an error for a Raw envelope, an auth command, or a payload
// that does not decode.
func (e *Envelope) Request() (api.Message, error) {
	req := newRequest(e.Kind)
	if req == nil {
		return nil, fmt.Errorf("node: a command of kind %s carries no request", e.Kind)
	}
	if err := api.Unmarshal(e.Payload, req); err != nil {
		return nil, fmt.Errorf("node: %s command: %w", e.Kind, err)
	}
	return req, nil
}

// kindOf is the kind of command that carries a client's write request
// req; newRequest is its inverse, an empty request of kind's type (nil
// for a kind that carries none). The one map between the two.
func kindOf(req api.Message) (Kind, bool) {
	switch req.(type) {
	case *api.PutRequest:
		return KindPut, true
	case *api.DeleteRangeRequest:
		return KindDeleteRange, true
	case *api.TxnRequest:
		return KindTxn, true
	case *api.CompactionRequest:
		return KindCompaction, true
	case *api.LeaseGrantRequest:
		return KindLeaseGrant, true
	case *api.LeaseRevokeRequest:
		return KindLeaseRevoke, true
	case *api.Member:
		return KindMemberAttrs, true
	case *api.MemberUpdateRequest:
		return KindMemberUpdate, true
	case *api.AlarmRequest:
		return KindAlarm, true
	}
	return 0, false
}

func newRequest(kind Kind) api.Message {
	switch kind {
	case KindPut:
		return &api.PutRequest{}
	case KindDeleteRange:
		return &api.DeleteRangeRequest{}
	case KindTxn:
		return &api.TxnRequest{}
	case KindCompaction:
		return &api.CompactionRequest{}
	case KindLeaseGrant:
		return &api.LeaseGrantRequest{}
	case KindLeaseRevoke:
		return &api.LeaseRevokeRequest{}
	case KindMemberAttrs:
		return &api.Member{}
	case KindMemberUpdate:
		return &api.MemberUpdateRequest{}
	case KindAlarm:
		return &api.AlarmRequest{}
	}
	return nil
}

// splitHeader splits entry data into its header and the rest.
func splitHeader(data []byte) (tag, seq uint64, body []byte, ok bool) {
	if len(data) < headerSize {
		return 0, 0, nil, false
	}
	return binary.BigEndian.Uint64(data), binary.BigEndian.Uint64(data[8:]), data[headerSize:], true
}

// openBody reads what follows the header, for a command with a kind.
func openBody(b []byte) (Envelope, error) {
	var e Envelope
	if len(b) == 0 {
		return e, errors.New("node: empty command")
	}
	switch b[0] {
	case markUser:
		e.Who = WhoUser
		name, sz, err := wire.Bytes(b[1:])
		if err != nil {
			return e, fmt.Errorf("node: authenticated command: user name: %w", err)
		}
		e.User.User, b = string(name), b[1+sz:]
		rev, sz, err := wire.Uvarint(b)
		if err != nil {
			return e, fmt.Errorf("node: authenticated command: auth revision: %w", err)
		}
		e.User.Revision, b = rev, b[sz:]
		if len(b) == 0 || b[0] == markUser {
			return e, errors.New("node: authenticated command: no inner command")
		}
	case markMember, byte(KindIssueToken):
		e.Who = WhoMember
		if len(b) < 1+originSize {
			return e, fmt.Errorf("node: %d-byte command of kind %d: too short for its origin", len(b), b[0])
		}
		e.Member, e.Term = binary.BigEndian.Uint64(b[1:]), binary.BigEndian.Uint64(b[9:])
		if b[0] == byte(KindIssueToken) {
			e.Kind, e.Payload = KindIssueToken, b[1+originSize:]
			return e, nil
		}
		b = b[1+originSize:]
		if len(b) == 0 || Kind(b[0]) >= KindAuth {
			return e, errNoPlainInner
		}
	}
	e.Kind, e.Payload = Kind(b[0]), b[1:]
	return e, nil
}

// errNoPlainInner refuses a member's own command whose inner command is
// not a plain request.
var errNoPlainInner = errors.New("no plain inner command")

// stamp writes the origin of a command of the member's own, as the core
// proposes it: member and the term it is proposed in.
func (e *Envelope) stamp(member, term uint64) {
	if e.Who == WhoMember {
		e.Member, e.Term = member, term
	}
}

// checkOrigin returns why the leader, in term, must not append cmd
// (entry data) forwarded by member from, or nil: a command a member made
// on its own behalf is taken only from that member, in the term it was
// stamped with.
func checkOrigin(cmd []byte, from, term uint64) error {
	e, err := OpenEnvelope(cmd)
	switch {
	case e.Who != WhoMember:
		return nil
	case err != nil:
		return err
	case e.Member != from:
		return fmt.Errorf("node: a command made by member %016x, forwarded by member %016x", e.Member, from)
	case e.Term != term:
		return fmt.Errorf("node: a command member %016x made in term %d, forwarded in term %d", e.Member, e.Term, term)
	}
	return nil
}

// CommandName names the request a command carries (data, what follows
// the entry's header, as the state machine's Apply gets it), for the "op"
// label and the log.
func CommandName(data []byte) string {
	if len(data) == 0 {
		return "Empty"
	}
	e, err := openBody(data)
	switch {
	case err != nil && e.Who == WhoUser:
		return "Authed"
	case err != nil:
		return "Unknown"
	}
	return e.Kind.String()
}

// String names a kind of command after the request it carries.
func (k Kind) String() string {
	switch k {
	case KindPut:
		return "Put"
	case KindDeleteRange:
		return "DeleteRange"
	case KindTxn:
		return "Txn"
	case KindCompaction:
		return "Compaction"
	case KindLeaseGrant:
		return "LeaseGrant"
	case KindLeaseRevoke:
		return "LeaseRevoke"
	case KindMemberAttrs:
		return "MemberAttributes"
	case KindMemberUpdate:
		return "MemberUpdate"
	case KindAlarm:
		return "Alarm"
	case KindAuth:
		return "Auth"
	case KindIssueToken:
		return "IssueToken"
	}
	return "Unknown"
}
