#!/usr/bin/env bash
# bench/profile.sh — profile three real members under a bench workload.
#
# Builds cmd/node and cmd/bench (or takes NODE and BENCH, binaries of
# another build, for an A/B), starts three members as compare.sh starts
# them plus --listen-metrics-urls and --enable-pprof, data in a temporary
# directory removed on exit. Then: PRE (bench arguments, untimed: a load),
# WARM (a duration: the workload run once untimed first, so that caches
# and mappings are warm), and the workload itself (this script's
# arguments, run for DURATION) while every member's CPU is profiled for
# PROFILE seconds. It prints the workload's result, each member's CPU
# time during it (ticks of 10 ms, from /proc/PID/stat) and the ticks per
# 1,000 operations, and keeps in OUT: cpuN.prof (member N), client.prof,
# allocN-before.prof and allocN-after.prof (go tool pprof -diff_base),
# metricsN.txt and the members' logs; with TRACE (seconds), traceN.out too,
# an execution trace of each member (go tool trace; -pprof=sync, syscall or
# sched shows where goroutines waited).
#
#   bench/profile.sh put --clients 1000 --conns 100
#   PRE="put --key-space 1000000 --total 1000000 --sequential-keys --clients 100 --conns 10" \
#     WARM=8s bench/profile.sh range --consistency s --key-space 1000000 \
#     --clients 1000 --conns 100 --no-preload
#   NODE=/tmp/old/node BENCH=/tmp/old/bench OUT=/tmp/old-prof bench/profile.sh put --clients 1000 --conns 100
#
# Environment: DURATION (8s), PROFILE (6), TRACE, PRE, WARM, LEADER_ONLY
# (set: every connection to the leader, as compare.sh drives etcd), PORT_BASE (25000),
# OUT (a directory; default: results/ in the work directory, removed).
set -euo pipefail

DURATION=${DURATION:-8s}
PROFILE=${PROFILE:-6}
PORT_BASE=${PORT_BASE:-25000}
if [ $# -eq 0 ]; then
	echo "usage: bench/profile.sh WORKLOAD [bench flags]   (see the comment at the top)" >&2
	exit 2
fi

. "$(dirname "$0")/lib.sh"
bench_setup profile
node=${NODE:-$work/node}
bench=${BENCH:-$work/bench}

cluster=""
for i in 1 2 3; do
	cluster+="${cluster:+,}p$i=http://127.0.0.1:$(port $((10 + i)))"
done
member_pids=()
for i in 1 2 3; do
	"$node" --name "p$i" --data-dir "$work/p$i" \
		--listen-client-urls "http://127.0.0.1:$(port "$i")" \
		--listen-peer-urls "http://127.0.0.1:$(port $((10 + i)))" \
		--listen-metrics-urls "http://127.0.0.1:$(port $((20 + i)))" --enable-pprof \
		--initial-cluster "$cluster" --initial-cluster-token profile \
		--heartbeat-interval 100 --election-timeout 1000 --snapshot-count 10000 \
		--quota-backend-bytes $((8 * 1024 * 1024 * 1024)) --log-level warn >"$out/p$i.log" 2>&1 &
	pids+=($!)
	member_pids+=($!)
done
eps="127.0.0.1:$(port 1),127.0.0.1:$(port 2),127.0.0.1:$(port 3)"
for _ in $(seq 1 50); do
	if "$bench" leader --endpoints "$eps" >/dev/null 2>&1; then
		break
	fi
	sleep 0.2
done
if [ -n "${LEADER_ONLY:-}" ]; then
	eps=$("$bench" leader --endpoints "$eps")
	log "every connection to the leader, $eps"
fi

if [ -n "${PRE:-}" ]; then
	log "loading: bench $PRE"
	# shellcheck disable=SC2086 # PRE is a list of arguments
	"$bench" --endpoints "$eps" $PRE >"$out/pre.txt"
fi
if [ -n "${WARM:-}" ]; then
	log "warming up for $WARM"
	"$bench" --endpoints "$eps" "$@" --duration "$WARM" >"$out/warm.txt"
fi

# ticks PID: the process's user and system CPU time, in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# written PID: the bytes the process has caused to be written to storage
# (write_bytes of /proc/PID/io: its writes, whether through write or a
# mapping, once the kernel sends them to the disk).
written() { awk '/^write_bytes/ {print $2}' "/proc/$1/io"; }

before=()
wbefore=()
for i in 1 2 3; do
	before+=("$(ticks "${member_pids[$((i - 1))]}")")
	wbefore+=("$(written "${member_pids[$((i - 1))]}")")
	curl -fsS -o "$out/alloc$i-before.prof" "http://127.0.0.1:$(port $((20 + i)))/debug/pprof/allocs"
done
profilers=()
for i in 1 2 3; do
	curl -fsS -o "$out/cpu$i.prof" "http://127.0.0.1:$(port $((20 + i)))/debug/pprof/profile?seconds=$PROFILE" &
	profilers+=($!)
	if [ -n "${TRACE:-}" ]; then
		curl -fsS -o "$out/trace$i.out" "http://127.0.0.1:$(port $((20 + i)))/debug/pprof/trace?seconds=$TRACE" &
		profilers+=($!)
	fi
done
log "running: bench $* --duration $DURATION (profiling the members for ${PROFILE}s)"
"$bench" --endpoints "$eps" --cpuprofile "$out/client.prof" "$@" --duration "$DURATION" --json >"$out/result.json"
used=()
wrote=()
for i in 1 2 3; do
	used+=($(($(ticks "${member_pids[$((i - 1))]}") - before[i - 1])))
	wrote+=($(($(written "${member_pids[$((i - 1))]}") - wbefore[i - 1])))
done
wait "${profilers[@]}" || log "a CPU profile failed (see the members' logs)"
for i in 1 2 3; do
	curl -fsS -o "$out/alloc$i-after.prof" "http://127.0.0.1:$(port $((20 + i)))/debug/pprof/allocs"
	curl -fsS -o "$out/metrics$i.txt" "http://127.0.0.1:$(port $((20 + i)))/metrics"
done

ops=$(jq -r '.ops + .errors' "$out/result.json")
jq -r '"QPS \(.qps | floor)  p50 \(.latency.p50_ms * 100 | round / 100) ms  p99 \(.latency.p99_ms * 100 | round / 100) ms  errors \(.errors)"' "$out/result.json"
total=0
for i in 1 2 3; do
	awk -v i="$i" -v t="${used[$((i - 1))]}" -v w="${wrote[$((i - 1))]}" -v n="$ops" \
		'BEGIN {printf "member p%d: %d ticks, %.1f MB written (%.1f KB per operation)\n", i, t, w / 1e6, (n > 0 ? w / n / 1e3 : 0)}'
	total=$((total + used[i - 1]))
done
awk -v t="$total" -v n="$ops" 'BEGIN {if (n > 0) printf "members: %d ticks, %.2f per 1,000 operations\n", t, t * 1000 / n}'
echo "profiles, metrics and logs in $out"
