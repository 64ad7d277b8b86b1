package client

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/rpc"
)

// MemberList lists the cluster's members.
func (c *Client) MemberList(ctx context.Context) (*api.MemberListResponse, error) {
	resp := &api.MemberListResponse{}
	return resp, c.callRead(ctx, api.MethodMemberList, &api.MemberListRequest{Linearizable: true}, resp)
}

// MemberAdd adds a voting member with the given peer URLs; start it
// afterwards with --initial-cluster-state existing.
func (c *Client) MemberAdd(ctx context.Context, peerURLs []string) (*api.MemberAddResponse, error) {
	resp := &api.MemberAddResponse{}
	return resp, c.call(ctx, api.MethodMemberAdd, &api.MemberAddRequest{PeerURLs: peerURLs}, resp)
}

// MemberAddAsLearner adds a non-voting member (promote it once it has
// caught up).
func (c *Client) MemberAddAsLearner(ctx context.Context, peerURLs []string) (*api.MemberAddResponse, error) {
	resp := &api.MemberAddResponse{}
	return resp, c.call(ctx, api.MethodMemberAdd, &api.MemberAddRequest{PeerURLs: peerURLs, IsLearner: true}, resp)
}

// MemberRemove removes a member.
func (c *Client) MemberRemove(ctx context.Context, id uint64) (*api.MemberRemoveResponse, error) {
	resp := &api.MemberRemoveResponse{}
	return resp, c.call(ctx, api.MethodMemberRemove, &api.MemberRemoveRequest{ID: id}, resp)
}

// MemberUpdate changes a member's peer URLs.
func (c *Client) MemberUpdate(ctx context.Context, id uint64, peerURLs []string) (*api.MemberUpdateResponse, error) {
	resp := &api.MemberUpdateResponse{}
	return resp, c.call(ctx, api.MethodMemberUpdate, &api.MemberUpdateRequest{ID: id, PeerURLs: peerURLs}, resp)
}

// MemberPromote makes a learner that has caught up a voting member.
func (c *Client) MemberPromote(ctx context.Context, id uint64) (*api.MemberPromoteResponse, error) {
	resp := &api.MemberPromoteResponse{}
	return resp, c.call(ctx, api.MethodMemberPromote, &api.MemberPromoteRequest{ID: id}, resp)
}

// Status asks one member (by endpoint) for its status.
func (c *Client) Status(ctx context.Context, endpoint string) (*api.StatusResponse, error) {
	resp := &api.StatusResponse{}
	return resp, c.callAt(ctx, endpoint, api.MethodStatus, &api.StatusRequest{}, resp)
}

// HashKV asks one member for the hash of its key-value history up to rev
// (0: its current revision).
func (c *Client) HashKV(ctx context.Context, endpoint string, rev int64) (*api.HashKVResponse, error) {
	resp := &api.HashKVResponse{}
	return resp, c.callAt(ctx, endpoint, api.MethodHashKV, &api.HashKVRequest{Revision: rev}, resp)
}

// Defragment asks one member to rewrite its store file compactly.
func (c *Client) Defragment(ctx context.Context, endpoint string) (*api.DefragmentResponse, error) {
	resp := &api.DefragmentResponse{}
	return resp, c.callAt(ctx, endpoint, api.MethodDefragment, &api.DefragmentRequest{}, resp)
}

// MoveLeader asks the leader to hand leadership to member target.
func (c *Client) MoveLeader(ctx context.Context, target uint64) (*api.MoveLeaderResponse, error) {
	resp := &api.MoveLeaderResponse{}
	return resp, c.call(ctx, api.MethodMoveLeader, &api.MoveLeaderRequest{TargetID: target}, resp)
}

// AlarmList lists the raised alarms.
func (c *Client) AlarmList(ctx context.Context) (*api.AlarmResponse, error) {
	resp := &api.AlarmResponse{}
	return resp, c.callRead(ctx, api.MethodAlarm, &api.AlarmRequest{Action: api.AlarmGet}, resp)
}

// AlarmDisarm clears alarms (all of them for a zero AlarmMember).
func (c *Client) AlarmDisarm(ctx context.Context, a api.AlarmMember) (*api.AlarmResponse, error) {
	resp := &api.AlarmResponse{}
	return resp, c.call(ctx, api.MethodAlarm, &api.AlarmRequest{Action: api.AlarmDeactivate, MemberID: a.MemberID, Alarm: a.Alarm}, resp)
}

// ErrSnapshotChecksum is returned when a snapshot's data does not match
// the checksum the member sent with it.
var ErrSnapshotChecksum = errors.New("client: snapshot checksum mismatch (the copy is corrupt)")

// Snapshot streams a consistent copy of one member's store (endpoint ""
// picks any) into w and checks it against the member's SHA-256, which
// follows the data on the stream and is not written to w. It returns the
// number of bytes written.
func (c *Client) Snapshot(ctx context.Context, endpoint string, w io.Writer) (int64, error) {
	rc := c.rpc
	if endpoint != "" {
		var err error
		if rc, err = c.endpointClient(endpoint); err != nil {
			return 0, err
		}
	}
	// A member checks the token when the stream opens, before it sends
	// any data, so a retry for a stale token never writes into w twice.
	var n int64
	err := c.authed(ctx, func(ctx context.Context) error {
		var err error
		n, err = snapshotFrom(ctx, rc, w)
		return err
	})
	return n, err
}

// snapshotFrom streams one snapshot from rc into w, checking its
// checksum, and returns the number of bytes written.
func snapshotFrom(ctx context.Context, rc *rpc.Client, w io.Writer) (int64, error) {
	st, err := openStream(ctx, rc, api.MethodSnapshot, &api.SnapshotRequest{})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	h := sha256.New()
	var tail []byte // the last bytes seen: the checksum once the stream ends
	var n int64
	for {
		b, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return n, toError(err)
		}
		var r api.SnapshotResponse
		if err := api.Unmarshal(b, &r); err != nil {
			return n, fmt.Errorf("client: snapshot: %w", err)
		}
		tail = append(tail, r.Blob...)
		if len(tail) > sha256.Size {
			out := tail[:len(tail)-sha256.Size]
			h.Write(out)
			if _, err := w.Write(out); err != nil {
				return n, err
			}
			n += int64(len(out))
			tail = append([]byte(nil), tail[len(tail)-sha256.Size:]...)
		}
	}
	if len(tail) != sha256.Size || string(h.Sum(nil)) != string(tail) {
		return n, ErrSnapshotChecksum
	}
	return n, nil
}
