package api

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// TestDecodeRejectsServiceMessages feeds the watch, lease, cluster,
// maintenance and auth decoders inputs that are malformed in one specific
// way each.
func TestDecodeRejectsServiceMessages(t *testing.T) {
	header := []byte{0, 0, 0, 0} // a zero ResponseHeader
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	create := Marshal(&WatchRequest{Create: &WatchCreateRequest{Key: []byte("key"), Filters: []WatchFilterType{FilterNoPut}}})
	tests := []struct {
		name string
		b    []byte
		m    Message
		want string // in the error: the decoder failed for the right reason
	}{
		{"watch request empty", nil, &WatchRequest{}, "truncated"},
		{"watch request tag 0", []byte{0}, &WatchRequest{}, "unknown kind 0"},
		{"watch request unknown tag", []byte{4}, &WatchRequest{}, "unknown kind 4"},
		{"watch request with no field set", Marshal(&WatchRequest{}), &WatchRequest{}, "unknown kind 0"},
		{"watch request truncated create", create[:len(create)-1], &WatchRequest{}, "truncated"},
		{"watch request trailing", append(Marshal(&WatchRequest{Progress: &WatchProgressRequest{}}), 0), &WatchRequest{}, "trailing"},
		{"watch filter out of range", []byte{0, 0, 0, 0, 1, 2, 0, 0, 0}, &WatchCreateRequest{}, "enum value 2"},
		{"watch filters longer than input", []byte{0, 0, 0, 0, 9, 0}, &WatchCreateRequest{}, "cannot fit"},
		{"watch cancel reason truncated", cat(header, []byte{0, 0, 0, 0, 5, 'a'}), &WatchResponse{}, "byte string of 5 bytes"},
		{"alarm action out of range", []byte{3, 0, 0}, &AlarmRequest{}, "enum value 3"},
		{"alarm type out of range", []byte{0, 0, 3}, &AlarmRequest{}, "enum value 3"},
		{"alarm member type out of range", cat(header, []byte{1, 0, 9}), &AlarmResponse{}, "enum value 9"},
		{"permission type out of range", []byte{3, 0, 0}, &Permission{}, "enum value 3"},
		{"grant permission type out of range", []byte{1, 'r', 3, 0, 0}, &RoleGrantPermissionRequest{}, "enum value 3"},
		{"hash overflows 32 bits", cat(header, binary.AppendUvarint(nil, 1<<32)), &HashResponse{}, "overflows 32 bits"},
		{"hashkv overflows 32 bits", cat(header, binary.AppendUvarint(nil, 1<<40), []byte{0, 0}), &HashKVResponse{}, "overflows 32 bits"},
		{"huge string list", cat(header, []byte{0xff, 0xff, 0xff, 0x0f}), &UserListResponse{}, "cannot fit"},
		{"huge member list", cat(header, []byte{0xff, 0xff, 0x03}), &MemberListResponse{}, "cannot fit"},
		{"huge key list", cat(header, []byte{0, 0, 0, 0xff, 0xff, 0x03}), &LeaseTimeToLiveResponse{}, "cannot fit"},
		{"string longer than input", []byte{5, 'a'}, &UserGetRequest{}, "byte string of 5 bytes"},
		{"member url truncated", []byte{1, 0, 1, 4, 'h'}, &Member{}, "byte string of 4 bytes"},
		{"bad boolean", []byte{2}, &MemberListRequest{}, "boolean byte 2"},
		{"empty message with trailing byte", []byte{0}, &StatusRequest{}, "trailing"},
		{"snapshot blob truncated", cat(header, []byte{0, 3, 'a'}), &SnapshotResponse{}, "byte string of 3 bytes"},
	}
	for _, tt := range tests {
		err := Unmarshal(tt.b, tt.m)
		if !errors.Is(err, ErrDecode) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want ErrDecode saying %q", tt.name, err, tt.want)
		}
	}
}
