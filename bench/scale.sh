#!/usr/bin/env bash
# bench/scale.sh — cairn with a big store: latency, memory, restart and
# defragmentation at growing sizes.
#
# It starts MEMBERS cairn members on loopback (data in a temporary
# directory, removed on exit) and, for each size in SIZES (GiB of live
# data, ascending), loads the store up to that size with values of VAL
# bytes — distinct keys, each written once:
#
#   bench put --sequential-keys --first-key PREV --key-space KEYS --total KEYS-PREV
#
# and then measures, one after the other:
#   put      DURATION of puts over the loaded keys (overwrites): p50, p99
#   range    DURATION of linearizable gets of the loaded keys: p50, p99
#   memory   each member's VmRSS, and one member's data dir and db file
#   restart  a member (a follower if there are several) killed with
#            SIGKILL and started again: seconds until its /readyz answers
#            200 (it knows a leader and a linearizable read passes)
#   compact  `ctl compaction --physical` at the current revision (drops the history
#            the put run made), timed until the records are gone
#   defrag   `ctl defrag` on every member, timed, while puts go on (a
#            DEFRAG_WINDOW put run started 3 s before it): their p99
#            before the defragmentation and the worst second's p99 during
#            it, and the db file's size after
#
# Environment:
#   SIZES="1 4"       sizes in GiB, ascending, fractions allowed (16 needs about 2 x 16 GB of disk per
#                     member: the store, its log, and a defragmentation's copy)
#   MEMBERS=1         members (1 or 3)
#   VAL=65536         value size in bytes
#   CLIENTS=16        clients of every run (over CONNS connections)
#   CONNS=4
#   DURATION=10s      length of the put and range runs
#   DEFRAG_WINDOW=60s length of the put run around the defragmentation
#   PORT_BASE=29700   ports PORT_BASE+1..3 (clients), +11..13 (peers),
#                     +41..43 (metrics); below the ephemeral range
#   OUT=dir           keep logs and JSON results there
# Needs jq (to read cmd/bench's --json results) and curl.
set -euo pipefail

SIZES=${SIZES:-1 4}
MEMBERS=${MEMBERS:-1}
VAL=${VAL:-65536}
CLIENTS=${CLIENTS:-16}
CONNS=${CONNS:-4}
DURATION=${DURATION:-10s}
DEFRAG_WINDOW=${DEFRAG_WINDOW:-60s}
PORT_BASE=${PORT_BASE:-29700}

HEARTBEAT_MS=100
ELECTION_MS=1000
SNAPSHOT_COUNT=10000
QUOTA_BYTES=$((64 * 1024 * 1024 * 1024))

for tool in jq curl; do
	if ! command -v "$tool" >/dev/null; then
		echo "bench/scale.sh needs $tool" >&2
		exit 1
	fi
done
case $MEMBERS in
1 | 3) ;;
*)
	echo "MEMBERS=$MEMBERS: must be 1 or 3" >&2
	exit 1
	;;
esac

. "$(dirname "$0")/lib.sh"
bench_setup scale
(cd "$root" && go build -o "$work/ctl" ./cmd/ctl)
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}'; }
rss_mb() { awk '/^VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status" 2>/dev/null || echo "?"; }

cluster=""
eps=""
for i in $(seq 1 "$MEMBERS"); do
	cluster+="${cluster:+,}m$i=http://127.0.0.1:$(port $((10 + i)))"
	eps+="${eps:+,}127.0.0.1:$(port "$i")"
done
declare -A member_pid

# start_member I: start member I in the background.
start_member() {
	local i=$1
	"$work/node" --name "m$i" --data-dir "$work/m$i" \
		--listen-client-urls "http://127.0.0.1:$(port "$i")" \
		--listen-peer-urls "http://127.0.0.1:$(port $((10 + i)))" \
		--listen-metrics-urls "http://127.0.0.1:$(port $((40 + i)))" \
		--initial-cluster "$cluster" --initial-cluster-token scale \
		--heartbeat-interval "$HEARTBEAT_MS" --election-timeout "$ELECTION_MS" \
		--snapshot-count "$SNAPSHOT_COUNT" --quota-backend-bytes "$QUOTA_BYTES" \
		--log-level warn >>"$out/m$i.log" 2>&1 &
	member_pid[$i]=$!
	pids+=($!)
}
ready() { curl -sf -m 2 -o /dev/null "http://127.0.0.1:$(port $((40 + $1)))/readyz"; }
is_leader() { curl -sf -m 2 "http://127.0.0.1:$(port $((40 + $1)))/metrics" | grep -q '^cairn_server_is_leader 1'; }

# bench_json NAME ARGS...: a cmd/bench run whose JSON result goes to NAME.json.
bench_json() {
	local name=$1
	shift
	"$work/bench" --endpoints "$eps" --clients "$CLIENTS" --conns "$CONNS" --val-size "$VAL" --json "$@" \
		>"$out/$name.json" 2>>"$out/bench-errors.log"
}
# lat NAME: "p50 / p99 ms (QPS, errors)" of a result.
lat() {
	jq -r '"\(.latency.p50_ms * 10 | round / 10) / \(.latency.p99_ms * 10 | round / 10) ms (\(.qps | round) ops/s, \(.errors) errors)"' "$out/$1.json"
}

for i in $(seq 1 "$MEMBERS"); do
	start_member "$i"
done
for _ in $(seq 1 120); do
	ok=1
	for i in $(seq 1 "$MEMBERS"); do
		ready "$i" || ok=0
	done
	[ "$ok" = 1 ] && break
	sleep 0.5
done

echo "cairn $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo "this tree") on $(nproc) cores ($(uname -sr)): $MEMBERS member(s) on loopback, values of $VAL B, $CLIENTS clients over $CONNS connections, snapshot every $SNAPSHOT_COUNT entries"
loaded=0
for size in $SIZES; do
	keys=$(awk -v s="$size" -v v="$VAL" 'BEGIN {printf "%d", s * 1073741824 / v}')
	if [ "$keys" -le "$loaded" ]; then
		log "SIZES must grow: $size GiB is no more than what is loaded"
		exit 1
	fi
	log "loading to $size GiB: keys $loaded to $keys"
	t0=$(now)
	bench_json "load-$size" put --sequential-keys --first-key "$loaded" --key-space "$keys" --total $((keys - loaded))
	load_s=$(since "$t0")
	load_note="$(jq -r '"\(.qps | round) puts/s, \(.errors) errors"' "$out/load-$size.json")"
	loaded=$keys

	log "$size GiB: put and range runs"
	bench_json "put-$size" put --key-space "$keys" --duration "$DURATION"
	bench_json "range-$size" range --key-space "$keys" --no-preload --duration "$DURATION"

	rss=""
	for i in $(seq 1 "$MEMBERS"); do
		rss+="${rss:+ }$(rss_mb "${member_pid[$i]}")"
	done
	dir_mb=$(du -sm "$work/m1" | cut -f1)
	db_mb=$(($(stat -c %s "$work/m1/member/db") >> 20))

	# Restart a follower (the only member, with one).
	victim=1
	for i in $(seq "$MEMBERS" -1 1); do
		if [ "$MEMBERS" = 1 ] || ! is_leader "$i"; then
			victim=$i
			break
		fi
	done
	log "$size GiB: restarting member $victim (SIGKILL)"
	kill -KILL "${member_pid[$victim]}"
	wait "${member_pid[$victim]}" 2>/dev/null || true
	t0=$(now)
	start_member "$victim"
	restart="not ready after 300 s"
	for _ in $(seq 1 6000); do
		if ready "$victim"; then
			restart="$(since "$t0") s"
			break
		fi
		kill -0 "${member_pid[$victim]}" 2>/dev/null || {
			restart="exited"
			break
		}
		sleep 0.05
	done
	# The cluster serves a linearizable read again (with one member, that
	# is the restarted one).
	for _ in $(seq 1 120); do
		if rev=$("$work/ctl" --endpoints "$eps" get 0 -w json 2>/dev/null | jq -re .header.revision); then
			break
		fi
		sleep 0.25
	done

	t0=$(now)
	"$work/ctl" --endpoints "$eps" --command-timeout 600s compaction --physical "$rev" >/dev/null
	compact_s=$(since "$t0")

	log "$size GiB: defragmenting while puts go on"
	bench_json "defrag-puts-$size" put --key-space "$keys" --duration "$DEFRAG_WINDOW" &
	probe=$!
	sleep 3
	t0=$(now)
	"$work/ctl" --endpoints "$eps" --command-timeout 3600s defrag >/dev/null
	defrag_s=$(since "$t0")
	db_after_mb=$(($(stat -c %s "$work/m1/member/db") >> 20))
	wait "$probe" || true
	# The probe started about 3 s before the defragmentation: its seconds
	# [0, 3) are before, [3, 3 + defrag] during.
	during=$(jq -r --argjson d "$defrag_s" '[.timeline[] | select(.second >= 3 and .second <= 3 + $d) | .p99_ms] | if length == 0 then "-" else (max * 10 | round / 10 | tostring) end' "$out/defrag-puts-$size.json")
	before=$(jq -r '[.timeline[] | select(.second < 3) | .p99_ms] | if length == 0 then "-" else (max * 10 | round / 10 | tostring) end' "$out/defrag-puts-$size.json")
	window=$(jq -r '.seconds | round' "$out/defrag-puts-$size.json")

	echo
	echo "== $size GiB ($keys keys of $VAL B)"
	echo "load       $load_s s ($load_note)"
	echo "put        p50 / p99 $(lat "put-$size")"
	echo "range (l)  p50 / p99 $(lat "range-$size")"
	echo "RSS        $rss MB; data dir $dir_mb MB, db file $db_mb MB (member 1)"
	echo "restart    $restart to /readyz after SIGKILL (member $victim)"
	echo "compact    $compact_s s (to revision $rev)"
	echo "defrag     $defrag_s s, db file $db_mb -> $db_after_mb MB; puts around it: p99 $(lat "defrag-puts-$size" | sed 's/.* \/ //'), worst second's p99 before $before ms, during $during ms (window ${window} s)"
done
if [ -s "$out/bench-errors.log" ]; then
	echo
	echo "errors reported by cmd/bench:"
	cat "$out/bench-errors.log"
fi
if [ -n "${OUT:-}" ]; then
	echo "logs and JSON results in $OUT"
fi
