package api

import (
	"testing"

	"pgregory.net/rapid"
)

func TestLeaseRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		id := rapid.Int64().Draw(t, "id")
		ttl := rapid.Int64().Draw(t, "ttl")
		roundTrip(t, &LeaseGrantResponse{Header: genHeader(t), ID: id, TTL: ttl})
		roundTrip(t, &LeaseRevokeResponse{Header: genHeader(t)})
		roundTrip(t, &LeaseKeepAliveRequest{ID: id})
		roundTrip(t, &LeaseKeepAliveResponse{Header: genHeader(t), ID: id, TTL: ttl})
		roundTrip(t, &LeaseTimeToLiveRequest{ID: id, Keys: rapid.Bool().Draw(t, "keys")})
		roundTrip(t, &LeaseTimeToLiveResponse{Header: genHeader(t), ID: id, TTL: ttl,
			GrantedTTL: rapid.Int64().Draw(t, "granted"), Keys: genBytesList(t, "keys")})
		roundTrip(t, &LeaseLeasesRequest{})
		roundTrip(t, &LeaseLeasesResponse{Header: genHeader(t), Leases: genList(t, "leases", func(t *rapid.T) LeaseStatus {
			return LeaseStatus{ID: rapid.Int64().Draw(t, "id")}
		})})
	})
}
