package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/etcdconv"
	"github.com/cairndb/cairn/internal/restore"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// leaseGrant prints "lease ID granted with TTL(Ns)".
func (p *printer) leaseGrant(resp *api.LeaseGrantResponse) {
	if p.etcd() {
		p.message(&leaseGrantMessage{ResponseHeader: etcdconv.ToHeader(resp.Header), ID: resp.ID, TTL: resp.TTL})
		return
	}
	p.printf("lease %016x granted with TTL(%ds)\n", resp.ID, resp.TTL)
}

// leaseRevoke prints "lease ID revoked".
func (p *printer) leaseRevoke(id int64, resp *api.LeaseRevokeResponse) {
	if p.etcd() {
		p.message(&pb.LeaseRevokeResponse{Header: etcdconv.ToHeader(resp.Header)})
		return
	}
	p.printf("lease %016x revoked\n", id)
}

// timeToLive prints a lease's granted and remaining TTL, and its keys
// when asked.
func (p *printer) timeToLive(resp *api.LeaseTimeToLiveResponse, withKeys bool) {
	if p.etcd() {
		m := &leaseTimeToLiveMessage{ResponseHeader: etcdconv.ToHeader(resp.Header), ID: resp.ID, TTL: resp.TTL,
			GrantedTTL: resp.GrantedTTL}
		if len(resp.Keys) > 0 {
			m.Keys = resp.Keys
		}
		p.message(m)
		return
	}
	if resp.TTL == -1 {
		p.printf("lease %016x already expired\n", resp.ID)
		return
	}
	line := fmt.Sprintf("lease %016x granted with TTL(%ds), remaining(%ds)", resp.ID, resp.GrantedTTL, resp.TTL)
	if withKeys {
		keys := make([]string, len(resp.Keys))
		for i, k := range resp.Keys {
			keys[i] = p.bytes(k)
		}
		line += fmt.Sprintf(", attached keys(%v)", keys)
	}
	p.printf("%s\n", line)
}

// leases prints "found N leases" and one id a line.
func (p *printer) leases(resp *api.LeaseLeasesResponse) {
	if p.etcd() {
		m := &leaseLeasesMessage{ResponseHeader: etcdconv.ToHeader(resp.Header), Leases: make([]leaseStatusMessage, len(resp.Leases))}
		for i, l := range resp.Leases {
			m.Leases[i].ID = l.ID
		}
		p.message(m)
		return
	}
	p.printf("found %d leases\n", len(resp.Leases))
	for _, l := range resp.Leases {
		p.printf("%016x\n", l.ID)
	}
}

// keepAlive prints one renewal.
func (p *printer) keepAlive(resp *api.LeaseKeepAliveResponse) {
	if p.etcd() {
		p.message(&leaseKeepAliveMessage{ResponseHeader: etcdconv.ToHeader(resp.Header), ID: resp.ID, TTL: resp.TTL})
		return
	}
	p.printf("lease %016x keepalived with TTL(%d)\n", resp.ID, resp.TTL)
}

// memberRow is a member as list prints it: ID, STATUS, NAME, PEER ADDRS,
// CLIENT ADDRS, IS LEARNER.
func memberRow(m api.Member) []string {
	status := "started"
	if m.Name == "" {
		status = "unstarted"
	}
	return []string{fmt.Sprintf("%016x", m.ID), status, m.Name, strings.Join(m.PeerURLs, ","),
		strings.Join(m.ClientURLs, ","), fmt.Sprint(m.IsLearner)}
}

// memberList prints one member a line, or a table.
func (p *printer) memberList(resp *api.MemberListResponse) {
	switch {
	case p.etcd():
		p.message(etcdconv.ToMemberList(resp))
	case p.format == formatTable:
		rows := make([][]string, len(resp.Members))
		for i, m := range resp.Members {
			rows[i] = memberRow(m)
		}
		p.table([]string{"ID", "STATUS", "NAME", "PEER ADDRS", "CLIENT ADDRS", "IS LEARNER"}, rows)
	default:
		for _, m := range resp.Members {
			p.printf("%s\n", strings.Join(memberRow(m), ", "))
		}
	}
}

// memberAdd prints the new member's id and the cmd/node flags that start
// it: its name, the initial cluster including it, its peer URLs and
// --initial-cluster-state=existing.
func (p *printer) memberAdd(name string, resp *api.MemberAddResponse) {
	if p.etcd() {
		p.message(etcdconv.ToMemberAdd(resp))
		return
	}
	as := ""
	if resp.Member.IsLearner {
		as = " as a learner"
	}
	p.printf("Member %016x added%s to cluster %016x\n\n", resp.Member.ID, as, resp.Header.ClusterID)
	var initial []string
	for _, m := range resp.Members {
		n := m.Name
		if m.ID == resp.Member.ID {
			n = name
		}
		if n == "" {
			continue // another member not started yet: it has no name to list
		}
		for _, u := range m.PeerURLs {
			initial = append(initial, n+"="+u)
		}
	}
	sort.Strings(initial)
	// The token is the cluster's: the new member proves it knows it to
	// be given the cluster secret at its first start.
	p.printf("Start it with these flags of cmd/node, and the cluster's --initial-cluster-token:\n")
	p.printf("--name=%s\n", name)
	p.printf("--initial-cluster=%s\n", strings.Join(initial, ","))
	p.printf("--initial-advertise-peer-urls=%s\n", strings.Join(resp.Member.PeerURLs, ","))
	p.printf("--initial-cluster-state=existing\n")
}

// memberChanged prints "Member ID <verb> cluster CLUSTER" for remove,
// update and promote; m is etcd's message for the response.
func (p *printer) memberChanged(id uint64, verb string, header api.ResponseHeader, m any) {
	if p.etcd() {
		p.message(m)
		return
	}
	p.printf("Member %016x %s cluster %016x\n", id, verb, header.ClusterID)
}

// alarms prints each alarm as "memberID:ID alarm:NAME".
func (p *printer) alarms(resp *api.AlarmResponse) {
	if p.etcd() {
		p.message(etcdconv.ToAlarm(resp))
		return
	}
	for _, a := range resp.Alarms {
		p.printf("memberID:%016x alarm:%s\n", a.MemberID, a.Alarm)
	}
}

// moveLeader prints the transfer.
func (p *printer) moveLeader(from, to uint64, resp *api.MoveLeaderResponse) {
	if p.etcd() {
		p.message(&pb.MoveLeaderResponse{Header: etcdconv.ToHeader(resp.Header)})
		return
	}
	p.printf("Leadership transferred from %016x to %016x\n", from, to)
}

// statusHeader names statusRow's columns, etcdctl 3.6's.
var statusHeader = []string{"ENDPOINT", "ID", "VERSION", "STORAGE VERSION", "DB SIZE", "IN USE",
	"PERCENTAGE NOT IN USE", "QUOTA", "IS LEADER", "IS LEARNER", "RAFT TERM", "RAFT INDEX",
	"RAFT APPLIED INDEX", "ERRORS", "DOWNGRADE TARGET VERSION", "DOWNGRADE ENABLED"}

// statusRow is an endpoint's status as status prints it. cairn has no
// downgrades: the last two columns always say none is under way.
func statusRow(s endpointStatus) []string {
	r := s.Status
	return []string{s.Endpoint, fmt.Sprintf("%016x", r.Header.MemberID), r.Version, r.StorageVersion,
		humanBytes(r.DbSize), humanBytes(r.DbSizeInUse), percentFree(r.DbSize, r.DbSizeInUse), humanBytes(r.DbSizeQuota),
		fmt.Sprint(r.Leader != 0 && r.Leader == r.Header.MemberID), fmt.Sprint(r.IsLearner),
		fmt.Sprint(r.RaftTerm), fmt.Sprint(r.RaftIndex), fmt.Sprint(r.RaftAppliedIndex), strings.Join(r.Errors, ", "),
		"", "false"}
}

// percentFree is the share of a backend of size bytes not holding live
// data, rounded down, as "12%"; an empty (or unreported) size frees 0%.
func percentFree(size, inUse int64) string {
	if size <= 0 {
		return "0%"
	}
	return fmt.Sprintf("%d%%", 100-inUse*100/size)
}

// endpointStatus prints one endpoint a line, or a table.
func (p *printer) endpointStatus(ss []endpointStatus) {
	switch {
	case p.etcd():
		var ms []endpointStatusMessage // null when no endpoint answered, as etcdctl's
		for _, s := range ss {
			ms = append(ms, endpointStatusMessage{Endpoint: s.Endpoint, Status: etcdconv.ToStatus(s.Status)})
		}
		p.message(ms)
	case p.format == formatTable:
		rows := make([][]string, len(ss))
		for i, s := range ss {
			rows[i] = statusRow(s)
		}
		p.table(statusHeader, rows)
	default:
		for _, s := range ss {
			p.printf("%s\n", strings.Join(statusRow(s), ", "))
		}
	}
}

// endpointHealth prints each endpoint's health: in simple format the
// healthy ones on stdout and the unhealthy ones on stderr, as etcdctl.
func (p *printer) endpointHealth(hs []endpointHealth, stderr io.Writer) {
	switch {
	case p.etcd():
		p.message(hs)
	case p.format == formatTable:
		rows := make([][]string, len(hs))
		for i, h := range hs {
			rows[i] = []string{h.Endpoint, fmt.Sprint(h.Health), h.Took, h.Error}
		}
		p.table([]string{"ENDPOINT", "HEALTH", "TOOK", "ERROR"}, rows)
	default:
		for _, h := range hs {
			if h.Health {
				p.printf("%s is healthy: successfully committed proposal: took = %s\n", h.Endpoint, h.Took)
			} else {
				fmt.Fprintf(stderr, "%s is unhealthy: failed to commit proposal: %s\n", h.Endpoint, h.Error)
			}
		}
	}
}

// endpointHashKV prints each endpoint's hash, hash revision and compact
// revision.
func (p *printer) endpointHashKV(hs []endpointHash) {
	switch {
	case p.etcd():
		var ms []endpointHashMessage // null when no endpoint answered, as etcdctl's
		for _, h := range hs {
			ms = append(ms, endpointHashMessage{Endpoint: h.Endpoint, HashKV: etcdconv.ToHashKV(h.HashKV)})
		}
		p.message(ms)
	case p.format == formatTable:
		rows := make([][]string, len(hs))
		for i, h := range hs {
			rows[i] = []string{h.Endpoint, fmt.Sprint(h.HashKV.Hash), fmt.Sprint(h.HashKV.HashRevision), fmt.Sprint(h.HashKV.CompactRevision)}
		}
		p.table([]string{"ENDPOINT", "HASH", "HASH REVISION", "COMPACT REVISION"}, rows)
	default:
		for _, h := range hs {
			p.printf("%s, %d, %d, %d\n", h.Endpoint, h.HashKV.Hash, h.HashKV.HashRevision, h.HashKV.CompactRevision)
		}
	}
}

// snapshotSaved prints where the snapshot went, in every format (as
// etcdctl).
func (p *printer) snapshotSaved(path string) {
	p.printf("Snapshot saved at %s\n", path)
}

// snapshotStatus prints a snapshot file's SHA-256, revision, number of
// keys, size and format.
func (p *printer) snapshotStatus(s snapshotStatus) {
	row := []string{s.SHA256, fmt.Sprint(s.Revision), fmt.Sprint(s.TotalKey), humanBytes(s.TotalSize), string(s.Format)}
	switch p.format {
	case formatJSON:
		p.json(s)
	case formatTable:
		p.table([]string{"SHA256", "REVISION", "TOTAL KEYS", "TOTAL SIZE", "FORMAT"}, [][]string{row})
	default:
		p.printf("%s\n", strings.Join(row, ", "))
	}
}

// snapshotRestored prints what a restore put in the data dir, and the
// notes the operator must act on.
func (p *printer) snapshotRestored(path string, m restore.Member, rep restore.Report) {
	if p.format == formatJSON {
		p.json(struct {
			Path    string `json:"path"`
			DataDir string `json:"dataDir"`
			Member  string `json:"member"`
			restore.Report
		}{path, m.DataDir, m.Name, rep})
		return
	}
	p.printf("restored %s snapshot %s into %s for member %s\n", rep.Format, path, m.DataDir, m.Name)
	p.printf("revision %d (compacted at %d), %d keys, %d leases, %d users, %d roles, auth %s\n",
		rep.Revision, rep.CompactRevision, rep.Keys, rep.Leases, rep.Users, rep.Roles, map[bool]string{true: "enabled", false: "disabled"}[rep.AuthEnabled])
	for _, n := range rep.Notes {
		p.printf("NOTE: %s\n", n)
	}
}

// mirrorCopied reports the end of a mirror's copy.
func (p *printer) mirrorCopied(from string, pr mirrorProgress) {
	if p.format == formatJSON {
		p.json(struct {
			Event string `json:"event"`
			mirrorProgress
		}{"copied", pr})
		return
	}
	p.printf("copied %d keys from %s at revision %d; following its changes (Ctrl-C stops)\n", pr.Copied, from, pr.Revision)
}

// mirrorProgress reports how far a mirror has followed its source.
func (p *printer) mirrorProgress(pr mirrorProgress) {
	if p.format == formatJSON {
		p.json(struct {
			Event string `json:"event"`
			mirrorProgress
		}{"progress", pr})
		return
	}
	p.printf("%d keys copied, %d changes followed, at source revision %d\n", pr.Copied, pr.Changes, pr.Revision)
}

// mirrorStopped reports where a mirror stopped.
func (p *printer) mirrorStopped(pr mirrorProgress) {
	if p.format == formatJSON {
		p.json(struct {
			Event string `json:"event"`
			mirrorProgress
		}{"stopped", pr})
		return
	}
	p.printf("stopped: %d keys copied, %d changes followed, at source revision %d\n", pr.Copied, pr.Changes, pr.Revision)
}
