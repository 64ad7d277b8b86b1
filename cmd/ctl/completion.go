package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// completionCommand prints a shell script that completes ctl's commands
// and flags, made from the command table so it cannot fall out of date.
func completionCommand() command {
	return command{name: "completion", args: "bash|zsh", minArgs: 1, maxArgs: 1,
		summary: "Print a script completing ctl's commands and flags: source <(ctl completion bash),\n" +
			"or in zsh: source <(ctl completion zsh)",
		run: func(e *env, args []string) error {
			switch args[0] {
			case "bash":
				writeBashCompletion(e.stdout, commands())
			case "zsh":
				// zsh runs bash's completion functions through bashcompinit.
				fmt.Fprint(e.stdout, "#compdef ctl\nautoload -U +X bashcompinit && bashcompinit\n")
				writeBashCompletion(e.stdout, commands())
			default:
				return badUsage("completion %q: want bash or zsh", args[0])
			}
			return nil
		}}
}

// flagNames lists the flags setup registers as --name, and those that take
// a value (which may be the next word).
func flagNames(setup func(fs *flag.FlagSet)) (all, valued []string) {
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	setup(fs)
	fs.VisitAll(func(f *flag.Flag) {
		all = append(all, dashed(f.Name))
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !b.IsBoolFlag() {
			valued = append(valued, dashed(f.Name))
		}
	})
	return all, valued
}

// writeBashCompletion writes a bash function completing ctl: the words
// that are not flags (nor a flag's value) name the command typed so far;
// then a word starting with - completes the command's and the global
// flags, and any other word a command or subcommand name, or a file for
// the snapshot commands.
func writeBashCompletion(w io.Writer, cmds []command) {
	globalFlags, globalValued := flagNames(func(fs *flag.FlagSet) { defaultGlobals().register(fs) })
	var top []string
	subs := map[string][]string{}
	for _, c := range cmds {
		group, sub, ok := strings.Cut(c.name, " ")
		if !slices.Contains(top, group) {
			top = append(top, group)
		}
		if ok {
			subs[group] = append(subs[group], sub)
		}
	}
	top = append(top, "help")
	valued := slices.Clone(globalValued)
	type entry struct{ name, flags string }
	var entries []entry
	for _, c := range cmds {
		f, v := flagNames(func(fs *flag.FlagSet) { c.flags(fs) })
		for _, name := range v {
			if !slices.Contains(valued, name) {
				valued = append(valued, name)
			}
		}
		entries = append(entries, entry{c.name, strings.Join(append(f, globalFlags...), " ")})
	}

	fmt.Fprintf(w, `# bash completion for ctl, made by 'ctl completion bash'.
_ctl() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev="" cmd="" word i
	local valued=" %s "
	for ((i = 1; i < COMP_CWORD; i++)); do
		word=${COMP_WORDS[i]}
		if [[ $word == -* ]]; then
			[[ $word != *=* && $valued == *" $word "* ]] && ((i++))
			continue
		fi
		cmd="${cmd:+$cmd }$word"
	done
	COMPREPLY=()
	if [[ $cur == -* ]]; then
		local flags=%q
		case $cmd in
`, strings.Join(valued, " "), strings.Join(globalFlags, " "))
	for _, e := range entries {
		fmt.Fprintf(w, "\t\t%q | %q\\ *) flags=%q ;;\n", e.name, e.name, e.flags)
	}
	fmt.Fprintf(w, `		esac
		COMPREPLY=($(compgen -W "$flags" -- "$cur"))
		return
	fi
	case $cmd in
	"") COMPREPLY=($(compgen -W %q -- "$cur")) ;;
`, strings.Join(top, " "))
	for _, g := range top {
		if s, ok := subs[g]; ok {
			fmt.Fprintf(w, "\t%q) COMPREPLY=($(compgen -W %q -- \"$cur\")) ;;\n", g, strings.Join(s, " "))
		}
	}
	fmt.Fprint(w, `	"snapshot save" | "snapshot status" | "snapshot restore") COMPREPLY=($(compgen -f -- "$cur")) ;;
	esac
}
complete -F _ctl ctl
`)
}
