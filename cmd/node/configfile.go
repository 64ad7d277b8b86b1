package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// A config file is etcd's: a YAML mapping whose keys are the flags' names
// (name: m1, listen-client-urls: http://...), lists for the list flags
// (log-outputs: [stderr]), and two nested mappings for TLS,
// client-transport-security and peer-transport-security. Every value
// goes through the flag it names, so it is checked as on the command
// line. A key cairn does not know is an error naming it and its line; the
// keys etcd itself no longer reads (the v2 proxy's) are warned about.

// securityKeys map the keys of client-transport-security to cairn's
// client flags; peerSecurityKeys those of peer-transport-security.
var (
	securityKeys = map[string]string{
		"cert-file": "cert-file", "key-file": "key-file", "trusted-ca-file": "trusted-ca-file",
		"client-cert-auth": "client-cert-auth", "auto-tls": "auto-tls",
		"client-cert-file": "client-cert-file", "client-key-file": "client-key-file",
		"allowed-hostname": "client-cert-allowed-hostname",
	}
	peerSecurityKeys = map[string]string{
		"cert-file": "peer-cert-file", "key-file": "peer-key-file", "trusted-ca-file": "peer-trusted-ca-file",
		"client-cert-auth": "peer-client-cert-auth", "auto-tls": "peer-auto-tls",
		"client-cert-file": "peer-client-cert-file", "client-key-file": "peer-client-key-file",
		"allowed-hostname": "peer-cert-allowed-hostname", "allowed-cn": "peer-cert-allowed-cn",
		"skip-client-san-verification": "peer-skip-client-san-verification",
	}
	socketKeys = map[string]string{"reuse-port": "socket-reuse-port", "reuse-address": "socket-reuse-address"}
)

// fileOnlyKeys are keys of etcd's config file with no flag of the same
// name: the flag they set.
var fileOnlyKeys = map[string]string{
	"experimental-snapshot-catch-up-entries": "experimental-snapshot-catchup-entries",
}

// obsoleteKeys are keys of older etcd config files that etcd 3.6 reads no
// more (its sample file still has the proxy's): accepted with a warning.
var obsoleteKeys = map[string]bool{
	"proxy": true, "proxy-failure-wait": true, "proxy-refresh-interval": true, "proxy-dial-timeout": true,
	"proxy-write-timeout": true, "proxy-read-timeout": true, "enable-v2": true, "experimental-enable-v2v3": true,
	"debug": true, "log-package-levels": true, "grpc-additional-server-options": true, "discovery-config": true,
}

// applyConfigFile sets fs's flags from the config file at path and
// returns the warnings it has.
func applyConfigFile(fs *flag.FlagSet, path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--config-file: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("--config-file %s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil, nil // an empty file sets nothing
	}
	cf := configFile{fs: fs, path: path, seen: map[string]int{}}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("--config-file %s: line %d: want a mapping of etcd's keys (name: value), not a %s", path, root.Line, kindName(root))
	}
	if err := cf.mapping(root, true, func(key string) (string, bool) {
		if fs.Lookup(key) != nil {
			return key, true
		}
		name, ok := fileOnlyKeys[key]
		return name, ok
	}); err != nil {
		return nil, err
	}
	return cf.warnings, nil
}

// configFile is one config file being applied.
type configFile struct {
	fs       *flag.FlagSet
	path     string
	seen     map[string]int // flag -> line that set it
	warnings []string
}

// mapping applies the keys of a mapping node, each naming a flag through
// flagOf; top is the file's top level, where the nested mappings are.
func (cf *configFile) mapping(m *yaml.Node, top bool, flagOf func(key string) (string, bool)) error {
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		key := k.Value
		var nested map[string]string
		switch key {
		case "client-transport-security":
			nested = securityKeys
		case "peer-transport-security":
			nested = peerSecurityKeys
		case "socket-options":
			nested = socketKeys
		}
		if nested != nil && top {
			if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
				continue
			}
			if v.Kind != yaml.MappingNode {
				return cf.errorf(v, "%s: want a mapping, not a %s", key, kindName(v))
			}
			if err := cf.mapping(v, false, func(sub string) (string, bool) { n, ok := nested[sub]; return n, ok }); err != nil {
				return err
			}
			continue
		}
		if obsoleteKeys[key] {
			cf.warnings = append(cf.warnings, fmt.Sprintf("--config-file %s: line %d: %s is not a setting of etcd 3.6 nor of cairn: ignored", cf.path, k.Line, key))
			continue
		}
		name, ok := flagOf(key)
		if !ok || cf.fs.Lookup(name) == nil {
			return cf.errorf(k, "unknown key %q (etcd's config keys are its flags' names)", key)
		}
		if err := cf.set(name, key, v); err != nil {
			return err
		}
	}
	return nil
}

// set gives flag name the value of node v (key is the file's name for it).
func (cf *configFile) set(name, key string, v *yaml.Node) error {
	if line, dup := cf.seen[name]; dup {
		return cf.errorf(v, "%s is set twice (first on line %d)", key, line)
	}
	cf.seen[name] = v.Line
	var value string
	switch v.Kind {
	case yaml.ScalarNode:
		if v.Tag == "!!null" {
			return nil // "data-dir:" with nothing: the default, as in etcd
		}
		value = v.Value
		if v.Tag == "!!int" && isDurationFlag(cf.fs.Lookup(name)) {
			// etcd reads a duration in its config file as nanoseconds.
			n, err := strconv.ParseInt(v.Value, 0, 64)
			if err != nil {
				return cf.errorf(v, "%s: %v", key, err)
			}
			value = time.Duration(n).String()
		}
	case yaml.SequenceNode:
		parts := make([]string, 0, len(v.Content))
		for _, item := range v.Content {
			if item.Kind != yaml.ScalarNode {
				return cf.errorf(item, "%s: want a list of values, not a list of %ss", key, kindName(item))
			}
			parts = append(parts, item.Value)
		}
		value = strings.Join(parts, ",")
	default:
		return cf.errorf(v, "%s: want a value, not a %s", key, kindName(v))
	}
	if err := cf.fs.Set(name, value); err != nil {
		return cf.errorf(v, "%s: %q: %v", key, value, err)
	}
	return nil
}

func (cf *configFile) errorf(n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("--config-file %s: line %d: %s", cf.path, n.Line, fmt.Sprintf(format, args...))
}

// isDurationFlag reports whether f holds a time.Duration.
func isDurationFlag(f *flag.Flag) bool {
	if f == nil {
		return false
	}
	if a, ok := f.Value.(aliasValue); ok {
		f = a.target
	}
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return false
	}
	_, ok = g.Get().(time.Duration)
	return ok
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "value"
	case yaml.AliasNode:
		return "alias"
	}
	return "document"
}
