package main

import (
	"flag"
	"fmt"
	"slices"
	"strings"
)

// envVars are the settings the environment gives: ETCD_NAME and
// CAIRN_NAME for flag --name, by flag name.
type envVars struct {
	etcd, cairn map[string]string
	// unknown are ETCD_ variables that name no flag.
	unknown []string
}

// envNotFlags are variables with the ETCD_ prefix that are not settings
// of the server (etcd's own checks read them, or images set them for
// information).
var envNotFlags = map[string]bool{"ETCD_UNSUPPORTED_ARCH": true, "ETCD_VERSION": true}

// environment reads env (as os.Environ returns it).
func environment(env []string) envVars {
	v := envVars{etcd: map[string]string{}, cairn: map[string]string{}}
	for _, kv := range env {
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		switch {
		case strings.HasPrefix(k, "ETCD_") && !envNotFlags[k]:
			v.etcd[envFlagName(k[len("ETCD_"):])] = val
		case strings.HasPrefix(k, "CAIRN_"):
			v.cairn[envFlagName(k[len("CAIRN_"):])] = val
		}
	}
	return v
}

// envFlagName is the flag a variable's name (less its prefix) sets:
// LISTEN_CLIENT_URLS sets listen-client-urls.
func envFlagName(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), "_", "-")
}

// envName is the variable of a flag under a prefix.
func envName(prefix, flagName string) string {
	return prefix + strings.ReplaceAll(strings.ToUpper(flagName), "-", "_")
}

// value is a flag's value from the environment ("" if none).
func (v envVars) value(name string) string {
	if val, ok := v.cairn[name]; ok {
		return val
	}
	return v.etcd[name]
}

// setNames are the variables that set a flag of fs (for the warning that
// a config file makes them ignored).
func (v envVars) setNames() []string {
	var out []string
	for name := range v.etcd {
		out = append(out, envName("ETCD_", name))
	}
	for name := range v.cairn {
		out = append(out, envName("CAIRN_", name))
	}
	slices.Sort(out)
	return out
}

// apply sets from the environment every flag of fs that the command line
// did not set; it returns warnings for ETCD_ variables that set no flag.
func (v envVars) apply(fs *flag.FlagSet, onCommandLine map[string]bool) ([]string, error) {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || onCommandLine[f.Name] || f.Name == "version" || f.Name == "config-file" {
			return
		}
		for _, src := range []struct {
			prefix string
			vars   map[string]string
		}{{"CAIRN_", v.cairn}, {"ETCD_", v.etcd}} {
			val, ok := src.vars[f.Name]
			if !ok {
				continue
			}
			if serr := fs.Set(f.Name, val); serr != nil {
				err = fmt.Errorf("environment %s=%q: %v", envName(src.prefix, f.Name), val, serr)
			}
			return // CAIRN_ wins over ETCD_
		}
	})
	if err != nil {
		return nil, err
	}
	var warnings []string
	for name := range v.etcd {
		if fs.Lookup(name) == nil {
			warnings = append(warnings, fmt.Sprintf("unrecognized environment variable %s: no such flag --%s", envName("ETCD_", name), name))
		}
	}
	slices.Sort(warnings)
	return warnings, nil
}
