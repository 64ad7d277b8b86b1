#!/usr/bin/env bash
# bench/compare.sh — measure cairn against etcd on this machine, side by side.
#
# Builds cmd/node and cmd/bench, starts a local 3-member cairn cluster (three
# processes, data in a temporary directory removed on exit) and a 3-member
# etcd cluster with the same raft settings on other ports (ETCD, or etcd 3.6
# built from tools/etcd). Then it runs each workload against each side below,
# rotating which goes first, and prints a table with QPS, p50 and p99 per
# workload and side, and the ratios cairn/side; then, after each workload,
# every member's RSS and one member's data dir size, and the CPU each
# side's members used per 1,000 operations of each run and the bytes they
# wrote to the disk per operation. Besides the 256-byte
# workloads there are puts of 4 KiB, 64 KiB and 1 MiB values (put-4k,
# put-64k, put-1m) and serializable reads over 1,000,000 keys (range-s-1m,
# the keys loaded once per cluster, untimed, before its first run).
#
# cairn is driven by its Go client (package client), its connections spread
# over the members from the leader on. etcd is driven by cmd/bench --target
# etcd, which uses etcd's own client (go.etcd.io/etcd/client/v3), through the
# same workload code, as two sides:
#   etcd            every connection to the leader (found with `bench leader`
#                   before each run), so writes take no extra hop;
#   etcd-spread     connections spread over the members like cairn's (not run
#                   for one connection: that is the leader row again).
# A third side, cairn-clientv3, drives cairn with etcd's client at cairn's
# client port, spread like cairn's — when the cairn members answer etcd's
# gRPC API (Maintenance.Status); otherwise it is skipped, and the report says
# why.
#
# Environment:
#   DURATION=10s        length of each run
#   ROUNDS=1            runs per workload and side (the table shows the median)
#   ONLY="put-1 range-l" run only these labels (default: all)
#   ETCD=path           etcd binary (default: etcd 3.6 built from tools/etcd);
#                       ETCD=none runs cairn alone
#   PORT_BASE=24000     ports used: PORT_BASE + 1..3 (cairn clients), 11..13 (cairn
#                       peers), 21..23 (etcd clients), 31..33 (etcd peers); keep
#                       them below the ephemeral range (32768 on Linux)
#   OUT=dir             keep the JSON results, plots and logs there
set -euo pipefail

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-1}
ONLY=${ONLY:-}
PORT_BASE=${PORT_BASE:-24000}

# The raft settings both stores get.
HEARTBEAT_MS=100
ELECTION_MS=1000
SNAPSHOT_COUNT=10000
QUOTA_BYTES=$((8 * 1024 * 1024 * 1024)) # the large-value workloads write GBs

. "$(dirname "$0")/lib.sh"
bench_setup compare
etcd_binary
have_etcd=1
if [ "$ETCD" = none ]; then
	have_etcd=0
fi

# Start cairn: members c1..c3, client ports base+1..3, peer ports base+11..13.
cairn_eps=""
cairn_cluster=""
for i in 1 2 3; do
	cairn_cluster+="${cairn_cluster:+,}c$i=http://127.0.0.1:$(port $((10 + i)))"
	cairn_eps+="${cairn_eps:+,}127.0.0.1:$(port "$i")"
done
cairn_pids=()
for i in 1 2 3; do
	"$work/node" --name "c$i" --data-dir "$work/c$i" \
		--listen-client-urls "http://127.0.0.1:$(port "$i")" \
		--listen-peer-urls "http://127.0.0.1:$(port $((10 + i)))" \
		--initial-cluster "$cairn_cluster" --initial-cluster-token compare \
		--heartbeat-interval "$HEARTBEAT_MS" --election-timeout "$ELECTION_MS" \
		--snapshot-count "$SNAPSHOT_COUNT" --quota-backend-bytes "$QUOTA_BYTES" \
		--log-level warn >"$out/cairn-c$i.log" 2>&1 &
	pids+=($!)
	cairn_pids+=($!)
done

# Start etcd: members e1..e3, client ports base+21..23, peer ports base+31..33.
etcd_eps=""
etcd_pids=()
if [ "$have_etcd" = 1 ]; then
	etcd_cluster=""
	for i in 1 2 3; do
		etcd_cluster+="${etcd_cluster:+,}e$i=http://127.0.0.1:$(port $((30 + i)))"
		etcd_eps+="${etcd_eps:+,}127.0.0.1:$(port $((20 + i)))"
	done
	for i in 1 2 3; do
		"$ETCD" --name "e$i" --data-dir "$work/e$i" \
			--listen-client-urls "http://127.0.0.1:$(port $((20 + i)))" \
			--advertise-client-urls "http://127.0.0.1:$(port $((20 + i)))" \
			--listen-peer-urls "http://127.0.0.1:$(port $((30 + i)))" \
			--initial-advertise-peer-urls "http://127.0.0.1:$(port $((30 + i)))" \
			--initial-cluster "$etcd_cluster" --initial-cluster-state new --initial-cluster-token compare \
			--heartbeat-interval "$HEARTBEAT_MS" --election-timeout "$ELECTION_MS" \
			--snapshot-count "$SNAPSHOT_COUNT" --quota-backend-bytes "$QUOTA_BYTES" \
			--logger zap --log-level error >"$out/etcd-e$i.log" 2>&1 &
		pids+=($!)
		etcd_pids+=($!)
	done
else
	log "ETCD=none: running cairn alone"
fi

# wait_ready TARGET ENDPOINTS: until a put succeeds (30s at most).
wait_ready() {
	local i
	for i in $(seq 1 60); do
		if "$work/bench" --target "$1" --endpoints "$2" --dial-timeout 1s put --total 1 --key-space 1 --json >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.5
	done
	log "$1 cluster at $2 did not become ready; logs:"
	tail -n 5 "$out/$1"-*.log >&2 || true
	exit 1
}
# all_alive NAME PIDS...: every member is still running (a member that
# could not bind its port exits while the other two still make a quorum).
all_alive() {
	local name=$1 p
	shift
	for p in "$@"; do
		if ! kill -0 "$p" 2>/dev/null; then
			log "a $name member exited; logs:"
			tail -n 3 "$out/$name"-*.log >&2 || true
			exit 1
		fi
	done
}
wait_ready cairn "$cairn_eps"
all_alive cairn "${cairn_pids[@]}"
if [ "$have_etcd" = 1 ]; then
	wait_ready etcd "$etcd_eps"
	all_alive etcd "${etcd_pids[@]}"
fi

# Does cairn answer etcd's gRPC API on its client port? Ask, don't assume.
cairn_v3_note=""
if ! "$work/bench" leader --target etcd --endpoints "$cairn_eps" --dial-timeout 2s >/dev/null 2>"$out/cairn-clientv3-probe.log"; then
	cairn_v3_note="cairn's members do not answer etcd's gRPC API (Maintenance.Status) at $cairn_eps, so the cairn-clientv3 side is skipped: $(head -n 1 "$out/cairn-clientv3-probe.log")"
	log "$cairn_v3_note"
fi

# The sides, in the table's order (run_one knows each one's target and
# endpoints).
sides=(cairn)
if [ "$have_etcd" = 1 ]; then
	sides+=(etcd etcd-spread)
fi
if [ -z "$cairn_v3_note" ]; then
	sides+=(cairn-clientv3)
fi

# The workloads: label, then the arguments of cmd/bench.
workloads=(
	"put-1|put --clients 1 --conns 1"
	"put-1000|put --clients 1000 --conns 100"
	"range-l|range --consistency l --clients 1000 --conns 100"
	"range-s|range --consistency s --clients 1000 --conns 100 --no-preload"
	"range-prefix|range --prefix --consistency l --clients 100 --conns 10 --no-preload"
	"txn-put|txn-put --clients 100 --conns 10"
	"watch|watch --watchers 100 --clients 10 --conns 10"
	"lease-keepalive|lease-keepalive --clients 100 --conns 10"
	"mixed|mixed --read-ratio 0.9 --clients 100 --conns 10 --no-preload"
	"put-4k|put --val-size 4096 --clients 100 --conns 10"
	"put-64k|put --val-size 65536 --clients 100 --conns 10"
	"put-1m|put --val-size 1048576 --clients 10 --conns 10"
	"range-s-1m|range --consistency s --key-space 1000000 --clients 1000 --conns 100 --no-preload|put --key-space 1000000 --total 1000000 --sequential-keys --clients 100 --conns 10"
)

# cluster_of SIDE: the cluster a side drives (cairn or etcd).
cluster_of() {
	case $1 in
	cairn | cairn-clientv3) echo cairn ;;
	*) echo etcd ;;
	esac
}

# prepare SIDE LABEL WORKLOAD ARGS...: the untimed load a workload needs
# first (cmd/bench arguments ARGS, after the second | of its line), once
# per cluster; then the workload itself (WORKLOAD, its arguments) runs
# untimed for DURATION, spread over the members, so that every side
# measures members that have read the data before (their caches and, in
# both stores, the mapping of the data file warm), as a member that has
# served for a while has, not the first reads after a bulk load.
declare -A prepared
prepare() {
	local side=$1 label=$2 workload=$3 cluster target=etcd eps
	shift 3
	cluster=$(cluster_of "$side")
	if [ -n "${prepared[$label-$cluster]:-}" ]; then
		return
	fi
	prepared[$label-$cluster]=1
	case $cluster in
	cairn) target=cairn eps=$cairn_eps ;;
	etcd) eps=$etcd_eps ;;
	esac
	log "  $cluster: preparing $label: $*"
	if ! "$work/bench" --target "$target" --endpoints "$eps" --json "$@" >/dev/null 2>>"$out/bench-errors.log"; then
		log "  $cluster: preparing $label failed: $(tail -n 1 "$out/bench-errors.log")"
		return
	fi
	log "  $cluster: warming $label up for $DURATION (untimed)"
	# shellcheck disable=SC2086 # workload is a list of arguments
	if ! "$work/bench" --target "$target" --endpoints "$eps" --json $workload --duration "$DURATION" >/dev/null 2>>"$out/bench-errors.log"; then
		log "  $cluster: warming $label up failed: $(tail -n 1 "$out/bench-errors.log")"
	fi
}

# proc_sum FILE PROGRAM PIDS...: the sum over the processes of the number
# the awk PROGRAM prints from /proc/PID/FILE (0 for a process gone).
proc_sum() {
	local file=$1 prog=$2 p t=0
	shift 2
	for p in "$@"; do
		t=$((t + $(awk "$prog" "/proc/$p/$file" 2>/dev/null || echo 0)))
	done
	echo "$t"
}

# cpu_ticks PIDS...: the processes' CPU time so far (user and system), in
# clock ticks.
cpu_ticks() { proc_sum stat '{print $14 + $15}' "$@"; }
clk_tck=$(getconf CLK_TCK)

# disk_bytes PIDS...: the bytes the processes have caused to be written to
# storage so far (write_bytes).
disk_bytes() { proc_sum io '/^write_bytes/ {print $2}' "$@"; }

# run_one SIDE LABEL ARGS...: one run, appended to SIDE.jsonl; the CPU its
# cluster's members used during it, per 1,000 operations, and the bytes
# they wrote to the disk, per operation, to cpu.txt.
run_one() {
	local side=$1 label=$2 target=etcd eps before wbefore ticks wrote ops
	local -a members=("${etcd_pids[@]}")
	if [ "$(cluster_of "$side")" = cairn ]; then
		members=("${cairn_pids[@]}")
	fi
	shift 2
	case $side in
	cairn) target=cairn eps=$cairn_eps ;;
	cairn-clientv3) eps=$cairn_eps ;;
	etcd-spread) eps=$etcd_eps ;;
	etcd)
		if ! eps=$("$work/bench" leader --target etcd --endpoints "$etcd_eps" 2>>"$out/bench-errors.log"); then
			log "  etcd: $label not run: no leader found: $(tail -n 1 "$out/bench-errors.log")"
			return
		fi
		;;
	esac
	log "  $side: $label${eps:+ at $eps}"
	before=$(cpu_ticks "${members[@]}")
	wbefore=$(disk_bytes "${members[@]}")
	if ! "$work/bench" --target "$target" --endpoints "$eps" --duration "$DURATION" \
		--label "$label" --json --plot "$out/$label-$side.svg" "$@" >>"$out/$side.jsonl" 2>>"$out/bench-errors.log"; then
		log "  $side: $label failed: $(tail -n 1 "$out/bench-errors.log")"
		return
	fi
	ticks=$(($(cpu_ticks "${members[@]}") - before))
	wrote=$(($(disk_bytes "${members[@]}") - wbefore))
	ops=$(tail -n 1 "$out/$side.jsonl" | grep -o '"ops":[0-9]*' | head -n 1 | cut -d: -f2) # the run's total: the first "ops"
	if [ -n "$ops" ] && [ "$ops" -gt 0 ]; then
		awk -v l="$label" -v s="$side" -v t="$ticks" -v o="$ops" -v hz="$clk_tck" -v w="$wrote" \
			'BEGIN {printf "%-16s %-15s %9d ops  %7.1f s of the members'"'"' CPU  %7.2f ms per 1,000 ops  %8.1f KB written per op by the three\n", l, s, o, t / hz, 1e6 * t / hz / o, w / o / 1e3}' >>"$out/cpu.txt"
	fi
}

# rss PIDS...: the members' resident memory in MB, each as RSS/anon: the
# anonymous part is the process's own (heap, stacks); the rest is pages of
# files it maps (both stores map their data file), which the kernel may
# drop.
rss() {
	local p s=""
	for p in "$@"; do
		s+="${s:+ }$(awk '/^VmRSS/ {r = $2} /^RssAnon/ {a = $2} END {if (r == "") print "?"; else printf "%.0f/%.0f", r / 1024, a / 1024}' "/proc/$p/status" 2>/dev/null || echo "?")"
	done
	echo "$s"
}

# resources LABEL: one line of the members' RSS and data dir sizes, after
# LABEL's runs, appended to resources.txt.
resources() {
	local line
	line=$(printf '%-16s cairn RSS %s MB, data dir %s' "$1" "$(rss "${cairn_pids[@]}")" "$(du -sh "$work"/c1 | cut -f1)")
	if [ "$have_etcd" = 1 ]; then
		line+=$(printf ';  etcd RSS %s MB, data dir %s' "$(rss "${etcd_pids[@]}")" "$(du -sh "$work"/e1 | cut -f1)")
	fi
	echo "$line" >>"$out/resources.txt"
}

for side in "${sides[@]}"; do
	: >"$out/$side.jsonl"
done
: >"$out/resources.txt"
: >"$out/cpu.txt"
n=0
for round in $(seq 1 "$ROUNDS"); do
	log "round $round of $ROUNDS, $DURATION per run"
	for w in "${workloads[@]}"; do
		label=${w%%|*}
		args=${w#*|}
		prep=""
		if [[ $args == *"|"* ]]; then
			prep=${args#*|}
			args=${args%%|*}
		fi
		if [ -n "$ONLY" ] && ! [[ " $ONLY " == *" $label "* ]]; then
			continue
		fi
		# Rotate which side goes first, so none always runs on a machine
		# warmed (or tired) by the others.
		for i in "${!sides[@]}"; do
			side=${sides[$(((i + n) % ${#sides[@]}))]}
			if [ "$side" = etcd-spread ] && [[ " $args " == *" --conns 1 "* ]]; then
				continue # one connection goes to the leader: the etcd row
			fi
			if [ -n "$prep" ]; then
				# shellcheck disable=SC2086
				prepare "$side" "$label" "$args" $prep
			fi
			# shellcheck disable=SC2086
			run_one "$side" "$label" $args
		done
		if [ "$round" = "$ROUNDS" ]; then
			resources "$label"
		fi
		n=$((n + 1))
	done
done

echo
echo "cairn vs etcd on $(nproc) cores ($(uname -sr)), 3 members each on loopback, $DURATION per run, $ROUNDS round(s)"
echo "raft: heartbeat ${HEARTBEAT_MS}ms, election ${ELECTION_MS}ms, snapshot every $SNAPSHOT_COUNT entries; keys 8 B, values 256 B, 10,000 keys (put-4k, put-64k, put-1m: values of 4 KiB, 64 KiB, 1 MiB; range-s-1m: 1,000,000 keys loaded first)"
echo "cairn: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo "this tree"), driven by its Go client (binary RPC), connections spread over the members"
if [ "$have_etcd" = 1 ]; then
	echo "etcd:  $("$ETCD" --version | head -1), driven by etcd's Go client ($(cd "$root" && go list -m go.etcd.io/etcd/client/v3)); etcd: every connection to the leader, etcd-spread: spread like cairn's"
else
	echo "etcd:  not run (ETCD=none): cairn alone"
fi
if [ -z "$cairn_v3_note" ]; then
	echo "cairn-clientv3: cairn driven by etcd's Go client at its client port, spread like cairn's"
else
	echo "cairn-clientv3: not run: $cairn_v3_note"
fi
echo
compare_args=("$out/cairn.jsonl")
for side in "${sides[@]:1}"; do
	compare_args+=("$side=$out/$side.jsonl")
done
if [ ${#sides[@]} = 1 ]; then
	: >"$out/etcd.jsonl" # cairn alone: etcd's columns show dashes
	compare_args+=("etcd=$out/etcd.jsonl")
fi
"$work/bench" compare "${compare_args[@]}"
echo
echo "members' RSS (each member, MB, as total/anonymous: the rest is mapped file pages) and one member's data dir after each workload's runs (the stores keep what earlier workloads wrote):"
cat "$out/resources.txt"
echo
echo "the CPU (user and system) the three members of the side's cluster used during each run, per 1,000 operations (from /proc/PID/stat; the load generator's is not counted): on a machine whose cores are full, the cost of a request, less noisy than QPS; and the bytes the three wrote to the disk, per operation (write_bytes of /proc/PID/io): against 'bench disk', how close a write run came to the disk's bound"
cat "$out/cpu.txt"
if [ -s "$out/bench-errors.log" ]; then
	echo
	echo "errors reported by cmd/bench:"
	cat "$out/bench-errors.log"
fi
if [ -n "${OUT:-}" ]; then
	echo
	echo "results, plots and logs in $OUT"
fi
