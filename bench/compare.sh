#!/usr/bin/env bash
# bench/compare.sh — measure cairn against etcd on this machine, side by side.
#
# Builds cmd/node and cmd/bench, starts a local 3-member cairn cluster (three
# processes, data in a temporary directory removed on exit) and, when an
# `etcd` binary is on PATH (Debian: apt-get install etcd-server), a 3-member
# etcd cluster with the same raft settings on other ports. Then it runs each
# workload against both, alternating which goes first, and prints a table
# with QPS, p50 and p99 per workload and the ratios cairn/etcd.
#
# etcd is driven by cmd/bench --target etcd, which speaks etcd's own gRPC API
# (hand-encoded protobuf over Go's net/http HTTP/2 client, see bench/etcd);
# cairn is driven by its Go client. Both through the same workload code.
#
# Environment:
#   DURATION=10s        length of each run
#   ROUNDS=1            runs per workload and store (the table shows the median)
#   ONLY="put-1 range-l" run only these labels (default: all)
#   ETCD=etcd           etcd binary; ETCD=none runs cairn alone
#   PORT_BASE=24000     ports used: PORT_BASE + 1..3 (cairn clients), 11..13 (cairn
#                       peers), 21..23 (etcd clients), 31..33 (etcd peers); keep
#                       them below the ephemeral range (32768 on Linux)
#   OUT=dir             keep the JSON results, plots and logs there
set -euo pipefail

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-1}
ONLY=${ONLY:-}
ETCD=${ETCD:-etcd}
PORT_BASE=${PORT_BASE:-24000}

# The raft settings both stores get.
HEARTBEAT_MS=100
ELECTION_MS=1000
SNAPSHOT_COUNT=10000
QUOTA_BYTES=$((2 * 1024 * 1024 * 1024))

. "$(dirname "$0")/lib.sh"
bench_setup compare


have_etcd=0
if [ "$ETCD" != none ] && command -v "$ETCD" >/dev/null 2>&1; then
	have_etcd=1
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
	log "no etcd binary found (ETCD=$ETCD): running cairn alone"
fi

# wait_ready TARGET ENDPOINTS: until a put succeeds (30s at most).
wait_ready() {
	local i
	for i in $(seq 1 60); do
		if "$work/bench" --target "$1" --endpoints "$2" put --total 1 --key-space 1 --json >/dev/null 2>&1; then
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
)

# run_one TARGET ENDPOINTS LABEL ARGS...: one run, appended to TARGET.jsonl.
run_one() {
	local target=$1 eps=$2 label=$3
	shift 3
	log "  $target: $label"
	if ! "$work/bench" --target "$target" --endpoints "$eps" --duration "$DURATION" \
		--label "$label" --json --plot "$out/$label-$target.svg" "$@" >>"$out/$target.jsonl" 2>>"$out/bench-errors.log"; then
		log "  $target: $label failed: $(tail -n 1 "$out/bench-errors.log")"
	fi
}

: >"$out/cairn.jsonl"
: >"$out/etcd.jsonl"
n=0
for round in $(seq 1 "$ROUNDS"); do
	log "round $round of $ROUNDS, $DURATION per run"
	for w in "${workloads[@]}"; do
		label=${w%%|*}
		args=${w#*|}
		if [ -n "$ONLY" ] && ! [[ " $ONLY " == *" $label "* ]]; then
			continue
		fi
		# Alternate which store goes first, so neither always runs on a
		# machine warmed (or tired) by the other.
		# shellcheck disable=SC2086
		if [ "$have_etcd" = 0 ]; then
			run_one cairn "$cairn_eps" "$label" $args
		elif [ $((n % 2)) = 0 ]; then
			run_one cairn "$cairn_eps" "$label" $args
			run_one etcd "$etcd_eps" "$label" $args
		else
			run_one etcd "$etcd_eps" "$label" $args
			run_one cairn "$cairn_eps" "$label" $args
		fi
		n=$((n + 1))
	done
done

# rss PIDS...: the members' resident memory in MB.
rss() {
	local p s=""
	for p in "$@"; do
		s+="${s:+ }$(awk '/^VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$p/status" 2>/dev/null || echo "?")"
	done
	echo "$s"
}

echo
echo "cairn vs etcd on $(nproc) cores ($(uname -sr)), 3 members each on loopback, $DURATION per run, $ROUNDS round(s)"
echo "raft: heartbeat ${HEARTBEAT_MS}ms, election ${ELECTION_MS}ms, snapshot every $SNAPSHOT_COUNT entries; keys 8 B, values 256 B, 10,000 keys"
echo "cairn: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo "this tree"), driven by its Go client (binary RPC)"
if [ "$have_etcd" = 1 ]; then
	echo "etcd:  $("$ETCD" --version | head -1), driven by cmd/bench's own gRPC client (net/http HTTP/2, not grpc-go)"
else
	echo "etcd:  not run (no etcd binary on PATH, or ETCD=none): cairn alone"
fi
echo
"$work/bench" compare "$out/cairn.jsonl" "$out/etcd.jsonl"
echo
echo "member RSS after the runs (MB): cairn $(rss "${cairn_pids[@]}")${etcd_pids:+; etcd $(rss "${etcd_pids[@]}")}"
echo "data dirs: cairn $(du -sh "$work"/c1 | cut -f1) per member${etcd_pids:+, etcd $(du -sh "$work"/e1 | cut -f1) per member}"
if [ -s "$out/bench-errors.log" ]; then
	echo
	echo "errors reported by cmd/bench:"
	cat "$out/bench-errors.log"
fi
if [ -n "${OUT:-}" ]; then
	echo
	echo "results, plots and logs in $OUT"
fi
