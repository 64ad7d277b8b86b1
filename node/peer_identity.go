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
// with it. Every member keeps the three in <data-dir>/member/cluster-secret
// (mode 0600), and proves at every peer connection that it holds the
// secret (peer_handshake.go); a connection that does not is told nothing
// and served nothing.
//
// The founder of a new cluster makes the identity: the member of
// --initial-cluster with the lowest member id, at its first start with
// --initial-cluster-state new (a cluster restored from a snapshot is a new
// cluster: its founder makes a new identity). Every other member gets it
// from a member that has it, in a join exchange at the peer handshake:
// the member asks for it by its peer URLs, proving that it knows
// --initial-cluster-token, and is answered only while it has never started
// (its client URLs are not yet published in the membership), only from
// the host of those peer URLs (or, with peer TLS, with a certificate for
// it), and with the identity sealed under a key only the two ends can
// derive. A member added with `ctl member add` gets it the same way at its
// first start. So a cluster needs no secret handed around by the
// operator, and is closed once its members have started; while a member
// has been added but not started, whoever knows the cluster token and
// speaks from that member's host (or holds a certificate for it) may take
// its place. A member that lost the file after its first start is not
// given the identity again: the operator copies the file from another
// member into its data dir.

// clusterSecretFile is the identity's file in the member directory.
const clusterSecretFile = "cluster-secret"

// clusterSecretSize is the secret's length in bytes.
const clusterSecretSize = 32

// clusterIdentity is a cluster's identity: its id, its incarnation, and
// the secret its members prove they hold.
type clusterIdentity struct {
	Cluster     uint64
	Incarnation uint64
	Secret      [clusterSecretSize]byte
}

// newClusterIdentity makes the identity of a new cluster.
func newClusterIdentity(cluster uint64) (*clusterIdentity, error) {
	id := &clusterIdentity{Cluster: cluster}
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

// marshal is the file's content: the header, then one "name value" line
// each for the cluster, the incarnation and the secret, in hex.
func (c *clusterIdentity) marshal() []byte {
	return fmt.Appendf(nil, "%s\ncluster %016x\nincarnation %016x\nsecret %s\n",
		clusterSecretHeader, c.Cluster, c.Incarnation, hex.EncodeToString(c.Secret[:]))
}

// parseClusterIdentity reads what marshal wrote.
func parseClusterIdentity(b []byte) (*clusterIdentity, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) != 4 || lines[0] != clusterSecretHeader {
		return nil, errors.New("not a cairn cluster secret file (want its header line and three others)")
	}
	field := func(line, name string) (string, error) {
		v, ok := strings.CutPrefix(line, name+" ")
		if !ok {
			return "", fmt.Errorf("line %q: want %q and its value", line, name)
		}
		return v, nil
	}
	id := &clusterIdentity{}
	for i, f := range []struct {
		name string
		dst  *uint64
	}{{"cluster", &id.Cluster}, {"incarnation", &id.Incarnation}} {
		v, err := field(lines[1+i], f.name)
		if err != nil {
			return nil, err
		}
		if len(v) != 16 {
			return nil, fmt.Errorf("%s %q: want 16 hex digits", f.name, v)
		}
		if *f.dst, err = strconv.ParseUint(v, 16, 64); err != nil {
			return nil, fmt.Errorf("%s %q: want 16 hex digits", f.name, v)
		}
	}
	if id.Incarnation == 0 {
		return nil, errors.New("incarnation 0")
	}
	v, err := field(lines[3], "secret")
	if err != nil {
		return nil, err
	}
	secret, err := hex.DecodeString(v)
	if err != nil || len(secret) != clusterSecretSize {
		return nil, fmt.Errorf("secret: want %d hex digits", 2*clusterSecretSize)
	}
	copy(id.Secret[:], secret)
	return id, nil
}

// loadClusterIdentity reads the identity from the member directory; nil
// and no error if the file does not exist.
func loadClusterIdentity(memberPath string) (*clusterIdentity, error) {
	path := filepath.Join(memberPath, clusterSecretFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("node: read %s: %w", path, err)
	}
	id, err := parseClusterIdentity(b)
	if err != nil {
		return nil, fmt.Errorf("node: %s: %w", path, err)
	}
	return id, nil
}

// saveClusterIdentity writes the identity into the member directory
// durably (a temporary file, fsynced, renamed, the directory fsynced),
// readable by the owner only.
func saveClusterIdentity(memberPath string, id *clusterIdentity) error {
	fsys := fsx.OS{}
	path := filepath.Join(memberPath, clusterSecretFile)
	tmp := path + ".tmp"
	err := func() error {
		f, err := fsx.Create(fsys, tmp)
		if err != nil {
			return err
		}
		_, err = f.Write(id.marshal())
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
