package node

import (
	"context"
	"strconv"
	"time"

	"github.com/cairndb/cairn/raftcore"
	"github.com/cairndb/cairn/rpc"
)

// The peer traffic's metrics (etcd_network_peer_*), as etcd names them:
// each peer by its id in hexadecimal.

// methodPeerPing answers at once: a member measures the round trip to
// each peer with it (etcd_network_peer_round_trip_time_seconds).
const methodPeerPing rpc.Method = 1020

// peerProbeInterval is how often a member measures the round trip to a
// peer it sends to.
const peerProbeInterval = 3 * time.Second

// peerLabel is a peer's label value: its id in hexadecimal.
func peerLabel(id uint64) string { return strconv.FormatUint(id, 16) }

// peerSent counts a batch written to a peer.
func (t *peerTransport) peerSent(id uint64, bytes int) {
	t.s.metrics.PeerSentBytes.WithLabelValues(peerLabel(id)).Add(float64(bytes))
}

// peerSendFailed counts a batch that could not be sent to a peer, and
// the heartbeats in it.
func (t *peerTransport) peerSendFailed(id uint64, batch []raftcore.Message) {
	t.s.metrics.PeerSentFailures.WithLabelValues(peerLabel(id)).Inc()
	for _, m := range batch {
		t.heartbeatDropped(m)
	}
}

// heartbeatDropped counts m if it is a heartbeat that will not reach its
// peer.
func (t *peerTransport) heartbeatDropped(m raftcore.Message) {
	if m.Type == raftcore.MsgHeartbeat {
		t.s.metrics.HeartbeatSendFailures.Inc()
	}
}

// peerReceived counts a batch read from a peer.
func (t *peerTransport) peerReceived(id uint64, bytes int) {
	t.s.metrics.PeerReceivedBytes.WithLabelValues(peerLabel(id)).Add(float64(bytes))
}

// peerReceiveFailed counts a peer stream that broke with an error.
func (t *peerTransport) peerReceiveFailed(id uint64) {
	t.s.metrics.PeerReceivedFailures.WithLabelValues(peerLabel(id)).Inc()
}

// snapshotSent counts a snapshot sent to a peer, or one that failed.
func (t *peerTransport) snapshotSent(id uint64, err error) {
	if err != nil {
		t.s.metrics.SnapshotSendFailure.WithLabelValues(peerLabel(id)).Inc()
	} else {
		t.s.metrics.SnapshotSendSuccess.WithLabelValues(peerLabel(id)).Inc()
	}
}

// snapshotReceived counts a snapshot received from a peer, or one that
// failed.
func (t *peerTransport) snapshotReceived(id uint64, err error) {
	if err != nil {
		t.s.metrics.SnapshotReceiveFailure.WithLabelValues(peerLabel(id)).Inc()
	} else {
		t.s.metrics.SnapshotReceiveSuccess.WithLabelValues(peerLabel(id)).Inc()
	}
}

// servePing answers a peer's round-trip probe.
func (t *peerTransport) servePing(ctx context.Context, req []byte) ([]byte, error) { return nil, nil }

// probe measures the round trip to the peer every peerProbeInterval, on
// the connection its messages take, until the sender stops. A peer that
// cannot be reached is not measured (its sends fail and are counted).
func (p *peerSender) probe() {
	t := time.NewTicker(peerProbeInterval)
	defer t.Stop()
	rtt := p.t.s.metrics.PeerRoundTrip.WithLabelValues(peerLabel(p.id))
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		c, err := p.connection()
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), peerProbeInterval)
		start := time.Now()
		_, err = c.Call(ctx, methodPeerPing, nil)
		cancel()
		if err == nil {
			rtt.Observe(time.Since(start).Seconds())
		}
	}
}
