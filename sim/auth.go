package sim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/auth"
	"github.com/cairndb/cairn/node/replica"
)

// Authentication in the simulator. Some seeds turn auth on, through the
// proposals `ctl user add`, `ctl role grant-permission`, `ctl auth enable`
// make (Replica.AuthChange, which the server's proposeAuth goes through
// too), sent by an administrator acting as root to any member while the
// clients run; once it is on, the administrator keeps granting and
// revoking permissions and roles, and now and then turns auth off and on
// again. The clients act as users (clientUsers) with different key
// permissions: their writes name them (Plan.Propose), and every member
// checks them as it applies them; their reads are checked by the member
// that serves them (Plan.Answer) after the ReadIndex round, as the
// server's are. One client holds a token, as a signed token (the
// server's --auth-token signed): its identity carries the auth revision it
// authenticated at, is refused once the state moved on
// (api.ErrAuthOldRevision), and authenticates again. (A simple token's
// identity carries the revision of the member that takes the call, which
// the other clients' identities, with no revision, stand for.) The lease holders and
// the requests the simulator makes itself (submit) act as root.
//
// The checker (authmodel.go) rebuilds the auth state from the committed
// log on its own, and requires of every member that
//
//   - its auth state after each auth command it applies, and after a
//     snapshot replaced its store, is the model's at that index;
//   - each client write it applies is refused with exactly the error the
//     model gives as of that entry (permission denied, an old token's
//     revision, no user while auth is on), and then changes nothing; a
//     write the model permits is not refused for auth;
//   - each read it serves is refused exactly when the model, as of the
//     index the member applied, refuses it.
//
// The permitted requests go into the linearizability check; the refused
// ones certainly did not happen.

// simAuth is a run's auth: the administrator, the clients' passwords, and
// the checker's model of the auth state along the log.
type simAuth struct {
	on  bool
	rng *rand.Rand
	// setup are the commands that turn auth on; next is the next one to
	// send (past the end: random changes).
	setup []*auth.Command
	next  int
	// cmd is the command in flight (announced: in the fault log), reqID
	// its request (0: none), seq numbers the requests; disabled says the
	// last change sent turned auth off (the next one turns it on again).
	cmd       *auth.Command
	announced bool
	reqID     uint64
	seq       uint64
	disabled  bool
	// decoy is checked instead of an unknown user's password.
	decoy auth.PasswordHash
	// versions is the model after each auth command of the log, by
	// index (versions[0]: the empty state, before index 1).
	versions []authVersion
}

// authVersion is the model of the auth state once the entry at index is
// applied.
type authVersion struct {
	index uint64
	model *authModel
}

const (
	// authReqBase numbers the administrator's requests.
	authReqBase = 1 << 56
	// tokenPassword is the password of the users that authenticate.
	tokenPassword = "sim-password"
)

// clientUser is the user a client acts as; token says it authenticates
// with a password and holds a token's revision, else it is named by its
// client certificate (checked against the current state only).
type clientUser struct {
	name  string
	token bool
}

// clientUsers are the users clients act as, client i the i-th (cycling):
// root holds every permission; alice (role rw) reads and writes every
// key the clients use; bob and carol (role ro) read them, and write k0
// only; the administrator changes that as the run goes.
var clientUsers = []clientUser{{auth.RootUser, false}, {"alice", false}, {"bob", false}, {"carol", true}}

// root is the identity the lease holders, the nemesis's compactions and
// the final reads act as.
var root = auth.Identity{User: auth.RootUser}

// The key ranges the administrator grants and revokes permissions on.
var (
	spanKeys   = api.Permission{Key: []byte("k"), RangeEnd: []byte("l")}
	spanGroups = api.Permission{Key: []byte(groupsStart), RangeEnd: []byte("h")}
	adminSpans = []api.Permission{
		spanKeys, spanGroups,
		{Key: []byte("k0")},
		{Key: []byte("k1"), RangeEnd: []byte("k3")},
		{Key: []byte(groupPrefix(1)), RangeEnd: []byte(fmt.Sprintf("g1%c", groupSep+1))},
		{Key: []byte("k2"), RangeEnd: []byte{0}},
	}
)

// perm is span with permission type t.
func perm(t api.PermType, span api.Permission) api.Permission {
	span.PermType = t
	return span
}

func (a *simAuth) init(w *World) {
	a.rng = rand.New(rand.NewPCG(w.cfg.Seed, 0xa7))
	a.versions = []authVersion{{0, newAuthModel()}}
	switch w.cfg.Auth {
	case AuthBySeed:
		a.on = a.rng.IntN(3) == 0
	case AuthAlways:
		a.on = true
	}
	if !a.on {
		return
	}
	a.decoy = auth.Decoy(auth.MinBcryptCost)
	password, err := auth.HashPBKDF2(tokenPassword, 1, randReader{a.rng})
	if err != nil {
		w.fail("auth: hash password: %v", err)
		return
	}
	signingKey := make([]byte, auth.MinSigningKeySize)
	_, _ = randReader{a.rng}.Read(signingKey)
	a.setup = []*auth.Command{
		{Op: auth.OpUserAdd, Name: auth.RootUser, NoPassword: true},
		{Op: auth.OpUserGrantRole, Name: auth.RootUser, Role: auth.RootRole},
		{Op: auth.OpRoleAdd, Name: "rw"},
		{Op: auth.OpRoleGrantPermission, Name: "rw", Perm: perm(api.PermReadWrite, spanKeys)},
		{Op: auth.OpRoleGrantPermission, Name: "rw", Perm: perm(api.PermReadWrite, spanGroups)},
		{Op: auth.OpRoleAdd, Name: "ro"},
		{Op: auth.OpRoleGrantPermission, Name: "ro", Perm: perm(api.PermRead, spanKeys)},
		{Op: auth.OpRoleGrantPermission, Name: "ro", Perm: perm(api.PermRead, spanGroups)},
		{Op: auth.OpRoleGrantPermission, Name: "ro", Perm: perm(api.PermWrite, adminSpans[2])},
	}
	for _, u := range clientUsers[1:] {
		add := &auth.Command{Op: auth.OpUserAdd, Name: u.name, NoPassword: !u.token}
		if u.token {
			add.Password = password
		}
		role := "ro"
		if u.name == "alice" {
			role = "rw"
		}
		a.setup = append(a.setup, add, &auth.Command{Op: auth.OpUserGrantRole, Name: u.name, Role: role})
	}
	a.setup = append(a.setup, &auth.Command{Op: auth.OpEnable, SigningKey: signingKey})
	w.schedule(100+a.rng.Int64N(3000), event{kind: evAdmin})
}

// randReader reads bytes from a seeded source (password salts, signing
// keys: the run must replay).
type randReader struct{ rng *rand.Rand }

func (r randReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r.rng.Uint32())
	}
	return len(p), nil
}

// AuthChoice says whether a run simulates auth.
type AuthChoice uint8

const (
	// AuthBySeed turns auth on in one seed of three.
	AuthBySeed AuthChoice = iota
	// AuthAlways turns it on in every run.
	AuthAlways
	// AuthNever leaves it off.
	AuthNever
)

// adminAct sends the administrator's next command to a member.
func (w *World) adminAct() {
	a := &w.auth
	if w.healed || a.reqID != 0 {
		return // once healed, the auth state stays as it is
	}
	if a.cmd == nil {
		a.cmd, a.announced = a.nextCommand(), false
	}
	m := w.pickUp(false)
	if m == nil {
		w.schedule(50, event{kind: evAdmin})
		return
	}
	a.seq++
	a.reqID = authReqBase | a.seq
	if !a.announced { // in the fault log once, not at every retry
		w.logFault("auth: root sends %s to member %d", describeAuthCommand(a.cmd), m.id)
		a.announced = true
	}
	w.schedule(requestTimeout, event{kind: evAdminTimeout, who: m.id, arg: a.reqID})
	w.schedule(w.clientLatency(), event{kind: evAdminRequest, who: m.id, arg: a.reqID})
}

// nextCommand is the next setup command, or a random change once auth
// was set up.
func (a *simAuth) nextCommand() *auth.Command {
	if a.next < len(a.setup) {
		return a.setup[a.next]
	}
	if a.disabled {
		a.disabled = false
		return &auth.Command{Op: auth.OpEnable, SigningKey: a.setup[len(a.setup)-1].SigningKey}
	}
	role := []string{"rw", "ro"}[a.rng.IntN(2)]
	user := clientUsers[1+a.rng.IntN(len(clientUsers)-1)].name
	span := adminSpans[a.rng.IntN(len(adminSpans))]
	switch n := a.rng.IntN(20); {
	case n < 8:
		return &auth.Command{Op: auth.OpRoleGrantPermission, Name: role, Perm: perm(api.PermType(a.rng.IntN(3)), span)}
	case n < 13:
		return &auth.Command{Op: auth.OpRoleRevokePermission, Name: role, Perm: span}
	case n < 16:
		return &auth.Command{Op: auth.OpUserGrantRole, Name: user, Role: role}
	case n < 19:
		return &auth.Command{Op: auth.OpUserRevokeRole, Name: user, Role: role}
	}
	a.disabled = true
	return &auth.Command{Op: auth.OpDisable}
}

// serveAuthChange serves the administrator's request at member m as the
// server's Auth service does (Replica.AuthChange, then proposed).
func (w *World) serveAuthChange(m *member, reqID uint64) {
	a := &w.auth
	if m.state != stateUp || a.reqID != reqID {
		return // lost: the administrator times out
	}
	cmd, err := m.replica.AuthChange(a.cmd, &root, limits)
	if err != nil {
		w.fail("member %d refused root's auth change %v: %v", m.id, a.cmd.Op, err)
		return
	}
	w.step(m, replica.EvPropose{ReqID: reqID, Cmd: cmd})
}

// adminReply takes a member's reply to the administrator: applied, it
// goes on to the next command (whatever the command's outcome: the
// checker judges that); failed or timed out, it sends the same again.
func (w *World) adminReply(r replica.Reply) {
	a := &w.auth
	if a.reqID == 0 || r.ReqID != a.reqID {
		return
	}
	a.reqID = 0
	if r.Err != nil {
		w.schedule(50+w.rng.Int64N(50), event{kind: evAdmin})
		return
	}
	a.cmd = nil
	if a.next < len(a.setup) {
		a.next++
		w.schedule(1+w.rng.Int64N(20), event{kind: evAdmin})
		return
	}
	w.schedule(300+w.rng.Int64N(1700), event{kind: evAdmin})
}

// adminTimeout gives up on the administrator's request reqID, sent to
// member id.
func (w *World) adminTimeout(id, reqID uint64) {
	if w.auth.reqID != reqID {
		return
	}
	if m := w.member(id); m.state == stateUp {
		w.step(m, replica.EvCancel{ReqID: reqID})
	}
	w.adminReply(replica.Reply{ReqID: reqID, Err: errTimedOut})
}

// errTimedOut is a request its sender gave up on.
var errTimedOut = fmt.Errorf("sim: timed out")

// callerOf is the user request reqID is made by, nil in runs without
// auth: a client's user, or root for a lease holder.
func (w *World) callerOf(reqID uint64) *auth.Identity {
	if !w.auth.on {
		return nil
	}
	if reqID&leaseReqBase != 0 {
		return &root
	}
	c := w.clientOf(reqID)
	if c == nil {
		return nil
	}
	if c.final {
		return &root
	}
	u := clientUsers[c.id%len(clientUsers)]
	return &auth.Identity{User: u.name, Revision: c.tokenRev}
}

// authenticate gives a token client a fresh token's revision, from the
// member it reached, before its next request, if it has none or the last
// was refused as old (as a real client renews its token and tries again).
func (w *World) authenticate(c *client, m *member) {
	if !w.auth.on || c.final || !clientUsers[c.id%len(clientUsers)].token || c.tokenRev != 0 && !c.reauth {
		return
	}
	id, err := m.replica.State.Auth().Authenticate(clientUsers[c.id%len(clientUsers)].name, tokenPassword, w.auth.decoy)
	if err == nil {
		c.tokenRev, c.reauth = id.Revision, false
	}
}

// judgeRead judges the auth check of a read member m answered with err
// (Plan.Answer, after the barrier, as the server does) by the model as of
// the index m applied.
func (w *World) judgeRead(m *member, p *pendingOp, err error) {
	if !w.auth.on {
		return
	}
	if !isAuthCode(api.CodeOf(err)) {
		err = nil // not refused for auth
	}
	caller, req := w.callerOf(p.reqID), p.plan.Read.Req
	index := m.sm.next - 1 // applied
	model := w.auth.modelAt(index)
	if want, got := model.judgeRead(caller, req), api.CodeOf(err); got != want {
		who := "no user"
		if caller != nil {
			who = fmt.Sprintf("user %q (revision %d)", caller.User, caller.Revision)
		}
		w.fail("member %d served read %x by %s (applied index %d): %v; the auth model (%s) says %v",
			m.id, p.reqID, who, index, describeRefusal(err), model.describe(), want)
	}
	if err != nil {
		w.obs.cov.AuthRefusedReads++
		w.noteRefusal(p.reqID, err)
	}
}

// noteRefusal lets a token client know its token is old.
func (w *World) noteRefusal(reqID uint64, err error) {
	if api.CodeOf(err) != api.CodeAuthOldRevision {
		return
	}
	w.obs.cov.AuthOldTokens++
	if c := w.clientOf(reqID); c != nil {
		c.reauth = true
	}
}

func describeRefusal(err error) string {
	if err == nil {
		return "allowed"
	}
	return fmt.Sprintf("refused (%v)", err)
}

// modelAt is the model of the auth state once the entry at index is
// applied.
func (a *simAuth) modelAt(index uint64) *authModel {
	i := sort.Search(len(a.versions), func(i int) bool { return a.versions[i].index > index })
	return a.versions[i-1].model
}

// judgeApplied checks what member s applied at index (data, its result
// res) against the model, and, for an auth command, records the model
// after it; revBefore is the store's revision before the entry.
func (w *World) judgeApplied(s *appliedState, index uint64, data []byte, res any, revBefore int64) {
	e, err := replica.OpenCommand(data)
	if err != nil {
		return // not a command (the forger's are checked elsewhere)
	}
	if e.Kind == replica.KindAuth {
		w.authApplied(s, index, e)
		return
	}
	model := w.auth.modelAt(index)
	want, ok := model.judgeWrite(e)
	if !ok {
		return
	}
	result, _ := res.(replica.ApplyResult)
	got := api.CodeOf(result.Err)
	if !isAuthCode(got) {
		got = 0
	}
	switch {
	case got != want:
		w.fail("member %d applied entry %d (%v by %+v): %v; the auth model (%s) says %v",
			s.m.id, index, e.Kind, describeWho(e), describeRefusal(result.Err), model.describe(), want)
	case want != 0 && s.rev != revBefore:
		w.fail("member %d refused entry %d (%v by %+v: %v), and yet it moved the store from revision %d to %d",
			s.m.id, index, e.Kind, describeWho(e), result.Err, revBefore, s.rev)
	case want != 0 && w.applied.entries[index].member == s.m.id:
		w.obs.cov.AuthRefusedWrites++
		if want == api.CodeAuthOldRevision {
			w.obs.cov.AuthOldTokens++
		}
	}
}

// describeWho names who made a command.
func describeWho(e replica.Envelope) string {
	switch e.Who {
	case replica.WhoUser:
		return fmt.Sprintf("user %q (revision %d)", e.User.User, e.User.Revision)
	case replica.WhoMember:
		return fmt.Sprintf("member %d", e.Member)
	}
	return "no user"
}

// isAuthCode reports whether code refuses a request for want of a user or
// a permission.
func isAuthCode(code api.Code) bool {
	switch code {
	case api.CodeUserEmpty, api.CodePermissionDenied, api.CodeAuthOldRevision:
		return true
	}
	return false
}

// authApplied records the model after the auth command e at index (the
// first member to apply it computes it), and requires member s's auth
// state to be the model's.
func (w *World) authApplied(s *appliedState, index uint64, e replica.Envelope) {
	a := &w.auth
	last := a.versions[len(a.versions)-1]
	switch {
	case index > last.index:
		c, err := auth.UnmarshalCommand(e.Payload)
		if err != nil {
			w.fail("member %d applied an auth command at index %d that does not decode: %v", s.m.id, index, err)
			return
		}
		next, changed := last.model.apply(e, c)
		a.versions = append(a.versions, authVersion{index, next})
		if changed {
			w.obs.cov.AuthChanges++
		}
	case !slices.ContainsFunc(a.versions, func(v authVersion) bool { return v.index == index }):
		w.fail("member %d applied the auth command at index %d first, after the one at %d", s.m.id, index, last.index)
		return
	}
	w.checkAuthState(s, index)
}

// checkAuthState requires member s's auth state to be the model's as of
// index.
func (w *World) checkAuthState(s *appliedState, index uint64) {
	model := w.auth.modelAt(index)
	if got, want := describeAuthState(s.kv.Auth()), model.describe(); got != want {
		w.fail("member %d's auth state at index %d is\n  %s\nthe model's is\n  %s", s.m.id, index, got, want)
	}
}

// describeAuthState writes a member's auth state as describe writes a
// model.
func describeAuthState(a *auth.State) string {
	m := newAuthModel()
	m.enabled, m.revision = a.Enabled(), a.Revision()
	for _, u := range a.Users() {
		m.users[u], _ = a.UserRoles(u)
	}
	for _, r := range a.Roles() {
		m.roles[r], _ = a.RolePerms(r)
	}
	return m.describe()
}

// entryHeader is the length of the header before the command Apply gets:
// the proposal's tag and sequence number (replica's headerSize).
const entryHeader = 16

// asRoot is a client's write command (data, as Apply gets it) made by
// root instead of its user: the NoWriteAuth mutation.
func asRoot(data []byte) []byte {
	e, err := replica.OpenCommand(data)
	if err != nil || e.Who != replica.WhoUser || e.Kind == replica.KindAuth {
		return data
	}
	e.User = root
	return e.Marshal()[entryHeader:]
}

// describeAuthCommand names an auth change as ctl would ("role
// revoke-permission ro [k1, k3)").
func describeAuthCommand(c *auth.Command) string {
	switch c.Op {
	case auth.OpRoleGrantPermission:
		return fmt.Sprintf("RoleGrantPermission %s %s on %s", c.Name, permName(c.Perm.PermType), auth.DescribeRange(c.Perm.Key, c.Perm.RangeEnd))
	case auth.OpRoleRevokePermission:
		return fmt.Sprintf("RoleRevokePermission %s on %s", c.Name, auth.DescribeRange(c.Perm.Key, c.Perm.RangeEnd))
	case auth.OpUserGrantRole, auth.OpUserRevokeRole:
		return fmt.Sprintf("%v %s %s", c.Op, c.Name, c.Role)
	case auth.OpUserAdd, auth.OpRoleAdd:
		return fmt.Sprintf("%v %s", c.Op, c.Name)
	}
	return c.Op.String()
}

func permName(t api.PermType) string {
	switch t {
	case api.PermRead:
		return "read"
	case api.PermWrite:
		return "write"
	}
	return "readwrite"
}
