package main

import (
	"fmt"
	"strings"
)

// tlsAdvice adds to a failed command's error what to do about a TLS
// problem, in terms of ctl's flags: the TLS library's words ("certificate
// required", "unknown authority") name the symptom, not the flag that
// cures it. Other errors are returned as they are.
func tlsAdvice(err error, g *globals) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	var advice string
	switch {
	case strings.Contains(msg, "tls: certificate required") && g.cert == "":
		advice = "the member requires a client certificate: give one signed by its --trusted-ca-file with --cert and --key"
	case strings.Contains(msg, "tls: certificate required") || strings.Contains(msg, "tls: unknown certificate authority") ||
		strings.Contains(msg, "tls: bad certificate"):
		advice = "the member refused the client certificate of --cert: it must be signed by the member's --trusted-ca-file"
	case strings.Contains(msg, "certificate signed by unknown authority") && g.cacert == "":
		advice = "give the CA that signed the members' certificates with --cacert (or, against --auto-tls members, --insecure-skip-tls-verify)"
	case strings.Contains(msg, "certificate signed by unknown authority"):
		advice = "the members' certificate is not signed by the CA of --cacert " + g.cacert
	default:
		return err
	}
	return fmt.Errorf("%w; %s", err, advice)
}
