package main

import (
	"errors"
	"strings"
	"testing"
)

func TestTLSAdvice(t *testing.T) {
	required := errors.New("rpc Unavailable: handshake with 127.0.0.1:1 failed: remote error: tls: certificate required")
	unknown := errors.New("rpc Unavailable: TLS handshake with 127.0.0.1:1: tls: failed to verify certificate: x509: certificate signed by unknown authority")
	for _, tc := range []struct {
		name string
		err  error
		g    globals
		want string // "" when the error must come back unchanged
	}{
		{"no error", nil, globals{}, ""},
		{"not a TLS error", errors.New("etcdserver: key not found"), globals{}, ""},
		{"no client certificate", required, globals{cacert: "ca.crt"}, "give one signed by its --trusted-ca-file with --cert and --key"},
		{"a refused client certificate", required, globals{cacert: "ca.crt", cert: "c.crt", key: "c.key"}, "the member refused the client certificate of --cert"},
		{"no CA", unknown, globals{}, "give the CA that signed the members' certificates with --cacert"},
		{"the wrong CA", unknown, globals{cacert: "other.crt"}, "not signed by the CA of --cacert other.crt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tlsAdvice(tc.err, &tc.g)
			if tc.want == "" {
				if got != tc.err {
					t.Fatalf("tlsAdvice(%v) = %v, want it unchanged", tc.err, got)
				}
				return
			}
			if !errors.Is(got, tc.err) || !strings.Contains(got.Error(), tc.want) {
				t.Fatalf("tlsAdvice(%v) = %v, want the error wrapped with %q", tc.err, got, tc.want)
			}
		})
	}
}
