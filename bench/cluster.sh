#!/usr/bin/env bash
# Cross-node throughput and latency against a single node, side by side
# in one run, on this machine: one mast node, then a three-node cluster
# (JetStream on, 3 replicas) with publishers on node 1 and subscribers on
# node 2. Usage: bench/cluster.sh [seconds per run, default 5]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
work=$(mktemp -d)
trap 'pkill -P $$ 2>/dev/null || true; sleep 0.5; rm -rf "$work"' EXIT
go build -o "$work/mast" ./cmd/mast
mast="$work/mast"

wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 not open" >&2; exit 1; }
wait_log() { for _ in $(seq 600); do grep -q "$2" "$1" && return 0; sleep 0.1; done; echo "no '$2' in $1" >&2; exit 1; }

run() { # label, extra bench args...
	local label=$1; shift
	local out
	out=$("$mast" bench "$@" -d "$secs" --quiet --json)
	python3 - "$label" "$out" <<'PY'
import json, sys
label, r = sys.argv[1], json.loads(sys.argv[2])
lat = r.get("latency_us") or {}
def q(k):
    v = lat.get(k)
    return "%.0f" % v if isinstance(v, (int, float)) else "-"
print("| %-44s | %9.0f | %6s | %6s | %7s | %5d |" % (label, r["received_per_sec"], q("p50"), q("p99"), q("p99_9"), r["lost"]))
PY
}

header() {
	echo "| run | received msg/s | p50 µs | p99 µs | p99.9 µs | lost |"
	echo "|---|---:|---:|---:|---:|---:|"
}

scenarios() { # pub-port sub-port
	local p=$1 s=$2
	run "QoS 0, 20 pairs, max rate"               pairs -p "$p" --sub-addr "127.0.0.1:$s" -c 20 -q 0
	run "QoS 1, 20 pairs, max rate, clean"        pairs -p "$p" --sub-addr "127.0.0.1:$s" -c 20 -q 1
	run "QoS 1, 20 pairs, max rate, persistent"   pairs -p "$p" --sub-addr "127.0.0.1:$s" -c 20 -q 1 --clean=false
	run "QoS 1, 50 pairs, 10k msg/s, persistent"  latency -p "$p" --sub-addr "127.0.0.1:$s" -c 50 -q 1 --total-rate 10000 --clean=false
}

header
# One node: persistence on (batch durability), as a production node.
"$mast" serve -p 19901 --data-dir "$work/single" --durability batch >"$work/single.log" 2>&1 &
wait_port 19901
while read -r line; do echo "${line/| /| single node: }"; done < <(scenarios 19901 19901)
kill %1; wait %1 2>/dev/null || true

# Three nodes.
R="--route nats-route://127.0.0.1:19911 --route nats-route://127.0.0.1:19912 --route nats-route://127.0.0.1:19913"
for i in 1 2 3; do
	"$mast" serve -p 1990$((i+1)) --data-dir "$work/n$i" --durability batch --node "n$i" \
		--cluster-listen "127.0.0.1:1991$i" $R >"$work/n$i.log" 2>&1 &
done
for i in 1 2 3; do wait_log "$work/n$i.log" "replicated state in sync"; done
while read -r line; do echo "${line/| /| 3 nodes, node 1 -> node 2: }"; done < <(scenarios 19902 19903)
