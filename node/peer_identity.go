package node

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/cairndb/cairn/internal/fsx"
)

// What a member proves to its peers, and how it got it.
//
// Every cluster has an identity that no other cluster shares: its id
// (derived from --initial-cluster-token and the initial members' peer
// URLs, so two clusters started alike share it), a random incarnation
// made when the cluster is bootstrapped, and a random 256-bit secret made
// with it. Every member keeps them in <data-dir>/member/cluster-secret
// (mode 0600), and proves at every peer connection that it holds the
// secret (peer_handshake.go); a connection that does not is told nothing
// and served nothing.
//
// The members of a new cluster agree on one identity without the
// operator, and without needing any one of them: each makes its own at
// its first start with --initial-cluster-state new (a cluster restored
// from a snapshot is a new cluster), provisional, named after its maker.
// Until its identity is committed a member asks the other initial
// members for theirs (a join exchange at the peer handshake: it proves
// --initial-cluster-token, and is answered only while it has never
// started — its client URLs are not published in the membership — only
// from the host of its peer URLs or with a certificate for it, with the
// identity sealed under a key only the two ends can derive), and adopts
// one that is committed or campaigned, or provisional of a maker with a
// lower id: the members that can reach each other converge on one.
//
// An identity is held in one of three states (the file says which):
//
//   - provisional: no promise was made under it;
//   - campaigned: the member asked for votes under it (it sent a vote
//     request) and has heard no promise under it yet;
//   - committed: the member heard a promise under it — it received a
//     vote request, a vote (granted or not), a leader's message or a
//     snapshot, or saw a leader — written durably before it takes that
//     message.
//
// A committed member never leaves its identity. A message is taken only
// if the connection that carried it was proved under the identity the
// member holds, checked together with the commit (under one lock), so a
// member that adopted another identity meanwhile drops it.
//
// A campaigned member keeps asking, and adopts only an identity that a
// majority of the voting members answered committed (it then holds it
// committed). This keeps a race at bootstrap from losing a member: a
// member may win pre-votes under its identity A and ask for votes under
// it while the members it asked move to a lower maker's B and elect a
// leader there; its vote requests are refused, it hears nothing under A,
// and it takes B once their answers say B is committed.
//
// Why this is safe:
//
//   - Only one identity ever has a majority committed, and an identity
//     with a leader has one: a candidate wins with the votes of a
//     majority, every voter received its vote request (and committed
//     then), and the candidate received the votes. Members commit to one
//     identity each, for good, so two identities' majorities would share
//     a member.
//   - A campaigned member is in no one's quorum: it voted for nobody (it
//     received no vote request), and no leader counts it (it received no
//     vote and no leader's message). Its vote requests may have reached
//     members under its identity, which committed to it; but it leaves
//     only for an identity a majority committed, which its own can then
//     never have: they lose nothing it could have given them.
//   - Its raft state is valid in the identity it takes. Its term and its
//     vote (for itself) are its own, kept in its own log; raft needs each
//     member to keep them, not to have kept them in one cluster. Its log
//     and store are what its first start wrote (it received no entry and
//     no snapshot: either would have committed it): the bootstrap entries
//     of --initial-cluster (or the snapshot it was restored from), which
//     every initial member writes alike whatever identity it takes. So it
//     is exactly a member of the majority's cluster that campaigned and
//     lost. A store repaired at a restart (a copy from the leader of its
//     identity) does not break this: an identity with a leader has a
//     majority committed, so no other identity ever gets one and the
//     member never leaves it.
//   - Nothing is taken from another cluster: a data dir or a peer of
//     another incarnation is refused as before. A committed member never
//     moves, and a member's data changes after its first start only by
//     messages that commit it: a campaigned data dir holds only what
//     every initial member writes at its first start.
//
// It still takes a majority of members that reach each other to settle:
// two campaigned members of two identities without a third (a cluster of
// two, or the third down) wait for it. Members committed to an identity
// that lost — a minority that exchanged a vote request and its answer
// under it while a majority committed another, which takes five members
// and two races — stay refused, loudly, until they are given the
// majority's file.
//
// A member added with `ctl member add` asks the same way at its first
// start and takes the answer. So a cluster needs no secret handed around,
// and is closed once its members have started; while a member has been
// added but not started, whoever knows the cluster token and speaks from
// that member's host (or holds a certificate for it) may take its place.
// A member that lost the file after its first start is not given the
// identity again: the operator copies the file from another member.

// clusterSecretFile is the identity's file in the member directory.
const clusterSecretFile = "cluster-secret"

// clusterSecretSize is the secret's length in bytes.
const clusterSecretSize = 32

// clusterIdentity is a cluster's identity: its id, its incarnation, and
// the secret its members prove they hold; Maker is the member that made
// it.
type clusterIdentity struct {
	Cluster     uint64
	Incarnation uint64
	Maker       uint64
	Secret      [clusterSecretSize]byte
}

// newClusterIdentity makes an identity of a new cluster, as member maker.
func newClusterIdentity(cluster, maker uint64) (*clusterIdentity, error) {
	id := &clusterIdentity{Cluster: cluster, Maker: maker}
	var b [8]byte
	for id.Incarnation == 0 {
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("node: make the cluster incarnation: %w", err)
		}
		id.Incarnation = binary.BigEndian.Uint64(b[:])
	}
	if _, err := rand.Read(id.Secret[:]); err != nil {
		return nil, fmt.Errorf("node: make the cluster secret: %w", err)
	}
	return id, nil
}

// String names the identity in logs: never the secret.
func (c *clusterIdentity) String() string {
	return fmt.Sprintf("cluster %016x incarnation %016x", c.Cluster, c.Incarnation)
}

// clusterSecretHeader is the first line of the file.
const clusterSecretHeader = "cairn cluster secret v1"

// identityState is how far a member holds its identity (see above).
type identityState uint8

// The states of a member's identity, from the weakest.
const (
	// identityProvisional: made or taken, no promise made under it.
	identityProvisional identityState = iota
	// identityCampaigned: this member asked for votes under it and has
	// heard no promise under it yet; it may still leave it, for an
	// identity a majority committed.
	identityCampaigned
	// identityCommitted: this member heard a promise under it or saw a
	// leader; it never leaves it.
	identityCommitted
)

// identityStateNames are the states as the file names them.
var identityStateNames = [...]string{
	identityProvisional: "provisional",
	identityCampaigned:  "campaigned",
	identityCommitted:   "committed",
}

func (st identityState) String() string {
	if int(st) < len(identityStateNames) {
		return identityStateNames[st]
	}
	return fmt.Sprintf("identityState(%d)", uint8(st))
}

// marshal is the file's content: the header, then one "name value" line
// each for the cluster, the incarnation, the maker (hex), the state
// (provisional, campaigned or committed) and the secret (hex).
func (c *clusterIdentity) marshal(state identityState) []byte {
	return fmt.Appendf(nil, "%s\ncluster %016x\nincarnation %016x\nmaker %016x\nstate %s\nsecret %s\n",
		clusterSecretHeader, c.Cluster, c.Incarnation, c.Maker, state, hex.EncodeToString(c.Secret[:]))
}

// parseClusterIdentity reads what marshal wrote.
func parseClusterIdentity(b []byte) (id *clusterIdentity, state identityState, err error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) != 6 || lines[0] != clusterSecretHeader {
		return nil, 0, errors.New("not a cairn cluster secret file (want its header line and five others)")
	}
	field := func(line, name string) (string, error) {
		v, ok := strings.CutPrefix(line, name+" ")
		if !ok {
			return "", fmt.Errorf("line %q: want %q and its value", line, name)
		}
		return v, nil
	}
	id = &clusterIdentity{}
	for i, f := range []struct {
		name string
		dst  *uint64
	}{{"cluster", &id.Cluster}, {"incarnation", &id.Incarnation}, {"maker", &id.Maker}} {
		v, err := field(lines[1+i], f.name)
		if err != nil {
			return nil, 0, err
		}
		if len(v) != 16 {
			return nil, 0, fmt.Errorf("%s %q: want 16 hex digits", f.name, v)
		}
		if *f.dst, err = strconv.ParseUint(v, 16, 64); err != nil {
			return nil, 0, fmt.Errorf("%s %q: want 16 hex digits", f.name, v)
		}
	}
	if id.Incarnation == 0 || id.Maker == 0 {
		return nil, 0, errors.New("incarnation or maker 0")
	}
	name, err := field(lines[4], "state")
	if err != nil {
		return nil, 0, err
	}
	i := slices.Index(identityStateNames[:], name)
	if i < 0 {
		return nil, 0, fmt.Errorf("state %q: want %s", name, strings.Join(identityStateNames[:], ", "))
	}
	state = identityState(i)
	v, err := field(lines[5], "secret")
	if err != nil {
		return nil, 0, err
	}
	secret, err := hex.DecodeString(v)
	if err != nil || len(secret) != clusterSecretSize {
		return nil, 0, fmt.Errorf("secret: want %d hex digits", 2*clusterSecretSize)
	}
	copy(id.Secret[:], secret)
	return id, state, nil
}

// loadClusterIdentity reads the identity from the member directory, and
// its state; nil and no error if the file does not exist.
func loadClusterIdentity(memberPath string) (*clusterIdentity, identityState, error) {
	path := filepath.Join(memberPath, clusterSecretFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("node: read %s: %w", path, err)
	}
	id, committed, err := parseClusterIdentity(b)
	if err != nil {
		return nil, 0, fmt.Errorf("node: %s: %w", path, err)
	}
	return id, committed, nil
}

// saveClusterIdentity writes the identity and its state into the member
// directory durably (a temporary file, fsynced, renamed, the directory
// fsynced), readable by the owner only.
func saveClusterIdentity(memberPath string, id *clusterIdentity, state identityState) error {
	fsys := fsx.OS{}
	path := filepath.Join(memberPath, clusterSecretFile)
	tmp := path + ".tmp"
	err := func() error {
		f, err := fsx.Create(fsys, tmp)
		if err != nil {
			return err
		}
		_, err = f.Write(id.marshal(state))
		if err == nil {
			err = f.Sync()
		}
		return errors.Join(err, f.Close())
	}()
	if err == nil {
		err = fsys.Rename(tmp, path)
	}
	if err == nil {
		err = fsys.SyncDir(memberPath)
	}
	if err != nil {
		_ = fsys.Remove(tmp)
		return fmt.Errorf("node: write %s: %w", path, err)
	}
	return nil
}
