#!/usr/bin/env bash
# bench/memory.sh — a single member's memory after loading many keys.
#
# For each store in ONLY in turn (never two at once) it starts one member
# on loopback (data in a temporary directory removed on exit), loads KEYS
# keys of VAL bytes with cmd/bench
#
#   bench put --total KEYS --key-space KEYS --sequential-keys --clients 100 --conns 10
#
# (8-byte keys, each written once), waits 5 s and prints the member's VmRSS,
# VmHWM (peak RSS) and the data directory's size. One member is enough to
# measure memory: a follower holds the same store.
#
# Environment:
#   KEYS=3000000      keys loaded
#   VAL=256           value size in bytes
#   ONLY="cairn etcd" stores to measure
#   NODE=path         cairn member binary (default: built from this checkout)
#   ETCD=path         etcd binary (default: etcd 3.6 built from tools/etcd)
#   EXTRA="..."       extra flags for the cairn member
#   PORT_BASE=27000   ports PORT_BASE+1 (client), +11 (peer), +41 (metrics)
set -euo pipefail

KEYS=${KEYS:-3000000}
VAL=${VAL:-256}
ONLY=${ONLY:-cairn etcd}
PORT_BASE=${PORT_BASE:-27000}
EXTRA=${EXTRA:-}

. "$(dirname "$0")/lib.sh"
bench_setup memory
if [[ " $ONLY " == *" etcd "* ]]; then
	etcd_binary
fi
NODE=${NODE:-$work/node}
status() { awk -v k="$2" '$1 == k":" {printf "%.0f", $2 / 1024}' "/proc/$1/status" 2>/dev/null || echo "?"; }

for store in $ONLY; do
	dir=$work/$store
	client=http://127.0.0.1:$(port 1)
	peer=http://127.0.0.1:$(port 11)
	if [ "$store" = cairn ]; then
		# shellcheck disable=SC2086
		"$NODE" --name m1 --data-dir "$dir" --listen-client-urls "$client" \
			--listen-peer-urls "$peer" --listen-metrics-urls "http://127.0.0.1:$(port 41)" \
			--initial-cluster "m1=$peer" --quota-backend-bytes $((8 << 30)) \
			--log-level warn $EXTRA >>"$out/$store.log" 2>&1 &
	else
		"$ETCD" --name m1 --data-dir "$dir" --listen-client-urls "$client" \
			--advertise-client-urls "$client" --listen-peer-urls "$peer" \
			--initial-advertise-peer-urls "$peer" --initial-cluster "m1=$peer" \
			--quota-backend-bytes $((8 << 30)) --log-level warn >>"$out/$store.log" 2>&1 &
	fi
	pid=$!
	pids+=("$pid")
	sleep 3
	target=cairn
	[ "$store" = etcd ] && target=etcd
	start=$(date +%s)
	"$work/bench" put --target "$target" --endpoints "127.0.0.1:$(port 1)" --total "$KEYS" \
		--key-space "$KEYS" --sequential-keys --clients 100 --conns 10 --val-size "$VAL" \
		>"$out/$store-load.txt" 2>&1 || { cat "$out/$store-load.txt"; exit 1; }
	secs=$(($(date +%s) - start))
	sleep 5
	echo "$store: $KEYS keys of $VAL B in ${secs}s: RSS $(status "$pid" VmRSS) MB, peak $(status "$pid" VmHWM) MB, data dir $(du -sm "$dir" | cut -f1) MB"
	grep -iE "error|ops/s|qps" "$out/$store-load.txt" | head -5 || true
	kill "$pid"
	wait "$pid" 2>/dev/null || true
done
