#!/usr/bin/env bash
# bench/restart.sh — memory per million keys and restart time, cairn vs etcd.
#
# For each store in turn (cairn, then etcd: ETCD, or built from tools/etcd)
# it starts a 3-member cluster on loopback (data in a temporary directory
# removed on exit), loads KEYS keys of VAL bytes with cmd/bench
#
#   bench put --total KEYS --key-space KEYS --sequential-keys --clients 100 --conns 10
#
# (8-byte keys, so every key is written once), then reports:
#   - each member's VmRSS after the load, and per million keys;
#   - the data directory's size;
#   - restart: a follower is killed (SIGKILL by default: a crash) and started
#     again; the time from its start until its /health answers 200
#     ({"health":"true"}: it knows a leader and a linearizable read passes).
#     cairn serves /health on --listen-metrics-urls, etcd on its client URL;
#   - the restarted member's VmRSS once healthy (its steady state for the data
#     set, without the garbage of the load).
# The two clusters never run at the same time.
#
# Environment:
#   KEYS=1000000      keys loaded
#   VAL=256           value size in bytes
#   KILL=KILL         signal that stops the member (KILL: crash; TERM: clean stop)
#   ETCD=path         etcd binary (default: etcd 3.6 built from tools/etcd);
#                     ETCD=none measures cairn alone
#   ONLY="cairn etcd" stores to measure
#   PORT_BASE=26000   ports PORT_BASE+1..3 (clients), +11..13 (peers), +41..43
#                     (cairn metrics); below the ephemeral range
#   OUT=dir           keep logs and JSON results there
set -euo pipefail

KEYS=${KEYS:-1000000}
VAL=${VAL:-256}
KILL=${KILL:-KILL}
ONLY=${ONLY:-cairn etcd}
PORT_BASE=${PORT_BASE:-26000}

# The raft settings both stores get (as in compare.sh).
HEARTBEAT_MS=100
ELECTION_MS=1000
SNAPSHOT_COUNT=10000
QUOTA_BYTES=$((8 * 1024 * 1024 * 1024))

. "$(dirname "$0")/lib.sh"
bench_setup restart
if [[ " $ONLY " == *" etcd "* ]]; then
	etcd_binary
fi
now() { date +%s.%N; }
# rss_mb PID: the process's resident memory in MB.
rss_mb() { awk '/^VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status" 2>/dev/null || echo "?"; }

cluster=""
eps=""
declare -A member_pid

# start_member STORE I: start member I of STORE in the background.
start_member() {
	local store=$1 i=$2
	if [ "$store" = cairn ]; then
		"$work/node" --name "m$i" --data-dir "$work/$store-m$i" \
			--listen-client-urls "http://127.0.0.1:$(port "$i")" \
			--listen-peer-urls "http://127.0.0.1:$(port $((10 + i)))" \
			--listen-metrics-urls "http://127.0.0.1:$(port $((40 + i)))" \
			--initial-cluster "$cluster" --initial-cluster-token restart \
			--heartbeat-interval "$HEARTBEAT_MS" --election-timeout "$ELECTION_MS" \
			--snapshot-count "$SNAPSHOT_COUNT" --quota-backend-bytes "$QUOTA_BYTES" \
			--log-level warn >>"$out/$store-m$i.log" 2>&1 &
	else
		local state=new
		[ -d "$work/$store-m$i" ] && state=existing
		"$ETCD" --name "m$i" --data-dir "$work/$store-m$i" \
			--listen-client-urls "http://127.0.0.1:$(port "$i")" \
			--advertise-client-urls "http://127.0.0.1:$(port "$i")" \
			--listen-peer-urls "http://127.0.0.1:$(port $((10 + i)))" \
			--initial-advertise-peer-urls "http://127.0.0.1:$(port $((10 + i)))" \
			--initial-cluster "$cluster" --initial-cluster-state "$state" --initial-cluster-token restart \
			--heartbeat-interval "$HEARTBEAT_MS" --election-timeout "$ELECTION_MS" \
			--snapshot-count "$SNAPSHOT_COUNT" --quota-backend-bytes "$QUOTA_BYTES" \
			--logger zap --log-level error >>"$out/$store-m$i.log" 2>&1 &
	fi
	member_pid[$i]=$!
	pids+=($!)
}

# http_url STORE I PATH: where member I serves /health and /metrics.
http_url() {
	if [ "$1" = cairn ]; then
		echo "http://127.0.0.1:$(port $((40 + $2)))$3"
	else
		echo "http://127.0.0.1:$(port "$2")$3"
	fi
}

# healthy STORE I: member I answers /health with 200.
healthy() { curl -sf -m 2 -o /dev/null "$(http_url "$1" "$2" /health)"; }

# is_leader STORE I: member I says it leads.
is_leader() {
	curl -sf -m 2 "$(http_url "$1" "$2" /metrics)" | grep -Eq '^(cairn|etcd)_server_is_leader 1'
}

# measure STORE: the whole measurement for one store.
measure() {
	local store=$1 i
	cluster=""
	eps=""
	for i in 1 2 3; do
		cluster+="${cluster:+,}m$i=http://127.0.0.1:$(port $((10 + i)))"
		eps+="${eps:+,}127.0.0.1:$(port "$i")"
	done
	log "$store: starting 3 members"
	for i in 1 2 3; do
		start_member "$store" "$i"
	done
	for i in $(seq 1 120); do
		healthy "$store" 1 && healthy "$store" 2 && healthy "$store" 3 && break
		sleep 0.5
	done
	log "$store: loading $KEYS keys of $VAL B"
	local t0 t1
	t0=$(now)
	"$work/bench" --target "$store" --endpoints "$eps" put --total "$KEYS" --key-space "$KEYS" \
		--sequential-keys --val-size "$VAL" --clients 100 --conns 10 --json >"$out/$store-load.json" 2>>"$out/$store-bench.log"
	t1=$(now)
	sleep 3
	local rss_load=() total=0
	for i in 1 2 3; do
		rss_load+=("$(rss_mb "${member_pid[$i]}")")
	done
	local du_dir
	du_dir=$(du -sm "$work/$store-m1" | cut -f1)
	# A follower: restarting it measures recovery, not an election.
	local victim=3
	for i in 3 2 1; do
		if ! is_leader "$store" "$i"; then
			victim=$i
			break
		fi
	done
	log "$store: restarting member $victim (SIG$KILL)"
	kill -s "$KILL" "${member_pid[$victim]}"
	wait "${member_pid[$victim]}" 2>/dev/null || true
	local start ready
	start=$(now)
	start_member "$store" "$victim"
	ready=""
	for i in $(seq 1 6000); do
		if healthy "$store" "$victim"; then
			ready=$(now)
			break
		fi
		kill -0 "${member_pid[$victim]}" 2>/dev/null || break
		sleep 0.05
	done
	sleep 2
	local rss_after
	rss_after=$(rss_mb "${member_pid[$victim]}")
	local restart="did not become healthy"
	[ -n "$ready" ] && restart=$(awk -v a="$start" -v b="$ready" 'BEGIN {printf "%.2f s", b - a}')
	printf '%-5s  load %6.1f s (%s)  RSS after load (MB): %s  per 1M keys: %s  data dir %s MB  restart %s  RSS after restart %s MB\n' \
		"$store" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" \
		"$(grep -Eo '"(qps|errors)": *[0-9.]+' "$out/$store-load.json" | head -2 | tr -d '" ' |
			awk -F: '{v[$1] = $2} END {printf "%.0f ops/s, %d errors", v["qps"], v["errors"]}')" \
		"${rss_load[*]}" \
		"$(for r in "${rss_load[@]}"; do awk -v r="$r" -v k="$KEYS" 'BEGIN {printf "%.0f ", r * 1e6 / k}'; done)" \
		"$du_dir" "$restart" "$rss_after"
	for i in 1 2 3; do
		kill "${member_pid[$i]}" 2>/dev/null || true
		wait "${member_pid[$i]}" 2>/dev/null || true
	done
}

echo "restart and memory on $(nproc) cores ($(uname -sr)): $KEYS keys of 8 B with $VAL B values, 3 members on loopback, SIG$KILL"
echo "cairn: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo "this tree")"
for store in $ONLY; do
	if [ "$store" = etcd ]; then
		if [ "${ETCD:-}" = none ]; then
			log "ETCD=none: skipping etcd"
			continue
		fi
		echo "etcd:  $("$ETCD" --version | head -1)"
	fi
	measure "$store"
done
if [ -n "${OUT:-}" ]; then
	echo "logs and JSON results in $OUT"
fi
