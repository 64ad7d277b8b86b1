# Shared set-up of the bench scripts (compare.sh, restart.sh): sourced,
# not run. bench_setup NAME makes a temporary work directory (removed on
# exit, with every process whose pid is in pids), the results directory
# ($OUT, or results/ in the work directory), and builds cmd/node and
# cmd/bench into the work directory; etcd_binary finds or builds etcd.
# PORT_BASE must be set.

# log MESSAGE...: a line on stderr.
log() { printf '%s\n' "$*" >&2; }

# port N: the port PORT_BASE + N.
port() { echo $((PORT_BASE + $1)); }

# cleanup stops every process in pids and removes the work directory.
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$work"
}

# bench_setup NAME: sets root, work, out and pids, installs cleanup, and
# builds the binaries.
bench_setup() {
	root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-$1.XXXXXX")
	out=${OUT:-$work/results}
	mkdir -p "$out"
	pids=()
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	log "building cmd/node and cmd/bench"
	(cd "$root" && go build -o "$work/node" ./cmd/node && go build -o "$work/bench" ./cmd/bench)
}

# etcd_binary sets ETCD to the etcd server to run: as given (a path, or a
# name on PATH), or when ETCD is unset or empty, etcd 3.6 built from the
# nested module tools/etcd into the work directory. ETCD=none stays none
# (run cairn alone). A given ETCD that does not exist, or a failed build,
# ends the script.
etcd_binary() {
	case "${ETCD:-}" in
	none) ;;
	"")
		log "building etcd from tools/etcd"
		if ! (cd "$root" && go -C tools/etcd build -o "$work/etcd" go.etcd.io/etcd/server/v3); then
			log "could not build etcd from tools/etcd: set ETCD=/path/to/etcd, or ETCD=none to run cairn alone"
			exit 1
		fi
		ETCD=$work/etcd
		;;
	*)
		if ! command -v "$ETCD" >/dev/null 2>&1; then
			log "ETCD=$ETCD: no such program (leave ETCD unset to build etcd from tools/etcd, ETCD=none to run cairn alone)"
			exit 1
		fi
		;;
	esac
}
