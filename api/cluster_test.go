package api

import (
	"testing"

	"pgregory.net/rapid"
)

func genMember(t *rapid.T) Member {
	return Member{ID: rapid.Uint64().Draw(t, "id"), Name: genStr(t), PeerURLs: genStrs(t, "peers"),
		ClientURLs: genStrs(t, "clients"), IsLearner: rapid.Bool().Draw(t, "learner")}
}

func genMembers(t *rapid.T) []Member { return genList(t, "members", genMember) }

func TestClusterRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := genMember(t)
		roundTrip(t, &m)
		id := rapid.Uint64().Draw(t, "id")
		roundTrip(t, &MemberAddRequest{PeerURLs: genStrs(t, "peers"), IsLearner: rapid.Bool().Draw(t, "learner")})
		roundTrip(t, &MemberAddResponse{Header: genHeader(t), Member: genMember(t), Members: genMembers(t)})
		roundTrip(t, &MemberRemoveRequest{ID: id})
		roundTrip(t, &MemberRemoveResponse{Header: genHeader(t), Members: genMembers(t)})
		roundTrip(t, &MemberUpdateRequest{ID: id, PeerURLs: genStrs(t, "peers")})
		roundTrip(t, &MemberUpdateResponse{Header: genHeader(t), Members: genMembers(t)})
		roundTrip(t, &MemberListRequest{Linearizable: rapid.Bool().Draw(t, "lin")})
		roundTrip(t, &MemberListResponse{Header: genHeader(t), Members: genMembers(t)})
		roundTrip(t, &MemberPromoteRequest{ID: id})
		roundTrip(t, &MemberPromoteResponse{Header: genHeader(t), Members: genMembers(t)})
	})
}
