package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCompletionBash sources the bash script and completes command lines
// with it, as bash would on a tab.
func TestCompletionBash(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash to run the completion script with")
	}
	code, script, stderr := runOffline("completion", "bash")
	if code != exitOK || stderr != "" {
		t.Fatalf("completion bash: exit %d, %q", code, stderr)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "ctl.bash")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "snap.db"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		line string // the words typed, the last one being completed
		want string // COMPREPLY, sorted, space-separated
	}{
		{"ctl le", "lease"},
		{"ctl lease ", "grant keep-alive list revoke timetolive"},
		{"ctl lease g", "grant"},
		{"ctl --endpoints a:1 lease t", "timetolive"},
		{"ctl -w json mem", "member"},
		{"ctl get k --pre", "--prefix"},
		{"ctl get --rev 5 k --keys", "--keys-only"},
		{"ctl put k v --end", "--endpoints"},
		{"ctl endpoint status --cl", "--cluster"},
		{"ctl snapshot status sn", "snap.db"},
		{"ctl comp", "compaction completion"},
		{"ctl get k ", ""},
	}
	for _, tt := range tests {
		words := strings.Fields(tt.line)
		if strings.HasSuffix(tt.line, " ") {
			words = append(words, "")
		}
		var quoted []string
		for _, w := range words {
			quoted = append(quoted, "'"+w+"'")
		}
		prog := "source " + path + "\nCOMP_WORDS=(" + strings.Join(quoted, " ") + ")\n" +
			"COMP_CWORD=" + strconv.Itoa(len(words)-1) + "\n_ctl\nprintf '%s\\n' \"${COMPREPLY[@]}\" | sort | tr '\\n' ' '\n"
		cmd := exec.Command(bash, "--norc", "--noprofile", "-c", prog)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%q: %v: %s", tt.line, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != tt.want {
			t.Errorf("%q completes to %q; want %q", tt.line, got, tt.want)
		}
	}
}

func TestCompletionShells(t *testing.T) {
	code, zsh, _ := runOffline("completion", "zsh")
	if code != exitOK || !strings.HasPrefix(zsh, "#compdef ctl\n") || !strings.Contains(zsh, "bashcompinit") || !strings.Contains(zsh, "complete -F _ctl ctl") {
		t.Errorf("completion zsh: exit %d:\n%s", code, zsh)
	}
	code, _, stderr := runOffline("completion", "fish")
	if code != exitUsage || !strings.Contains(stderr, `completion "fish": want bash or zsh`) {
		t.Errorf("completion fish: exit %d, %q", code, stderr)
	}
}
